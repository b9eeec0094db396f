"""Studies on a real PostgreSQL server (tests/pg_server.py starts one on loopback): the status of a
running sweep and the plain-SQL export, a storage that rides out a server restart, and the one-line
errors of wrong URLs (passwords masked), a missing driver and another space under a study's name
(which leaves the study untouched).

The sweep lifecycle itself (train once, resume, refused settings, export, ...) runs on PostgreSQL as
one of the storages of tests/test_sweep.py (the fixture storage_url)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import optuna
import pandas as pd
import psycopg2
import pytest
from helpers import BANDS, DATA, SCHEDULE, SPACE, TRAIN_FLAGS, fake_train, storage_snapshot
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState
from pg_server import free_port

import nas.tables
from nas.cli import main
from nas.cluster import study_status
from nas.storage import RetryingStorage, StorageError, is_transient, mask_password, open_storage
from nas.study import load_study
from nas.sweep import run_sweep
from nas.tables import export_study


def sweep(url, n=3, **kw):
    options = {
        "seed": 0,
        "bands": BANDS,
        "dataset": DATA,
        "schedule": SCHEDULE,
        "device": "cpu",
        "threads": 1,
        "storage": url,
        "progress": False,
        "heartbeat_interval": 0.5,
        "grace_period": 30.0,
        **kw,
    }
    return run_sweep(SPACE, n, **options)


def test_status_of_a_running_sweep_counts_states_and_gives_an_eta(pg_url, monkeypatch):
    def interrupt(*args, **kw):
        raise KeyboardInterrupt

    sweep(pg_url, n=6, train_fn=fake_train)
    # a second study whose queue is half done, with one trial running on another machine
    with pytest.raises(KeyboardInterrupt):
        sweep(pg_url, n=4, seed=1, train_fn=interrupt)
    storage = open_storage(pg_url)
    study_id = storage.get_study_id_from_name("anynetx_e-s1")
    waiting = sorted(
        storage.get_all_trials(study_id, states=(TrialState.WAITING,)), key=lambda t: t.number
    )
    for t in waiting[:2]:
        assert storage.set_trial_state_values(t._trial_id, TrialState.RUNNING)
        storage.set_trial_state_values(t._trial_id, TrialState.COMPLETE, [0.5])
    assert storage.set_trial_state_values(waiting[2]._trial_id, TrialState.RUNNING)
    storage.set_trial_user_attr(waiting[2]._trial_id, "worker", "node-7:1:42")
    storage.set_trial_user_attr(waiting[2]._trial_id, "heartbeat", time.time() - 5)
    status = study_status("anynetx_e-s1", pg_url, now=time.time() + 1)
    assert (status["complete"], status["running"], status["waiting"], status["retried"]) == (
        2,
        1,
        1,
        1,
    )
    assert (status["done"], status["remaining"], status["hosts"]) == (2, 2, ["node-7"])
    assert status["running_trials"][0]["heartbeat_age_s"] >= 5
    assert (
        status["trials_per_minute"] > 0
        and status["eta_seconds"] > 0
        and status["rate_over"] == "window"
    )
    # export reads an RDB with two SQL queries; the same frame as through the ORM, every
    # state included
    fast = export_study("anynetx_e-s1", pg_url)
    assert sorted(fast["state"]) == ["COMPLETE", "COMPLETE", "FAIL", "RUNNING", "WAITING"]
    rows = nas.tables.read_trials(load_study(pg_url, "anynetx_e-s1"))
    # the SQL path, not the fallback
    assert rows and all(isinstance(r, nas.tables.TrialRow) for r in rows)
    monkeypatch.setattr(nas.tables, "read_trials", lambda st: st.trials())
    pd.testing.assert_frame_equal(fast, export_study("anynetx_e-s1", pg_url))


def test_storage_rides_out_a_server_restart(postgres, pg_url):
    storage = open_storage(pg_url, patience=60)
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "restart")
    trial_id = storage.create_new_trial(study_id)
    postgres.stop("fast")
    restarter = threading.Timer(2.0, postgres.start)
    restarter.start()
    start = time.monotonic()
    # fails, backs off, succeeds once the server is back
    storage.set_trial_user_attr(trial_id, "after", 1)
    restarter.join()
    assert time.monotonic() - start >= 1.5
    assert storage.get_trial(trial_id).user_attrs == {"after": 1}
    assert storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
    with pytest.raises(UpdateFinishedTrialError):  # not a transient failure: never retried
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])


def test_storage_gives_up_after_its_patience_with_a_clear_error(postgres, pg_url):
    storage = open_storage(pg_url, patience=1.5)
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "down")
    postgres.stop("fast")
    try:
        start = time.monotonic()
        with pytest.raises(StorageError) as err:
            storage.get_all_trials(study_id)
        assert 1.5 <= time.monotonic() - start < 10
        message = str(err.value)
        assert (
            "kept failing for" in message
            and "Connection refused" in message
            and "\n" not in message
        )
        assert "run the same command again" in message
    finally:
        postgres.start()
    assert storage.get_all_trials(study_id) == []


def test_transient_errors_are_told_apart():
    from sqlalchemy.exc import IntegrityError, OperationalError

    refused = OperationalError("SELECT 1", {}, psycopg2.OperationalError("connection refused"))
    assert is_transient(refused) and is_transient(OSError(5, "Input/output error"))
    wrapped = optuna.exceptions.StorageInternalError("An exception is raised during the commit.")
    wrapped.__cause__ = refused
    assert is_transient(wrapped)
    assert not is_transient(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not is_transient(UpdateFinishedTrialError("finished")) and not is_transient(
        KeyError("no trial")
    )
    assert not is_transient(ValueError("bad value"))
    assert mask_password("postgresql://me:secret@db:5432/nas") == "postgresql://me:***@db:5432/nas"
    assert isinstance(open_storage("sqlite:///:memory:"), RetryingStorage)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql://postgres@127.0.0.1:{free}/nas",
            "Connection refused (is the database server running",
        ),
        (
            "postgresql://postgres@127.0.0.1:{port}/no_such_db",
            'database "no_such_db" does not exist (create it first',
        ),
        ("postgres://postgres@127.0.0.1:{port}/nas", "write postgresql://postgres@127.0.0.1:"),
        ("postgresql+pg8000://postgres@127.0.0.1:{port}/nas", "needs the Python module 'pg8000'"),
        ("postgresql://me:secret@127.0.0.1:{free}/nas", "postgresql://me:***@127.0.0.1"),
    ],
)
def test_wrong_urls_are_one_line_errors(postgres, capsys, url, message):
    url = url.format(free=free_port(), port=postgres.port)
    start = time.monotonic()
    code = main(
        ["sample", "--space", SPACE, "-n", "2", "--flops", ":30M", "--storage", url, *TRAIN_FLAGS]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and "secret" not in err
    assert time.monotonic() - start < 20  # a wrong URL is not retried


def test_missing_driver_is_a_one_line_error(pg_url, tmp_path):
    # the same interpreter without psycopg2 (and psycopg): what a machine without the driver sees
    code = (
        "import sys; sys.modules['psycopg2'] = None; sys.modules['psycopg'] = None\n"
        "from nas.cli import main\n"
        f"sys.exit(main(['export', '--study', 'x', '--storage', {pg_url!r}]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 2, proc.stderr
    assert (
        "needs the Python module 'psycopg2', which is not installed: pip install psycopg2-binary"
        in proc.stderr
    )
    assert len(proc.stderr.strip().splitlines()) == 1


def test_other_space_under_the_same_study_name_is_refused(pg_url, capsys):
    sweep(pg_url, n=2, train_fn=fake_train)
    before = storage_snapshot(pg_url)  # every row of every table
    code = main(
        [
            "sample",
            "--space",
            "anynetx_d",
            "--study",
            "anynetx_e-s0",
            "-n",
            "2",
            "--flops",
            ":30M",
            "--storage",
            pg_url,
            *TRAIN_FLAGS,
        ]
    )
    err = capsys.readouterr().err
    assert (
        code == 2
        and "space anynetx_e (here anynetx_d)" in err
        and len(err.strip().splitlines()) == 1
    )
    assert storage_snapshot(pg_url) == before
