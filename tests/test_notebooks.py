"""Every notebook runs end to end (CI executes them; an error in any cell fails the test), and the
numbers the design-space notebook prints match a recomputation from the committed sweep results
(results/*.csv) with csv, numpy and scipy alone."""

from __future__ import annotations

import csv
import json
import math
import re

import nbformat
import numpy as np
import pandas as pd
import pytest
from helpers import ROOT
from nbclient import NotebookClient
from scipy import stats as sps

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def printed(nb: nbformat.NotebookNode) -> str:
    """Everything the executed code cells printed or displayed as text, in order. A print can
    reach the notebook as several stream outputs (the kernel flushes its buffer on a timer, which
    under load falls between the pieces of one line): stream text is joined as it came, with no
    separator; other outputs stand on lines of their own."""
    text = ""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text += out.get("text", "")
            else:
                text += "\n" + out.get("data", {}).get("text/plain", "") + "\n"
        text += "\n"
    return text


def committed(space: str) -> list[dict[str, str]]:
    with open(ROOT / f"results/example_{space}.csv", newline="") as f:
        return [r for r in csv.DictReader(f) if r["state"] == "COMPLETE"]


def number(pattern: str, text: str) -> tuple[float, ...]:
    m = re.search(pattern, text)
    assert m, f"the notebook no longer prints {pattern!r}"
    return tuple(float(g) for g in m.groups())


def check_compare_design_spaces(text: str) -> None:
    """Mutations checked: the KS test's normalized weights replaced by plain ones (analysis/stats.py
    `_weights`), the report's median error computed as the mean (analysis/report.py); also guarded:
    a KS distance, a normalization range, a summary statistic or the best model printed wrong."""
    rows = {s: committed(s) for s in ("anynetx_a", "anynetx_e")}
    err = {s: np.array([float(r["error"]) for r in v]) for s, v in rows.items()}
    flops = {s: np.array([float(r["flops"]) for r in v]) for s, v in rows.items()}
    # cell 2: (n, min, mean) per space, rounded to 4 decimals
    for s in rows:
        n, lo, mean = number(
            rf"'{s}': \((\d+), (?:np\.float64\()?([\d.]+)\)?, (?:np\.float64\()?([\d.]+)\)?\)", text
        )
        assert (n, lo, mean) == (len(err[s]), round(err[s].min(), 4), round(err[s].mean(), 4)), s
    # cell 4: KS D to 3 decimals; the permutation p over 500 random splits estimates scipy's exact
    # p q (the share of all splits at least as far apart: 0.0877 here, 3 tied errors aside):
    # (1 + K) / 501 with K ~ Binomial(500, q), so within 4.5 standard deviations (+1/501, +rounding)
    # but for 1 in 10^5 draws
    d, p = number(r"KS D = ([\d.]+), permutation p = ([\d.]+)", text)
    ref = sps.ks_2samp(err["anynetx_a"], err["anynetx_e"], method="exact")
    assert d == round(ref.statistic, 3)
    assert (
        abs(p - ref.pvalue) <= 4.5 * math.sqrt(ref.pvalue * (1 - ref.pvalue) / 500) + 1 / 501 + 5e-4
    )
    # cell 6: 4 equal bins over the overlap of the flops ranges, the models outside it left out, and
    # the KS D of the NDS-weighted EDFs (weight 1 / models in the bin, as integer repeats so scipy
    # can test them)
    low = max(f.min() for f in flops.values())
    high = min(f.max() for f in flops.values())
    edges = re.search(r"bins: \[([^\]]+)\]", text)
    assert edges, "the notebook no longer prints the bins"
    assert [float(x) for x in edges.group(1).split()] == pytest.approx(
        np.round(np.linspace(low, high, 5), -5)
    )
    inside = {s: (f >= low) & (f <= high) for s, f in flops.items()}
    left = number(r"left out: \{'anynetx_a': (\d+), 'anynetx_e': (\d+)\}", text)
    assert left == tuple(float((~m).sum()) for m in inside.values())
    expanded = []
    for s, m in inside.items():
        idx = np.minimum(((flops[s][m] - low) / (high - low) * 4).astype(int), 3)
        per_bin = np.bincount(idx, minlength=4)
        expanded.append(np.repeat(err[s][m], math.lcm(*per_bin.tolist()) // per_bin[idx]))
    d_norm, _ = number(r"normalized KS D = ([\d.]+), p = ([\d.]+)", text)
    assert d_norm == round(sps.ks_2samp(*expanded).statistic, 3)
    # cell 8: the best AnyNetX_E model's stages
    best = min(rows["anynetx_e"], key=lambda r: float(r["error"]))
    stages = [(int(best[f"depth_{i}"]), int(best[f"width_{i}"])) for i in range(1, 5)]
    assert f"best model (depth, width) per stage: {stages}" in text
    # cell 10: the report's summary of AnyNetX_A (the printed JSON is cut at 800 characters)
    head = text[text.index('"anynetx_a": {') :]
    summary = {
        k: number(rf'"{k}": ([\d.]+)', head)[0]
        for k in ("n", "min_error", "mean_error", "median_error")
    }
    a = err["anynetx_a"]
    assert summary == pytest.approx(
        {"n": len(a), "min_error": a.min(), "mean_error": a.mean(), "median_error": np.median(a)},
        abs=1e-12,
    )
    # and the files it wrote: the eight plots, the summary and the report
    plots = (
        "best_ranges",
        "edf",
        "edf_normalized",
        "error_vs_params",
        "error_vs_stage_params",
        "pareto_error_flops",
        "random_search",
        "width_profiles",
    )
    listed = json.loads(text[text.rindex("[") :].replace("'", '"'))
    assert sorted(listed) == sorted([f"{p}.png" for p in plots] + ["report.md", "summary.json"])


def check_paper_findings(text: str) -> None:
    """The notebook's findings table is the committed one (results/paper/analysis/findings.md,
    written by `nas analyze --findings`), and the sample sizes it prints are the committed
    exports' finished models."""
    findings = (ROOT / "results/paper/analysis/findings.md").read_text()
    assert findings.strip() in text
    for p in sorted((ROOT / "results/paper").glob("*.parquet")):
        f = pd.read_parquet(p, columns=["state"])
        n = int((f["state"] == "COMPLETE").sum())
        assert re.search(rf"{p.stem}\s+{n}\.0\s", text), p.stem


CHECKS = {
    "compare_design_spaces.ipynb": check_compare_design_spaces,
    "paper_findings.ipynb": check_paper_findings,
}


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    if path.name in CHECKS:
        CHECKS[path.name](printed(nb))


def test_printed_joins_a_print_that_reached_the_notebook_in_pieces():
    """The flaky CI failure of 2026-12-02: the kernel flushed "bins:" and the array as two stream
    outputs, and joining them with a newline hid the line from the checks."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print('bins:', edges)")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="bins: "),
        nbformat.v4.new_output("stream", name="stdout", text="[1. 2.] left out: {}\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": "3"}, execution_count=1),
    ]
    nb.cells = [cell]
    text = printed(nb)
    assert "bins: [1. 2.] left out: {}\n" in text and "\n3\n" in text
