"""Sweeps past one machine: worker jobs through submitit (Slurm, or local processes), and
`nas status`.

A sweep's study lives in a storage every worker reaches (PostgreSQL for several machines; a journal
file on a shared file system works too). `nas sample ... --launcher slurm --jobs J` prepares the
study on the machine it runs on (draws the N configs, creates or checks the study, enqueues the
missing configs), then submits one Slurm job array of J tasks with submitit; each task runs
`run_worker`: the same claim-and-train loop as `nas sample --workers` (nas.lifecycle.work_queue)
against the same storage, until the queue is empty. `--launcher local` runs the same function in J
local processes through submitit's LocalExecutor (what the tests use). Workers started by hand
(`nas sample` with the same arguments on other machines) serve the same study the same way: the
storage is the only coordination.

`study_status` (`nas status --study NAME`) reads a study without changing it: trials complete /
running / waiting / failed / retried / duplicates, the configs done out of N, throughput over a
recent window and the time left at that rate, and the workers' hosts and heartbeat ages.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from nas.heartbeat import GRACE_PERIOD, worker_id
from nas.lifecycle import Job, index_status, work_queue
from nas.progress import duration as _duration
from nas.storage import absolute_storage, describe_storage
from nas.study import SweepError, load_study
from spaces.errors import NasError
from spaces.records import TRAINED_FAILURES

__all__ = [
    "LAUNCHERS",
    "LaunchError",
    "LaunchOptions",
    "LaunchResult",
    "Launcher",
    "check_launcher",
    "executor_parameters",
    "format_status",
    "launch_options_from",
    "parse_time",
    "run_worker",
    "study_status",
]

LAUNCHERS = ("local", "slurm")
DEFAULT_JOB_DIR = "results/jobs"
DEFAULT_SLURM_MINUTES = 4 * 60  # --time for Slurm jobs (partitions often cap it lower)
# submitit's local executor kills jobs at its timeout (2 min by default)
DEFAULT_LOCAL_MINUTES = 7 * 24 * 60
STATUS_WINDOW_MINUTES = 10.0


class LaunchError(SweepError):
    """Worker jobs that cannot be submitted; one line naming the problem and the fix."""


# --- options --------------------------------------------------------------------------------------
def parse_time(text: str | int | float) -> int:
    """Minutes of a Slurm time limit: MINUTES, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or 90m /
    4h / 2d."""
    value = str(text).strip().lower()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([mhd])", value)
    if match:
        number, unit = float(match.group(1)), match.group(2)
        minutes = number * {"m": 1, "h": 60, "d": 1440}[unit]
    else:
        match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", value)
        if not match:
            raise LaunchError(
                f"time limit {text!r} is not a Slurm time: give MINUTES, HH:MM:SS, D-HH:MM:SS, "
                "or 90m, 4h, 2d"
            )
        days, first, b, c = (int(g) if g is not None else None for g in match.groups())
        a = first or 0  # the regex requires it
        if days is not None:  # D-HH[:MM[:SS]]
            minutes = days * 1440 + a * 60 + (b or 0) + (c or 0) / 60
        elif c is not None:  # HH:MM:SS
            minutes = a * 60 + (b or 0) + c / 60
        elif b is not None:  # MM:SS
            minutes = a + b / 60
        else:  # MINUTES
            minutes = a
    if minutes <= 0:
        raise LaunchError(f"time limit {text!r} must be positive")
    return max(1, math.ceil(minutes))


@dataclass(frozen=True)
class LaunchOptions:
    """How to run the worker jobs of a sweep (`nas sample --launcher ...`)."""

    launcher: str = "local"  # "local" (submitit's local processes) or "slurm"
    jobs: int = 1  # worker jobs (a Slurm job array of that many tasks)
    partition: str | None = None  # Slurm partition
    gpus_per_job: int = 0  # GPUs per job; a job with G > 0 GPUs runs G workers, one per GPU
    cpus_per_job: int | None = None  # CPUs per worker (Slurm cpus-per-task)
    mem_gb: float | None = None  # memory per job
    minutes: int | None = None  # time limit per job (default 4 h on Slurm)
    # submitit's folder: pickles and logs (shared with the nodes on Slurm)
    job_dir: str = DEFAULT_JOB_DIR
    wait: bool | None = None  # wait for the jobs (default: local yes, Slurm no)
    # more #SBATCH flags: account, qos, constraint, ...
    slurm_args: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.launcher not in LAUNCHERS:
            raise LaunchError(f"unknown launcher {self.launcher!r}; valid: {', '.join(LAUNCHERS)}")
        if self.jobs < 1:
            raise LaunchError(f"--jobs must be at least 1, got {self.jobs}")
        if self.gpus_per_job < 0:
            raise LaunchError(f"--gpus-per-job must be 0 or more, got {self.gpus_per_job}")

    @property
    def waits(self) -> bool:
        return self.launcher == "local" if self.wait is None else self.wait


def executor_parameters(
    options: LaunchOptions, study: str, jobs: int | None = None
) -> dict[str, Any]:
    """The parameters given to submitit's AutoExecutor.update_parameters for these options."""
    jobs = jobs or options.jobs
    if options.launcher == "local":
        params: dict[str, Any] = {
            "timeout_min": options.minutes or DEFAULT_LOCAL_MINUTES,
            "name": f"nas-{study}",
        }
        if options.gpus_per_job:
            params["gpus_per_node"] = options.gpus_per_job
        return params
    params = {
        "name": f"nas-{study}",
        "timeout_min": options.minutes or DEFAULT_SLURM_MINUTES,
        "nodes": 1,
        "tasks_per_node": max(1, options.gpus_per_job),
        "slurm_array_parallelism": jobs,
    }
    if options.partition:
        params["slurm_partition"] = options.partition
    if options.gpus_per_job:
        params["gpus_per_node"] = options.gpus_per_job
    if options.cpus_per_job:
        params["cpus_per_task"] = options.cpus_per_job
    if options.mem_gb:
        params["mem_gb"] = options.mem_gb
    if options.slurm_args:
        params["slurm_additional_parameters"] = dict(options.slurm_args)
    return params


def check_launcher(options: LaunchOptions) -> None:
    """Fail early (before anything is stored) when the launcher cannot work here."""
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise LaunchError(
            "launching worker jobs needs the Python package submitit: pip install submitit"
        ) from None
    if options.launcher == "slurm":
        missing = [tool for tool in ("sbatch", "srun") if shutil.which(tool) is None]
        if missing:
            raise LaunchError(
                "the slurm launcher submits with sbatch and runs with srun, and "
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not on PATH: run "
                "`nas sample` on a Slurm login node, or use --launcher local, or start "
                "`nas sample` on each machine"
            )


def _executor(options: LaunchOptions, study: str, jobs: int) -> Any:
    check_launcher(options)
    import submitit

    folder = Path(options.job_dir).expanduser().absolute() / study / "%j"
    try:
        executor = submitit.AutoExecutor(folder=folder, cluster=options.launcher)
        executor.update_parameters(**executor_parameters(options, study, jobs))
    except (ValueError, RuntimeError, OSError) as e:
        text = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise LaunchError(f"cannot set up the {options.launcher} launcher: {text}") from None
    return executor


# --- launching ------------------------------------------------------------------------------------
@dataclass
class LaunchResult:
    job_ids: list[str]
    exit_codes: list[int]  # per job when waited for: 0 done, 2 error, 130 interrupted, 1 crashed
    errors: list[str]
    waited: bool
    log_dir: str


class Launcher:
    """Submits a sweep's worker jobs with submitit and (local, or Slurm with wait) waits for them,
    calling refresh() about once a second. Ctrl-C while waiting: local jobs are stopped (their
    trials are marked interrupted and queued again); Slurm jobs keep running."""

    def __init__(self, options: LaunchOptions, log: Callable[[str], None] | None = None) -> None:
        self.options = options
        self.log = log or (lambda message: print(f"nas: {message}", file=sys.stderr, flush=True))
        check_launcher(options)  # fail on a missing sbatch before anything is stored

    def __call__(self, job: Job, refresh: Callable[[], None]) -> LaunchResult:
        options = self.options
        jobs = max(1, min(options.jobs, job.workers))
        # Workers may start in another folder (Slurm) or on another machine: absolute file paths.
        job = dataclasses.replace(
            job,
            storage=absolute_storage(job.storage),
            workers=jobs,
            data_dir=str(Path(job.data_dir).absolute()) if job.data_dir else None,
        )
        executor = _executor(options, job.study, jobs)
        # Local jobs are this terminal's processes: they start with SIGINT ignored, so that Ctrl-C
        # reaches only this process, which stops each of them once with SIGTERM (as `--workers`
        # does).
        local = (
            options.launcher == "local" and threading.current_thread() is threading.main_thread()
        )
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if local else None
        try:
            submitted = executor.map_array(run_worker, [job] * jobs, list(range(jobs)))
        except Exception as e:  # submitit.core.utils.FailedSubmissionError, sbatch's errors, ...
            text = (str(e).strip().splitlines() or [type(e).__name__])[-1]
            raise LaunchError(
                f"submitting {jobs} worker jobs to {options.launcher} failed: {text}"
            ) from None
        finally:
            if local:
                signal.signal(signal.SIGINT, previous)
        ids = [str(j.job_id) for j in submitted]
        log_dir = str(Path(options.job_dir).expanduser().absolute() / job.study)
        where = "Slurm" if options.launcher == "slurm" else "local processes"
        self.log(
            f"submitted {jobs} worker job(s) for study {job.study} to {where}: {', '.join(ids)} "
            f"(logs in {log_dir}); follow with: nas status --study {job.study}"
            + (f" --storage {describe_storage(job.storage)}" if job.storage else "")
        )
        if not options.waits:
            return LaunchResult(ids, [], [], False, log_dir)
        try:
            while not all(j.done() for j in submitted):
                refresh()
                time.sleep(1.0)
        except KeyboardInterrupt:
            if options.launcher != "local":
                self.log(
                    f"stopped waiting; the Slurm jobs keep running (scancel {ids[0].split('_')[0]} "
                    "stops them)"
                )
                return LaunchResult(ids, [], [], False, log_dir)
            # the controller passes SIGTERM on: the worker marks its trial interrupted
            for j in submitted:
                process = getattr(j, "_process", None)
                if process is not None and process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 30
            while not all(j.done() for j in submitted) and time.monotonic() < deadline:
                time.sleep(0.2)
            raise
        codes, errors = [], []
        for j in submitted:
            code, error = _outcome(j)
            codes.append(code)
            if error:
                errors.append(f"worker job {j.job_id}: {error}")
                self.log(f"worker job {j.job_id}: error: {error}")
        return LaunchResult(ids, codes, errors, True, log_dir)


def _outcome(job: Any) -> tuple[int, str | None]:
    """(exit code, error) of a finished submitit job running run_worker."""
    try:
        result = job.result()
    except Exception as e:  # the job crashed or was killed: no result
        lines = [x for x in str(e).strip().splitlines() if x.strip()]
        last = lines[-1].strip() if lines else type(e).__name__
        return 1, f"ended without a result ({last[:300]}); its log: {job.paths.stderr}"
    if not isinstance(result, dict):
        return 1, f"returned {result!r}"
    if result.get("error"):
        return 2, str(result["error"])
    if result.get("interrupted"):
        return 130, None
    return 0, None


def run_worker(job: Job, k: int = 0) -> dict[str, Any]:
    """The function every worker job runs (submitit pickles it with the job): claim and train the
    study's queued trials until none is left. SIGTERM (a scheduler's stop) and SIGUSR2 (Slurm's
    time-limit or preemption warning) stop it like Ctrl-C: the running trial is marked interrupted
    and queued again."""
    import optuna

    from nas.trainer import default_threads
    from nas.workers import cuda_available, raise_interrupt

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGUSR2):
            signal.signal(sig, raise_interrupt)
    device_index = k
    if "SLURM_JOB_ID" in os.environ:
        # a Slurm job owns its allocation: all its CPUs for its worker(s), one GPU per task
        cpus = (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
        tasks = max(1, int(os.environ.get("SLURM_NTASKS_PER_NODE", "1").split("(")[0] or 1))
        device_index = int(os.environ.get("SLURM_LOCALID", "0"))
        job = dataclasses.replace(job, threads=job.threads or max(1, cpus // tasks), workers=tasks)
    if job.device == "cpu" or not cuda_available():
        import torch

        torch.set_num_threads(job.threads or default_threads(job.workers))
    out: dict[str, Any] = {"worker": worker_id(), "job": k, "finished": 0}
    try:
        out["finished"] = work_queue(job, device_index)
    except KeyboardInterrupt:
        out["interrupted"] = True
    except NasError as e:  # every error of ours: one line
        out["error"] = str(e)
    return out


# --- status ---------------------------------------------------------------------------------------
def _timestamp(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def study_status(
    study: str,
    storage: str | None = None,
    window_minutes: float = STATUS_WINDOW_MINUTES,
    now: float | None = None,
) -> dict[str, Any]:
    """What a study holds and how fast it moves (read only). Counts are of trials, except `done` /
    `n`: the configs of a `nas sample` study that are finished (complete or failed for good) out of
    its N."""
    from optuna.trial import TrialState

    st = load_study(storage, study)
    attrs = st.study.user_attrs
    trials = st.trials()
    now = time.time() if now is None else now
    by_state = Counter(t.state.name for t in trials)
    reasons = Counter(t.user_attrs.get("fail_reason") for t in trials if t.state == TrialState.FAIL)
    failed = sum(v for k, v in reasons.items() if k in TRAINED_FAILURES)
    duplicates = sum(
        t.state == TrialState.PRUNED and t.user_attrs.get("fail_reason") == "duplicate"
        for t in trials
    )
    out: dict[str, Any] = {
        "study": study,
        "storage": describe_storage(storage),
        "kind": attrs.get("kind", "optuna"),
        "space": attrs.get("space"),
        "n": attrs.get("n"),
        "trials": len(trials),
        "complete": by_state.get("COMPLETE", 0),
        "running": by_state.get("RUNNING", 0),
        "waiting": by_state.get("WAITING", 0),
        "failed": failed,
        "failed_reasons": {
            k: v
            for k, v in sorted(reasons.items(), key=lambda kv: str(kv[0]))
            if k in TRAINED_FAILURES
        },
        "retried": by_state.get("FAIL", 0) - failed,  # abandoned or interrupted, queued again
        "pruned": by_state.get("PRUNED", 0),
        "duplicates": duplicates,
        "training_free": bool(attrs.get("training_free", False)),
        "objective": attrs.get("objective", "error"),
    }
    if attrs.get("kind") == "sample" and isinstance(attrs.get("n"), int):
        done = len(index_status(trials).done())
        out.update(done=done, remaining=attrs["n"] - done)
    # a search: trained trials (complete or failed) towards its -n
    elif isinstance(attrs.get("n"), int):
        done = out["complete"] + out["failed"]
        out.update(done=done, remaining=max(attrs["n"] - done, 0))
    else:
        done = out["complete"] + out["failed"]
        out.update(done=done, remaining=None)
    finished = sorted(
        ts
        for t in trials
        if (
            t.state == TrialState.COMPLETE
            or (t.state == TrialState.FAIL and t.user_attrs.get("fail_reason") in TRAINED_FAILURES)
        )
        and (ts := _timestamp(t.datetime_complete)) is not None
    )
    starts = [ts for t in trials if (ts := _timestamp(t.datetime_start)) is not None]
    beats = [
        b
        for t in trials
        if t.state == TrialState.RUNNING
        and isinstance(b := t.user_attrs.get("heartbeat"), int | float)
    ]
    active = out["running"] + out["waiting"] > 0 or (out["remaining"] or 0) > 0
    last = max([*finished, *beats, *starts], default=None)
    # Stopped: work is left but no worker shows life (no fresh heartbeat, nothing finished in the
    # window).
    stopped = active and last is not None and now - last > max(GRACE_PERIOD, window_minutes * 60)
    out["stopped"] = stopped
    out["last_progress"] = (
        None if last is None else datetime.fromtimestamp(last).isoformat(timespec="seconds")
    )
    out["last_progress_age_s"] = None if last is None else round(now - last, 1)
    rate = None
    window = window_minutes * 60
    if finished and starts:
        # moving: finished trials per minute over the last window (or since the first start)
        if active and not stopped:
            span = min(window, now - min(starts))
            recent = sum(ts >= now - span for ts in finished)
            rate = recent / span * 60 if span > 0 else None
            out["rate_window_minutes"], out["rate_over"] = round(span / 60, 2), "window"
        else:  # finished or stopped: over the whole run
            span = finished[-1] - min(starts)
            rate = len(finished) / span * 60 if span > 0 else None
            out["rate_window_minutes"], out["rate_over"] = round(span / 60, 2), "run"
    out["trials_per_minute"] = None if rate is None else round(rate, 3)
    remaining = out["remaining"]
    out["eta_seconds"] = (
        None
        if stopped
        else round(remaining / rate * 60, 1)
        if rate and remaining
        else 0.0
        if remaining == 0
        else None
    )
    running = []
    for t in trials:
        if t.state != TrialState.RUNNING:
            continue
        beat = t.user_attrs.get("heartbeat")
        beat = beat if isinstance(beat, int | float) else _timestamp(t.datetime_start)
        running.append(
            {
                "trial": t.number,
                "index": t.user_attrs.get("index"),
                "worker": t.user_attrs.get("worker"),
                "heartbeat_age_s": round(now - beat, 1) if beat is not None else None,
            }
        )
    out["running_trials"] = running
    out["hosts"] = sorted({str(r["worker"]).rsplit(":", 2)[0] for r in running if r["worker"]})
    return out


def format_status(s: dict[str, Any]) -> str:
    """`nas status` as text."""
    what = f"a {s['kind']} of {s['space']}" if s.get("space") else f"an {s['kind']} study"
    lines = [
        f"study {s['study']} in {s['storage']}: {what}" + (f", n={s['n']}" if s.get("n") else "")
    ]
    if s.get("training_free"):
        lines.append(
            f"  TRAINING-FREE: no model is trained; trial values are {s['objective']}, a zero-cost "
            "score at init (higher is better), not errors"
        )
    failed = ", ".join(f"{k} {v}" for k, v in s["failed_reasons"].items())
    lines.append(
        f"  complete {s['complete']}   running {s['running']}   waiting {s['waiting']}   "
        f"failed {s['failed']}" + (f" ({failed})" if failed else "")
    )
    extra = (
        [f"{s['retried']} retried (abandoned or interrupted, queued again)"] if s["retried"] else []
    )
    if s["duplicates"]:
        extra.append(f"{s['duplicates']} duplicate copies closed")
    if s["pruned"] - s["duplicates"]:
        extra.append(f"{s['pruned'] - s['duplicates']} pruned proposals")
    if extra:
        lines.append("  " + "; ".join(extra))
    rate = s.get("trials_per_minute")
    over = "the last" if s.get("rate_over") == "window" else "the whole run,"
    speed = (
        f"{rate:.2f} trials/min over {over} {_duration(s['rate_window_minutes'] * 60)}"
        if rate
        else "no trial finished yet"
        if rate is None
        else "no trial finished in the last window"
    )
    if s.get("remaining") is not None:
        pct = 100 * s["done"] / s["n"] if s.get("n") else 100.0
        eta = s.get("eta_seconds")
        left = (
            "finished"
            if s["remaining"] == 0
            else f"about {_duration(eta)} left at that rate"
            if eta
            else "time left unknown"
        )
        if s.get("stopped"):
            left = "stopped"
        lines.append(f"  done {s['done']}/{s['n']} ({pct:.1f}%); {speed}; {left}")
    else:
        lines.append(f"  done {s['done']}; {speed}")
    if s.get("stopped"):
        lines.append(
            f"  STOPPED: no progress since {s['last_progress'].replace('T', ' ')} "
            f"({_duration(s['last_progress_age_s'])} ago) and no worker alive; run the same "
            "command to finish it"
        )
    if s["running_trials"]:
        oldest = max((r["heartbeat_age_s"] or 0.0) for r in s["running_trials"])
        stale = (
            " (stale: its worker is gone; the next worker retries it)"
            if oldest > GRACE_PERIOD
            else ""
        )
        lines.append(
            f"  {len(s['running_trials'])} running on {len(s['hosts'])} host(s) "
            f"({', '.join(s['hosts'])}); oldest heartbeat {_duration(oldest)} ago{stale}"
        )
    return "\n".join(lines)


def launch_options_from(values: dict[str, Any]) -> LaunchOptions:
    """LaunchOptions from CLI-style values (time as text, slurm_args as KEY=VALUE strings)."""
    values = dict(values)
    time_text = values.pop("time", None)
    if time_text is not None:
        values["minutes"] = parse_time(time_text)
    pairs: Sequence[str] = values.pop("slurm_arg", None) or ()
    extra = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise LaunchError(
                f"--slurm-arg {pair!r}: write KEY=VALUE, e.g. account=myproject or qos=high"
            )
        extra[key.strip().lstrip("-")] = value.strip()
    return LaunchOptions(**values, slurm_args=extra)
