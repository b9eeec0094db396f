"""DenseNet, MobileNet V1, ShuffleNet V1/V2: named models against their published figures, analytic
counts against built models and fvcore, serialization, small inputs and the family design spaces."""

from __future__ import annotations

import json

import pytest
import torch
from model_counts import built_counts

import spaces
from spaces.errors import ConfigError
from spaces.measure import measure
from spaces.registry import config_from_dict
from spaces.zoo import FAMILIES, REFERENCES
from spaces.zoo.densenet import DenseNetConfig
from spaces.zoo.mobilenet_v1 import MobileNetV1Config
from spaces.zoo.shufflenet import ChannelSlice, ShuffleNetV1Config, ShuffleNetV2Config

FAMILY_NAMES = ("densenet", "mobilenet_v1", "shufflenet_v1", "shufflenet_v2")
NAMED = [name for family in FAMILY_NAMES for name in FAMILIES[family]]

# Exact parameter counts, as sum(p.numel() for p in model.parameters()) of the library's model
# (1000 classes).
EXACT_PARAMS = {
    "densenet121": 7_978_856,  # torchvision.models.densenet121
    "densenet161": 28_681_000,  # torchvision.models.densenet161
    "densenet169": 14_149_480,  # torchvision.models.densenet169
    "densenet201": 20_013_928,  # torchvision.models.densenet201
    # Paper Table 1 layout (6, 12, 64, 48), k=32, no library with torchvision's counting.
    # PaddleClas' DenseNet264 lists 33.74M counting BN running mean/var too; the same convention
    # gives its 8.06M for DenseNet-121.
    "densenet264": 33_337_704,
    "mobilenet_v1": 4_231_976,  # timm mobilenetv1_100 (= Keras MobileNet trainable parameters)
    "mobilenet_v1_1.0_192": 4_231_976,  # the resolution multiplier does not change the network
    "mobilenet_v1_1.0_160": 4_231_976,
    "mobilenet_v1_1.0_128": 4_231_976,
    "shufflenet_v2_x0_5": 1_366_792,  # torchvision.models.shufflenet_v2_x0_5
    "shufflenet_v2_x1_0": 2_278_604,  # torchvision.models.shufflenet_v2_x1_0
    "shufflenet_v2_x1_5": 3_503_624,  # torchvision.models.shufflenet_v2_x1_5
    "shufflenet_v2_x2_0": 7_393_996,  # torchvision.models.shufflenet_v2_x2_0
}
# Parameter counts published rounded to 0.1M.
ROUNDED_PARAMS_M = {
    "mobilenet_v1_0.75": 2.6,  # MobileNet paper Table 6
    "mobilenet_v1_0.5": 1.3,  # MobileNet paper Table 6
    "mobilenet_v1_0.25": 0.5,  # MobileNet paper Table 6
    "shufflenet_v1_g3": 1.9,  # Megvii ShuffleNet-Series README, ShuffleNetV1 1.0x (group=3)
    "shufflenet_v1_g8": 2.4,  # Megvii ShuffleNet-Series README, ShuffleNetV1 1.0x (group=8)
}
# Multiply-adds at the reference resolution, in millions, as the papers print them.
PAPER_MFLOPS = {
    "mobilenet_v1": (569, 224),
    "mobilenet_v1_0.75": (325, 224),
    "mobilenet_v1_0.5": (149, 224),  # Table 6
    "mobilenet_v1_0.25": (41, 224),
    "mobilenet_v1_1.0_192": (418, 192),
    "mobilenet_v1_1.0_160": (290, 160),  # Table 7
    "mobilenet_v1_1.0_128": (186, 128),
    "shufflenet_v1_g1": (143, 224),
    "shufflenet_v1_g2": (140, 224),
    "shufflenet_v1_g3": (137, 224),  # Table 1
    "shufflenet_v1_g4": (133, 224),
    "shufflenet_v1_g8": (137, 224),
    "shufflenet_v2_x0_5": (41, 224),
    "shufflenet_v2_x1_0": (146, 224),
    "shufflenet_v2_x1_5": (299, 224),  # Table 5
    "shufflenet_v2_x2_0": (591, 224),
    "densenet121": (2834, 224),
    "densenet161": (7728, 224),
    "densenet169": (3360, 224),  # torchvision GFLOPS
    "densenet201": (4291, 224),
    "densenet264": (5820, 224),  # PaddleClas DenseNet264 (counts a little more)
}


def test_every_named_model_has_a_reference_and_a_figure():
    assert len(NAMED) == 21
    assert set(NAMED) == set(EXACT_PARAMS) | set(ROUNDED_PARAMS_M) | {
        "shufflenet_v1_g1",
        "shufflenet_v1_g2",
        "shufflenet_v1_g4",
    }
    assert set(NAMED) == set(PAPER_MFLOPS)
    for name in NAMED:
        assert name in spaces.MODELS
        ref = REFERENCES[name]
        assert ref.source and ref.flops and ref.resolution


@pytest.mark.parametrize("name", sorted(EXACT_PARAMS))
def test_exact_params(name):
    assert spaces.get_config(name).analytic(224).params == EXACT_PARAMS[name]
    assert REFERENCES[name].params == EXACT_PARAMS[name]


@pytest.mark.parametrize("name", sorted(ROUNDED_PARAMS_M))
def test_rounded_params(name):
    assert round(spaces.get_config(name).analytic(224).params / 1e5) / 10 == ROUNDED_PARAMS_M[name]


@pytest.mark.parametrize("name", sorted(PAPER_MFLOPS))
def test_flops_near_published(name):
    mflops, resolution = PAPER_MFLOPS[name]
    cfg = spaces.get_config(name)
    assert cfg.native_resolution == resolution
    assert cfg.analytic(resolution).flops / 1e6 == pytest.approx(mflops, rel=0.02)


# The resolution-multiplier variants are the same network as mobilenet_v1: measured once.
MEASURED = [n for n in NAMED if not n.startswith("mobilenet_v1_1.0_")]


@pytest.mark.parametrize("name", MEASURED)
def test_analytic_matches_built_model_and_fvcore(name):
    cfg = spaces.get_config(name)
    for variant, resolution in ((cfg, 64), (cfg.for_input(1, 10, small=True), 32)):
        model = variant.build(zero_init_last=True)
        got, want = measure(model, resolution, variant.in_channels), variant.analytic(resolution)
        assert (got.params, got.flops, got.acts) == (want.params, want.flops, want.acts), (
            name,
            resolution,
        )


@pytest.mark.parametrize(
    "name", ["mobilenet_v1_0.25", "mobilenet_v1_1.0_128", "shufflenet_v2_x0_5"]
)
def test_native_resolution_matches_fvcore(name):
    cfg = spaces.get_config(name)
    res = cfg.native_resolution
    got, want = measure(cfg.build(), res), cfg.analytic(res)
    assert (got.params, got.flops, got.acts) == (want.params, want.flops, want.acts)


@pytest.mark.parametrize(
    "name", ["densenet121", "mobilenet_v1", "shufflenet_v1_g3", "shufflenet_v2_x1_0"]
)
def test_small_variant_runs_on_28px(name):
    cfg = spaces.get_config(name).for_input(1, 10, small=True)
    assert cfg.native_resolution == 32
    model = cfg.build(zero_init_last=True).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert cfg.analytic(28).params == cfg.analytic(32).params


@pytest.mark.parametrize("name", NAMED)
def test_dict_round_trip(name):
    cfg = spaces.get_config(name).for_input(1, 10, small=True)
    data = json.loads(json.dumps(cfg.to_dict()))
    back = config_from_dict(data)
    assert back == cfg and back.key() == cfg.key()
    # record keys are ignored
    assert type(back).from_dict({**data, "params": 1, "space": "x"}) == cfg


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_family_space_samples(family):
    """Distinct records of the family, each at its config's native resolution, with the counts of
    the network it builds: the first record is counted on the built module (tests/model_counts.py),
    not by the analytic formulas that made it. Mutation checked: ShuffleNet V2's channel split
    counted with a parameter (spaces/zoo/shufflenet.py `ChannelSlice.count`), which the former
    comparison with `analytic()` let pass; also guarded: a record whose resolution is not its
    config's native one (MobileNet's multiplier)."""
    space = spaces.get_space(family)
    result = spaces.sample(space, 4, seed=0, bands=[])
    assert len(result.records) == 4
    assert len({json.dumps(r, sort_keys=True) for r in result.records}) == 4
    for record in result.records:
        cfg = config_from_dict(record)
        assert cfg.kind == family and record["resolution"] == cfg.native_resolution
    first = result.records[0]
    assert built_counts(config_from_dict(first), first["resolution"]) == (
        first["params"],
        first["flops"],
        first["acts"],
    )
    assert set(space.parameters()) and space.size() >= 4


def test_space_suggest_uses_structured_choices():
    class Trial:
        def suggest_categorical(self, name, choices):
            return choices[-1]

    assert spaces.get_space("densenet").suggest(Trial()) == DenseNetConfig(48, (6, 12, 36, 24))
    assert spaces.get_space("shufflenet_v2").suggest(Trial()) == ShuffleNetV2Config(2.0, (4, 12, 4))


def test_mobilenet_multipliers():
    cfg = MobileNetV1Config(width_mult=0.5, resolution_mult=5 / 7)
    assert cfg.native_resolution == 160
    assert cfg.analytic(160).params == spaces.get_config("mobilenet_v1_0.5").analytic(224).params
    flops = {a: MobileNetV1Config(a).analytic(224).flops for a in (0.5, 1.0)}
    assert 3.5 < flops[1.0] / flops[0.5] < 4.0  # roughly alpha^2


def test_shufflenet_v1_scale_keeps_groups_divisible():
    for g in (1, 2, 3, 4, 8):
        for s in (0.25, 0.5, 1.5, 2.0):
            cfg = ShuffleNetV1Config(groups=g, scale=s)
            stem, stages = cfg.widths()
            assert stem % g == 0 and all(w % (4 * g) == 0 for w in stages)
            cfg.analytic(224)
    # Megvii's 0.5x, g=3
    assert ShuffleNetV1Config(groups=3, scale=0.5).widths() == (12, (120, 240, 480))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ShuffleNetV1Config(groups=5), "groups must be one of"),
        (lambda: ShuffleNetV1Config(scale=0), "scale must be"),
        (lambda: ShuffleNetV1Config(repeats=(4, 8)), "repeats must be 3"),
        (lambda: ShuffleNetV2Config(width_mult=0.75), "width_mult must be one of"),
        (lambda: DenseNetConfig(block_config=()), "block_config must be"),
        (lambda: DenseNetConfig(growth_rate=0), "growth_rate must be"),
        (lambda: DenseNetConfig(compression=1.5), "compression must be"),
        (lambda: MobileNetV1Config(width_mult=0), "width_mult must be"),
        (lambda: MobileNetV1Config(resolution_mult=0.1), "below 32 px"),
        (lambda: DenseNetConfig(num_classes=0), "num_classes must be"),
        (lambda: config_from_dict({"kind": "densenet", "growth": 12}), "unknown config key"),
        (lambda: ChannelSlice(0, 9).count((8, 4, 4)), "does not fit 8 channels"),
    ],
)
def test_clear_errors(make, message):
    with pytest.raises(ConfigError, match=message):
        make()
