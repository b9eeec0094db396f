"""Fault tests on real components: several `nas sample` workers sharing one study on a real
PostgreSQL server (tests/pg_server.py) or on the default journal file, the real proxy trainer on
tiny synthetic data.

For PostgreSQL the workers are separate `nas sample` processes, each acting as its own machine
($NAS_WORKER_HOST), so a killed worker's trial is retried after the heartbeat grace period; for the
journal they are the local workers of one `nas sample --workers 3`, where a killed worker is seen at
once. Each storage gets the same three checks: the study ends with exactly N complete trials of N
distinct configs; a worker killed with SIGKILL in the middle of a trial; the storage going away
while workers run (the database server stopped and started again; the journal file unavailable),
which the workers ride out with back-off. Then the submitit launchers: local processes for real,
Slurm through stand-in sbatch/srun."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import SPACE
from helpers import TRAIN_FLAGS as SHARED_TRAIN_FLAGS
from optuna.storages.journal import JournalFileSymlinkLock
from optuna.trial import TrialState

from nas.cli import main
from nas.cluster import LaunchError, LaunchOptions, executor_parameters, parse_time
from nas.storage import open_storage

STUDY = "anynetx_e-s0"
N = 6
HEARTBEAT = 0.5
# helpers.TRAIN_FLAGS without training-free scores: the storage and fault handling is under test
# here, not the scores (~1 s a trial)
TRAIN_FLAGS = ["--no-scores", *SHARED_TRAIN_FLAGS]


@pytest.fixture(params=["postgres", "journal"])
def store(request, tmp_path):
    """(kind, storage URL or journal path) of a fresh, empty storage."""
    if request.param == "postgres":
        return "postgres", request.getfixturevalue("pg_url")
    return "journal", str(tmp_path / "nas.journal")


def sample_argv(
    storage: str, n: int = N, grace: float = 3.0, heartbeat: float = HEARTBEAT, *extra: str
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "nas.cli",
        "sample",
        "--space",
        SPACE,
        "-n",
        str(n),
        "--flops",
        ":30M",
        "--storage",
        storage,
        *TRAIN_FLAGS,
        "--heartbeat-interval",
        str(heartbeat),
        "--grace-period",
        str(grace),
        "--json",
        *extra,
    ]


def start_workers(
    kind: str,
    storage: str,
    cwd: Path,
    workers: int = 3,
    n: int = N,
    grace: float = 3.0,
    heartbeat: float = HEARTBEAT,
) -> list[subprocess.Popen]:
    """PostgreSQL: `workers` `nas sample` processes, each its own 'machine'; journal: one
    with --workers."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "NAS_STORAGE_RETRY": "60",
        "NAS_JOURNAL_LOCK_GRACE": "3",
    }
    if kind == "postgres":
        return [
            subprocess.Popen(
                sample_argv(storage, n, grace, heartbeat),
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**env, "NAS_WORKER_HOST": f"node-{k}"},
            )
            for k in range(workers)
        ]
    return [
        subprocess.Popen(
            sample_argv(storage, n, grace, heartbeat, "--workers", str(workers)),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    ]


def training_trial(storage: str):
    """A RUNNING trial whose heartbeat thread has beaten at least once: training is under way."""
    for t in trials(storage):
        beat = t.user_attrs.get("heartbeat", 0)
        if (
            t.state == TrialState.RUNNING
            and "worker" in t.user_attrs
            and beat > t.datetime_start.timestamp() + 0.1
        ):
            return t
    return None


def finish(procs: list[subprocess.Popen], timeout: float = 150) -> list[tuple[int, str, str]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=timeout)
        out.append((p.returncode, stdout, stderr))
    return out


_OPEN: dict[str, object] = {}


def trials(storage: str, study: str = STUDY):
    """The study's trials, read through one storage per URL (the tests poll it every 50 ms)."""
    st = _OPEN.get(storage) or _OPEN.setdefault(storage, open_storage(storage, patience=60))
    try:
        study_id = st.get_study_id_from_name(study)
    except KeyError:
        return []
    return st.get_all_trials(study_id)


def wait_for(predicate, timeout: float = 90.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def assert_exactly_n_complete(ts, n: int = N) -> list:
    complete = [t for t in ts if t.state == TrialState.COMPLETE]
    # each config once, none lost
    assert sorted(t.user_attrs["index"] for t in complete) == list(range(n))
    configs = {json.dumps(t.user_attrs["record"]["stages"]) for t in complete}
    assert len(configs) == n  # n distinct configs
    assert all(0 <= t.value <= 1 and t.value == t.user_attrs["error"] for t in complete)
    return complete


def test_three_workers_serve_one_study(store, tmp_path):
    kind, storage = store
    results = finish(start_workers(kind, storage, tmp_path))
    assert [code for code, _, _ in results] == [0] * len(results), results
    ts = trials(storage)
    complete = assert_exactly_n_complete(ts)
    # nothing trained twice: every trial is one of the N (duplicate copies would be PRUNED,
    # retries FAIL)
    assert [t.state for t in ts].count(TrialState.COMPLETE) == N
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in ts)
    workers = {t.user_attrs["worker"] for t in complete}
    assert len(workers) >= 2  # the work was shared
    if kind == "postgres":
        assert {w.split(":")[0] for w in workers} <= {"node-0", "node-1", "node-2"}
        summaries = [json.loads(stdout) for _, stdout, _ in results]
        # one created the study, the others joined it
        assert sum(s["created"] for s in summaries) == 1
        assert all((s["complete"], s["missing"]) == (N, 0) for s in summaries)
    else:
        assert json.loads(results[0][1])["worker_exit_codes"] == [0, 0, 0]


def test_worker_killed_mid_trial_is_retried(store, tmp_path):
    kind, storage = store
    grace = 3.0
    procs = start_workers(kind, storage, tmp_path, workers=2, n=4, grace=grace, heartbeat=0.2)
    try:
        victim = wait_for(lambda: training_trial(storage), what="a worker in the middle of a trial")
        host, _, pid = victim.user_attrs["worker"].rsplit(":", 2)
        os.kill(int(pid), signal.SIGKILL)
        killed_at = time.time()
        results = finish(procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    ts = trials(storage)
    assert_exactly_n_complete(ts, 4)
    dead = next(t for t in ts if t.number == victim.number)
    assert dead.state == TrialState.FAIL and "error" not in dead.user_attrs
    (retry,) = [t for t in ts if t.user_attrs.get("retry_of") == victim.number]
    assert (
        retry.state == TrialState.COMPLETE
        and retry.user_attrs["index"] == victim.user_attrs["index"]
    )
    if (
        kind == "postgres"
    ):  # another machine's worker: retried once its heartbeat is older than the grace period
        assert [code for code, _, _ in results] == [
            -signal.SIGKILL if host == f"node-{k}" else 0 for k in range(2)
        ]
        assert retry.user_attrs["retry_reason"] == "stale"
        assert retry.datetime_start.timestamp() - dead.user_attrs["heartbeat"] >= grace - 0.05
    else:  # a worker process of this machine: seen dead at once
        assert retry.user_attrs["retry_reason"] == "worker died"
        # (3 s more if it died holding the journal lock)
        assert retry.datetime_start.timestamp() - killed_at < 10
        ((code, stdout, _),) = results
        assert code == 0 and sorted(json.loads(stdout)["worker_exit_codes"]) == [-signal.SIGKILL, 0]


def journal_outage(path: str, seconds: float) -> None:
    """The journal file unavailable for `seconds` (as on an NFS outage): moved away and a folder put
    in its place, under the journal's own lock so that no append is torn; then put back."""
    moved = path + ".away"
    lock = JournalFileSymlinkLock(path)
    lock.acquire()
    try:
        os.rename(path, moved)
        os.mkdir(path)
    finally:
        lock.release()
    time.sleep(seconds)
    lock.acquire()
    try:
        os.rmdir(path)
        os.rename(moved, path)
    finally:
        lock.release()


def test_storage_outage_while_workers_run(store, tmp_path, request):
    kind, storage = store
    procs = start_workers(kind, storage, tmp_path, workers=2, n=4, grace=15.0, heartbeat=0.2)
    try:
        # once a trial is complete and another is training: its result is written during the outage
        wait_for(
            lambda: (
                any(t.state == TrialState.COMPLETE for t in trials(storage))
                and training_trial(storage)
            ),
            what="a complete trial and one training",
        )
        before = {
            t.number: (t.value, t.user_attrs["index"])
            for t in trials(storage)
            if t.state == TrialState.COMPLETE
        }
        assert 0 < len(before) < 4
        if kind == "postgres":
            server = request.getfixturevalue("postgres")
            server.stop("fast")  # rolls back open transactions, closes every connection
            time.sleep(3.0)
            server.start()
        else:
            journal_outage(storage, 3.0)
        results = finish(procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [code for code, _, _ in results] == [0] * len(results), results
    stderr = "".join(err for _, _, err in results)
    # the outage was hit
    assert "retrying with back-off" in stderr and "answers again after" in stderr
    ts = trials(storage)
    assert_exactly_n_complete(ts, 4)
    after = {
        t.number: (t.value, t.user_attrs["index"]) for t in ts if t.state == TrialState.COMPLETE
    }
    assert before.items() <= after.items()  # no finished trial lost or changed


# --- launchers ------------------------------------------------------------------------------------
def test_local_launcher_runs_worker_jobs_with_submitit(pg_url, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(
        [
            "sample",
            "--space",
            SPACE,
            "-n",
            "3",
            "--flops",
            ":30M",
            "--storage",
            pg_url,
            *TRAIN_FLAGS,
            "--launcher",
            "local",
            "--jobs",
            "2",
            "--job-dir",
            str(tmp_path / "jobs"),
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    assert (summary["complete"], summary["missing"], summary["worker_exit_codes"]) == (3, 0, [0, 0])
    assert len(summary["jobs"]) == 2 and "submitted 2 worker job(s)" in captured.err
    assert_exactly_n_complete(trials(pg_url), 3)
    workers = {t.user_attrs["worker"] for t in trials(pg_url)}
    # trained by the jobs, not this process
    assert not any(w.endswith(f":{os.getpid()}") for w in workers)
    for job in summary["jobs"]:
        assert (tmp_path / "jobs" / STUDY / job / f"{job}_0_result.pkl").exists()
    assert main(["status", "--study", STUDY, "--storage", pg_url]) == 0
    assert "done 3/3 (100.0%)" in capsys.readouterr().out


FAKE_SBATCH = """#!/bin/sh
# stand-in for Slurm's sbatch: keep the submitted script, answer like sbatch
cp "$1" "{record}"
echo "Submitted batch job 4242"
"""


def _fake_slurm(bin_dir: Path, record: Path) -> None:
    bin_dir.mkdir()
    for name, text in (
        ("sbatch", FAKE_SBATCH.format(record=record)),
        ("srun", "#!/bin/sh\nexit 0\n"),
    ):
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def test_slurm_launcher_submits_a_job_array_whose_tasks_serve_the_study(
    pg_url, tmp_path, capsys, monkeypatch
):
    record = tmp_path / "submitted.sh"
    _fake_slurm(tmp_path / "bin", record)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    code = main(
        [
            "sample",
            "--space",
            SPACE,
            "-n",
            "2",
            "--flops",
            ":30M",
            "--storage",
            pg_url,
            *TRAIN_FLAGS,
            "--launcher",
            "slurm",
            "--jobs",
            "3",
            "--partition",
            "gpu",
            "--gpus-per-job",
            "2",
            "--time",
            "1:30:00",
            "--cpus-per-job",
            "4",
            "--slurm-arg",
            "account=nas",
            "--job-dir",
            "jobs",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    # two configs queued: no more jobs than work (3 asked for)
    assert (
        summary["jobs"] == ["4242_0", "4242_1"]
        and summary["missing"] == 2
        and summary["worker_exit_codes"] == []
    )
    assert "nas status --study anynetx_e-s0" in captured.err
    script = record.read_text()
    for flag in (
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-node=2",
        "#SBATCH --ntasks-per-node=2",
        "#SBATCH --time=90",
        "#SBATCH --array=0-1%2",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --account=nas",
        "#SBATCH --job-name=nas-anynetx_e-s0",
    ):
        assert flag in script, (flag, script)
    assert [t.state for t in trials(pg_url)] == [
        TrialState.WAITING
    ] * 2  # the queue is ready for the jobs
    # What a node does with array task 0: load the pickled call and run it (the Slurm branch
    # of run_worker).
    pickled = tmp_path / "jobs" / STUDY / "4242_0" / "4242_0_submitted.pkl"
    node = (
        "import sys; from submitit.core.utils import DelayedSubmission\n"
        "print(DelayedSubmission.load(sys.argv[1]).result())"
    )
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "SLURM_JOB_ID": "4242",
        "SLURM_LOCALID": "0",
        "SLURM_NTASKS_PER_NODE": "1",
        "NAS_WORKER_HOST": "gpu-node-1",
    }
    proc = subprocess.run(
        [sys.executable, "-c", node, str(pickled)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
        env=env,
    )
    assert proc.returncode == 0 and "'finished': 2" in proc.stdout, proc.stderr
    assert_exactly_n_complete(trials(pg_url), 2)
    assert {t.user_attrs["worker"].split(":")[0] for t in trials(pg_url)} == {"gpu-node-1"}


def test_slurm_launcher_without_sbatch_is_a_clear_error_and_stores_nothing(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    journal = tmp_path / "s.journal"
    code = main(
        [
            "sample",
            "--space",
            SPACE,
            "-n",
            "2",
            "--storage",
            str(journal),
            *TRAIN_FLAGS,
            "--launcher",
            "slurm",
        ]
    )
    err = capsys.readouterr().err
    assert (
        code == 2
        and "sbatch and srun are not on PATH" in err
        and len(err.strip().splitlines()) == 1
    )
    assert not journal.exists()
    code = main(
        [
            "sample",
            "--space",
            SPACE,
            "-n",
            "2",
            "--storage",
            str(journal),
            *TRAIN_FLAGS,
            "--partition",
            "gpu",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "--partition configures worker jobs: add --launcher slurm" in err


def test_slurm_parameters_and_time_limits():
    options = LaunchOptions(
        launcher="slurm",
        jobs=8,
        partition="a100",
        gpus_per_job=4,
        cpus_per_job=6,
        mem_gb=64,
        minutes=parse_time("2-00:00:00"),
        slurm_args={"qos": "high"},
    )
    assert executor_parameters(options, "s") == {
        "name": "nas-s",
        "timeout_min": 2880,
        "nodes": 1,
        "tasks_per_node": 4,
        "slurm_array_parallelism": 8,
        "slurm_partition": "a100",
        "gpus_per_node": 4,
        "cpus_per_task": 6,
        "mem_gb": 64,
        "slurm_additional_parameters": {"qos": "high"},
    }
    # default 4 h
    assert executor_parameters(LaunchOptions(launcher="slurm"), "s")["timeout_min"] == 240
    assert executor_parameters(LaunchOptions(launcher="local", jobs=2), "s") == {
        "timeout_min": 7 * 24 * 60,
        "name": "nas-s",
    }
    assert [
        parse_time(t) for t in ("90", "90:30", "1:30:00", "1-12", "1-0:30", "45m", "4h", "1d")
    ] == [90, 91, 90, 2160, 1470, 45, 240, 1440]
    for bad in ("soon", "0", "1:2:3:4"):
        with pytest.raises(LaunchError, match="time"):
            parse_time(bad)
    with pytest.raises(LaunchError, match="unknown launcher 'pbs'"):
        LaunchOptions(launcher="pbs")
