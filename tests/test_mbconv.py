"""MBConv networks: torchvision's parameter counts, analytic = built = fvcore, specs, the
mbconv space."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nas.cli import main
from spaces import Band, ConfigError, complexity, create_model, get_config, get_space, sample
from spaces.mbconv import MBConvConfig, MBStage, make_divisible, mbconv
from spaces.measure import measure
from spaces.zoo import REFERENCES

# torchvision.models docs, "num_params" (ImageNet weights, 1000 classes), and the native resolutions
# (EfficientNet paper for B0-B7; torchvision's eval sizes for V2).
TORCHVISION = {
    "efficientnet_b0": (5_288_548, 224),
    "efficientnet_b1": (7_794_184, 240),
    "efficientnet_b2": (9_109_994, 260),
    "efficientnet_b3": (12_233_232, 300),
    "efficientnet_b4": (19_341_616, 380),
    "efficientnet_b5": (30_389_784, 456),
    "efficientnet_b6": (43_040_704, 528),
    "efficientnet_b7": (66_347_960, 600),
    "efficientnet_v2_s": (21_458_488, 384),
    "efficientnet_v2_m": (54_139_356, 480),
    "efficientnet_v2_l": (118_515_272, 480),
    "mobilenet_v2": (3_504_872, 224),
    "mobilenet_v3_large": (5_483_032, 224),
    "mobilenet_v3_small": (2_542_856, 224),
    "mnasnet1_0": (4_383_312, 224),
}
# torchvision docs, GFLOPS (multiply-adds) at its eval size; B2 is evaluated at 288 there.
TORCHVISION_GFLOPS = {
    "efficientnet_b0": 0.39,
    "efficientnet_b1": 0.69,
    "efficientnet_b3": 1.83,
    "efficientnet_b4": 4.39,
    "efficientnet_b5": 10.27,
    "efficientnet_b6": 19.07,
    "efficientnet_b7": 37.75,
    "efficientnet_v2_s": 8.37,
    "efficientnet_v2_m": 24.58,
    "efficientnet_v2_l": 56.08,
    "mobilenet_v2": 0.30,
    "mobilenet_v3_large": 0.22,
    "mobilenet_v3_small": 0.06,
    "mnasnet1_0": 0.31,
}


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_analytic_params_equal_torchvision_at_native_resolution(name):
    params, resolution = TORCHVISION[name]
    cfg = get_config(name)
    cx = complexity(cfg)
    assert (cx.params, cx.resolution, cfg.num_classes) == (params, resolution, 1000)
    assert REFERENCES[name].params == params and REFERENCES[name].resolution == resolution
    if name in TORCHVISION_GFLOPS:
        assert round(cx.flops / 1e9, 2) == TORCHVISION_GFLOPS[name]


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_built_model_params_and_fvcore_flops(name):
    """The built model has torchvision's parameter count; at 64 px (fvcore is slow at native sizes
    on CPU) params, flops and acts equal fvcore's conv + linear count and the hooks'."""
    torch.manual_seed(0)
    cfg = get_config(name)
    model = create_model(cfg)
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION[name][0]
    assert measure(model, 64) == complexity(cfg, 64)


def test_families_of_the_zoo():
    from spaces.zoo import FAMILIES

    assert FAMILIES["efficientnet"] == [f"efficientnet_b{i}" for i in range(8)]
    assert FAMILIES["efficientnet_v2"] == [
        "efficientnet_v2_s",
        "efficientnet_v2_m",
        "efficientnet_v2_l",
    ]
    assert FAMILIES["mobilenet_v3"] == ["mobilenet_v3_large", "mobilenet_v3_small"]
    assert FAMILIES["mobilenet_v2"] == ["mobilenet_v2"] and FAMILIES["mnasnet"] == ["mnasnet1_0"]


def _random_setting(rng):
    h, w = (int(x) for x in rng.integers(5, 41, size=2))
    return {
        "stem": str(rng.choice(["imagenet", "small"])),
        "in_channels": int(rng.choice([1, 3])),
        "num_classes": int(rng.integers(2, 120)),
    }, (h, w)


def test_random_mbconv_configs_analytic_equals_built_and_fvcore():
    torch.manual_seed(0)
    records = sample(get_space("mbconv"), 12, seed=11, bands=[Band("params", None, 4e6)]).records
    rng = np.random.default_rng(0)
    for record in records:
        overrides, resolution = _random_setting(rng)
        cfg = get_config(record).replace(**overrides)
        assert measure(create_model(cfg), resolution, cfg.in_channels) == complexity(
            cfg, resolution
        ), record


def test_generator_variants_analytic_equals_fvcore():
    """Fused blocks with SE, MobileNetV3-style SE on the expanded width, odd widths, hidden
    head, 7x7."""
    cfgs = [
        mbconv(
            [
                "fused1_k3_s1_c12_n2_se0.25",
                "fused3_k5_s2_c20_n2_se0.5_relu",
                "mb4_k7_s2_c36_n2",
                "mb1_k3_s1_c36_n1_se0.25",
            ],
            stem_width=12,
            head_width=0,
            act="hardswish",
            dropout=0.0,
        ),
        mbconv(
            ["mb3.67_k3_s2_c24_n2_se0.25", "mb2.5_k5_s1_c40_n2_se0.25_relu"],
            stem_width=16,
            head_width=96,
            head_hidden=64,
            act="hardswish",
            se_base="expanded",
            se_divisor=8,
            se_act="relu",
            se_gate="hardsigmoid",
            in_channels=1,
            num_classes=7,
        ),
    ]
    for cfg in cfgs:
        for res in (17, (23, 30)):
            assert measure(create_model(cfg), res, cfg.in_channels) == complexity(cfg, res)


def test_stage_specs_round_trip():
    s = MBStage.parse("mb6_k5_s2_c40_n2_se0.25")
    assert s == MBStage("mb", 6, 5, 2, 40, 2, 0.25)
    assert s.spec() == "mb6_k5_s2_c40_n2_se0.25"
    assert MBStage.parse("fused4_k3_s2_c48_n4").spec() == "fused4_k3_s2_c48_n4"
    assert MBStage.parse("mb2.5_k3_s1_c80_n1_relu").act == "relu"
    assert MBStage.parse(s.to_dict()) == s
    for name in ("efficientnet_b3", "efficientnet_v2_s", "mobilenet_v3_small"):
        cfg = get_config(name)
        again = get_config(json.loads(json.dumps(cfg.to_dict())))
        assert again == cfg and again.key() == cfg.key() and isinstance(again, MBConvConfig)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"stages": ["mb6_k4_s2_c40_n2"]}, "kernel must be odd"),
        ({"stages": ["conv6_k3_s2_c40_n2"]}, "cannot read"),
        ({"stages": ["mb6_k3_s3_c40_n2"]}, "stride must be 1 or 2"),
        ({"stages": ["mb6_k3_s2_c40_n2_se2"]}, "se must be a ratio"),
        ({"stages": ["mb6_k3_s2_c40_n2_gelu"]}, "unknown option"),
        ({"stages": []}, "at least one stage"),
        ({"stages": ["mb6_k3_s2_c40_n2"], "act": "tanhh"}, "unknown act"),
        ({"stages": ["mb6_k3_s2_c40_n2"], "widths": 3}, "unknown config key"),
        ({"act": "relu"}, "has no 'stages'"),
    ],
)
def test_bad_configs_give_one_line_errors(bad, message):
    with pytest.raises(ConfigError, match=message) as err:
        get_config({"kind": "mbconv", **bad})
    assert "\n" not in str(err.value)


def test_make_divisible_reference_rule():
    # EfficientNet-B3's channels
    assert [make_divisible(c * 1.2) for c in (32, 16, 24, 40, 80, 112, 192, 320, 1280)] == [
        40,
        24,
        32,
        48,
        96,
        136,
        232,
        384,
        1536,
    ]
    assert (
        make_divisible(3) == 8 and make_divisible(88.08) == 88 and make_divisible(183.99999) == 184
    )


@pytest.mark.parametrize(
    "name",
    ["efficientnet_b0", "efficientnet_v2_s", "mobilenet_v3_small", "mnasnet1_0", "mobilenet_v2"],
)
def test_small_input_any_channels_and_classes_forward_backward(name):
    torch.manual_seed(0)
    cfg = get_config(name).for_input(1, 10, small=True)
    assert cfg.native_resolution == 32 and cfg.stem == "small"
    model = create_model(cfg)
    out = model(torch.randn(2, 1, 28, 28))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert complexity(cfg, 28).params == sum(p.numel() for p in model.parameters())


def test_zero_init_and_stochastic_depth():
    from spaces.mbconv_modules import DropPath

    model = get_config("efficientnet_b0").build(zero_init_last=True)
    finals = [m for m in model.modules() if getattr(m, "final_bn", False)]
    # 16 blocks, 9 residual
    assert len(finals) == 9 and all(float(m.weight.detach().abs().sum()) == 0 for m in finals)
    drops = [m.p for m in model.modules() if isinstance(m, DropPath)]
    assert len(drops) == 9 and max(drops) < 0.2 and drops == sorted(drops)
    d = DropPath(0.5).train()
    x = torch.ones(64, 3, 2, 2)
    y = d(x)
    assert set(y.unique().tolist()) <= {0.0, 2.0} and 0 < float((y == 0).float().mean()) < 1
    assert torch.equal(d.eval()(x), x)


def test_mbconv_space(capsys):
    space = get_space("mbconv")
    # widths 0.75 x 16 and 0.75 x 24 round up to 16 and 24 (make_divisible's 10% rule): 2
    # values there
    assert space.choices(0)["width"] == (16, 24) and space.choices(1)["width"] == (24, 32)
    assert space.dims == 42 and space.size() == (2 * 4 * 3 * 2) ** 7 * 3**2 * 4**5 * 2**2 * 3**5
    result = sample(space, 8, seed=0)
    assert all(360e6 <= r["flops"] <= 400e6 for r in result.records)
    b0 = get_config("efficientnet_b0")
    for r in result.records:
        cfg = get_config(r)
        assert [s.stride for s in cfg.stages] == [s.stride for s in b0.stages]
        for s, base in zip(cfg.stages, b0.stages, strict=True):
            assert s.block in ("mb", "fused") and s.expand in (1, 3, 4, 6) and s.kernel in (3, 5, 7)
            assert s.se in (0, 0.25) and max(1, base.depth - 1) <= s.depth <= base.depth + 2
            assert (
                s.width in {make_divisible(base.width * m) for m in (0.75, 1.0, 1.25)}
                and s.width % 8 == 0
            )
    assert main(["sample", "--space", "mbconv", "-n", "3", "--dry-run", "--seed", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["kind"] == "mbconv"


def test_mbconv_space_suggest():
    import optuna

    space = get_space("mbconv")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    cfg = space.suggest(trial)
    assert isinstance(cfg, MBConvConfig) and "block_1" in trial.params and "width_7" in trial.params


def test_cli_complexity_uses_native_resolution(capsys):
    assert main(["complexity", "efficientnet_b3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["resolution"], out["params"], out["stem"]) == (300, 12_233_232, "imagenet")
    assert main(["complexity", "efficientnet_b3", "--json", "--resolution", "64"]) == 0
    assert json.loads(capsys.readouterr().out)["resolution"] == 64


def test_cli_train_efficientnet_b0_on_a_small_dataset(capsys):
    flags = "--dataset synthetic:64 --epochs 1 --train-size 64 --test-size 16 --batch-size 32"
    code = main(["train", "efficientnet_b0", *flags.split(), "--device", "cpu", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert (
        0 <= out["error"] <= 1
        and out["config"]["small"] is True
        and out["config"]["in_channels"] == 1
    )
    assert out["config"]["num_classes"] == 10
