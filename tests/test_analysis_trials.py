"""Which trials of a study `nas analyze` counts (issue 15, defect 2): only trials that were trained
and failed count as failed; pruned proposals (never trained) and retried copies (interrupted,
abandoned, superseded) are left out, and a config trained more than once counts once, by its final
state. On real studies (journal files, Optuna, nas.sweep with a stand-in trainer) and on
`nas export` frames."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import BANDS, DATA, SCHEDULE, fake_train

import spaces.records
from analysis.data import TRAINED_FAILURES, clean
from nas.cli import main
from nas.search import run_search
from nas.sweep import run_sweep
from nas.tables import export_study
from nas.trainer import TrainingFailed
from spaces import Band

OPTIONS = {
    "dataset": DATA,
    "schedule": SCHEDULE,
    "device": "cpu",
    "threads": 1,
    "progress": False,
    "heartbeat_interval": 0.5,
}


def test_the_trained_failures_are_the_sweeps_terminal_fail_reasons():
    assert TRAINED_FAILURES is spaces.records.TRAINED_FAILURES  # one place for the fact


def test_pruned_proposals_of_a_search_are_neither_failed_nor_models(tmp_path):
    """A RegNet search: many pruned proposals (settings without 4 stages have no flops),
    3 trained."""
    storage = str(tmp_path / "s.journal")
    run_search(
        "regnetx",
        3,
        sampler="random",
        bands=[Band("flops", None, 400e6)],
        storage=storage,
        train_fn=fake_train,
        **OPTIONS,
    )
    df = export_study("regnetx-random-error-s0", storage)
    pruned = int((df["state"] == "PRUNED").sum())
    assert pruned > 3 and (df["state"] == "COMPLETE").sum() == 3 and df["flops"].isna().any()
    for policy in ("exclude", "as_error"):
        c = clean(df, policy)
        assert (len(c.frame), c.failed, c.pruned, c.retried) == (3, 0, pruned, 0)
        assert c.frame["flops"].notna().all() and (c.frame["error"] < 1).all()


def test_interrupted_and_retried_trials_count_once_by_their_final_state(tmp_path):
    """Ctrl-C and resume (interrupted copies), a diverged config retried with --retry-failed
    (complete at last), and one that stays failed: 6 configs, 1 failed."""
    storage = str(tmp_path / "s.journal")
    calls = []

    def stopped_at_the_second(cfg, dataset, schedule, **kw):
        calls.append(cfg)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return fake_train(cfg, dataset, schedule, **kw)

    def two_diverge(cfg, dataset, schedule, **kw):
        calls.append(cfg)
        if len(calls) in (3, 4):
            raise TrainingFailed("diverged", "loss is nan")
        return fake_train(cfg, dataset, schedule, **kw)

    def one_diverges_again(cfg, dataset, schedule, **kw):
        calls.append(cfg)
        if len(calls) == 8:
            raise TrainingFailed("diverged", "loss is nan")
        return fake_train(cfg, dataset, schedule, **kw)

    bands = BANDS
    with pytest.raises(KeyboardInterrupt):
        run_sweep(
            "anynetx_e", 6, bands=bands, storage=storage, train_fn=stopped_at_the_second, **OPTIONS
        )
    assert (
        run_sweep(
            "anynetx_e", 6, bands=bands, storage=storage, train_fn=two_diverge, **OPTIONS
        ).failed
        == 2
    )
    summary = run_sweep(
        "anynetx_e",
        6,
        bands=bands,
        storage=storage,
        train_fn=one_diverges_again,
        retry_failed=True,
        **OPTIONS,
    )
    assert (summary.complete, summary.failed) == (5, 1)
    df = export_study("anynetx_e-s0", storage)
    assert len(df) == 9 and (df["state"] == "FAIL").sum() == 4  # 1 interrupted, 2 + 1 diverged
    c = clean(df, "as_error")
    # 1 interrupted, 2 redone
    assert (len(c.frame), c.failed, c.retried, c.pruned, c.unfinished) == (6, 1, 3, 0, 0)
    assert sorted(c.frame["index"]) == list(range(6)) and (c.frame["error"] == 1.0).sum() == 1
    e = clean(df, "exclude")
    assert (len(e.frame), e.failed) == (5, 1)


def test_a_frame_without_fail_reasons_counts_every_failed_state(tmp_path):
    """CSVs from elsewhere: no fail_reason column, so FAIL means failed; PRUNED is still never
    a model."""
    df = pd.DataFrame(
        {
            "state": ["COMPLETE", "COMPLETE", "FAIL", "PRUNED", "RUNNING"],
            "error": [0.3, 0.4, None, None, None],
            "flops": [1, 2, 3, None, 4],
        }
    )
    c = clean(df, "as_error")
    assert (len(c.frame), c.failed, c.pruned, c.unfinished) == (3, 1, 1, 1)


def test_cli_analyze_counts_only_trained_trials(tmp_path, capsys):
    rows = [
        {"trial": i, "state": "PRUNED", "error": None, "flops": None, "fail_reason": "invalid"}
        for i in range(40)
    ]
    rows += [
        {"trial": 40 + i, "state": "COMPLETE", "error": 0.2 + i / 100, "flops": 1e6 * (i + 1)}
        for i in range(4)
    ]
    rows += [
        {"trial": 44, "state": "FAIL", "error": None, "flops": 5e6, "fail_reason": "interrupted"}
    ]
    frame = pd.DataFrame(rows)
    for name in ("a", "b"):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    capsys.readouterr()
    argv = [
        "analyze",
        str(tmp_path / "a.csv"),
        str(tmp_path / "b.csv"),
        "--failed",
        "as_error",
        "--bootstrap",
        "20",
        "--efit",
        "off",
        "--bins",
        "2",
        "-o",
        str(tmp_path / "out"),
        "--json",
    ]
    assert main(argv) == 0
    spaces = json.loads(capsys.readouterr().out)["spaces"]
    assert spaces["a"]["n"] == 4 and spaces["a"]["failed"] == 0 and spaces["a"]["median_error"] < 1
    assert (spaces["a"]["pruned"], spaces["a"]["retried"]) == (40, 1)
