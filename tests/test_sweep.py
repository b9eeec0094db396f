"""Stored sweeps, searches and exports on real components: journal files, Optuna, the proxy trainer
on tiny synthetic data (1 epoch, 256 training and 128 test images of 28 px, models under 30 MF at
224 px).

The storage-independent core of the trial lifecycle (train once, resume, never twice, stale results,
failures, refused settings, export, growing a study) runs against every storage the README
documents: the fixture `storage_url` (tests/conftest.py) gives a fresh journal file, SQLite file and
PostgreSQL database. The other tests (searches, heartbeats, a killed worker, two workers on one
journal, Ctrl-C and the one-line errors of the commands) run on a journal file only, to keep the
suite's time."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from helpers import (
    BANDS,
    DATA,
    SCHEDULE,
    SPACE,
    TRAIN_FLAGS,
    fake_train,
    storage_snapshot,
    storage_trials,
)
from optuna.trial import TrialState

import nas.tables
import nas.trainer
from nas.cli import main
from nas.datasets import load_dataset
from nas.search import run_search
from nas.storage import open_storage
from nas.study import SweepError
from nas.sweep import run_sweep
from nas.tables import export_study
from nas.trainer import TrainingFailed, adapt_config, train
from spaces import Band, complexity, get_config, get_space, sample


def where(storage):
    """The storage argument: a test's folder stands for its journal file s.journal; a journal path
    or an RDB URL (the fixture storage_url) is taken as it is."""
    return str(storage / "s.journal") if isinstance(storage, Path) else storage


def sweep(storage, n=4, **kw):
    options = {
        "seed": 0,
        "bands": BANDS,
        "dataset": DATA,
        "schedule": SCHEDULE,
        "device": "cpu",
        "threads": 1,
        "storage": where(storage),
        "progress": False,
        "heartbeat_interval": 0.5,
        "grace_period": 60.0,
        **kw,
    }
    return run_sweep(SPACE, n, **options)


def _journal(tmp_path, name="s.journal"):
    return optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / name))
    )


def trials(storage, study=f"{SPACE}-s0"):
    return storage_trials(where(storage), study)


def complete_indexes(ts):
    return sorted(t.user_attrs["index"] for t in ts if t.state == TrialState.COMPLETE)


def test_sweep_trains_the_sampled_configs_once_and_a_rerun_trains_nothing(storage_url, capsys):
    summary = sweep(storage_url)
    assert (summary.complete, summary.failed, summary.missing, summary.trained) == (4, 0, 0, 4)
    assert summary.created and summary.study == "anynetx_e-s0"
    ts = trials(storage_url)
    assert len(ts) == 4 and complete_indexes(ts) == [0, 1, 2, 3]
    assert all(t.user_attrs["storage_seconds"] >= 0 for t in ts)
    records = sample(
        get_space(SPACE), 4, seed=0, bands=BANDS
    ).records  # what `nas sample --dry-run` writes
    dataset = load_dataset(DATA)
    for t in ts:
        a, record = t.user_attrs, records[t.user_attrs["index"]]
        assert a["record"] == record and t.params == {"index": a["index"]}
        assert (a["params"], a["flops"], a["acts"]) == (
            record["params"],
            record["flops"],
            record["acts"],
        )
        cx = complexity(adapt_config(get_config(record), dataset), 28)
        assert (a["train_params"], a["train_flops"], a["train_acts"]) == (
            cx.params,
            cx.flops,
            cx.acts,
        )
        assert 0 <= a["error"] <= 1 and t.value == a["error"]
        assert a["train_seconds"] > 0 and a["images_per_second"] > 0 and a["latency_ms_b64"] > 0
        assert a["device"] == "cpu" and a["steps"] == 4 and a["worker"].endswith(f":{os.getpid()}")
    attrs = optuna.load_study(
        study_name="anynetx_e-s0", storage=open_storage(storage_url)
    ).user_attrs
    assert (attrs["space"], attrs["seed"], attrs["n"], attrs["dataset"], attrs["ready"]) == (
        SPACE,
        0,
        4,
        DATA,
        True,
    )
    assert attrs["schedule"] == SCHEDULE.to_dict() and attrs["bands"] == [
        {"metric": "flops", "low": None, "high": 30e6}
    ]
    again = sweep(storage_url, train_fn=pytest.fail)  # nothing left to train
    assert (again.complete, again.trained, again.created) == (4, 0, False) and len(
        trials(storage_url)
    ) == 4

    df = export_study("anynetx_e-s0", storage_url)
    assert len(df) == 4 and set(df["state"]) == {"COMPLETE"} and df["storage_seconds"].notna().all()
    capsys.readouterr()
    assert main(["status", "--study", "anynetx_e-s0", "--storage", storage_url, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["complete"], status["running"], status["waiting"], status["failed"]) == (
        4,
        0,
        0,
        0,
    )
    assert (status["done"], status["n"], status["remaining"], status["eta_seconds"]) == (
        4,
        4,
        0,
        0.0,
    )
    assert status["trials_per_minute"] > 0 and status["rate_over"] == "run"
    assert main(["status", "--study", "anynetx_e-s0", "--storage", storage_url]) == 0
    text = capsys.readouterr().out
    assert "complete 4   running 0   waiting 0   failed 0" in text and "done 4/4 (100.0%)" in text


def test_interrupted_sweep_resumes_exactly_the_missing_configs(storage_url):
    calls = []

    def interrupted_at_the_second(cfg, dataset, schedule, **kw):
        calls.append(cfg)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return train(cfg, dataset, schedule, **kw)

    with pytest.raises(KeyboardInterrupt):
        sweep(storage_url, train_fn=interrupted_at_the_second)
    ts = trials(storage_url)
    assert complete_indexes(ts) == [0]
    stopped = [t for t in ts if t.state == TrialState.FAIL]
    assert [(t.user_attrs["index"], t.user_attrs["fail_reason"]) for t in stopped] == [
        (1, "interrupted")
    ]
    waiting = sorted(t.user_attrs["index"] for t in ts if t.state == TrialState.WAITING)
    assert waiting == [1, 2, 3]  # the interrupted config is queued again
    summary = sweep(storage_url)
    assert (summary.complete, summary.trained, summary.missing) == (4, 3, 0)
    assert complete_indexes(trials(storage_url)) == [0, 1, 2, 3]  # each exactly once


def test_cli_ctrl_c_exits_130_and_a_rerun_finishes(tmp_path, monkeypatch, capsys):
    argv = [
        "sample",
        "--space",
        SPACE,
        "-n",
        "2",
        "--flops",
        ":30M",
        "--storage",
        str(tmp_path / "s.journal"),
        *TRAIN_FLAGS,
        "--json",
    ]

    def ctrl_c(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(nas.trainer, "train", ctrl_c)
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "run the same command" in err and "Traceback" not in err
    monkeypatch.setattr(nas.trainer, "train", fake_train)
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["study"], out["complete"], out["failed"], out["trained"]) == (
        "anynetx_e-s0",
        2,
        0,
        2,
    )
    assert complete_indexes(trials(tmp_path)) == [0, 1]


KILLED_WORKER = """
import os, signal, sys
import torch
torch.set_num_threads(1)
from nas.sweep import run_sweep
from nas.trainer import Schedule, train
from spaces import Band
calls = []
def train_then_die(cfg, dataset, schedule, **kw):
    calls.append(cfg)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9 in the middle of the second trial
    return train(cfg, dataset, schedule, **kw)
run_sweep("anynetx_e", 3, bands=[Band("flops", None, 30e6)], dataset="synthetic:512", \
device="cpu", threads=1,
          schedule=Schedule(epochs=1, batch_size=64, train_size=256, test_size=128), \
storage=sys.argv[1],
          progress=False, train_fn=train_then_die)
"""


def test_trial_of_a_killed_worker_is_retried(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, str(tmp_path / "s.journal")],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, stderr
    ts = trials(tmp_path)
    assert complete_indexes(ts) == [0]
    (left,) = [t for t in ts if t.state == TrialState.RUNNING]
    assert left.user_attrs["index"] == 1 and left.user_attrs["worker"].endswith(f":{proc.pid}")
    # The worker's process is gone: its trial is retried at once, without waiting out the
    # grace period.
    start = time.monotonic()
    summary = sweep(tmp_path, n=3, grace_period=30.0)
    assert (summary.complete, summary.missing) == (3, 0) and time.monotonic() - start < 20
    ts = trials(tmp_path)
    assert complete_indexes(ts) == [0, 1, 2]
    assert next(t for t in ts if t.number == left.number).state == TrialState.FAIL
    (retry,) = [t for t in ts if t.user_attrs.get("retry_of") == left.number]
    assert retry.user_attrs["retry_reason"] == "worker died" and retry.state == TrialState.COMPLETE
    df = export_study("anynetx_e-s0", str(tmp_path / "s.journal"))
    assert df.set_index("trial").loc[left.number, "fail_reason"] == "worker died"


def test_running_trial_is_left_alone_until_its_heartbeat_is_stale(tmp_path):
    def interrupt(*args, **kw):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # queues 3 configs, trains none
        sweep(tmp_path, n=3, train_fn=interrupt)
    storage = _journal(tmp_path)
    study_id = storage.get_study_id_from_name("anynetx_e-s0")
    waiting = storage.get_all_trials(study_id, states=(TrialState.WAITING,))
    taken = next(t for t in waiting if t.user_attrs["index"] == 2)
    # a worker on another machine
    assert storage.set_trial_state_values(taken._trial_id, TrialState.RUNNING)
    beat = time.time()
    storage.set_trial_user_attr(taken._trial_id, "worker", "elsewhere:1:1")
    storage.set_trial_user_attr(taken._trial_id, "heartbeat", beat)
    summary = sweep(tmp_path, n=3, train_fn=fake_train, heartbeat_interval=0.25, grace_period=1.5)
    assert (summary.complete, summary.missing) == (3, 0)
    ts = trials(tmp_path)
    assert complete_indexes(ts) == [0, 1, 2]
    assert next(t for t in ts if t.number == taken.number).state == TrialState.FAIL
    (retry,) = [t for t in ts if t.user_attrs.get("retry_of") == taken.number]
    assert retry.user_attrs["retry_reason"] == "stale"
    assert retry.datetime_start.timestamp() - beat >= 1.5  # not taken over before the grace period


def test_heartbeat_is_written_while_a_trial_trains(tmp_path):
    def slow(*args, **kw):
        time.sleep(1.0)
        return fake_train(*args, **kw)

    sweep(tmp_path, n=1, train_fn=slow, heartbeat_interval=0.2, grace_period=5.0)
    (t,) = trials(tmp_path)
    assert t.user_attrs["heartbeat"] - t.datetime_start.timestamp() >= 0.6


def test_a_config_is_never_trained_twice(storage_url):
    sweep(storage_url, n=2, train_fn=fake_train)
    study = optuna.load_study(study_name="anynetx_e-s0", storage=open_storage(storage_url))
    done = next(t for t in study.get_trials() if t.user_attrs["index"] == 0)
    # a second copy of a finished config in the queue (two processes re-enqueueing it at once)
    study.enqueue_trial(
        {"index": 0}, user_attrs={k: done.user_attrs[k] for k in ("index", "record")}
    )
    assert sweep(storage_url, n=2, train_fn=pytest.fail).complete == 2
    copy = trials(storage_url)[-1]
    assert copy.state == TrialState.PRUNED and copy.user_attrs["fail_reason"] == "duplicate"
    assert complete_indexes(trials(storage_url)) == [0, 1]


def test_result_of_a_trial_declared_stale_while_training_is_kept_once(storage_url):
    calls = []

    def declared_stale_meanwhile(cfg, dataset, schedule, **kw):
        calls.append(cfg)
        if len(calls) == 1:  # what another worker does to a trial whose heartbeat it finds too old
            storage = open_storage(storage_url)
            study = optuna.load_study(study_name="anynetx_e-s0", storage=storage)
            (mine,) = study.get_trials(states=(TrialState.RUNNING,))
            storage.set_trial_state_values(mine._trial_id, TrialState.FAIL)
            study.enqueue_trial(
                {"index": 0},
                user_attrs={
                    "index": 0,
                    "record": mine.user_attrs["record"],
                    "retry_of": mine.number,
                    "retry_reason": "stale",
                },
            )
        return fake_train(cfg, dataset, schedule, **kw)

    summary = sweep(storage_url, n=1, train_fn=declared_stale_meanwhile)
    # trained once, result not lost
    assert (summary.complete, summary.missing, len(calls)) == (1, 0, 1)
    first, retry = trials(storage_url)
    assert first.state == TrialState.FAIL and retry.state == TrialState.COMPLETE
    assert (
        retry.user_attrs["adopted_from"] == first.number
        and retry.value == retry.user_attrs["error"]
    )


def test_two_workers_share_one_journal(tmp_path):
    summary = sweep(tmp_path, n=4, workers=2)
    assert summary.worker_exit_codes == [0, 0]
    ts = trials(tmp_path)
    assert len(ts) == 4 and complete_indexes(ts) == [0, 1, 2, 3]
    configs = {json.dumps(t.user_attrs["record"]["stages"]) for t in ts}
    assert len(configs) == 4
    # trained by the workers
    assert all(not t.user_attrs["worker"].endswith(f":{os.getpid()}") for t in ts)


def test_failures_are_recorded_and_the_sweep_goes_on(storage_url):
    calls = []

    def flaky(cfg, dataset, schedule, **kw):
        calls.append(cfg)
        if len(calls) == 1:
            schedule = replace(schedule, lr=1e8)  # a diverging run of the real trainer
        if len(calls) == 2:
            raise RuntimeError("boom")
        return train(cfg, dataset, schedule, **kw)

    summary = sweep(storage_url, n=3, train_fn=flaky)
    assert (summary.complete, summary.failed) == (1, 1)
    by_index = {t.user_attrs["index"]: t for t in trials(storage_url)}
    assert (
        by_index[0].state == TrialState.FAIL and by_index[0].user_attrs["fail_reason"] == "diverged"
    )
    assert (
        "lower --lr" in by_index[0].user_attrs["fail_message"]
        and by_index[0].user_attrs["train_flops"] > 0
    )
    # a crash of our code (not NaN, not OOM) is recorded but is no result: the next run trains
    # it again
    assert by_index[1].state == TrialState.FAIL and by_index[1].user_attrs["fail_reason"] == "crash"
    assert by_index[1].user_attrs["fail_message"] == "RuntimeError: boom"
    assert by_index[2].state == TrialState.COMPLETE
    again = sweep(storage_url, n=3, train_fn=fake_train)
    # the crashed one, not the diverged one
    assert (again.trained, again.complete, again.failed) == (1, 2, 1)
    # a model's failure is a result
    assert sweep(storage_url, n=3, train_fn=pytest.fail).trained == 0
    retried = sweep(storage_url, n=3, train_fn=fake_train, retry_failed=True)
    assert (retried.complete, retried.failed, retried.trained) == (3, 0, 1)


def test_a_study_with_other_settings_is_refused_and_left_untouched(storage_url, capsys):
    sweep(storage_url, n=2, train_fn=fake_train)
    before = storage_snapshot(storage_url)  # a journal's bytes, an RDB's rows
    for change, message in (
        ({"seed": 1}, "seed 0 (here 1)"),
        ({"n": 1}, "n 2 (here 1)"),
        ({"dataset": "synthetic:256"}, "dataset synthetic:512 (here synthetic:256)"),
        ({"schedule": replace(SCHEDULE, lr=0.1)}, "schedule.lr 0.2 (here 0.1)"),
        ({"schedule": replace(SCHEDULE, epochs=2)}, "schedule.epochs 1 (here 2)"),
        ({"bands": [Band("flops", None, 40e6)]}, "bands [flops in [-inf, 30M]]"),
    ):
        with pytest.raises(SweepError, match="anynetx_e-s0") as err:
            sweep(
                storage_url, **{"n": 2, "study": "anynetx_e-s0", "train_fn": pytest.fail, **change}
            )
        assert message in str(err.value) and "nothing was changed" in str(err.value)
    # the same through the command line: one line, exit status 2
    capsys.readouterr()
    code = main(
        [
            "sample",
            "--space",
            SPACE,
            "-n",
            "2",
            "--flops",
            ":40M",
            "--storage",
            storage_url,
            *TRAIN_FLAGS,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "bands [flops in [-inf, 30M]] (here [flops in [-inf, 40M]])" in err, err
    assert "nothing was changed" in err and len(err.strip().splitlines()) == 1
    assert storage_snapshot(storage_url) == before


def test_export_round_trips_through_csv_and_parquet(storage_url, tmp_path, capsys, monkeypatch):
    def one_oom(cfg, dataset, schedule, **kw):
        if cfg.stages[0].depth == 1 and not one_oom.done:
            one_oom.done = True
            raise TrainingFailed("oom", "out of memory on cuda:0")
        return fake_train(cfg, dataset, schedule, **kw)

    one_oom.done = False
    sweep(storage_url, n=3, train_fn=one_oom)
    run_sweep(
        "regnetx",
        2,
        bands=[Band("flops", None, 400e6)],
        dataset=DATA,
        schedule=SCHEDULE,
        device="cpu",
        threads=1,
        storage=storage_url,
        progress=False,
        train_fn=fake_train,
    )
    df = export_study("anynetx_e-s0", storage_url)
    stage_columns = [
        f"{f}_{i}"
        for f in ("depth", "width", "stride", "bottleneck", "group_width")
        for i in range(1, 5)
    ]
    for column in [
        "trial",
        "index",
        "state",
        "error",
        "params",
        "flops",
        "acts",
        "train_params",
        "train_flops",
        "train_acts",
        *stage_columns,
        "block",
        "se_ratio",
        "train_loss",
        "train_seconds",
        "images_per_second",
        "latency_ms_b1",
        "latency_ms_b64",
        "device",
        "fail_reason",
        "space",
        "seed",
        "dataset",
    ]:
        assert column in df.columns, column
    assert "d" not in df.columns and len(df) == 3
    assert sorted(df["state"]) == ["COMPLETE", "COMPLETE", "FAIL"]
    assert df.loc[df["state"] == "FAIL", "fail_reason"].tolist() == ["oom"]
    records = sample(get_space(SPACE), 3, seed=0, bands=BANDS).records
    row = df.set_index("index").loc[1]
    assert (row["depth_1"], row["width_4"], row["flops"]) == (
        records[1]["stages"][0]["depth"],
        records[1]["stages"][3]["width"],
        records[1]["flops"],
    )
    assert (row["space"], row["seed"], row["dataset"]) == (SPACE, 0, DATA)
    regnet = export_study("regnetx-s0", storage_url)
    assert {"d", "w0", "wa", "wm"} <= set(regnet.columns) and regnet["d"].between(12, 28).all()

    for name in ("trials.csv", "trials.parquet"):
        out = tmp_path / "out" / name
        code = main(
            [
                "export",
                "--study",
                "anynetx_e-s0",
                "--storage",
                storage_url,
                "-o",
                str(out),
                "--json",
            ]
        )
        summary = json.loads(capsys.readouterr().out)
        assert code == 0 and summary["rows"] == 3 and summary["columns"] == list(df.columns)
        back = pd.read_csv(out) if name.endswith(".csv") else pd.read_parquet(out)
        assert list(back.columns) == list(df.columns)
        pd.testing.assert_frame_equal(
            back.astype(object).where(back.notna(), None),
            df.astype(object).where(df.notna(), None),
            check_dtype=False,
        )
    # an RDB is read with plain SQL (nas.tables.read_trials): the same frame as through Optuna's
    # storage API
    monkeypatch.setattr(nas.tables, "read_trials", lambda st: st.trials())
    pd.testing.assert_frame_equal(export_study("anynetx_e-s0", storage_url), df)


def test_search_prints_the_best_trial_and_the_pareto_front(tmp_path, capsys):
    flags = [
        "--space",
        SPACE,
        "--flops",
        ":100M",
        "--storage",
        str(tmp_path / "s.journal"),
        *TRAIN_FLAGS,
    ]
    code = main(["search", *flags, "--sampler", "random", "-n", "2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and (out["complete"], out["study"]) == (2, "anynetx_e-random-error-s0")
    assert len(out["pareto"]) == 1 and out["pareto"][0]["error"] == min(
        t.value
        for t in trials(tmp_path, "anynetx_e-random-error-s0")
        if t.state == TrialState.COMPLETE
    )

    png = tmp_path / "front.png"
    code = main(
        [
            "search",
            *flags,
            "--sampler",
            "nsga2",
            "-n",
            "4",
            "--objectives",
            "error,flops",
            "--population-size",
            "2",
            "--plot",
            str(png),
        ]
    )
    text = capsys.readouterr().out
    assert (
        code == 0
        and "Pareto front of anynetx_e-nsga2-error-flops-s0 (error (min), flops (min))" in text
    )
    assert f"Pareto plot: {png}" in text
    from PIL import Image

    with Image.open(
        png
    ) as img:  # a real picture: decodes, and holds the blue of the points and the front
        pixels = np.asarray(img.convert("RGB")).reshape(-1, 3).astype(int)
    assert (np.abs(pixels - (31, 119, 180)).sum(axis=1) < 60).sum() > 50
    ts = trials(tmp_path, "anynetx_e-nsga2-error-flops-s0")
    done = [t for t in ts if t.state == TrialState.COMPLETE]
    assert len(done) == 4 and all(len(t.values) == 2 and t.values[1] <= 100e6 for t in done)
    front = [
        t
        for t in done
        if not any(
            o.values[0] <= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values
            for o in done
        )
    ]
    for t in front:
        assert f"{t.number:>12}" in text
    for t in (
        ts
    ):  # configs keep the space's constraints; proposals out of band are pruned, never trained
        stages = t.user_attrs.get("record", {}).get("stages")
        if stages:
            assert [s["depth"] for s in stages] == sorted(s["depth"] for s in stages)
            assert len({s["bottleneck"] for s in stages}) == 1
        if t.state == TrialState.PRUNED:
            assert (
                t.user_attrs["fail_reason"] in ("out of band", "duplicate")
                and "error" not in t.user_attrs
            )


def test_regnet_search_prunes_settings_without_four_stages(tmp_path):
    summary = run_search(
        "regnetx",
        3,
        sampler="tpe",
        bands=[Band("flops", None, 400e6)],
        dataset=DATA,
        schedule=SCHEDULE,
        device="cpu",
        threads=1,
        storage=str(tmp_path / "s.journal"),
        progress=False,
        train_fn=fake_train,
    )
    assert summary.complete == 3 and summary.pareto[0]["regnet"]["d"] >= 12
    ts = trials(tmp_path, summary.study)
    reasons = {t.user_attrs.get("fail_reason") for t in ts if t.state == TrialState.PRUNED}
    assert reasons <= {"invalid", "out of band", "duplicate"} and "invalid" in reasons
    assert all(
        len(t.user_attrs["record"]["stages"]) == 4 for t in ts if t.state == TrialState.COMPLETE
    )
    more = run_search(
        "regnetx",
        5,
        sampler="tpe",
        bands=[Band("flops", None, 400e6)],
        dataset=DATA,
        schedule=SCHEDULE,
        device="cpu",
        threads=1,
        storage=str(tmp_path / "s.journal"),
        progress=False,
        train_fn=fake_train,
    )
    # a re-run goes on to the new n
    assert (more.complete, more.trained, more.created) == (5, 2, False)
    keys = [
        t.user_attrs["config_key"]
        for t in trials(tmp_path, summary.study)
        if t.state == TrialState.COMPLETE
    ]
    assert len(set(keys)) == 5  # no config trained twice


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["sample", "--space", SPACE, "-n", "2", "--storage", "foo://nowhere"],
            "is not a valid URL",
        ),
        (
            ["sample", "--space", SPACE, "-n", "2", "--storage", "results/plain"],
            "neither a URL nor a known file type",
        ),
        (["export", "--study", "nope", "--storage", "{tmp}/s.journal"], "no study 'nope' in"),
        (
            ["export", "--study", "anynetx_e-s0", "--storage", "{tmp}/missing.journal"],
            "does not exist",
        ),
        (
            [
                "export",
                "--study",
                "anynetx_e-s0",
                "--storage",
                "{tmp}/s.journal",
                "-o",
                "{tmp}/x.txt",
            ],
            "a .csv or .parquet",
        ),
        (
            [
                "search",
                "--space",
                SPACE,
                "--objectives",
                "error,speed",
                "--storage",
                "{tmp}/s.journal",
            ],
            "unknown objective 'speed'",
        ),
    ],
)
def test_stored_command_errors_are_one_line(tmp_path, capsys, argv, message):
    sweep(tmp_path, n=1, train_fn=fake_train)
    code = main(
        [a.replace("{tmp}", str(tmp_path)) for a in argv] + TRAIN_FLAGS * (argv[0] != "export")
    )
    err = capsys.readouterr().err
    assert (
        code == 2
        and message in err
        and "Traceback" not in err
        and len(err.strip().splitlines()) == 1
    )
    if argv[1] == "--study" and argv[2] == "nope":
        assert "Studies there: anynetx_e-s0 (sample, 1 trials)" in err


def test_band_acceptance_sets_the_search_patience():
    """The acceptance is the share of the space's draws in the band: checked against an independent
    count, the in-band share of the candidates `spaces.sample` draws (another seed, its own
    bookkeeping), within 4.5 standard deviations of the difference of two binomial proportions (no
    unsourced bounds: the rate moves with the sampling rules). Mutation checked: the band's low edge
    ignored in `band_acceptance` (17 times the rate); also guarded: the wrong metric, a
    constant rate."""
    from nas.search import band_acceptance
    from spaces import Band, get_space, sample

    space, band = get_space("anynetx_a"), Band("flops", 360e6, 400e6)
    rate = band_acceptance(space, [band], draws=4096)
    ref = sample(space, 400, seed=1, bands=[band])
    p_ref = ref.in_band / ref.candidates_tried
    pooled = (rate * 4096 + ref.in_band) / (4096 + ref.candidates_tried)
    assert abs(rate - p_ref) <= 4.5 * math.sqrt(
        pooled * (1 - pooled) * (1 / 4096 + 1 / ref.candidates_tried)
    )
    assert band_acceptance(get_space("anynetx_a"), []) == 1.0
    assert band_acceptance(get_space("anynetx_a"), [Band("flops", 1e15, None)]) == 0.0


def test_a_finished_study_grows_to_a_larger_n_keeping_its_first_configs(storage_url, capsys):
    first = sweep(storage_url, n=2, train_fn=fake_train)
    assert first.trained == 2
    before = {t.user_attrs["index"]: t.user_attrs["record"] for t in trials(storage_url)}
    grown = sweep(storage_url, n=4, train_fn=fake_train)
    assert grown.trained == 2 and grown.complete == 4  # only the two new configs are trained
    assert "grows from 2 to 4 configs" in capsys.readouterr().err
    after = {t.user_attrs["index"]: t.user_attrs["record"] for t in trials(storage_url)}
    assert {i: after[i] for i in before} == before and sorted(after) == [0, 1, 2, 3]
    # the same 4 configs as a study drawn at n=4 (another study of the same storage)
    fresh = sweep(storage_url, n=4, study="fresh", train_fn=fake_train)
    assert [r for _, r in sorted(after.items())] == [
        t.user_attrs["record"]
        for t in sorted(trials(storage_url, "fresh"), key=lambda t: t.user_attrs["index"])
    ]
    assert fresh.trained == 4
    # and it resumes as a 4-config study
    assert sweep(storage_url, n=4, train_fn=pytest.fail).trained == 0
