"""The RegNet paper's findings as fixed-rule tests (analysis/findings.py): derived design columns,
each rule's verdicts on data whose answer is known, and `nas analyze --findings`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.findings import (
    PAPER_CLAIMS,
    VERDICTS,
    Claim,
    design_columns,
    evaluate_findings,
    findings_markdown,
    mean_difference,
)

STAGES = (1, 2, 3, 4)


def sweep(space: str, n: int, shift: float = 0.0, seed: int = 0, **fixed) -> pd.DataFrame:
    """n random 4-stage models of `space`: error ~ N(0.5 + shift, 0.05), flops in 360-400M,
    per-stage columns; `fixed` sets a column (e.g. bottleneck_1=...) to an array or value."""
    rng = np.random.default_rng(seed)
    f = pd.DataFrame(
        {
            "space": space,
            "state": "COMPLETE",
            "error": 0.5 + shift + 0.05 * rng.standard_normal(n),
            "flops": rng.uniform(360e6, 400e6, n),
        }
    )
    for i in STAGES:
        f[f"depth_{i}"] = rng.integers(1, 8, n)
        f[f"width_{i}"] = rng.choice([16, 32, 64, 128, 256], n)
        b = rng.choice([1, 2, 4], n) if i == 1 else f["bottleneck_1"]
        g = rng.choice([1, 2, 4, 8], n) if i == 1 else f["group_width_1"]
        f[f"bottleneck_{i}"], f[f"group_width_{i}"] = b, g
    for k, v in fixed.items():
        f[k] = v
    return f


def by_key(findings):
    return {f.claim.key: f for f in findings}


def test_design_columns_on_known_widths():
    f = pd.DataFrame(
        {
            "depth_1": [1, 2],
            "depth_2": [3, 2],
            "depth_3": [5, np.nan],
            "width_1": [16.0, 10.0],
            "width_2": [40.0, 30.0],
            "width_3": [100.0, np.nan],
            "bottleneck_1": [1, 2],
            "bottleneck_2": [1, 4],
            "bottleneck_3": [1, np.nan],
            "group_width_1": [8, 2],
            "group_width_2": [8, 2],
            "group_width_3": [8, np.nan],
        }
    )
    d = design_columns(f)
    assert d["total_depth"].tolist() == [9, 4]
    # 16 -> 100 over two steps: 2.5 a stage; the second model has two stages: 30 / 10
    assert d["width_ratio"].tolist() == pytest.approx([2.5, 3.0])
    # the second model's bottleneck ratios are 2 then 4: not shared
    assert d["bottleneck"].iloc[0] == 1 and np.isnan(d["bottleneck"].iloc[1])
    assert d["group_width"].tolist() == [8, 2]
    assert "total_depth" not in f.columns  # the input is not changed


def test_mean_difference_interval_covers_the_shift():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.5, 0.05, 400), rng.normal(0.45, 0.05, 400)
    iv = mean_difference(a, b, "mean", n_boot=2000)
    assert iv.low < -0.05 + 0.01 < iv.high or iv.low < -0.05 < iv.high
    assert iv.high < 0 and iv.estimate == pytest.approx(b.mean() - a.mean())
    med = mean_difference(a, b, "median", n_boot=500)
    assert med.high < 0
    with pytest.raises(AnalysisError, match="at least 2 models"):
        mean_difference(a[:1], b)


@pytest.mark.parametrize(
    ("rule", "shift", "n", "verdict"),
    [
        ("better", -0.04, 150, "reproduced"),  # the later space is clearly better
        ("better", +0.04, 150, "contradicted"),  # clearly worse
        ("better", 0.0, 30, "inconclusive"),
        ("no_worse", -0.001, 3000, "reproduced"),  # equal, and n large enough for the margin
        ("no_worse", +0.04, 150, "contradicted"),
        ("no_worse", 0.0, 30, "inconclusive"),  # equal, but 30 models cannot show it
    ],
)
def test_edf_rules_on_known_answers(rule, shift, n, verdict):
    claim = Claim("k", "later vs earlier", "test", rule, ("s_a", "s_b"))
    frames = {"a": sweep("s_a", n, seed=1), "b": sweep("s_b", n, shift, seed=2)}
    (f,) = evaluate_findings(frames, [claim], n_boot=500, n_perm=200)
    assert f.verdict == verdict, f.statistic
    assert f.n == (n, n)
    assert "KS D" in f.statistic and f.stats["ks_bins"] >= 1
    if verdict == "inconclusive":
        assert f.stats["n_needed"] > n  # the estimate asks for more models than were run


def test_best_value_rules_on_known_answers():
    rng = np.random.default_rng(3)
    n = 120
    b = rng.choice([1, 2, 4], n)
    g = rng.choice([1, 2, 4, 8], n)
    # b = 1 and g > 1 clearly best
    err = 0.5 + 0.1 * (b > 1) + 0.1 * (g == 1) + 0.01 * rng.standard_normal(n)
    cols = {f"bottleneck_{i}": b for i in STAGES} | {f"group_width_{i}": g for i in STAGES}
    good = sweep("anynetx_e", n, **cols, error=err)
    near = Claim("b1", "b = 1", "test", "near", ("anynetx_e",), "bottleneck", 1.0)
    above = Claim("g1", "g > 1", "test", "above", ("anynetx_e",), "group_width", 1.0)
    far = Claim("b4", "b = 4", "test", "near", ("anynetx_e",), "bottleneck", 4.0)
    got = by_key(evaluate_findings({"e": good}, [near, above, far], n_best=2000))
    assert got["b1"].verdict == "reproduced", got["b1"].statistic
    assert got["b1"].stats["low"] == got["b1"].stats["high"] == 1
    assert got["g1"].verdict == "reproduced" and got["g1"].stats["low"] > 1
    assert got["b4"].verdict == "contradicted"
    # a parameter without effect: the range spans what was sampled, the claim is undecided
    flat = sweep("anynetx_e", n, seed=4, **cols)
    got = by_key(evaluate_findings({"e": flat}, [near, above], n_best=2000))
    assert got["b1"].verdict == "inconclusive" and got["b1"].stats["share_in_range"] > 0.5
    assert got["g1"].verdict == "inconclusive"
    # g = 1 best: the claim g > 1 is contradicted
    worse = sweep("anynetx_e", n, **cols, error=0.5 + 0.1 * (g > 1) + 0.01 * rng.random(n))
    (f,) = evaluate_findings({"e": worse}, [above], n_best=2000)
    assert f.verdict == "contradicted"


def test_paper_claims_and_missing_spaces():
    from spaces import get_space

    for c in PAPER_CLAIMS:
        for s in c.spaces:
            get_space(s)  # every claim names a registered space
    got = evaluate_findings({"anynetx_a": sweep("anynetx_a", 40)}, n_boot=100, n_perm=50)
    assert [f.claim.key for f in got] == [c.key for c in PAPER_CLAIMS]
    assert {f.verdict for f in got} == {"not run"}
    assert "no sweep of anynetx_b" in got[0].statistic
    md = findings_markdown(got)
    assert md.count("\n") == len(PAPER_CLAIMS) + 2 and "**not run**" in md


def test_claims_are_checked():
    with pytest.raises(AnalysisError, match="rule must be one of"):
        Claim("k", "t", "s", "similar", ("a", "b"))
    with pytest.raises(AnalysisError, match="takes 2 space"):
        Claim("k", "t", "s", "better", ("a",))
    with pytest.raises(AnalysisError, match="needs a column and a value"):
        Claim("k", "t", "s", "near", ("a",))
    twice = {"x": sweep("anynetx_a", 10), "y": sweep("anynetx_a", 10, seed=1)}
    with pytest.raises(AnalysisError, match="two inputs are sweeps of anynetx_a"):
        evaluate_findings(twice)


def test_failed_trials_are_left_out():
    f = sweep("anynetx_c", 60)
    g = sweep("anynetx_d", 60, shift=-0.05, seed=5)
    g.loc[:9, "state"] = "FAIL"
    g.loc[:9, "error"] = np.nan
    (c_to_d,) = [c for c in PAPER_CLAIMS if c.key == "c_to_d"]
    (r,) = evaluate_findings({"c": f, "d": g}, [c_to_d], n_boot=300, n_perm=200)
    assert r.n == (60, 50) and r.verdict == "reproduced"


def test_nas_analyze_findings(tmp_path):
    from nas.cli import main

    paths = []
    for k, (s, shift) in enumerate([("anynetx_c", 0.0), ("anynetx_d", -0.05)]):
        p = tmp_path / f"{s}.csv"
        sweep(s, 80, shift, seed=k).to_csv(p, index=False)
        paths.append(str(p))
    out = tmp_path / "an"
    args = ["analyze", *paths, "--findings", "--bootstrap", "200", "--no-efit", "-o", str(out)]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    got = {f["key"]: f for f in summary["findings"]}
    assert got["c_to_d"]["verdict"] == "reproduced"
    assert got["a_to_b"]["verdict"] == "not run"
    assert {f["verdict"] for f in summary["findings"]} <= set(VERDICTS)
    assert "findings.md" in summary["files"] and (out / "findings.md").exists()
    assert "The RegNet paper's findings" in (out / "report.md").read_text()
    # the derived design parameters get best ranges like any other parameter
    assert "total_depth" in summary["spaces"]["anynetx_d"]["best_ranges"]


def test_shared_group_width_is_read_through_the_compatibility_step():
    """A narrow stage's g is lowered to its bottleneck width w / b (spaces.compat); the shared g
    the model was drawn with is the one the other stages keep."""
    from spaces.compat import adjust_block_compatibility

    widths, b = np.array([8, 64, 128, 256]), 2
    rows = []
    for g in (8, 16):  # stage 1's bottleneck width is 4: both are lowered to 4 there
        w, gs = adjust_block_compatibility(widths, b, g)
        row = {f"depth_{i + 1}": 1 for i in range(4)}
        row |= {f"width_{i + 1}": int(w[i]) for i in range(4)}
        row |= {f"bottleneck_{i + 1}": b for i in range(4)}
        row |= {f"group_width_{i + 1}": int(gs[i]) for i in range(4)}
        rows.append(row)
    # every stage lowered (all narrower than g = 64): the largest g is the best lower bound
    w, gs = adjust_block_compatibility([8, 16, 32, 64], 4, 64)
    rows.append(
        {
            f"{p}_{i + 1}": int(v[i])
            for p, v in (("width", w), ("group_width", gs))
            for i in range(4)
        }
        | {f"depth_{i + 1}": 1 for i in range(4)}
        | {f"bottleneck_{i + 1}": 4 for i in range(4)}
    )
    d = design_columns(pd.DataFrame(rows))
    assert rows[0]["group_width_1"] == 4 and rows[1]["group_width_2"] == 16
    assert d["group_width"].tolist() == [8, 16, 16]
    assert d["bottleneck"].tolist() == [2, 2, 4]
