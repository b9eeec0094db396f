"""Analytic complexity against the published RegNet table, built models and fvcore."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spaces import (
    SPACES,
    AnyNetSpace,
    Band,
    RegNetSpace,
    complexity,
    create_model,
    get_config,
    reference_complexity,
    sample,
)
from spaces.measure import measure
from spaces.regnet import PUBLISHED

# The published RegNets of the RegNet paper (Radosavovic et al. 2020, "Designing Network Design
# Spaces", arXiv:2003.13678) as its reference code, github.com/facebookresearch/pycls, publishes
# them: the parameters (d, w0, wa, wm, g) in configs/dds_baselines/regnet{x,y}/*_dds_*gpu.yaml,
# which give the stage depths and widths below, and the counts in dev/model_complexity.json (commit
# 5c1637187aee, "date-created" 2020-09-04), rounded here to 0.001 GF and 0.01 M (pycls also counts
# the 1000 fc biases as flops: +1e-6 GF); MODEL_ZOO.md prints the same figures to one decimal.
# name: (stage depths, stage widths, GF, params M, acts M) at 224x224, 1000 classes.
TABLE = {
    "regnetx_200mf": ((1, 1, 4, 7), (24, 56, 152, 368), 0.199, 2.68, 2.16),
    "regnetx_400mf": ((1, 2, 7, 12), (32, 64, 160, 384), 0.398, 5.16, 3.14),
    "regnetx_600mf": ((1, 3, 5, 7), (48, 96, 240, 528), 0.601, 6.20, 3.98),
    "regnetx_800mf": ((1, 3, 7, 5), (64, 128, 288, 672), 0.800, 7.26, 5.15),
    "regnetx_1.6gf": ((2, 4, 10, 2), (72, 168, 408, 912), 1.603, 9.19, 7.93),
    "regnetx_3.2gf": ((2, 6, 15, 2), (96, 192, 432, 1008), 3.177, 15.30, 11.37),
    "regnetx_4.0gf": ((2, 5, 14, 2), (80, 240, 560, 1360), 3.964, 22.12, 12.20),
    "regnetx_6.4gf": ((2, 4, 10, 1), (168, 392, 784, 1624), 6.460, 26.21, 16.37),
    "regnetx_8.0gf": ((2, 5, 15, 1), (80, 240, 720, 1920), 7.995, 39.57, 14.06),
    "regnetx_12gf": ((2, 5, 11, 1), (224, 448, 896, 2240), 12.087, 46.11, 21.37),
    "regnetx_16gf": ((2, 6, 13, 1), (256, 512, 896, 2048), 15.941, 54.28, 25.52),
    "regnetx_32gf": ((2, 7, 13, 1), (336, 672, 1344, 2520), 31.736, 107.81, 36.30),
    "regnety_200mf": ((1, 1, 4, 7), (24, 56, 152, 368), 0.200, 3.16, 2.17),
    "regnety_400mf": ((1, 3, 6, 6), (48, 104, 208, 440), 0.402, 4.34, 3.89),
    "regnety_600mf": ((1, 3, 7, 4), (48, 112, 256, 608), 0.601, 6.06, 4.33),
    "regnety_800mf": ((1, 3, 8, 2), (64, 128, 320, 768), 0.797, 6.26, 5.25),
    "regnety_1.6gf": ((2, 6, 17, 2), (48, 120, 336, 888), 1.612, 11.20, 8.04),
    "regnety_3.2gf": ((2, 5, 13, 1), (72, 216, 576, 1512), 3.176, 19.44, 11.26),
    "regnety_4.0gf": ((2, 6, 12, 2), (128, 192, 512, 1088), 3.973, 20.65, 12.29),
    "regnety_6.4gf": ((2, 7, 14, 2), (144, 288, 576, 1296), 6.355, 30.58, 16.41),
    "regnety_8.0gf": ((2, 4, 10, 1), (168, 448, 896, 2016), 7.963, 39.18, 17.97),
    "regnety_12gf": ((2, 5, 11, 1), (224, 448, 896, 2240), 12.092, 51.82, 21.38),
    "regnety_16gf": ((2, 4, 11, 1), (224, 448, 1232, 3024), 15.912, 83.59, 23.04),
    "regnety_32gf": ((2, 5, 12, 1), (232, 696, 1392, 3712), 32.280, 145.05, 30.26),
}


def test_all_published_models_are_registered():
    assert set(PUBLISHED) == set(TABLE)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_published_regnet_matches_table(name):
    depths, widths, gf, params_m, acts_m = TABLE[name]
    cfg = get_config(name)
    assert tuple(s.depth for s in cfg.stages) == depths
    assert tuple(s.width for s in cfg.stages) == widths
    cx = reference_complexity(cfg)
    assert round(cx.flops / 1e9, 3) == gf
    assert round(cx.params / 1e6, 2) == params_m
    assert round(cx.acts / 1e6, 2) == acts_m


def test_regnetx_8gf_group_widths_after_compatibility():
    assert [s.group_width for s in get_config("regnetx_8.0gf").stages] == [80, 120, 120, 120]


@pytest.mark.parametrize("name", ["regnetx_400mf", "regnety_800mf"])
def test_published_model_at_224_equals_fvcore(name):
    cfg = get_config(name)
    measured = measure(create_model(cfg), 224)
    assert measured == reference_complexity(cfg)


def _random_setting(rng: np.random.Generator):
    """A random input setting: odd and non-square sizes exercise the stride arithmetic."""
    h, w = (int(x) for x in rng.integers(5, 41, size=2))
    return {
        "stem": str(rng.choice(["imagenet", "small"])),
        "in_channels": int(rng.choice([1, 3])),
        "num_classes": int(rng.integers(2, 120)),
    }, (h, w)


CHUNKS, PER_CHUNK = 3, 10  # 30 configs per space, split so pytest-xdist can spread them


@pytest.mark.parametrize("chunk", range(CHUNKS))
@pytest.mark.parametrize(
    "space", sorted(n for n, s in SPACES.items() if isinstance(s, AnyNetSpace | RegNetSpace))
)
def test_analytic_equals_built_model_and_fvcore(space, chunk):
    """params = the built model's parameter count, flops = fvcore's conv + linear count, acts = conv
    and linear output elements, exactly, for random configs at random input settings."""
    torch.manual_seed(0)
    # Any complexity goes, but keep built models small so the check stays fast.
    records = sample(
        SPACES[space], CHUNKS * PER_CHUNK, seed=11, bands=[Band("params", None, 4e6)]
    ).records
    rng = np.random.default_rng(chunk)
    for record in records[chunk * PER_CHUNK : (chunk + 1) * PER_CHUNK]:
        overrides, resolution = _random_setting(rng)
        cfg = get_config(record).replace(**overrides)
        analytic = complexity(cfg, resolution)
        measured = measure(create_model(cfg), resolution, cfg.in_channels)
        assert measured == analytic, (record, overrides, resolution)


def test_reference_complexity_in_records_matches_config():
    for record in sample(SPACES["anynetx_e"], 20, seed=3).records:
        cx = reference_complexity(get_config(record))
        assert (cx.params, cx.flops, cx.acts) == (record["params"], record["flops"], record["acts"])


def test_complexity_rejects_bad_resolution():
    from spaces import ConfigError

    with pytest.raises(ConfigError, match="resolution"):
        complexity(get_config("regnetx_200mf"), 0)
