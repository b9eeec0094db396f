"""The residual families as AnyNet bodies: ResNet, ResNeXt, SE-ResNet(Xt), SENet-154; `nas zoo`;
`nas analyze --mark`. Expected parameter counts are the libraries' exact counts (torchvision and
timm are not installed here: the literals come from their model builders, with the source
beside each)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from model_counts import built_counts

import spaces
from nas.cli import main
from spaces import AnyNetConfig, ConfigError, complexity, get_config, reference_complexity
from spaces.records import config_key
from spaces.zoo import FAMILIES, REFERENCES
from spaces.zoo.residual import ResNetConfig

EXPECTED_PARAMS = {
    # torchvision.models.<name>(): sum(p.numel() for p in model.parameters())
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnext50_32x4d": 25_028_904,
    "resnext101_32x8d": 88_791_336,
    "resnext101_64x4d": 83_455_272,
    # timm.create_model("legacy_<name>") (Cadene's pretrainedmodels SENet port)
    "se_resnet50": 28_088_024,  # legacy_seresnet50
    "se_resnet101": 49_326_872,  # legacy_seresnet101
    "se_resnext50_32x4d": 27_559_896,  # legacy_seresnext50_32x4d
    "senet154": 115_088_984,  # legacy_senet154
}
NAMES = list(EXPECTED_PARAMS)
LIGHT = ["resnet18", "resnet50", "resnext50_32x4d", "se_resnet50", "se_resnext50_32x4d", "senet154"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", NAMES)
def test_analytic_params_equal_library_counts_and_reference(name):
    cfg = get_config(name)
    assert complexity(cfg).params == EXPECTED_PARAMS[name] == REFERENCES[name].params
    assert cfg.native_resolution == 224 and isinstance(cfg.body(), AnyNetConfig)


@pytest.fixture(scope="module")
def measure():
    import torch

    from spaces.measure import measure

    torch.set_num_threads(1)
    return measure


@pytest.mark.parametrize("name", NAMES)
def test_built_model_and_fvcore_equal_analytic_at_64px(name, measure):
    cfg = get_config(name)
    model = spaces.create_model(cfg)
    assert sum(p.numel() for p in model.parameters()) == EXPECTED_PARAMS[name]
    assert measure(model, 64) == complexity(cfg, 64)


@pytest.mark.parametrize("name", LIGHT)
def test_small_variant_32px_one_channel_ten_classes(name, measure):
    small = get_config(name).for_input(1, 10, small=True)
    assert small.native_resolution == 32 and small.body().stem == "small"
    cx = complexity(small)
    assert cx.resolution == 32
    assert measure(spaces.create_model(small), 32, 1) == cx
    # the same through the generic overrides (what `nas complexity --stem small` uses)
    assert complexity(get_config(name), 32, in_channels=1, num_classes=10, stem="small") == cx


@pytest.mark.parametrize(
    ("name", "res"),
    [("resnet18", 224), ("resnet50", 224), ("se_resnet50", 33), ("se_resnext50_32x4d", 35)],
)
def test_fvcore_at_224_and_odd_sizes(name, res, measure):
    """224 once for a basic and a bottleneck ResNet; odd sizes exercise the ceil-mode max-pool and
    the stride on the 1x1 conv (SE-ResNet)."""
    cfg = get_config(name)
    assert measure(spaces.create_model(cfg), res) == complexity(cfg, res)


def test_reference_flops_within_half_a_percent():
    for name in NAMES:
        ref = REFERENCES[name]
        if ref.flops:
            assert abs(reference_complexity(get_config(name)).flops / ref.flops - 1) < 0.005, name


def test_resnet_is_an_anynet_body_with_options_and_round_trips():
    body = get_config("senet154").body()
    d = body.to_dict()
    assert (
        d["stem_kind"] == "deep"
        and d["se_reduction"] == 16
        and d["expand_3x3"]
        and d["proj_kernel"] == 3
    )
    assert AnyNetConfig.from_dict(json.loads(json.dumps(d))) == body
    assert [s.group_width for s in body.stages] == [2, 4, 8, 16] and [
        s.bottleneck for s in body.stages
    ] == [2] * 4
    cfg = get_config("resnext50_32x4d")
    again = spaces.get_config(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.key() == cfg.key() and cfg.to_dict()["kind"] == "resnet"
    assert "se_reduction" not in cfg.to_dict()
    assert [(s.bottleneck, s.group_width) for s in cfg.body().stages] == [
        (2, 4),
        (2, 8),
        (2, 16),
        (2, 32),
    ]


def test_default_options_keep_existing_dicts_identical():
    cfg = get_config("regnety_600mf")
    assert list(cfg.to_dict()) == [
        "block",
        "se_ratio",
        "stem",
        "stem_width",
        "in_channels",
        "num_classes",
        "stages",
        "regnet",
    ]
    assert cfg.options() == {} and cfg.key() == config_key(cfg.to_dict())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"cardinality": 64, "base_width": 8},
            r"bottleneck width .* = 512 must divide the block width 256",
        ),
        ({"block": "basic", "cardinality": 32}, "basic blocks have no groups"),
        ({"block": "wide"}, "unknown block 'wide'; valid: basic, bottleneck"),
        ({"stem_kind": "regnet"}, "unknown stem_kind 'regnet'; valid: resnet, senet, deep"),
        ({"depths": (3, 4, 6)}, "one value per stage"),
        ({"se_reduction": 0}, "se_reduction must be null or a positive integer"),
        ({"proj_kernel": 5}, "proj_kernel must be 1 or 3"),
        ({"head_dropout": 1.5}, r"head_dropout must be in \[0, 1\)"),
    ],
)
def test_bad_resnet_configs_name_the_problem(changes, message):
    with pytest.raises(ConfigError, match=message):
        get_config("resnet50").replace(**changes)


def test_bad_anynet_options_name_the_problem():
    stage = {"depth": 1, "width": 64, "stride": 2, "bottleneck": 1, "group_width": 64}
    with pytest.raises(ConfigError, match=r"give se_ratio .* or se_reduction"):
        AnyNetConfig.from_dict({"stages": [stage], "se_ratio": 0.25, "se_reduction": 16})
    with pytest.raises(ConfigError, match="stride_1x1 applies to X"):
        AnyNetConfig.from_dict({"stages": [stage], "block": "R", "stride_1x1": True})
    with pytest.raises(ConfigError, match="unknown stem_kind 'vgg'"):
        AnyNetConfig.from_dict({"stages": [stage], "stem_kind": "vgg"})


def test_family_spaces_sample(capsys):
    """The shallowest record's params / flops / acts are counted on the network its config builds
    (tests/model_counts.py), not by the analytic formulas that made the record: a drift between the
    two fails (mutation checked: SE-ResNet's SE width counted one wider in spaces/complexity.py
    `res_bottleneck_block`, which the former comparison with `complexity()` let pass)."""
    for name in ("resnet", "resnext", "se_resnet"):
        result = spaces.sample(spaces.get_space(name), 20, seed=0)
        assert (
            len(result.records) == 20 and len({json.dumps(r["depths"]) for r in result.records}) > 1
        )
        shallow = min(result.records, key=lambda r: sum(r["depths"]))  # the cheapest to count
        cfg = spaces.get_config(shallow)
        assert isinstance(cfg, ResNetConfig) and shallow["resolution"] == 224
        assert built_counts(cfg, 224) == (shallow["params"], shallow["flops"], shallow["acts"])
    code, out, _ = run(
        capsys, "sample", "--space", "resnext", "-n", "50", "--dry-run", "--seed", "1"
    )
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(records) == 50
    assert {r["cardinality"] for r in records} == {8, 16, 32, 64} and {
        r["base_width"] for r in records
    } == {2, 4, 8}
    assert all(r["cardinality"] * r["base_width"] <= 256 for r in records)


def test_references_cover_every_named_residual_model_and_the_regnets():
    assert FAMILIES["resnet"] == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
    assert FAMILIES["resnext"] == ["resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d"]
    assert FAMILIES["senet"] == ["se_resnet50", "se_resnet101", "se_resnext50_32x4d", "senet154"]
    assert set(FAMILIES["regnet"]) == set(spaces.regnet.PUBLISHED)
    for name in FAMILIES[
        "regnet"
    ]:  # rounded published figures: params to 0.01 M, flops to 0.001 GF
        cx, ref = reference_complexity(get_config(name)), REFERENCES[name]
        assert abs(cx.params - ref.params) <= 5_000 and abs(cx.flops - ref.flops) <= 0.5e6, name


def test_nas_zoo_json_markdown_text_and_errors(capsys):
    code, out, _ = run(capsys, "zoo", "--json")
    rows = {r["model"]: r for r in json.loads(out)}
    assert code == 0 and set(NAMES) | set(spaces.regnet.PUBLISHED) <= set(rows)
    r = rows["resnet50"]
    assert (r["family"], r["params"], r["ref_params"], r["params_diff"], r["resolution"]) == (
        "resnet",
        25_557_032,
        25_557_032,
        0.0,
        224,
    )
    assert (
        r["flops"] == reference_complexity(get_config("resnet50")).flops
        and abs(r["flops_diff"]) < 0.005
    )
    assert rows["senet154"]["ref_flops"] is None and rows["senet154"]["flops_diff"] is None
    code, out, _ = run(capsys, "zoo", "--family", "resnext", "--markdown")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0].startswith("| family | model |") and len(lines) == 2 + 3
    assert "| resnext | resnext101_32x8d | 224 | 88,791,336 | 88,791,336 | +0.00% |" in out
    code, out, _ = run(capsys, "zoo", "--family", "senet")
    assert code == 0 and "se_resnext50_32x4d" in out and "115,088,984" in out
    code, _, err = run(capsys, "zoo", "--family", "resnets")
    assert (
        code == 2
        and err.count("\n") == 1
        and "unknown family 'resnets'; valid:" in err
        and "resnext" in err
    )


@pytest.mark.parametrize("name", NAMES)
def test_nas_complexity_json_every_name(name, capsys):
    code, out, _ = run(capsys, "complexity", name, "--json")
    d = json.loads(out)
    assert code == 0 and d["params"] == EXPECTED_PARAMS[name] and d["config"]["kind"] == "resnet"


def test_nas_analyze_marks_models(tmp_path, capsys, monkeypatch):
    from analysis import plots

    rng = np.random.default_rng(0)
    n = 30
    frame = pd.DataFrame(
        {
            "error": rng.uniform(0.2, 0.4, n),
            "flops": rng.uniform(1e9, 5e9, n),
            "params": rng.uniform(5e6, 30e6, n),
            "acts": rng.uniform(5e6, 15e6, n),
        }
    )
    csv = tmp_path / "runs.csv"
    frame.to_csv(csv, index=False)
    results = tmp_path / "train.jsonl"
    results.write_text(
        json.dumps({"model": "resnet50", "error": 0.25, "dataset": "fashion-mnist"}) + "\n"
    )
    drawn = []
    original = plots._draw_marks

    def spy(ax, col, marks, *rest):  # rest: whatever else _draw_marks takes (the axis limits)
        drawn.append((col, [m["model"] for m in marks]))
        return original(ax, col, marks, *rest)

    monkeypatch.setattr(plots, "_draw_marks", spy)
    out_dir = tmp_path / "report"
    code, out, _ = run(
        capsys,
        "analyze",
        str(csv),
        "--normalize",
        "none",
        "--bootstrap",
        "20",
        "--no-efit",
        "--out",
        str(out_dir),
        "--mark",
        "resnet18,regnetx_400mf",
        "--mark-results",
        str(results),
        "--json",
    )
    summary = json.loads(out)
    assert code == 0
    marks = {m["model"]: m for m in summary["marks"]}
    assert list(marks) == ["resnet18", "regnetx_400mf", "resnet50"]
    assert marks["resnet50"]["error"] == 0.25 and "error" not in marks["resnet18"]
    assert marks["resnet18"]["flops"] == reference_complexity(get_config("resnet18")).flops
    assert sorted(c for c, _ in drawn) == ["acts", "flops", "params"]
    assert all(names == ["resnet18", "regnetx_400mf", "resnet50"] for _, names in drawn)
    from PIL import Image

    with Image.open(
        out_dir / "error_vs_params.png"
    ) as im:  # decodes; flops, params, acts: 3 x 3.2 in at 110 dpi
        w, h = im.size
        image = np.asarray(im.convert("RGB")).astype(int)
    assert 0.85 <= w / (3 * 3.2 * 110) <= 1.02 and 0.85 <= h / (3.2 * 0.85 * 110) <= 1.02
    assert (np.abs(image - [31, 119, 180]) <= 2).all(
        axis=-1
    ).sum() > 100  # the space's trend lines (tab:blue)
    assert "| resnet50 | 25,557,032 |" in (out_dir / "report.md").read_text()
    code, _, err = run(
        capsys,
        "analyze",
        str(csv),
        "--normalize",
        "none",
        "--out",
        str(out_dir),
        "--mark",
        "resnet51",
    )
    assert code == 2 and "unknown model 'resnet51'" in err and err.count("\n") == 1
    results.write_text('{"model": "resnet50"}\n')
    code, _, err = run(
        capsys, "analyze", str(csv), "--out", str(out_dir), "--mark-results", str(results)
    )
    assert code == 2 and "line 1: not a `nas train --json` output (missing 'error')" in err
