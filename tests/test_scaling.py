"""Compound scaling: reference rounding, the (alpha, beta, gamma) grid, `nas scale`, the
effnet_scaling space."""

from __future__ import annotations

import itertools
import json
import math

import pytest
from model_counts import built_counts

from nas.cli import main
from spaces import ConfigError, complexity, get_config, get_space, sample
from spaces.mbconv import mbconv
from spaces.scaling import compound, family, grid_points, round_depth, scale


def test_b7_by_the_reference_rules():
    """EfficientNet-B7 (width 2.0, depth 3.1): channels make_divisible(c * 2), layers
    ceil(n * 3.1)."""
    b7 = scale(get_config("efficientnet_b0"), depth=3.1, width=2.0)
    assert [s.width for s in b7.stages] == [32, 48, 80, 160, 224, 384, 640]
    assert [s.depth for s in b7.stages] == [4, 7, 7, 10, 10, 13, 4]
    assert (b7.stem_width, b7.head_width) == (64, 2560)
    assert b7 == get_config("efficientnet_b7").replace(resolution=224, dropout=0.2)


def test_b3_widths_and_depths():
    b3 = get_config("efficientnet_b3")
    # 16 x 1.2 = 19.2 rounds up to 24
    assert [s.width for s in b3.stages] == [24, 32, 48, 96, 136, 232, 384]
    assert [s.depth for s in b3.stages] == [2, 3, 3, 5, 5, 6, 2]
    assert (b3.stem_width, b3.head_width, b3.resolution, b3.dropout) == (40, 1536, 300, 0.3)
    assert round_depth(3, 1.4) == 5 and round_depth(1, 1.0) == 1


def test_compound_reports_flops_next_to_ideal_growth():
    s = compound(get_config("efficientnet_b0"), 1, 1.2, 1.1, 1.15)
    assert s.resolution == 256  # 224 x 1.15 = 257.6, to a multiple of 8
    assert [x.depth for x in s.config.stages] == [2, 3, 3, 4, 4, 5, 2]
    assert s.ideal_growth == pytest.approx(1.2 * 1.1**2 * 1.15**2)
    assert s.complexity == complexity(s.config, 256) and s.config.resolution == 256
    # EfficientNet-B0's multiply-adds at 224: 385,814,752 counted on the built network
    # (tests/model_counts.py: conv and linear layers by hand from their output shapes), 0.39 B in
    # the EfficientNet paper (Table 2)
    b0 = get_config("efficientnet_b0")
    b0_flops = built_counts(b0, 224)[1]
    assert b0_flops == 385_814_752 and round(b0_flops / 1e9, 2) == 0.39
    assert s.flops_growth == pytest.approx(s.complexity.flops / b0_flops)
    assert compound(b0, 0, 1.2, 1.1, 1.15).complexity.flops == b0_flops
    assert s.complexity.flops == built_counts(s.config, 256)[1]
    fam = family(get_config("efficientnet_b0"), 1.2, 1.1, 1.15)
    assert [f.phi for f in fam] == list(range(1, 8))
    assert all(a.complexity.flops < b.complexity.flops for a, b in itertools.pairwise(fam))


def test_scale_anynet_and_regnet():
    base = get_config("regnetx_400mf")
    s = compound(base, 1, 1.2, 1.1, 1.15)
    assert s.resolution == 256 and s.config.kind == "anynet"
    assert [x.depth for x in s.config.stages] == [math.ceil(x.depth * 1.2) for x in base.stages]
    for x in s.config.stages:  # the group-width compatibility step keeps it buildable
        assert (x.width // x.bottleneck) % x.group_width == 0
    assert s.complexity == complexity(s.config, 256)
    with pytest.raises(ConfigError, match="positive"):
        scale(base, width=0)


def test_grid_honours_the_constraint():
    points = grid_points(0.05, 0.1)
    brute = [
        (1 + i / 20, 1 + j / 20, 1 + k / 20)
        for i in range(40)
        for j in range(40)
        for k in range(40)
    ]
    expected = [p for p in brute if abs(p[0] * p[1] ** 2 * p[2] ** 2 - 2) <= 0.1 + 1e-12]
    assert len(points) == len(expected) == 111
    for a, b, g in points:
        assert min(a, b, g) >= 1 and abs(a * b * b * g * g - 2) <= 0.1 + 1e-12
        assert all(abs(round((x - 1) / 0.05) * 0.05 + 1 - x) < 1e-9 for x in (a, b, g))
    assert (1.2, 1.1, 1.15) in points and (2.0, 1.0, 1.0) in points
    assert grid_points(0.5, 0.3) == [(1.0, 1.0, 1.5), (1.0, 1.5, 1.0), (2.0, 1.0, 1.0)]
    with pytest.raises(ConfigError, match="tolerance"):
        grid_points(0.05, 2)


def test_effnet_scaling_space_samples_rules_under_the_constraint():
    space = get_space("effnet_scaling")
    records = sample(space, 10, seed=0).records
    for r in records:
        sc = r["scaling"]
        assert abs(sc["alpha"] * sc["beta"] ** 2 * sc["gamma"] ** 2 - 2) <= 0.1 + 1e-9
        cfg = get_config(r)
        # the record's counts against the built network (not the analytic call that made them)
        assert built_counts(cfg, cfg.resolution) == (r["params"], r["flops"], r["acts"])
        assert cfg.resolution == r["resolution"]
    assert len({json.dumps(r["scaling"]) for r in records}) == 10


def test_cli_scale_phi(capsys):
    assert (
        main(
            [
                "scale",
                "--base",
                "efficientnet_b0",
                "--phi",
                "1",
                "--alpha",
                "1.2",
                "--beta",
                "1.1",
                "--gamma",
                "1.15",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["resolution"] == 256 and out["ideal_growth"] == pytest.approx(1.9203, abs=1e-4)
    assert out["config"]["kind"] == "mbconv" and out["flops"] > 385_814_752  # B0's, see above
    assert main(["scale", "--base", "efficientnet_b0", "--phi", "2"]) == 0
    text = capsys.readouterr().out
    assert "ideal (alpha beta^2 gamma^2)^phi" in text and "resolution 224 -> 296" in text


def test_cli_scale_errors(capsys):
    assert main(["scale", "--base", "efficientnet_b0"]) == 2
    assert "give --phi" in capsys.readouterr().err
    assert main(["scale", "--base", "efficientnet_b0", "--grid", "--phi", "1", "--dry-run"]) == 2
    assert "leave out --phi" in capsys.readouterr().err
    assert main(["scale", "--base", "efficientnet_bx", "--phi", "1"]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert main(["scale", "--base", "vgg16", "--phi", "1"]) == 2
    assert "scaling supports" in capsys.readouterr().err


def test_cli_grid_dry_run(capsys):
    assert main(["scale", "--base", "efficientnet_b0", "--grid", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("111 grid points for efficientnet_b0")
    assert len(lines) == 2 + 111 and "flops_growth" in lines[1]
    assert (
        main(
            [
                "scale",
                "--base",
                "efficientnet_b0",
                "--grid",
                "--dry-run",
                "--step",
                "0.5",
                "--tolerance",
                "0.3",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert [(p["alpha"], p["beta"], p["gamma"]) for p in out["points"]] == [
        (1.0, 1.0, 1.5),
        (1.0, 1.5, 1.0),
        (2.0, 1.0, 1.0),
    ]
    assert out["points"][0]["resolution"] == 336 and out["points"][2]["depth"] == 32


def _tiny_grid(tmp_path) -> list[str]:
    """`nas scale --grid` of a two-stage MBConv net on 64 synthetic images: 3 grid points, the top 2
    trained again with a second seed (5 trials of a second or so each)."""
    base = mbconv(
        ["mb1_k3_s1_c8_n1_se0.25", "mb3_k3_s2_c16_n1_se0.25"], stem_width=8, head_width=32
    )
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(base.to_dict()))
    flags = (
        "--grid --step 0.5 --tolerance 0.3 --top 2 --repeats 2 --dataset synthetic:64 --epochs 1 "
        "--train-size 64 --test-size 16 --batch-size 32 --device cpu --threads 1"
    )
    return ["scale", "--base", str(path), *flags.split()]


def test_cli_grid_trains_a_resumable_study(tmp_path, capsys):
    args = [*_tiny_grid(tmp_path), "--storage", str(tmp_path / "s.journal"), "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["study"] == "scale-tiny-grid-s0" and out["points"] == 3 and out["trained"] == 3 + 2
    assert [r["seeds"] for r in out["ranking"]] == [2, 2, 1]
    assert out["best"] == out["ranking"][0] and [f["phi"] for f in out["family"]] == list(
        range(1, 8)
    )
    assert main(args) == 0  # resumed: nothing left to train
    again = json.loads(capsys.readouterr().out)
    assert again["trained"] == 0 and again["ranking"] == out["ranking"]
    assert main(args[:-1]) == 0
    text = capsys.readouterr().out
    assert "best: alpha" in text and "family of" in text


# --- the published B1-B7 against the rule ---------------------------------------------------------
def test_published_reproduces_b1_to_b7_from_b0_exactly():
    from spaces.scaling import PUBLISHED_EFFICIENTNET, published
    from spaces.zoo.efficientnet import EFFICIENTNET, EFFICIENTNET_REF

    assert {f"efficientnet_b{n}": v for n, v in PUBLISHED_EFFICIENTNET.items()} == EFFICIENTNET
    b0 = get_config("efficientnet_b0")
    for n in range(8):
        name = f"efficientnet_b{n}"
        zoo = get_config(name)
        s = published(b0, n, base_name="efficientnet_b0")
        assert s.config == zoo and (s.resolution, s.config.dropout) == (
            zoo.resolution,
            zoo.dropout,
        ), name
        ref = complexity(zoo, zoo.resolution)
        assert (s.complexity.params, s.complexity.flops) == (ref.params, ref.flops), name
        assert s.complexity.params == EFFICIENTNET_REF[name][0], name  # torchvision's count
        assert s.coefficients == "published" and s.config.scaling["base"] == "efficientnet_b0"
    # the rule alpha^phi, beta^phi, gamma^phi is not how B1-B7 were made
    rule = compound(b0, 1, 1.2, 1.1, 1.15)
    b1 = published(b0, 1)
    assert (
        rule.complexity.flops != b1.complexity.flops
        and rule.resolution == 256
        and b1.resolution == 240
    )
    assert rule.rule_phi == {"depth": 1.0, "width": 1.0, "resolution": 1.0}
    assert b1.rule_phi == {
        "depth": round(math.log(1.1) / math.log(1.2), 4),
        "width": 0.0,
        "resolution": round(math.log(240 / 224) / math.log(1.15), 4),
    }
    with pytest.raises(ConfigError, match="B0 to B7"):
        published(b0, 8)


def test_cli_scale_says_which_coefficients(capsys):
    assert main(["scale", "--base", "efficientnet_b0", "--phi", "3", "--published", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    b3 = get_config("efficientnet_b3")
    assert (out["params"], out["flops"]) == (12_233_232, complexity(b3, 300).flops) and out[
        "resolution"
    ] == 300
    assert out["coefficients"] == "published" and out["model"] == "efficientnet_b3"
    assert out["base_name"] == out["config"]["scaling"]["base"] == "efficientnet_b0"
    assert (out["width_mult"], out["depth_mult"]) == (1.2, 1.4) and "picked by hand" in out["note"]

    assert main(["scale", "--base", "efficientnet_b0", "--phi", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["coefficients"] == "rule" and out["config"]["scaling"]["base"] == "efficientnet_b0"
    assert (out["alpha"], out["beta"], out["gamma"], out["depth_mult"]) == (1.2, 1.1, 1.15, 1.2)
    twin = out["published"]
    assert (
        twin["model"] == "efficientnet_b1"
        and twin["params"] == 7_794_184
        and twin["resolution"] == 240
    )
    assert "hand-picked" in out["note"] and out["flops"] != twin["flops"]

    assert main(["scale", "--base", "efficientnet_b0", "--phi", "2"]) == 0
    text = capsys.readouterr().out
    assert (
        "coefficients: the EfficientNet paper's rule" in text
        and "published B2 (efficientnet_b2)" in text
    )
    assert main(["scale", "--base", "efficientnet_b0", "--phi", "7", "--published"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("efficientnet_b0 -> efficientnet_b7 with the published multipliers")
    assert "resolution 224 -> 600" in text and "66,347,960" in text


def test_cli_scale_published_errors_and_help(capsys):
    assert main(["scale", "--base", "efficientnet_b0", "--phi", "1.5", "--published"]) == 2
    assert "one of 0..7" in capsys.readouterr().err
    assert (
        main(["scale", "--base", "efficientnet_b0", "--phi", "1", "--published", "--alpha", "1.3"])
        == 2
    )
    assert "leave out --alpha" in capsys.readouterr().err
    assert main(["scale", "--base", "efficientnet_b0", "--grid", "--published", "--dry-run"]) == 2
    assert "--published goes with --phi" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["scale", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--published" in text and "picked by hand" in text and "B7 2.0/3.1/600" in text


def test_cli_grid_runs_on_the_trial_lifecycle_with_workers(tmp_path, capsys):
    """--workers 2: the grid's trials are queued and trained by two processes through nas.lifecycle,
    each trial names its worker and has a heartbeat; the ranking equals the one-worker run's
    (same seeds)."""
    import optuna

    args = [*_tiny_grid(tmp_path), "--json"]
    assert main([*args, "--storage", str(tmp_path / "one.journal")]) == 0
    one = json.loads(capsys.readouterr().out)
    two_store = str(tmp_path / "two.journal")
    assert main([*args, "--storage", two_store, "--workers", "2"]) == 0
    two = json.loads(capsys.readouterr().out)
    assert two["trained"] == one["trained"] == 5
    assert [(r["point"], r["errors"]) for r in two["ranking"]] == [
        (r["point"], r["errors"]) for r in one["ranking"]
    ]
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(two_store))
    trials = optuna.load_study(study_name="scale-tiny-grid-s0", storage=storage).get_trials()
    workers = {t.user_attrs["worker"] for t in trials}
    assert len(workers) == 4  # two processes for every point, then two for the top two again
    assert all("heartbeat" in t.user_attrs and "index" in t.params for t in trials)
    assert sorted((t.user_attrs["point"], t.user_attrs["seed"]) for t in trials) == sorted(
        (r["point"], s) for r in one["ranking"] for s in range(r["seeds"])
    )


_CALLS: list[int] = []  # resolutions trained, in order; the second (point 1) crashes while armed
_ARMED = [False]


def _crash_on_point_1(cfg, dataset, schedule, seed=0, device="cpu", threads=None):
    """A stand-in trainer that crashes on the second trial it trains (point 1: the queue is claimed
    in index order, in this process) while armed: a crash of the code, not a result of the model."""
    from helpers import stand_in_result

    _CALLS.append(dataset.resolution)
    if _ARMED[0] and len(_CALLS) == 2:
        raise RuntimeError("a bug")
    return stand_in_result(cfg, dataset, 0.5 - dataset.resolution / 1000)


def test_a_grid_round_with_unfinished_trials_is_an_error_not_a_ranking(tmp_path):
    """A trial that crashed (or a worker that died) leaves its point unfinished: the grid says so
    and ranks nothing; the same call again trains only that trial and ranks all points."""
    from nas.scale import run_grid
    from nas.study import SweepError
    from nas.trainer import Schedule

    base = mbconv(
        ["mb1_k3_s1_c8_n1_se0.25", "mb3_k3_s2_c16_n1_se0.25"], stem_width=8, head_width=32
    )
    options = {
        "step": 0.5,
        "tolerance": 0.3,
        "top": 2,
        "repeats": 2,
        "dataset": "synthetic:64",
        "schedule": Schedule(epochs=1, batch_size=32, train_size=64, test_size=16),
        "storage": str(tmp_path / "g.journal"),
        "device": "cpu",
        "threads": 1,
        "progress": False,
        "train_fn": _crash_on_point_1,
    }
    _CALLS.clear()
    _ARMED[0] = True
    try:
        with pytest.raises(SweepError, match=r"1 trial\(s\) of every point did not finish"):
            run_grid(base, "tiny", **options)
    finally:
        _ARMED[0] = False
    assert len(_CALLS) == 3  # every point tried once, no second round
    _CALLS.clear()
    result = run_grid(base, "tiny", **options)
    assert len(_CALLS) == 1 + 2  # the crashed point, then the top two again
    assert result.trained == 1 + 2 and sorted(r["point"] for r in result.ranking) == [0, 1, 2]
