"""`nas status` of stopped sweeps and searches, and readable plots and reports (issue 15,
item 8)."""

from __future__ import annotations

import re
import time

import numpy as np
import optuna
import pandas as pd
import pytest
from helpers import BANDS, DATA, SCHEDULE, fake_train

from analysis.plots import edf_figure, error_vs_figure, plot_error_vs
from analysis.report import render_markdown
from analysis.stats import bootstrap_edf
from analysis.units import si
from nas.cli import main
from nas.cluster import format_status, study_status
from nas.search import run_search
from nas.sweep import run_sweep

OPTIONS = {
    "seed": 0,
    "bands": BANDS,
    "dataset": DATA,
    "schedule": SCHEDULE,
    "device": "cpu",
    "threads": 1,
    "progress": False,
    "train_fn": fake_train,
}


def test_a_stopped_sweep_says_stopped_with_no_eta(tmp_path):
    storage = str(tmp_path / "s.journal")
    calls = []

    def stop_at_third(*args, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return fake_train(*args, **kw)

    with pytest.raises(KeyboardInterrupt):
        run_sweep("anynetx_e", 4, storage=storage, **{**OPTIONS, "train_fn": stop_at_third})
    study = optuna.load_study(
        study_name="anynetx_e-s0",
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage)),
    )
    trial = study.ask()  # a worker that claimed a trial and died long ago
    trial.set_user_attr("heartbeat", time.time() - 3600)
    trial.set_user_attr("worker", "node-7:1:42")
    later = time.time() + 540346
    s = study_status("anynetx_e-s0", storage, now=later)
    assert s["stopped"] and s["eta_seconds"] is None and s["done"] == 2 and s["remaining"] == 2
    text = format_status(s)
    assert "left at that rate" not in text and "done 2/4 (50.0%)" in text
    assert re.search(
        r"STOPPED: no progress since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(6\.3 days ago\)", text
    ), text
    assert "oldest heartbeat 6.3 days ago (stale" in text and "540346" not in text
    fresh = study_status("anynetx_e-s0", storage)
    assert not fresh["stopped"]


def test_a_search_shows_its_n_and_eta(tmp_path):
    storage = str(tmp_path / "s.journal")
    run_search("anynetx_e", 2, sampler="random", storage=storage, study="srch", **OPTIONS)
    s = study_status("srch", storage)
    assert (s["n"], s["done"], s["remaining"], s["eta_seconds"]) == (2, 2, 0, 0.0)
    assert "done 2/2 (100.0%)" in format_status(s) and "finished" in format_status(s)
    run_search("anynetx_e", 3, sampler="random", storage=storage, study="srch", **OPTIONS)
    assert study_status("srch", storage)["n"] == 3


@pytest.mark.parametrize(
    "x, text",
    [
        (362_123_456, "362.1M"),
        (5_157_512, "5.158M"),
        (1.5e12, "1.5T"),
        (980, "980"),
        (0.1234567, "0.1235"),
        (None, "-"),
    ],
)
def test_si_units(x, text):
    assert si(x) == text


def test_report_writes_complexity_in_readable_units():
    summary = {
        "failed_policy": "exclude",
        "settings": {"n_boot": 10, "n_perm": 10},
        "ks": [],
        "files": [],
        "bins": {"metric": "flops", "count": 4, "low": 3.6e8, "high": 4.0e8, "log": False},
        "spaces": {
            "a": {
                "n": 3,
                "failed": 0,
                "unfinished": 0,
                "intervals": {},
                "best_ranges": {"flops": {"median": 3.621e8, "low": 3.6e8, "high": 3.7e8}},
            }
        },
    }
    text = render_markdown(summary)
    assert "362.1M [360M, 370M]" in text and "[360M, 400M]" in text and "e+08" not in text


def _frames(rng):
    out = {}
    for k, name in enumerate(("anynetx_a", "anynetx_e")):
        n = 60
        flops = rng.uniform(3.6e8, 4.0e8, n)
        out[name] = pd.DataFrame(
            {
                "flops": flops,
                "params": rng.uniform(2e6, 8e6, n),
                "acts": rng.uniform(3e6, 6e6, n),
                "error": rng.uniform(0.3, 0.6, n) + 0.02 * k,
            }
        )
    return out


def test_complexity_axes_are_log_with_units_and_marks_keep_the_sweep_readable(tmp_path):
    frames = _frames(np.random.default_rng(0))
    marks = [
        {
            "model": "resnet18",
            "params": 11_689_512,
            "flops": 1_814_073_344,
            "acts": 2_485_000,
            "error": 0.4,
        },
        {"model": "mobilenet_v2", "params": 3_504_872, "flops": 300_774_272, "acts": 6_679_000},
    ]
    assert plot_error_vs(
        frames, ["flops", "params", "acts"], tmp_path / "vs.png", marks=marks
    ).exists()
    fig = error_vs_figure(frames, ["flops", "params", "acts"], marks=marks)
    fig.canvas.draw()
    axes = fig.axes
    for ax, col in zip(axes, ("flops", "params", "acts"), strict=True):
        assert ax.get_xscale() == "log", col
        lo, hi = ax.get_xlim()
        data = np.concatenate([f[col] for f in frames.values()])
        assert hi / lo < 3 * data.max() / data.min(), (col, lo, hi)  # the sweep fills the panel
        labels = [
            t.get_text() for t in ax.get_xticklabels(minor=False) + ax.get_xticklabels(minor=True)
        ]
        assert any(re.fullmatch(r"\d+(\.\d+)?[KMG]", t) for t in labels), (col, labels)
    flops_texts = [t.get_text() for t in axes[0].texts]
    # off the axis: an arrow at the edge
    assert any("resnet18" in t and "→" in t for t in flops_texts)


def test_edf_legend_is_outside_the_curves(tmp_path):
    rng = np.random.default_rng(0)
    points = np.linspace(0.2, 0.8, 50)
    curves = {
        k: bootstrap_edf(rng.uniform(0.3, 0.6, 40), points, n_boot=20, seed=0) for k in ("a", "b")
    }
    fig = edf_figure(curves)
    ax = fig.axes[0]
    legend = ax.get_legend()
    fig.canvas.draw()
    box, axes_box = legend.get_window_extent(), ax.get_window_extent()
    assert box.y1 <= axes_box.y0 or box.x0 >= axes_box.x1  # below or right of the plotting area


def test_nas_spaces_columns_line_up(capsys):
    assert main(["spaces"]) == 0
    rows = [
        x
        for x in capsys.readouterr().out.splitlines()[:40]
        if x and not x.startswith(("size:", "ordered"))
    ]
    matches = [m for r in rows if (m := re.match(r"^\S+\s+(\d+|dims)\s+(\S+)", r))]
    assert len(matches) > 20
    # right-aligned
    assert len({m.end(1) for m in matches}) == 1 and len({m.end(2) for m in matches}) == 1
