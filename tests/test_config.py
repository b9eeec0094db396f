"""Configs: serialization, the compatibility rule, validation messages."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spaces import AnyNetConfig, ConfigError, StageConfig, get_config, make_anynet
from spaces.config import adjust_stage
from spaces.space import adjust_compatibility


def stage(**kw):
    return {"depth": 2, "width": 64, "stride": 2, "bottleneck": 1, "group_width": 8, **kw}


def test_json_round_trip_is_identity():
    cfg = get_config("regnety_600mf")
    again = AnyNetConfig.from_dict(json.loads(cfg.to_json()))
    assert again == cfg and again.key() == cfg.key()
    assert again.extra["regnet"]["w0"] == 48


def test_config_is_frozen_and_hashable():
    cfg = get_config("regnetx_200mf")
    with pytest.raises(AttributeError):
        cfg.block = "R"  # type: ignore[misc]
    assert hash(cfg.key())


@pytest.mark.parametrize(
    ("width", "b", "g", "expected"),
    [
        (24, 1, 16, (32, 16)),  # w_b = 24 -> round(24/16) = 2 (half to even) -> 32
        (80, 1, 120, (80, 80)),  # g > w_b: g = w_b (RegNetX-8.0GF's first stage)
        (64, 4, 32, (64, 16)),  # w_b = 16 < g: g = 16
        (200, 2, 24, (192, 24)),  # w_b = 100 -> 96 (4 x 24) -> w = 192
        (8, 4, 1, (8, 1)),
    ],
)
def test_group_width_compatibility_rule(width, b, g, expected):
    adjusted = adjust_stage(StageConfig(1, width, 2, b, g), "X")
    assert (adjusted.width, adjusted.group_width) == expected
    w, gg = adjust_compatibility(np.array([width]), np.array([b]), np.array([g]))
    assert (int(w[0]), int(gg[0])) == expected


def test_vectorized_compatibility_equals_scalar_rule():
    rng = np.random.default_rng(0)
    w = rng.integers(1, 129, 2000) * 8
    b = rng.choice([1, 2, 4], 2000)
    g = rng.choice([1, 2, 4, 8, 16, 32, 24, 56, 120], 2000)
    vw, vg = adjust_compatibility(w, b, g)
    for i in range(2000):
        s = adjust_stage(StageConfig(1, int(w[i]), 2, int(b[i]), int(g[i])), "X")
        assert (s.width, s.group_width) == (vw[i], vg[i])
        assert (s.width // s.bottleneck) % s.group_width == 0


def test_from_dict_applies_compatibility_and_records_adjusted_values():
    cfg = AnyNetConfig.from_dict({"stages": [stage(width=24, group_width=16)]})
    assert (cfg.stages[0].width, cfg.stages[0].group_width) == (32, 16)


def test_y_block_alias_means_x_with_quarter_se():
    cfg = AnyNetConfig.from_dict({"block": "Y", "stages": [stage()]})
    assert (cfg.block, cfg.se_ratio, cfg.block_name) == ("X", 0.25, "Y")


def test_v_and_r_blocks_record_dense_convs():
    cfg = make_anynet([stage(width=48, bottleneck=2, group_width=8)], block="R")
    assert (cfg.stages[0].bottleneck, cfg.stages[0].group_width) == (1, 48)


def test_sampled_record_is_a_valid_config():
    from spaces import SPACES, sample

    record = sample(SPACES["regnetx"], 1, seed=0).records[0]
    assert get_config(record).to_dict()["stages"] == record["stages"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"stages": [stage(depth=0)]}, "stage 1: depth must be a positive integer"),
        ({"stages": [stage(width=-8)]}, "stage 1: width must be a positive integer"),
        ({"stages": [stage(stride=3)]}, "stride must be 1 or 2"),
        ({"stages": [stage(depth=1.5)]}, "stage 1: depth must be an integer"),
        ({"stages": [stage(), {"depth": 1}]}, "stage 2: 'depth' and 'width' are required"),
        ({"stages": [stage(kernel=5)]}, "unknown key"),
        ({"stages": []}, "non-empty list"),
        ({"block": "Z", "stages": [stage()]}, "unknown block 'Z'"),
        ({"stem": "huge", "stages": [stage()]}, "unknown stem"),
        ({"se_ratio": 2, "stages": [stage()]}, "se_ratio must be null or in"),
        ({"num_classes": 0, "stages": [stage()]}, "num_classes must be a positive integer"),
        ({"widths": [1], "stages": [stage()]}, "unknown config key"),
        ({"block": "X"}, "no 'stages'"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_bad_configs_name_the_problem(data, message):
    with pytest.raises(ConfigError, match=message):
        get_config(data) if isinstance(data, dict) else AnyNetConfig.from_dict(data)


def test_incompatible_direct_construction_is_rejected_with_the_fix():
    with pytest.raises(ConfigError, match="compatibility step"):
        AnyNetConfig((StageConfig(1, 24, 2, 1, 16),))


def test_regnet_parameters_as_config_dict():
    cfg = get_config({"d": 22, "w0": 24, "wa": 24.48, "wm": 2.54, "group_width": 16})
    assert cfg.key() == get_config("regnetx_400mf").key()
    with pytest.raises(ConfigError, match="wm must be > 1"):
        get_config({"d": 10, "w0": 24, "wa": 20, "wm": 0.5})
    with pytest.raises(ConfigError, match="w0 must be a positive multiple of 8"):
        get_config({"d": 10, "w0": 20, "wa": 20, "wm": 2})


def test_config_files_json_yaml_jsonl(tmp_path):
    cfg = get_config("regnetx_200mf")
    (tmp_path / "a.json").write_text(cfg.to_json())
    import yaml

    (tmp_path / "a.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    # one line; several: tests/test_input_checks.py
    (tmp_path / "a.jsonl").write_text(cfg.to_json() + "\n")
    for name in ("a.json", "a.yaml", "a.jsonl"):
        assert get_config(tmp_path / name).key() == cfg.key()
    with pytest.raises(ConfigError, match="cannot read config file"):
        get_config(tmp_path)  # a folder
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match=r"bin\.json"):
        get_config(tmp_path / "bin.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"bad\.json: not valid JSON"):
        get_config(tmp_path / "bad.json")
