"""Stored sweeps and searches: proxy-train configs as the trials of an Optuna study, resumably.

`run_sweep` (`nas sample` without --dry-run) draws N configs from a seed first (exactly the configs
`nas sample --dry-run` writes), then trains each once as a trial of an Optuna study; `run_search`
(`nas search`) lets an Optuna sampler (TPE, NSGA-II, random) propose configs of the same space
(define-by-run); `export_study` flattens any such study into a DataFrame (`nas export`).

How a sweep stays exact under restarts and concurrency:

* Work queue. The study records what it means (space, seed, n, bands, dataset, schedule and a digest of
  the N configs) in its user attrs; a command that names the same study with other settings is refused
  before anything is written. The N configs are enqueued as WAITING trials with the fixed param
  ``index`` and the config in their user attrs, so the storage alone says what is left to do. Workers
  claim a WAITING trial with the storage's atomic WAITING -> RUNNING transition (what `Study.ask` does
  for enqueued trials), but never fall through to creating a fresh trial when the queue is empty.
* Liveness. Optuna's heartbeat (`heartbeat_interval`, `grace_period`, `RetryFailedTrialCallback`) exists
  only for RDBStorage; the journal file storage has none in optuna 5.0. So every storage gets the same
  mechanism here: a thread writes the user attr ``heartbeat`` (wall-clock time) every
  `heartbeat_interval` seconds while a trial trains, and the trial names its ``worker``
  (host:pid-namespace:pid). A RUNNING trial is stale when its heartbeat is older than `grace_period`, or
  at once when its worker is a process of this machine that no longer exists (kill -9). Any worker that
  sees a stale trial moves it RUNNING -> FAIL; the one whose transition succeeds (the storage serializes
  them) re-enqueues its index, with ``retry_of``/``retry_reason``. Ctrl-C marks the running trial FAIL
  (``fail_reason`` "interrupted") and re-enqueues its index the same way.
* No duplicates, nothing lost. Before training, a worker checks the other trials of its index: when one
  is COMPLETE (or failed for good: diverged, oom, error), or an older copy is RUNNING, the claimed copy is
  closed as PRUNED with ``fail_reason`` "duplicate" instead of being trained. A worker whose trial was
  declared stale while it was in fact still training (a long pause) records its result on the
  re-enqueued copy if that is still waiting, and drops it otherwise (the copy's claimer trains it). A
  re-run reconciles the queue: every index with no COMPLETE or finally failed trial and no WAITING or
  RUNNING copy is enqueued again, so the same command finishes exactly the missing configs.
* Failures. TrainingFailed (NaN/inf loss, out of memory) gives a FAIL trial with ``fail_reason``
  "diverged" or "oom": results of the model, so these indexes count as done (pass retry_failed=True /
  --retry-failed to train them again). Any other exception is a crash of this code, not a result: FAIL
  with "crash" and the message, said on stderr, and trained again by the next run. The sweep goes on.
* Storage faults. Every storage operation goes through nas.storage.RetryingStorage: while the storage
  fails transiently (a PostgreSQL server restarting, a dropped connection, a journal file briefly
  unavailable) it is retried with exponential back-off for up to `storage_retry` seconds, then the worker
  stops with a StorageError (its trial is retried later like any abandoned one). A training trial's
  heartbeat thread skips the beats it cannot write instead of stopping. A retried write may have reached
  the storage before the connection dropped; each case stays exact: a repeated result write finds its
  trial already finished with the same state and counts as done, a repeated claim returns False and the
  orphaned RUNNING trial (no heartbeat) is retried after the grace period, a repeated enqueue makes a
  second WAITING copy that is closed as a duplicate when claimed.
* Several machines. Workers on other machines (or started through a launcher, see nas.cluster) call
  `_sweep_worker` against the same storage; a worker is named host:pid-namespace:pid, with the host from
  ``$NAS_WORKER_HOST`` when set (for containers that share a host name), so a trial of another machine's
  dead worker is retried after the grace period, one of this machine's at once.
"""

from __future__ import annotations

import bisect
import contextlib
import difflib
import hashlib
import json
import math
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import optuna
from optuna.distributions import IntDistribution
from optuna.exceptions import DuplicatedStudyError, UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from nas.progress import Progress
from nas.storage import RetryingStorage, StorageError, describe_storage, is_transient, open_storage, study_names
from spaces import AnyNetConfig, AnyNetSpace, Band, DesignSpace, RegNetSpace, get_space
from spaces.errors import ConfigError, NasError

if TYPE_CHECKING:
    import pandas as pd
    from optuna.storages import BaseStorage

    from nas.data import Dataset
    from nas.trainer import Schedule

__all__ = [
    "GRACE_PERIOD", "HEARTBEAT_INTERVAL", "OBJECTIVES", "SAMPLERS", "Launcher", "SearchSummary", "StorageError",
    "SweepError", "SweepSummary", "config_json", "default_search_name", "default_study_name", "export_study",
    "open_storage",
    "pareto_front", "parse_objectives", "run_search", "run_sweep", "suggest_config", "write_table",
]

HEARTBEAT_INTERVAL = 10.0   # seconds between heartbeats of a training trial
GRACE_PERIOD = 60.0         # a RUNNING trial without a heartbeat for this long is retried
TERMINAL = frozenset({"diverged", "oom", "error"})  # fail reasons that count as a result (not retried)
QUEUE_KEYS = ("index", "record", "params", "flops", "acts")
RESULT_FIELDS = ("error", "train_loss", "train_seconds", "images_per_second", "latency_ms_b1", "latency_ms_b64",
                 "epochs", "steps", "device", "history")
STAGE_FIELDS = ("depth", "width", "stride", "bottleneck", "group_width")
METRIC_COLUMNS = ("train_loss", "train_seconds", "images_per_second", "latency_ms_b1", "latency_ms_b64", "epochs",
                  "steps", "device", "storage_seconds", "worker")
# objective -> direction; params/flops/acts at the reference setting (224 px), train_* at the training one
OBJECTIVES = {"error": "minimize", "params": "minimize", "flops": "minimize", "acts": "minimize",
              "train_params": "minimize", "train_flops": "minimize", "train_acts": "minimize",
              "latency_ms_b1": "minimize", "latency_ms_b64": "minimize", "train_seconds": "minimize",
              "images_per_second": "maximize"}
SAMPLERS = ("tpe", "nsga2", "random")
RECORD_ONLY_KEYS = frozenset({"index", "space", "params", "flops", "acts"})  # a trial record's, not its config's


class SweepError(NasError):
    """A sweep or search that cannot run as asked; the message is one line naming the problem."""


TrainFn = Callable[..., Any]  # like nas.trainer.train(config, dataset, schedule, seed=, device=, threads=)


class Launched(Protocol):
    exit_codes: Sequence[int]   # one per worker job that was waited for (empty when not waited for)
    job_ids: Sequence[str]


class Launcher(Protocol):
    """Runs worker jobs for a prepared sweep (nas.cluster.Launcher): calls refresh() while it waits."""

    def __call__(self, job: Any, refresh: Callable[[], None]) -> Launched: ...


@dataclass
class SweepSummary:
    study: str
    storage: str
    n: int
    complete: int        # indexes with a COMPLETE trial
    failed: int          # indexes that failed for good (diverged, oom, error)
    missing: int         # indexes neither complete nor failed when the call returned
    trained: int         # indexes finished by this call
    best_error: float | None
    best_trial: int | None
    seconds: float
    created: bool
    worker_exit_codes: list[int] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)   # ids of the worker jobs a launcher submitted
    training_free: bool = False   # ranked by a zero-cost score (nas.scores), nothing trained: no errors
    score: str | None = None      # the ranking score of a training-free sweep (higher is better)
    best_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchSummary:
    study: str
    storage: str
    sampler: str
    objectives: list[str]
    n: int
    complete: int
    failed: int
    pruned: int          # proposals rejected before training (out of band, invalid, duplicate)
    trained: int         # trials trained by this call
    seconds: float
    created: bool
    pareto: list[dict[str, Any]]   # the best trial(s): the Pareto front for several objectives

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- naming and study specs -------------------------------------------------------------------------
def default_study_name(space: str, seed: int, training_free_score: str | None = None) -> str:
    """SPACE-sSEED; a training-free sweep ranked by a score: SPACE-sSEED-trainfree-SCORE."""
    return f"{space}-s{seed}" + (f"-trainfree-{training_free_score}" if training_free_score else "")


def default_search_name(space: str, sampler: str, objectives: Sequence[str], seed: int) -> str:
    return f"{space}-{sampler}-{'-'.join(objectives)}-s{seed}"


def _bands_json(bands: Iterable[Band]) -> list[dict[str, Any]]:
    return [{"metric": b.metric, "low": b.low, "high": b.high} for b in bands]


def _bands_text(bands: Any) -> str:
    try:
        return "; ".join(str(Band(b["metric"], b["low"], b["high"])) for b in bands) or "no band"
    except (TypeError, KeyError, ConfigError):
        return repr(bands)


def _digest(records: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()[:16]


def _normalized(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _fmt_value(key: str, value: Any) -> str:
    if key == "bands":
        return f"[{_bands_text(value)}]"
    if key == "configs":
        return f"digest {value}"
    return json.dumps(value) if not isinstance(value, str) else value


def _spec_differences(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    out = []
    for key, want in wanted.items():
        have = stored.get(key)
        if have == want:
            continue
        if isinstance(have, dict) and isinstance(want, dict):
            for sub in sorted(set(have) | set(want)):
                if have.get(sub) != want.get(sub):
                    out.append(f"{key}.{sub} {_fmt_value(sub, have.get(sub))} (here {_fmt_value(sub, want.get(sub))})")
        else:
            out.append(f"{key} {_fmt_value(key, have)} (here {_fmt_value(key, want)})")
    return out


# --- the study and its storage ----------------------------------------------------------------------
@dataclass
class _Study:
    study: optuna.Study
    storage: BaseStorage
    study_id: int
    name: str
    url: str

    def trials(self, states: Sequence[TrialState] | None = None) -> list[FrozenTrial]:
        return self.storage.get_all_trials(self.study_id, deepcopy=False, states=states)


def _wrap(study: optuna.Study, storage: BaseStorage, url: str | None) -> _Study:
    return _Study(study, storage, storage.get_study_id_from_name(study.study_name), study.study_name,
                  describe_storage(url))


def _open_study(storage: BaseStorage, url: str | None, name: str, spec: dict[str, Any], directions: list[str],
                sampler: optuna.samplers.BaseSampler) -> tuple[_Study, bool]:
    """Create the study with its spec, or load it and check that it means the same thing."""
    spec = _normalized(spec)
    if name not in study_names(storage):
        try:
            study = optuna.create_study(storage=storage, study_name=name, directions=directions, sampler=sampler)
        except DuplicatedStudyError:  # another process created it a moment ago
            pass
        else:
            for key, value in spec.items():
                study.set_user_attr(key, value)
            return _wrap(study, storage, url), True
    study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
    _check_spec(study, spec, name, describe_storage(url))
    return _wrap(study, storage, url), False


def _check_spec(study: optuna.Study, spec: dict[str, Any], name: str, url: str, wait: float = 15.0) -> None:
    deadline = time.monotonic() + wait
    attrs = study.user_attrs
    # A study created by another process a moment ago gets its spec and queue just after creation; a long
    # queue (thousands of configs on a remote database) takes a while: wait as long as it keeps growing.
    count = len(study.get_trials(deepcopy=False))
    while "ready" not in attrs and time.monotonic() < deadline and (attrs or not count):
        time.sleep(0.2)
        attrs = study.user_attrs
        grown = len(study.get_trials(deepcopy=False))
        if grown > count:
            count, deadline = grown, time.monotonic() + wait
    if "kind" not in attrs:
        raise SweepError(f"study {name!r} in {url} was not made by `nas sample` or `nas search`; pick another "
                         "--study name")
    diffs = _spec_differences(attrs, spec)
    if len(diffs) > 1:  # other settings explain other configs; a digest alone means the sampler changed
        diffs = [d for d in diffs if not d.startswith("configs ")]
    if diffs:
        kind = attrs.get("kind")
        raise SweepError(f"study {name!r} in {url} is a {kind} with other settings: {'; '.join(diffs)}. Repeat "
                         f"its settings to resume it, or give another --study name (nothing was changed)")


def _grow(storage: BaseStorage, url: str | None, name: str, spec: dict[str, Any],
          records: list[dict[str, Any]]) -> bool:
    """Grow a `nas sample` study to a larger n: when the stored study differs from `spec` only in n (smaller)
    and its configs are the first n of these `records` (sampling is prefix-stable: the first k of n draws do
    not depend on n), its n and digest become the new ones and the next steps queue the added configs.
    Anything else is left to `_open_study`'s check. Returns whether the study grew."""
    if name not in study_names(storage):
        return False
    study = optuna.load_study(study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler())
    attrs, want = study.user_attrs, _normalized(spec)
    old_n = attrs.get("n")
    if attrs.get("kind") != "sample" or not isinstance(old_n, int) or not 0 < old_n < want["n"]:
        return False
    if {k for k in want if attrs.get(k) != want[k]} - {"n", "configs"}:
        return False
    if attrs.get("configs") != _digest(records[:old_n]):
        return False
    study.set_user_attr("n", want["n"])
    study.set_user_attr("configs", want["configs"])
    print(f"nas: study {name!r} grows from {old_n} to {want['n']} configs (the first {old_n} unchanged, drawn "
          "from the same seed)", file=sys.stderr)
    return True


def _load_existing(url: str | None, name: str, storage_retry: float | None = None) -> _Study:
    storage = open_storage(url, create=False, patience=storage_retry)
    if name not in study_names(storage):
        raise SweepError(_unknown_study(name, storage, url))
    study = optuna.load_study(study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler())
    return _wrap(study, storage, url)


def _unknown_study(name: str, storage: BaseStorage, url: str | None) -> str:
    studies = storage.get_all_studies()
    where = describe_storage(url)
    if not studies:
        return f"no study {name!r} in {where}: it holds no studies yet"
    listed = []
    for s in studies:
        kind = s.user_attrs.get("kind", "optuna")
        count = len(storage.get_all_trials(s._study_id, deepcopy=False))
        listed.append(f"{s.study_name} ({kind}, {count} trials)")
    close = difflib.get_close_matches(name, [s.study_name for s in studies], n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    return f"no study {name!r} in {where}.{hint} Studies there: {', '.join(listed)}"


# --- worker identity, heartbeats, stale trials ------------------------------------------------------
def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def _hostname() -> str:
    """This machine's name in worker ids: $NAS_WORKER_HOST when set, else the host name."""
    return os.environ.get("NAS_WORKER_HOST") or socket.gethostname()


def _worker_id() -> str:
    return f"{_hostname()}:{_pid_namespace()}:{os.getpid()}"


def _owner_dead(owner: str) -> bool:
    """True only when `owner` is surely a process of this machine (same host and pid namespace) that is gone."""
    try:
        host, namespace, pid_text = owner.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if not namespace or host != _hostname() or namespace != _pid_namespace() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False
    try:  # a killed child that its parent has not reaped yet is a zombie
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")


def _stale(trial: FrozenTrial, grace_period: float, now: float) -> str | None:
    """Why a RUNNING trial is abandoned, or None while it may be alive."""
    owner = trial.user_attrs.get("worker")
    if isinstance(owner, str) and _owner_dead(owner):
        return "worker died"
    beat = trial.user_attrs.get("heartbeat")
    if not isinstance(beat, int | float):
        beat = trial.datetime_start.timestamp() if trial.datetime_start else None
    if beat is not None and now - beat > grace_period:
        return "stale"
    return None


class _Heartbeat:
    """Writes the trial's ``heartbeat`` user attr every `interval` seconds from a thread. A beat that fails
    transiently (the storage restarting) is skipped, not retried, so that stopping never waits on it."""

    def __init__(self, storage: BaseStorage, trial_id: int, interval: float) -> None:
        self.wrapper = storage if isinstance(storage, RetryingStorage) else None
        self.storage = storage.inner if isinstance(storage, RetryingStorage) else storage
        self.trial_id, self.interval = trial_id, interval
        self.error: BaseException | None = None  # the first beat that failed for good, if any
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"nas-heartbeat-{trial_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.storage.set_trial_user_attr(self.trial_id, "heartbeat", time.time())
            except UpdateFinishedTrialError:
                return  # the trial was finished elsewhere (declared stale)
            except Exception as e:
                if is_transient(e):  # the storage is restarting: beat again later
                    if self.wrapper is not None:
                        self.wrapper.note_failure(e)
                    continue
                # not a passing fault: say so once (silence would let the trial be declared stale and trained
                # again with no word why), and keep beating in case it passes after all
                if self.error is None:
                    self.error = e
                    print(f"nas: the heartbeat of trial {self.trial_id} failed: {type(e).__name__}: {e}",
                          file=sys.stderr)
                continue
            if self.wrapper is not None:
                self.wrapper.note_success()


def _fail_stale(st: _Study, grace_period: float, requeue: bool) -> list[int]:
    """Move abandoned RUNNING trials to FAIL; re-enqueue the index of each one this process failed."""
    failed = []
    now = time.time()
    for trial in st.trials(states=(TrialState.RUNNING,)):
        reason = _stale(trial, grace_period, now)
        if reason is None:
            continue
        try:
            st.storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except UpdateFinishedTrialError:
            continue  # its worker finished it, or another worker failed it first
        failed.append(trial.number)
        if requeue and "index" in trial.user_attrs:
            _requeue(st, trial, reason)
    return failed


def _requeue(st: _Study, trial: FrozenTrial, reason: str) -> None:
    attrs = {k: trial.user_attrs[k] for k in QUEUE_KEYS if k in trial.user_attrs}
    st.study.enqueue_trial({"index": attrs["index"]}, user_attrs={**attrs, "retry_of": trial.number,
                                                                   "retry_reason": reason})


# --- the work queue of a sweep ----------------------------------------------------------------------
@dataclass
class _IndexStatus:
    complete: dict[int, FrozenTrial] = field(default_factory=dict)
    failed: dict[int, FrozenTrial] = field(default_factory=dict)
    pending: set[int] = field(default_factory=set)   # a WAITING or RUNNING copy exists

    def done(self, retry_failed: bool = False) -> set[int]:
        return set(self.complete) | (set() if retry_failed else set(self.failed))


def _index_status(trials: Iterable[FrozenTrial]) -> _IndexStatus:
    status = _IndexStatus()
    for t in trials:
        index = t.user_attrs.get("index")
        if index is None:
            continue
        if t.state == TrialState.COMPLETE:
            status.complete.setdefault(index, t)
        elif t.state == TrialState.FAIL and t.user_attrs.get("fail_reason") in TERMINAL:
            status.failed.setdefault(index, t)
        elif t.state in (TrialState.WAITING, TrialState.RUNNING):
            status.pending.add(index)
    for index in status.complete:
        status.failed.pop(index, None)
    return status


def _enqueue_missing(st: _Study, records: list[dict[str, Any]], retry_failed: bool) -> int:
    status = _index_status(st.trials())
    skip = status.done(retry_failed) | status.pending
    count = 0
    for i, record in enumerate(records):
        if i in skip:
            continue
        st.study.enqueue_trial({"index": i}, user_attrs={"index": i, "record": record, "params": record["params"],
                                                         "flops": record["flops"], "acts": record["acts"]})
        count += 1
    return count


def _claim(st: _Study, index: int | None = None) -> FrozenTrial | None:
    """Atomically take a WAITING trial (of `index`, if given): WAITING -> RUNNING succeeds for one process."""
    waiting = st.trials(states=(TrialState.WAITING,))
    for trial in sorted(waiting, key=lambda t: (t.user_attrs.get("index", -1), t.number)):  # in index order
        if index is not None and trial.user_attrs.get("index") != index:
            continue
        try:
            if st.storage.set_trial_state_values(trial._trial_id, TrialState.RUNNING):
                return trial
        except UpdateFinishedTrialError:
            continue
    return None


def _redundant(st: _Study, claimed: FrozenTrial, index: int, retry_failed: bool) -> str | None:
    for other in st.trials():
        if other.number == claimed.number or other.user_attrs.get("index") != index:
            continue
        if other.state == TrialState.COMPLETE:
            return f"index {index} is already complete in trial {other.number}"
        reason = other.user_attrs.get("fail_reason")
        if other.state == TrialState.FAIL and reason in TERMINAL and not retry_failed:
            return f"index {index} already failed ({reason}) in trial {other.number}"
        if other.state == TrialState.RUNNING and other.number < claimed.number:
            return f"index {index} is being trained in trial {other.number}"
    return None


def _finish(st: _Study, trial_id: int, attrs: dict[str, Any], state: TrialState,
            values: list[float] | None = None) -> bool:
    """Record attrs, then the final state; False when the trial was already finished elsewhere."""
    try:
        for key, value in attrs.items():
            st.storage.set_trial_user_attr(trial_id, key, value)
        st.storage.set_trial_state_values(trial_id, state, values)
    except UpdateFinishedTrialError:
        # A retried write whose first attempt reached the storage before its connection dropped finds the
        # trial finished already, by itself: that is success, not a trial finished elsewhere.
        trial = st.storage.get_trial(trial_id)
        return trial.state == state and (values is None or list(trial.values or []) == list(values)) and all(
            trial.user_attrs.get(k) == _normalized(v) for k, v in attrs.items())
    return True


def _start(st: _Study, trial_id: int, index: int | None = None, n: int = 0) -> None:
    st.storage.set_trial_user_attr(trial_id, "worker", _worker_id())
    st.storage.set_trial_user_attr(trial_id, "heartbeat", time.time())
    if index is not None:
        st.storage.set_trial_param(trial_id, "index", float(index), IntDistribution(0, max(n - 1, index)))


@dataclass(frozen=True)
class _Job:
    """What a worker process needs (picklable)."""

    study: str
    storage: str | None
    n: int
    dataset: str
    data_dir: str | None
    schedule: dict[str, Any]
    seed: int
    device: str
    threads: int | None
    workers: int
    retry_failed: bool
    heartbeat_interval: float
    grace_period: float
    storage_retry: float | None = None
    scores: tuple[str, ...] | None = None   # zero-cost scores recorded with each trial (None: all of nas.scores)
    training_free: bool = False             # score only, rank by scores[0]: no training

    @property
    def objective(self) -> str:
        """The user attr that is the trial's value: error, or the ranking score of a training-free sweep."""
        return f"score_{self.scores[0]}" if self.training_free and self.scores else "error"

    @property
    def poll(self) -> float:
        return max(0.1, min(1.0, self.heartbeat_interval / 2))  # how often an idle worker looks again


def _train_trial(st: _Study, trial_id: int, record: dict[str, Any], dataset: Dataset, schedule: Schedule,
                 seed: int, device: str, threads: int | None, heartbeat_interval: float,
                 train_fn: TrainFn, scores: Sequence[str] | None = None,
                 training_free: bool = False) -> tuple[TrialState, dict[str, Any]]:
    """Score (nas.scores: `scores`, default all; () none) and train one config with a heartbeat: (COMPLETE or
    FAIL, user attrs). Training-free: only the scores, COMPLETE when scores[0] is finite. KeyboardInterrupt
    propagates."""
    from nas.scores import SCORES, score_attrs
    from nas.trainer import TrainingFailed, adapt_config
    from spaces import complexity, get_config

    cfg = get_config(record)
    cx = complexity(adapt_config(cfg, dataset), dataset.resolution)
    attrs: dict[str, Any] = {"train_params": cx.params, "train_flops": cx.flops, "train_acts": cx.acts,
                             "train_resolution": dataset.resolution}
    scores = list(SCORES) if scores is None else list(scores)
    with _Heartbeat(st.storage, trial_id, heartbeat_interval):
        if scores:  # at init, before (and independent of) training: the trainer's seed and initialisation
            attrs.update(score_attrs(cfg, dataset, scores, seed=seed, device=device, threads=threads))
        if training_free:
            value = attrs.get(f"score_{scores[0]}")
            if value is None:
                why = attrs.get("score_error") or f"{scores[0]} is not finite (a singular kernel or an overflow)"
                return TrialState.FAIL, {**attrs, "fail_reason": "error", "fail_message": why}
            return TrialState.COMPLETE, attrs
        try:
            result = train_fn(cfg, dataset, schedule, seed=seed, device=device, threads=threads)
        except TrainingFailed as e:
            return TrialState.FAIL, {**attrs, "fail_reason": e.reason, "fail_message": str(e)}
        except Exception as e:  # the sweep goes on; the trial says what happened
            # a crash of this code, not a result of the model: recorded, and trained again by the next run
            message = (str(e).strip().splitlines() or [""])[0]
            print(f"nas: training config {record.get('index')} crashed ({type(e).__name__}: {message}); "
                  "the trial is kept as 'crash' and retried by the next run", file=sys.stderr)
            return TrialState.FAIL, {**attrs, "fail_reason": "crash",
                                     "fail_message": f"{type(e).__name__}: {message}"[:500]}
    out = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    attrs.update({k: out[k] for k in RESULT_FIELDS if k in out})
    for key in ("params", "flops", "acts"):
        if key in out:
            attrs[f"train_{key}"] = out[key]
    error = attrs.get("error")
    if not isinstance(error, int | float) or not math.isfinite(error):
        return TrialState.FAIL, {**attrs, "fail_reason": "diverged", "fail_message": f"error is {error}"}
    return TrialState.COMPLETE, attrs


def _worker_device(device: str, k: int) -> str:
    """Spread the workers of one command over the GPUs: worker k gets cuda:{k % n_gpus}."""
    if device not in ("auto", "cuda"):
        return device
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return f"cuda:{k % count}" if count > 1 else device


def _sweep_worker(job: _Job, k: int = 0, train_fn: TrainFn | None = None, dataset: Dataset | None = None,
                  on_progress: Callable[[], None] | None = None) -> int:
    """Claim and train queued trials until none is left (waiting for other workers' running trials, which
    may turn out abandoned and need a retry). Returns how many this worker finished."""
    from nas.data import load_dataset
    from nas.trainer import Schedule, default_threads, train

    st = _load_existing(job.storage, job.study, job.storage_retry)
    spent = st.storage.spent if isinstance(st.storage, RetryingStorage) else (lambda: 0.0)
    dataset = dataset if dataset is not None else load_dataset(job.dataset, job.data_dir)
    schedule = Schedule.from_dict(job.schedule)
    train_fn = train_fn or train
    device = _worker_device(job.device, k)
    threads = job.threads or default_threads(job.workers)
    finished = 0
    mark = spent()  # storage seconds of this thread when the current trial's bookkeeping began
    while True:
        _fail_stale(st, job.grace_period, requeue=True)
        trial = _claim(st)
        if trial is None:
            if not st.trials(states=(TrialState.RUNNING,)):
                return finished
            if on_progress:
                on_progress()
            time.sleep(job.poll)
            mark = spent()  # waiting for other workers' trials is not this trial's overhead
            continue
        trial_id, index = trial._trial_id, trial.user_attrs["index"]
        _start(st, trial_id, index, job.n)
        duplicate = _redundant(st, trial, index, job.retry_failed)
        if duplicate:
            _finish(st, trial_id, {"fail_reason": "duplicate", "fail_message": duplicate}, TrialState.PRUNED)
            continue
        try:
            state, attrs = _train_trial(st, trial_id, trial.user_attrs["record"], dataset, schedule, job.seed,
                                        device, threads, job.heartbeat_interval, train_fn, job.scores,
                                        job.training_free)
        except KeyboardInterrupt:
            if _finish(st, trial_id, {"fail_reason": "interrupted", "fail_message": "stopped by the user"},
                       TrialState.FAIL):
                _requeue(st, trial, "interrupted")
            raise
        values = [attrs[job.objective]] if state == TrialState.COMPLETE else None
        attrs["storage_seconds"] = round(spent() - mark, 4)  # claim, checks, start (heartbeats run aside)
        if not _finish(st, trial_id, attrs, state, values):
            _adopt(st, trial, attrs, state, values, job.n)
        mark = spent()
        finished += 1
        if on_progress:
            on_progress()


def _adopt(st: _Study, trial: FrozenTrial, attrs: dict[str, Any], state: TrialState, values: list[float] | None,
           n: int) -> bool:
    """Our trial was declared stale while it trained: put the result on its re-enqueued copy if that still
    waits; otherwise whoever claimed the copy trains it, and this result is dropped."""
    index = trial.user_attrs["index"]
    copy = _claim(st, index)
    if copy is None:
        warnings.warn(f"trial {trial.number} (index {index}) was declared stale by another worker while it "
                      "trained; its retry is already running elsewhere, so this result is dropped", stacklevel=2)
        return False
    _start(st, copy._trial_id, index, n)
    return _finish(st, copy._trial_id, {**attrs, "adopted_from": trial.number}, state, values)


def _worker_process(job: _Job, k: int, train_fn: TrainFn | None) -> None:
    """Entry point of a spawned worker. The parent stops it with SIGTERM (handled like Ctrl-C); SIGINT from
    the terminal is left to the parent so that each worker is interrupted exactly once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from nas.trainer import default_threads

    if job.device == "cpu" or not _cuda_available():
        import torch

        torch.set_num_threads(job.threads or default_threads(job.workers))  # the workers share the cores
    try:
        _sweep_worker(job, k, train_fn)
    except KeyboardInterrupt:
        sys.exit(130)
    except NasError as e:  # every error of ours: one line
        print(f"nas: worker {k}: error: {e}", file=sys.stderr)
        sys.exit(2)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _run_processes(job: _Job, train_fn: TrainFn | None, refresh: Callable[[], None],
                   note: Callable[[str], None] | None = None) -> list[int]:
    """Run job.workers worker processes until they end; `note` gets one line for each that dies (an exit
    status other than 0 and 130: killed by a signal, out of memory, an error)."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker_process, args=(job, k, train_fn), name=f"nas-worker-{k}")
             for k in range(job.workers)]
    reported: set[int] = set()
    try:
        for p in procs:
            p.start()
        while True:
            refresh()
            _report_dead(procs, reported, note)
            alive = [p for p in procs if p.is_alive()]
            if not alive:
                break
            alive[0].join(timeout=1.0)
    except KeyboardInterrupt:
        started = [p for p in procs if p.pid is not None]
        for p in started:
            if p.is_alive():
                os.kill(p.pid, signal.SIGTERM)  # each worker marks its trial interrupted and queues it again
        for p in started:
            p.join(timeout=120)
        for p in started:
            if p.is_alive():
                p.kill()
                p.join()
        raise
    _report_dead(procs, reported, note)
    return [p.exitcode if p.exitcode is not None else -1 for p in procs]


def exit_description(code: int) -> str:
    """An exit status in words: 'exit status 2', 'killed by SIGKILL (out of memory or kill -9?)'."""
    if code >= 0:
        return f"exit status {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    hint = " (out of memory, or kill -9?)" if -code == signal.SIGKILL else ""
    return f"killed by {name}{hint}"


def _report_dead(procs: Sequence[Any], reported: set[int], note: Callable[[str], None] | None) -> None:
    """One line for each worker process that ended abnormally since the last call."""
    for k, p in enumerate(procs):
        code = p.exitcode
        if code is None or code in (0, 130) or k in reported:
            continue
        reported.add(k)
        others = sum(q.is_alive() for q in procs)
        then = ("its running trial is queued again and the other workers go on" if others else
                "no worker is left: run the same command again to finish the sweep")
        text = f"nas: worker {k} (pid {p.pid}) died: {exit_description(code)}; {then}"
        if note is not None:
            note(text)
        else:
            print(text, file=sys.stderr, flush=True)


# --- progress ---------------------------------------------------------------------------------------
def _progress_extra(best_error: float | None, *more: str) -> str:
    return ", ".join(x for x in (f"best error {best_error:.4f}" if best_error is not None else "", *more) if x)


def _best(trials: Iterable[FrozenTrial]) -> tuple[float | None, int | None]:
    best: tuple[float | None, int | None] = (None, None)
    for t in trials:
        error = t.user_attrs.get("error")
        if t.state == TrialState.COMPLETE and isinstance(error, int | float) and (best[0] is None or error < best[0]):
            best = (float(error), t.number)
    return best


# --- sweeps -----------------------------------------------------------------------------------------
def _prepare(space: DesignSpace, schedule: Schedule | None, bands: Sequence[Band] | None, device: str,
             storage: str | None, dataset: str, data_dir: str | None, heartbeat_interval: float,
             grace_period: float, storage_retry: float | None = None
             ) -> tuple[Schedule, list[Band], BaseStorage, Dataset]:
    """Checks and set-up shared by sweeps and searches: fail on bad arguments before anything is stored."""
    from nas.data import data_dir_note, load_dataset, size_notes
    from nas.trainer import Schedule, resolve_device
    from spaces.sampling import default_bands

    if heartbeat_interval <= 0 or grace_period <= heartbeat_interval:
        raise SweepError(f"the grace period ({grace_period:g} s) must exceed the heartbeat interval "
                         f"({heartbeat_interval:g} s)")
    if storage_retry is not None and storage_retry < 0:
        raise SweepError(f"the storage retry time must be 0 or more seconds, got {storage_retry:g}")
    try:
        resolve_device(device)
    except (ValueError, RuntimeError) as e:
        raise SweepError(str(e)) from None
    bands = default_bands(space) if bands is None else list(bands)
    data = load_dataset(dataset, data_dir)
    schedule = schedule or Schedule()
    for note in filter(None, [data_dir_note(data, data_dir), *size_notes(data, schedule.train_size,
                                                                        schedule.test_size)]):
        print(f"nas: note: {note}", file=sys.stderr)
    return schedule, bands, open_storage(storage, patience=storage_retry), data


def run_sweep(space: str | DesignSpace, n: int, *, seed: int = 0, bands: Sequence[Band] | None = None,
              dataset: str = "fashion-mnist", data_dir: str | None = None, schedule: Schedule | None = None,
              study: str | None = None, storage: str | None = None, workers: int = 1, device: str = "auto",
              threads: int | None = None, retry_failed: bool = False, max_candidates: int | None = None,
              heartbeat_interval: float = HEARTBEAT_INTERVAL, grace_period: float = GRACE_PERIOD,
              storage_retry: float | None = None, launcher: Launcher | None = None,
              train_fn: TrainFn | None = None, progress: bool | None = None, scores: Sequence[str] | None = None,
              training_free: bool = False) -> SweepSummary:
    """Sample `n` configs of `space` from `seed` (what `nas sample --dry-run` writes) and train each once as a
    trial of the Optuna study `study` (default "<space>-s<seed>") in `storage` (default results/nas.journal).

    Each trial also records the zero-cost scores `scores` (nas.scores; default all, () none) of the model at
    init as ``score_<name>``. `training_free` trains nothing: the trials are ranked by scores[0] (default
    naswot; higher is better, the study maximizes it), the study is "<space>-s<seed>-trainfree-<score>" and
    its attrs say ``training_free``; such trials have no error.

    Re-running with the same arguments resumes: only the missing configs are trained. `workers` > 1 starts
    that many processes sharing the study (on CPU each gets its share of the cores). `train_fn` replaces
    nas.trainer.train (same signature; with workers > 1 it must be picklable). Ctrl-C raises
    KeyboardInterrupt after marking the running trial FAIL ("interrupted") and re-enqueueing it.

    `storage_retry` bounds how long a worker retries a failing storage (default $NAS_STORAGE_RETRY or 300 s).
    `launcher` (nas.cluster.Launcher: submitit's local processes or Slurm jobs) runs `workers` worker jobs
    instead of this process's own workers; when it does not wait for them (Slurm), the summary lists the
    submitted jobs and counts what was finished when they were submitted.
    """
    from spaces import sample
    from spaces.sampling import DEFAULT_MAX_CANDIDATES

    start = time.perf_counter()
    space = get_space(space) if isinstance(space, str) else space
    if workers < 1:
        raise SweepError(f"workers must be at least 1, got {workers}")
    scores = _score_names(scores, training_free)
    schedule, bands, store, data = _prepare(space, schedule, bands, device, storage, dataset, data_dir,
                                            heartbeat_interval, grace_period, storage_retry)
    records = sample(space, n, seed=seed, bands=bands, max_candidates=max_candidates or DEFAULT_MAX_CANDIDATES).records
    name = study or default_study_name(space.name, seed, scores[0] if training_free else None)
    spec = {"kind": "sample", "space": space.name, "seed": seed, "n": n, "bands": _bands_json(bands),
            "dataset": data.name, "schedule": schedule.to_dict(), "configs": _digest(records)}
    if training_free:  # nothing is trained: no schedule; what the trial values are instead
        from nas.scores import BATCH_SIZE

        del spec["schedule"]
        spec.update(training_free=True, objective=f"score_{scores[0]}", direction="maximize (higher is better)",
                    scores=scores, score_batch=BATCH_SIZE)
    _grow(store, storage, name, spec, records)
    st, created = _open_study(store, storage, name, spec, ["maximize" if training_free else "minimize"],
                              optuna.samplers.RandomSampler(seed=seed))
    _enqueue_missing(st, records, retry_failed)
    if "ready" not in st.study.user_attrs:
        st.study.set_user_attr("ready", True)
    trials = st.trials()
    before = _index_status(trials)
    waiting = sum(t.state == TrialState.WAITING for t in trials)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    # No more processes than queued trials; one to watch trials running elsewhere (they may need a retry).
    workers = min(workers, max(waiting, 1 if running else 0))
    job = _Job(study=name, storage=storage, n=n, dataset=dataset, data_dir=data_dir, schedule=schedule.to_dict(),
               seed=seed, device=device, threads=threads, workers=max(workers, 1), retry_failed=retry_failed,
               heartbeat_interval=heartbeat_interval, grace_period=grace_period, storage_retry=storage_retry,
               scores=tuple(scores), training_free=training_free)
    bar = Progress(n, name, unit="trial", initial=len(before.done(retry_failed)), enabled=progress)

    def refresh() -> None:
        trials = st.trials()
        status = _index_status(trials)
        running = len([t for t in trials if t.state == TrialState.RUNNING])
        best = _best_score(trials, job.objective)[0] if training_free else None
        extra = _progress_extra(_best(trials)[0], f"best {scores[0]} {best:.4g} (training-free)"
                                if best is not None else "", f"{running} running" if running else "")
        bar.update(len(status.done()), len(status.failed), extra)

    codes: list[int] = []
    jobs: list[str] = []
    try:
        refresh()  # the start: done/total before this run
        if launcher is not None and workers >= 1:
            launched = launcher(job, refresh)
            codes, jobs = list(launched.exit_codes), list(launched.job_ids)
        elif workers == 1:
            _sweep_worker(job, 0, train_fn, data, on_progress=refresh)
        elif workers > 1:
            codes = _run_processes(job, train_fn, refresh, bar.note)
        refresh()
    finally:
        bar.close()
    trials = st.trials()
    after = _index_status(trials)
    best_error, best_trial = _best(trials)
    best_score = None
    if training_free:
        best_score, best_trial = _best_score(trials, job.objective)
    done = after.done()
    return SweepSummary(study=name, storage=st.url, n=n, complete=len(after.complete), failed=len(after.failed),
                        missing=n - len(done), trained=len(done - before.done(retry_failed)), best_error=best_error,
                        best_trial=best_trial, seconds=round(time.perf_counter() - start, 3), created=created,
                        worker_exit_codes=codes, jobs=jobs, training_free=training_free,
                        score=scores[0] if training_free else None, best_score=best_score)


def _score_names(scores: Sequence[str] | None, training_free: bool) -> list[str]:
    """The checked zero-cost score names (nas.scores); a training-free sweep needs one (default naswot)."""
    from nas.scores import SCORES, ScoreError, parse_scores

    if scores is None:
        return ["naswot"] if training_free else list(SCORES)
    try:
        names = parse_scores(scores) if scores else []
    except ScoreError as e:
        raise SweepError(str(e)) from None
    if training_free and not names:
        raise SweepError(f"a training-free sweep ranks by a score: name one of {', '.join(SCORES)}")
    return names


def _best_score(trials: Iterable[FrozenTrial], key: str) -> tuple[float | None, int | None]:
    """The highest `key` user attr of the complete trials (zero-cost scores: higher is better) and its trial."""
    best: tuple[float | None, int | None] = (None, None)
    for t in trials:
        value = t.user_attrs.get(key)
        if t.state == TrialState.COMPLETE and isinstance(value, int | float) and (best[0] is None or value > best[0]):
            best = (float(value), t.number)
    return best


# --- define-by-run search ---------------------------------------------------------------------------
class _Rejected(Exception):
    """A proposal that is not trained: `kind` is the fail_reason recorded on the PRUNED trial; `violation` > 0
    is recorded as a constraint, so that TPE counts the proposal infeasible (ranked by how far off it was)
    instead of ranking it with the good trials while few have completed."""

    def __init__(self, kind: str, message: str, violation: float = 0.0) -> None:
        super().__init__(message)
        self.kind = kind
        self.violation = violation


def _snap(values: Sequence[float], x: float) -> float:
    """The grid value nearest to x (the rounding of the paper's quantized distributions; monotone in x)."""
    i = bisect.bisect_left(values, x)
    candidates = [values[j] for j in (i - 1, i) if 0 <= j < len(values)]
    return min(candidates, key=lambda v: abs(v - x))


def _plain(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def _suggest_value(trial: optuna.Trial, name: str, dist: Any) -> int | float:
    """One value from a grid distribution: log-uniform grids as a log-scale float rounded to the grid (the
    paper's quantized log-uniform when sampled at random), uniform integer grids as an int, others as a
    categorical."""
    values = sorted(dist.values)
    if len(values) == 1:
        return _plain(values[0])
    if dist.kind == "log-uniform" and values[0] > 0:
        return _plain(_snap(values, trial.suggest_float(name, values[0], values[-1], log=True)))
    if values == list(range(int(values[0]), int(values[-1]) + 1)):
        return trial.suggest_int(name, int(values[0]), int(values[-1]))
    return _plain(trial.suggest_categorical(name, [_plain(v) for v in values]))


def _suggest_stagewise(trial: optuna.Trial, name: str, dist: Any, stages: int, increasing: bool) -> list:
    """Per-stage values. A non-decreasing constraint is kept by construction: stage i is suggested as
    ``{name}_{i}_u`` in [0, 1], placed at the quantile 1 - (1 - u)^(1 / m) of the range left above stage
    i-1 (m = stages not yet placed; log scale for log-uniform grids), then rounded to the grid. Uniform
    u's give exactly the sorted draws of the space's distribution (the order statistics), so the random
    sampler explores the space as `nas sample` does, while each parameter keeps to one stage."""
    if not increasing:
        return [_suggest_value(trial, f"{name}_{i + 1}", dist) for i in range(stages)]
    values = sorted(dist.values)
    log = dist.kind == "log-uniform" and values[0] > 0
    low, high = (math.log(values[0]), math.log(values[-1])) if log else (0.0, float(len(values)))
    pos, out = low, []
    for i in range(stages):
        u = trial.suggest_float(f"{name}_{i + 1}_u", 0.0, 1.0)
        pos += (1.0 - (1.0 - u) ** (1.0 / (stages - i))) * (high - pos)
        out.append(_plain(_snap(values, math.exp(pos)) if log else values[min(int(pos), len(values) - 1)]))
    return out


def _suggest_shared(trial: optuna.Trial, name: str, dist: Any, stages: int, shared: bool) -> list:
    if shared:
        return [_suggest_value(trial, name, dist)] * stages
    return [_suggest_value(trial, f"{name}_{i + 1}", dist) for i in range(stages)]


def suggest_config(trial: optuna.Trial, space: DesignSpace) -> AnyNetConfig:
    """Define-by-run: the config a trial's suggestions describe in `space` (AnyNet or RegNet).

    AnyNet: depth_i, width_i (log scale, snapped to the grid), bottleneck[_i], group_width[_i] (shared ones
    once), with non-decreasing depths/widths kept by the ``_up`` parameterization. RegNet: d, w0, wa, wm,
    group_width; settings that do not give the space's number of stages raise _Rejected (pruned).
    """
    from spaces.config import make_anynet
    from spaces.regnet import RegNetParams

    if hasattr(space, "suggest"):  # spaces of other families define their own define-by-run parameters
        try:
            return space.suggest(trial)
        except ConfigError as e:
            raise _Rejected("invalid", str(e), violation=1.0) from None
    if isinstance(space, AnyNetSpace):
        s = space.num_stages
        depths = _suggest_stagewise(trial, "depth", space.depth, s, space.increasing_depths)
        widths = _suggest_stagewise(trial, "width", space.width, s, space.increasing_widths)
        bs = _suggest_shared(trial, "bottleneck", space.bottleneck, s, space.shared_bottleneck)
        gs = _suggest_shared(trial, "group_width", space.group_width, s, space.shared_group_width)
        stages = [{"depth": int(d), "width": int(w), "stride": 2, "bottleneck": int(b), "group_width": int(g)}
                  for d, w, b, g in zip(depths, widths, bs, gs, strict=True)]
        return make_anynet(stages, block=space.block, se_ratio=space.se_ratio, stem_width=space.stem_width)
    if isinstance(space, RegNetSpace):
        p = {k: _suggest_value(trial, k, getattr(space, attr)) for k, attr in
             (("d", "depth"), ("w0", "w0"), ("wa", "wa"), ("wm", "wm"), ("group_width", "group_width"),
              ("bottleneck", "bottleneck"))}
        params = RegNetParams(depth=int(p["d"]), w0=int(p["w0"]), wa=float(p["wa"]), wm=float(p["wm"]),
                              group_width=int(p["group_width"]), bottleneck=int(p["bottleneck"]),
                              se_ratio=space.se_ratio, q=space.q)
        try:
            return params.to_anynet(stem_width=space.stem_width, num_stages=space.num_stages)
        except ConfigError as e:
            raise _Rejected("invalid", str(e), violation=1.0) from None
    raise SweepError(f"`nas search` supports AnyNet and RegNet spaces; {space.name!r} is a "
                     f"{type(space).__name__}")


def _search_record(space: DesignSpace, cfg: AnyNetConfig) -> dict[str, Any]:
    from spaces import reference_complexity

    cx = reference_complexity(cfg)
    return {"space": space.name, "params": cx.params, "flops": cx.flops, "acts": cx.acts,
            "resolution": cx.resolution, **cfg.to_dict()}


def _config_key(record: dict[str, Any]) -> str:
    if "kind" in record:  # families other than AnyNet: every field of the config
        body = {k: v for k, v in record.items() if k not in ("space", "params", "flops", "acts", "resolution")}
    else:
        body = {k: record.get(k) for k in ("block", "se_ratio", "stem_width", "stages")}
    return hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _make_sampler(name: str, seed: int, population_size: int | None) -> optuna.samplers.BaseSampler:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "tpe":
            return optuna.samplers.TPESampler(seed=seed)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed, population_size=population_size or 50)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
    raise SweepError(f"unknown sampler {name!r}; valid: {', '.join(SAMPLERS)}")


def parse_objectives(text: str | Sequence[str]) -> list[str]:
    items = [x.strip() for x in (text.split(",") if isinstance(text, str) else text) if x.strip()]
    if not items:
        raise SweepError(f"give at least one objective; valid: {', '.join(OBJECTIVES)}")
    bad = [x for x in items if x not in OBJECTIVES]
    if bad:
        raise SweepError(f"unknown objective {bad[0]!r}; valid: {', '.join(OBJECTIVES)}")
    if len(set(items)) != len(items):
        raise SweepError(f"objective listed twice in {','.join(items)}")
    return items


def _search_counts(trials: Iterable[FrozenTrial]) -> tuple[int, int, int]:
    complete = failed = pruned = 0
    for t in trials:
        if t.state == TrialState.COMPLETE:
            complete += 1
        elif t.state == TrialState.FAIL and t.user_attrs.get("fail_reason") in TERMINAL:
            failed += 1
        elif t.state == TrialState.PRUNED:
            pruned += 1
    return complete, failed, pruned


def band_acceptance(space: DesignSpace, bands: Sequence[Band], draws: int = 4096) -> float:
    """Fraction of the space's random draws inside every band (seeded, so the default is stable)."""
    if not bands:
        return 1.0
    import numpy as np

    from spaces.sampling import METRICS

    batch = space.draw(np.random.default_rng(0), min(draws, getattr(space, "batch", draws) * 4))
    if not len(batch):
        return 0.0
    cost = dict(zip(METRICS, batch.cost(), strict=True))
    ok = np.ones(len(batch), dtype=bool)
    for band in bands:
        ok &= band.mask(np.asarray(cost[band.metric]))
    return float(ok.mean())


def run_search(space: str | DesignSpace, n: int, *, sampler: str = "tpe", objectives: Sequence[str] = ("error",),
               seed: int = 0, bands: Sequence[Band] | None = None, dataset: str = "fashion-mnist",
               data_dir: str | None = None, schedule: Schedule | None = None, study: str | None = None,
               storage: str | None = None, device: str = "auto", threads: int | None = None,
               population_size: int | None = None, max_rejected: int | None = None,
               heartbeat_interval: float = HEARTBEAT_INTERVAL, grace_period: float = GRACE_PERIOD,
               storage_retry: float | None = None, train_fn: TrainFn | None = None,
               progress: bool | None = None) -> SearchSummary:
    """Search `space` with an Optuna sampler until the study holds `n` trained trials (complete or failed).

    Proposals outside the complexity `bands` (default: the space's), RegNet settings without the space's
    number of stages and configs already trained are closed as PRUNED without training and not counted;
    more than `max_rejected` of them in a row (default 200 + 50 n, or 20 / the band's acceptance rate among
    the space's random draws when that is more: spaces whose band holds 0.5% of them) stop the search with
    an error. Several
    objectives (e.g. error, flops) make a multi-objective study; the summary's `pareto` lists the best
    trials (the Pareto front). Re-running continues the study up to `n`.
    """
    from nas.trainer import default_threads, train

    start = time.perf_counter()
    space = get_space(space) if isinstance(space, str) else space
    if not isinstance(space, AnyNetSpace | RegNetSpace) and not hasattr(space, "suggest"):
        raise SweepError(f"`nas search` supports AnyNet and RegNet spaces; {space.name!r} is a "
                         f"{type(space).__name__}")
    if sampler not in SAMPLERS:
        raise SweepError(f"unknown sampler {sampler!r}; valid: {', '.join(SAMPLERS)}")
    objectives = parse_objectives(objectives)
    if n < 1:
        raise SweepError(f"n must be at least 1, got {n}")
    schedule, bands, store, data = _prepare(space, schedule, bands, device, storage, dataset, data_dir,
                                            heartbeat_interval, grace_period, storage_retry)
    population_size = population_size or min(50, max(4, n // 4))
    name = study or default_search_name(space.name, sampler, objectives, seed)
    spec: dict[str, Any] = {"kind": "search", "space": space.name, "sampler": sampler, "objectives": objectives,
                            "seed": seed, "bands": _bands_json(bands), "dataset": data.name,
                            "schedule": schedule.to_dict()}
    if sampler == "nsga2":
        spec["population_size"] = population_size
    directions = [OBJECTIVES[o] for o in objectives]
    st, created = _open_study(store, storage, name, spec, directions, optuna.samplers.RandomSampler(seed=seed))
    if "ready" not in st.study.user_attrs:
        st.study.set_user_attr("ready", True)
    if st.study.user_attrs.get("n") != n:  # the trained trials asked for (re-runs may raise it): for nas status
        st.study.set_user_attr("n", n)
    # A fresh stream per (seed, trials so far): a resumed search does not replay its first proposals.
    st.study.sampler = _make_sampler(sampler, (seed * 1_000_003 + len(st.trials())) % 2**32, population_size)
    train_fn = train_fn or train
    threads = threads or default_threads(1)
    max_rejected = max_rejected or max(200 + 50 * n, round(20 / max(band_acceptance(space, bands), 1e-4)))
    complete, failed, _ = _search_counts(st.trials())
    before = complete + failed
    bar = Progress(n, name, unit="trial", initial=min(before, n), enabled=progress)
    rejected = 0
    try:
        while True:
            _fail_stale(st, grace_period, requeue=False)
            trials = st.trials()
            complete, failed, pruned = _search_counts(trials)
            bar.update(min(complete + failed, n), failed, _progress_extra(_best(trials)[0],
                                                                          f"{pruned} pruned" if pruned else ""))
            if complete + failed >= n:
                break
            if rejected >= max_rejected:
                raise SweepError(f"{rejected} proposals in a row were pruned (out of band, invalid or already "
                                 f"trained) in {space.name} with {_bands_text(_bands_json(bands))}; widen the "
                                 "band, use another sampler or raise --max-rejected")
            if _search_one(st, space, bands, objectives, data, schedule, seed, device, threads,
                           heartbeat_interval, train_fn):
                rejected = 0
            else:
                rejected += 1
    finally:
        bar.close()
    trials = st.trials()
    complete, failed, pruned = _search_counts(trials)
    return SearchSummary(study=name, storage=st.url, sampler=sampler, objectives=objectives, n=n,
                         complete=complete, failed=failed, pruned=pruned, trained=complete + failed - before,
                         seconds=round(time.perf_counter() - start, 3), created=created,
                         pareto=pareto_front(st.study))


def _search_one(st: _Study, space: DesignSpace, bands: Sequence[Band], objectives: list[str], data: Dataset,
                schedule: Schedule, seed: int, device: str, threads: int, heartbeat_interval: float,
                train_fn: TrainFn) -> bool:
    """Ask one trial; train it when it is a new in-band config (True), else close it PRUNED (False)."""
    trial = st.study.ask()
    _start(st, trial._trial_id)
    try:
        cfg = suggest_config(trial, space)
        record = _search_record(space, cfg)
        for key_ in ("record", "params", "flops", "acts"):  # kept for pruned proposals too (for analysis)
            trial.set_user_attr(key_, record if key_ == "record" else record[key_])
        outside = [(band, _band_violation(band, record[band.metric])) for band in bands]
        outside = [(band, v) for band, v in outside if v > 0]
        if outside:
            message = "; ".join(f"{b.metric} {record[b.metric]:,} outside {b}" for b, _ in outside)
            raise _Rejected("out of band", message, violation=sum(v for _, v in outside))
        key = _config_key(record)
        for other in st.trials(states=(TrialState.COMPLETE, TrialState.RUNNING, TrialState.FAIL)):
            if other.number != trial.number and other.user_attrs.get("config_key") == key and (
                    other.state != TrialState.FAIL or other.user_attrs.get("fail_reason") in TERMINAL):
                raise _Rejected("duplicate", f"same config as trial {other.number}")
    except _Rejected as r:
        if r.violation > 0:
            trial.set_constraint(r.kind.replace(" ", "_"), r.violation)
        trial.set_user_attr("fail_reason", r.kind)
        trial.set_user_attr("fail_message", str(r))
        _tell(st, trial, state=TrialState.PRUNED)
        return False
    trial.set_user_attr("config_key", key)
    try:
        state, attrs = _train_trial(st, trial._trial_id, record, data, schedule, seed, device, threads,
                                    heartbeat_interval, train_fn)
    except KeyboardInterrupt:
        with contextlib.suppress(UpdateFinishedTrialError):
            trial.set_user_attr("fail_reason", "interrupted")
            trial.set_user_attr("fail_message", "stopped by the user")
            _tell(st, trial, state=TrialState.FAIL)
        raise
    try:
        for key_, value in attrs.items():
            trial.set_user_attr(key_, value)
    except UpdateFinishedTrialError:
        return True  # declared stale by another process meanwhile; its proposal is lost, not duplicated
    if state == TrialState.COMPLETE:
        merged = {**record, **attrs}
        _tell(st, trial, values=[float(merged[o]) for o in objectives])
    else:
        _tell(st, trial, state=TrialState.FAIL)
    return True


def _band_violation(band: Band, value: float) -> float:
    """How far outside the band: |log(value / nearest bound)|, 0 inside."""
    if band.low is not None and value < band.low:
        return math.log(band.low / max(value, 1))
    if band.high is not None and value > band.high:
        return math.log(value / max(band.high, 1))
    return 0.0


def _tell(st: _Study, trial: optuna.Trial, values: list[float] | None = None,
          state: TrialState | None = None) -> None:
    with contextlib.suppress(ValueError, UpdateFinishedTrialError):  # finished elsewhere (declared stale)
        st.study.tell(trial, values, state=state)


def pareto_front(study: optuna.Study) -> list[dict[str, Any]]:
    """The best trials: the Pareto front of a multi-objective study, the best trial of a single-objective one."""
    objectives = study.user_attrs.get("objectives") or ["error"]
    try:
        best = study.best_trials
    except ValueError:
        return []
    rows = []
    for t in sorted(best, key=lambda t: tuple(t.values or ())):
        rec = t.user_attrs.get("record", {})
        stages = rec.get("stages", [])
        rows.append({"trial": t.number, **{o: v for o, v in zip(objectives, t.values or (), strict=False)},
                     "error": t.user_attrs.get("error"), "params": rec.get("params"), "flops": rec.get("flops"),
                     "train_seconds": t.user_attrs.get("train_seconds"), **_front_config(rec, stages)})
    return rows


def _front_config(rec: dict[str, Any], stages: list[dict[str, Any]]) -> dict[str, Any]:
    """AnyNet/RegNet: stage lists as the paper shows them; other families: their config fields."""
    if "kind" in rec:
        skip = {"space", "params", "flops", "acts", "resolution", "index", "in_channels", "num_classes"}
        return {"config": {k: v for k, v in rec.items() if k not in skip}}
    return {"depths": [s["depth"] for s in stages], "widths": [s["width"] for s in stages],
            "bottlenecks": [s["bottleneck"] for s in stages], "group_widths": [s["group_width"] for s in stages],
            "block": rec.get("block"), "se_ratio": rec.get("se_ratio"),
            **({"regnet": rec["regnet"]} if "regnet" in rec else {})}


# --- export -----------------------------------------------------------------------------------------
def export_study(study_name: str, storage: str | None = None) -> pd.DataFrame:
    """One row per trial of a `nas sample` or `nas search` study, with flat columns: trial, state, error,
    params/flops/acts (224 px reference), train_params/flops/acts (training resolution), depth_i, width_i,
    stride_i, bottleneck_i, group_width_i, block, se_ratio, RegNet d/w0/wa/wm where they apply, the measured
    metrics, the zero-cost scores at init (score_<name>, higher is better; nas.scores), fail_reason, and the
    study's space, seed, dataset and training_free (True for a sweep ranked by a score without training: its
    error column is empty), and the trial's config as JSON (`config`: `spaces.get_config(row)` reads a row)."""
    import pandas as pd

    st = _load_existing(storage, study_name)
    attrs = st.study.user_attrs
    trials = _read_for_export(st)
    retry_reason = {t.user_attrs["retry_of"]: t.user_attrs.get("retry_reason") for t in trials
                    if "retry_of" in t.user_attrs}
    records = [t.user_attrs.get("record") or {} for t in trials]
    num_stages = max((len(r.get("stages") or []) for r in records), default=0)
    regnet = any("regnet" in r for r in records)
    is_sample = attrs.get("kind") == "sample"
    columns = ["trial"] + (["index"] if is_sample else []) + ["state", "error", "params", "flops", "acts",
                                                               "train_params", "train_flops", "train_acts"]
    stage_fields = list(STAGE_FIELDS)  # AnyNet's, then any other family's stage fields in order of appearance
    for r in records:
        for stage in r.get("stages") or []:
            stage_fields += [k for k in stage if k not in stage_fields]
    columns += [f"{f}_{i}" for f in stage_fields for i in range(1, num_stages + 1)]
    columns += ["block", "se_ratio", "stem_width"] + (["d", "w0", "wa", "wm"] if regnet else [])
    score_columns = sorted({k for t in trials for k in t.user_attrs if k.startswith("score_")})
    columns += [*METRIC_COLUMNS, *score_columns, "fail_reason", "fail_message", "space", "seed", "dataset"]
    columns += ([] if is_sample else ["sampler"]) + ["training_free", "datetime_start", "datetime_complete", "config"]
    rows = []
    for t, rec in zip(trials, records, strict=True):
        ua = t.user_attrs
        row: dict[str, Any] = {"trial": t.number, "index": ua.get("index"), "state": t.state.name,
                               "error": ua.get("error")}
        for key in ("params", "flops", "acts"):
            row[key] = rec.get(key, ua.get(key))
        for key in ("train_params", "train_flops", "train_acts", *METRIC_COLUMNS, *score_columns):
            row[key] = ua.get(key)
        stages = rec.get("stages") or []
        for f in stage_fields:
            for i in range(num_stages):
                row[f"{f}_{i + 1}"] = stages[i].get(f) if i < len(stages) else None
        for key in ("block", "se_ratio", "stem_width"):
            row[key] = rec.get(key)
        for key in ("d", "w0", "wa", "wm"):
            row[key] = (rec.get("regnet") or {}).get(key)
        if t.state != TrialState.COMPLETE:
            row["fail_reason"] = ua.get("fail_reason") or retry_reason.get(t.number) or (
                "abandoned" if t.state == TrialState.FAIL else None)  # failed as stale; its retry says why
            row["fail_message"] = ua.get("fail_message")
        for key in ("space", "seed", "dataset", "sampler"):
            row[key] = attrs.get(key)
        row["training_free"] = bool(attrs.get("training_free", False))
        row["datetime_start"] = t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else None
        row["datetime_complete"] = t.datetime_complete.isoformat(timespec="seconds") if t.datetime_complete else None
        row["config"] = config_json(rec)
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def config_json(record: dict[str, Any]) -> str | None:
    """The config of a trial's record as compact JSON (the `config` column of an export; `spaces.get_config`
    reads it back, or the whole row), without the record's bookkeeping (index, space, params, flops, acts; the
    reference resolution of AnyNet, whose configs have none; other kinds keep it: MBConv's is a field)."""
    skip = RECORD_ONLY_KEYS | ({"resolution"} if "kind" not in record else set())
    body = {k: v for k, v in record.items() if k not in skip}
    return json.dumps(body, separators=(",", ":")) if body else None


@dataclass
class _Row:
    """What export needs of a trial (a FrozenTrial, or a row read straight from an RDB)."""

    number: int
    state: TrialState
    user_attrs: dict[str, Any]
    datetime_start: Any
    datetime_complete: Any


def _read_for_export(st: _Study) -> list[Any]:
    """The study's trials. On an RDB storage of Optuna 5's schema, two plain SQL queries (trials, and all their
    user attrs) instead of the ORM, which builds every attribute object: 10,000 trials on PostgreSQL in about
    a second instead of twenty. Anything unexpected falls back to the storage API."""
    from optuna.storages import RDBStorage

    inner = st.storage.inner if isinstance(st.storage, RetryingStorage) else st.storage
    rdb = getattr(inner, "_backend", inner)
    if isinstance(rdb, RDBStorage):
        import sqlalchemy as sa
        from optuna.storages._rdb import models

        if hasattr(models.TrialModel, "_datetime_start_utc"):  # Optuna 5: naive UTC datetimes
            try:
                return st.storage.call(_read_rdb_rows, rdb, st.study_id) if isinstance(
                    st.storage, RetryingStorage) else _read_rdb_rows(rdb, st.study_id)
            except StorageError:
                raise
            except (sa.exc.ProgrammingError, sa.exc.OperationalError, KeyError, ValueError) as e:
                # a schema this code does not know (a missing table or column, an unknown state): the ORM path
                print(f"nas: reading the trials with plain SQL failed ({type(e).__name__}: "
                      f"{str(e).splitlines()[0]}); reading them through Optuna instead (slower)", file=sys.stderr)
    return st.trials()


def _read_rdb_rows(rdb: Any, study_id: int) -> list[_Row]:
    from datetime import UTC

    import sqlalchemy as sa

    def local(value: Any) -> Any:
        return value.replace(tzinfo=UTC).astimezone().replace(tzinfo=None) if value is not None else None

    with rdb.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT trial_id, number, state, datetime_start, datetime_complete FROM trials "
                                    "WHERE study_id = :s ORDER BY trial_id"), {"s": study_id}).all()
        attrs: dict[int, dict[str, Any]] = {r[0]: {} for r in rows}
        for trial_id, key, value in conn.execute(sa.text(
                "SELECT a.trial_id, a.key, a.value_json FROM trial_user_attributes a JOIN trials t ON "
                "t.trial_id = a.trial_id WHERE t.study_id = :s"), {"s": study_id}):
            if trial_id in attrs:
                attrs[trial_id][key] = json.loads(value)
    return [_Row(number, TrialState[state] if isinstance(state, str) else TrialState(state), attrs[trial_id],
                 local(start), local(complete)) for trial_id, number, state, start, complete in rows]


def write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write `df` as CSV or Parquet, by the file's suffix."""
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise SweepError(f"cannot write {out}: give a .csv or .parquet file")
    from nas.outputs import output_file, write_failed

    output_file(out)  # OutputError (one line) for a path that cannot be a file
    try:
        if suffix == ".csv":
            df.to_csv(out, index=False)
        else:
            df.to_parquet(out, index=False)
    except OSError as e:
        raise write_failed(out, e) from None
    return out
