"""The trial lifecycle: one path from a config to a finished trial, for every command that trains.

`nas sample` (its workers, local processes and cluster jobs), `nas search` and `nas scale --grid`
all train through `run_trial`; they differ only in where the trial comes from:

* Work queue (`nas sample`, `nas scale --grid`). The configs are enqueued as WAITING trials with the
  fixed param ``index`` and the record in their user attrs (QUEUE_KEYS), so the storage alone says
  what is left (`enqueue_missing`). A worker (`work_queue`) claims a WAITING trial with the
  storage's atomic WAITING -> RUNNING transition (`claim`), never creating a fresh trial when the
  queue is empty.
* Ask (`nas search`): the study's sampler proposes a trial (define-by-run), which the search turns
  into a config or closes as PRUNED.

Then, the same for all: `start_trial` names the worker and writes the first heartbeat; `train_trial`
scores (nas.scores) and trains the config under a `nas.heartbeat.Heartbeat`; `finish_trial` records
the user attrs, then the state and values through `Study.tell` (the sampler sees every result).

How it stays exact under restarts and concurrency:

* Liveness (nas.heartbeat). Any worker that sees an abandoned RUNNING trial moves it RUNNING ->
  FAIL; the one whose transition succeeds (the storage serializes them) re-enqueues its index, with
  ``retry_of``/``retry_reason`` (`fail_stale`). Ctrl-C marks the running trial FAIL (``fail_reason``
  "interrupted") and re-enqueues its index the same way.
* No duplicates, nothing lost. Before training, a worker checks the other trials of its index
  (`redundant_reason`): when one is COMPLETE (or failed for good: TRAINED_FAILURES), or an older
  copy is RUNNING, the claimed copy is closed as PRUNED with ``fail_reason`` "duplicate". A worker
  whose trial was declared stale while it was in fact still training records its result on the
  re-enqueued copy if that is still waiting, and drops it otherwise (`adopt_result`). A re-run
  reconciles the queue: every index with no COMPLETE or finally failed trial and no WAITING or
  RUNNING copy is enqueued again.
* Failures. TrainingFailed (NaN/inf loss, out of memory) gives a FAIL trial with ``fail_reason``
  "diverged" or "oom": results of the model, so these indexes count as done (retry_failed trains
  them again). Any other exception is a crash of this code, not a result: FAIL with "crash", said on
  stderr, and trained again by the next run. The sweep goes on.
* Storage faults. Every storage operation goes through nas.storage.RetryingStorage: while the
  storage fails transiently it is retried with back-off for up to `storage_retry` seconds, then the
  worker stops with a StorageError (its trial is retried later like any abandoned one). A retried
  write may have reached the storage before the connection dropped; each case stays exact: a
  repeated result write finds its trial already finished with the same state and counts as done, a
  repeated claim returns False and the orphaned RUNNING trial (no heartbeat) is retried after the
  grace period, a repeated enqueue makes a second WAITING copy that is closed as a duplicate when
  claimed.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from optuna.distributions import IntDistribution
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, Trial, TrialState

from nas.heartbeat import Heartbeat, grace_period_for, stale_reason, worker_id
from nas.storage import RetryingStorage, one_write, open_storage
from nas.study import StudyHandle, SweepError, json_normalized, load_study
from spaces.records import QUEUE_KEYS, RESULT_FIELDS, TRAINED_FAILURES

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

    from nas.datasets import Dataset
    from nas.trainer import Schedule

__all__ = [
    "AnyTrial",
    "IndexStatus",
    "Job",
    "TrainFn",
    "TrainSetup",
    "adopt_result",
    "claim",
    "enqueue_missing",
    "fail_stale",
    "finish_trial",
    "index_status",
    "prepare_run",
    "redundant_reason",
    "requeue",
    "run_trial",
    "start_trial",
    "train_trial",
    "work_queue",
    "worker_device",
]

# like nas.trainer.train(config, dataset, schedule, seed=, device=, threads=)
TrainFn = Callable[..., Any]
# a claimed trial (as read from the storage) or one asked of the sampler
AnyTrial = FrozenTrial | Trial


def fail_stale(st: StudyHandle, grace_period: float, retry: bool) -> list[int]:
    """Move abandoned RUNNING trials (nas.heartbeat.stale_reason) to FAIL; with `retry`, re-enqueue
    the index of each queued one this process failed. Returns their numbers."""
    failed = []
    now = time.time()
    for trial in st.trials(states=(TrialState.RUNNING,)):
        reason = stale_reason(trial, grace_period, now)
        if reason is None:
            continue
        try:
            st.storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except UpdateFinishedTrialError:
            continue  # its worker finished it, or another worker failed it first
        failed.append(trial.number)
        if retry and "index" in trial.user_attrs:
            requeue(st, trial, reason)
    return failed


def requeue(st: StudyHandle, trial: AnyTrial, reason: str) -> None:
    attrs = {k: trial.user_attrs[k] for k in QUEUE_KEYS if k in trial.user_attrs}
    st.study.enqueue_trial(
        {"index": attrs["index"]},
        user_attrs={**attrs, "retry_of": trial.number, "retry_reason": reason},
    )


@dataclass
class IndexStatus:
    complete: dict[int, FrozenTrial] = field(default_factory=dict)
    failed: dict[int, FrozenTrial] = field(default_factory=dict)
    pending: set[int] = field(default_factory=set)  # a WAITING or RUNNING copy exists

    def done(self, retry_failed: bool = False) -> set[int]:
        return set(self.complete) | (set() if retry_failed else set(self.failed))


def index_status(trials: Iterable[FrozenTrial]) -> IndexStatus:
    status = IndexStatus()
    for t in trials:
        index = t.user_attrs.get("index")
        if index is None:
            continue
        if t.state == TrialState.COMPLETE:
            status.complete.setdefault(index, t)
        elif t.state == TrialState.FAIL and t.user_attrs.get("fail_reason") in TRAINED_FAILURES:
            status.failed.setdefault(index, t)
        elif t.state in (TrialState.WAITING, TrialState.RUNNING):
            status.pending.add(index)
    for index in status.complete:
        status.failed.pop(index, None)
    return status


def enqueue_missing(
    st: StudyHandle,
    records: Sequence[Mapping[str, Any]] | Mapping[int, Mapping[str, Any]],
    retry_failed: bool,
    extra: Mapping[int, Mapping[str, Any]] | None = None,
) -> int:
    """Enqueue every index of `records` (a list: index = position; or index -> record) that has no
    COMPLETE or finally failed trial and no WAITING or RUNNING copy; `extra`: more queue attrs of an
    index (a grid point's seed, train_resolution, ...: QUEUE_KEYS). Returns how many were
    enqueued."""
    status = index_status(st.trials())
    skip = status.done(retry_failed) | status.pending
    items = records.items() if isinstance(records, Mapping) else enumerate(records)
    count = 0
    for i, record in items:
        if i in skip:
            continue
        attrs = {
            "index": i,
            "record": dict(record),
            "params": record["params"],
            "flops": record["flops"],
            "acts": record["acts"],
            **((extra or {}).get(i) or {}),
        }
        st.study.enqueue_trial({"index": i}, user_attrs=attrs)
        count += 1
    return count


def claim(st: StudyHandle, index: int | None = None) -> FrozenTrial | None:
    """Atomically take a WAITING trial (of `index`, if given): WAITING -> RUNNING succeeds for one
    process."""
    waiting = st.trials(states=(TrialState.WAITING,))
    # in index order
    for trial in sorted(waiting, key=lambda t: (t.user_attrs.get("index", -1), t.number)):
        if index is not None and trial.user_attrs.get("index") != index:
            continue
        try:
            if st.storage.set_trial_state_values(trial._trial_id, TrialState.RUNNING):
                return trial
        except UpdateFinishedTrialError:
            continue
    return None


def redundant_reason(
    st: StudyHandle, claimed: FrozenTrial, index: int, retry_failed: bool
) -> str | None:
    for other in st.trials():
        if other.number == claimed.number or other.user_attrs.get("index") != index:
            continue
        if other.state == TrialState.COMPLETE:
            return f"index {index} is already complete in trial {other.number}"
        reason = other.user_attrs.get("fail_reason")
        if other.state == TrialState.FAIL and reason in TRAINED_FAILURES and not retry_failed:
            return f"index {index} already failed ({reason}) in trial {other.number}"
        if other.state == TrialState.RUNNING and other.number < claimed.number:
            return f"index {index} is being trained in trial {other.number}"
    return None


def finish_trial(
    st: StudyHandle,
    trial: AnyTrial,
    attrs: Mapping[str, Any],
    state: TrialState,
    values: Sequence[float] | None = None,
) -> bool:
    """Record `attrs`, then the final state and values through `Study.tell` (so the study's sampler
    sees the result); False when the trial was already finished elsewhere (declared stale
    meanwhile). A value `tell` refuses (NaN, a wrong count) on a trial still RUNNING is raised."""
    trial_id = trial._trial_id
    try:
        with one_write(st.storage):
            for key, value in attrs.items():
                st.storage.set_trial_user_attr(trial_id, key, value)
        st.study.tell(trial.number, None if values is None else list(values), state=state)
    # ValueError: tell refuses a trial that is not RUNNING
    except (UpdateFinishedTrialError, ValueError):
        # A retried write whose first attempt reached the storage before its connection dropped
        # finds the trial finished already, by itself: that is success, not a trial finished
        # elsewhere.
        now = st.storage.get_trial(trial_id)
        if not now.state.is_finished():
            raise
        return (
            now.state == state
            and (values is None or list(now.values or []) == list(values))
            and all(now.user_attrs.get(k) == json_normalized(v) for k, v in attrs.items())
        )
    return True


def start_trial(st: StudyHandle, trial: AnyTrial, index: int | None = None, n: int = 0) -> None:
    """Name this worker on a trial it took (claimed or asked) and write its first heartbeat; a
    queued trial also gets its ``index`` param."""
    with one_write(st.storage):
        st.storage.set_trial_user_attr(trial._trial_id, "worker", worker_id())
        st.storage.set_trial_user_attr(trial._trial_id, "heartbeat", time.time())
        if index is not None:
            st.storage.set_trial_param(
                trial._trial_id, "index", float(index), IntDistribution(0, max(n - 1, index))
            )


@dataclass
class TrainSetup:
    """How the trials of one command are scored and trained (in this process; not pickled).

    `scores`: the zero-cost scores recorded with each trial (nas.scores; None: all of them, ():
    none); `training_free`: score only, no training (the trial's value is scores[0]). A queued trial
    whose user attrs hold ``train_resolution`` (nas scale --grid) trains on the dataset resized to
    that resolution (`dataset_at`); `work_queue` gives it the seed of its ``seed`` attr."""

    dataset: Dataset
    schedule: Schedule
    device: str
    threads: int | None
    heartbeat_interval: float
    train_fn: TrainFn
    scores: tuple[str, ...] | None = None
    training_free: bool = False
    _resized: dict[int, Dataset] = field(default_factory=dict, repr=False)

    def dataset_at(self, resolution: int | None) -> Dataset:
        """The dataset, resized to `resolution` when given and different (cached)."""
        if resolution is None or resolution == self.dataset.resolution:
            return self.dataset
        if resolution not in self._resized:
            from nas.datasets import resize_dataset

            self._resized[resolution] = resize_dataset(self.dataset, resolution)
        return self._resized[resolution]


def train_trial(
    st: StudyHandle,
    trial_id: int,
    record: Mapping[str, Any],
    setup: TrainSetup,
    seed: int,
    resolution: int | None = None,
) -> tuple[TrialState, dict[str, Any]]:
    """Score and train one config with a heartbeat: (COMPLETE or FAIL, user attrs). Training-free:
    only the scores, COMPLETE when scores[0] is finite. A model's own failure (TrainingFailed: NaN
    loss, out of memory) is a result ("diverged", "oom"); any other exception is a crash of this
    code ("crash", said on stderr, retried by the next run). `resolution`: train on the dataset
    resized to it (a grid point's; done under the heartbeat). KeyboardInterrupt propagates."""
    from nas.scores import SCORES, score_attrs
    from nas.trainer import TrainingFailed, adapt_config
    from spaces import complexity, get_config

    cfg = get_config(dict(record))
    scores = list(SCORES) if setup.scores is None else list(setup.scores)
    with Heartbeat(st.storage, trial_id, setup.heartbeat_interval):
        data = setup.dataset_at(resolution)
        cx = complexity(adapt_config(cfg, data), data.resolution)
        attrs: dict[str, Any] = {
            "train_params": cx.params,
            "train_flops": cx.flops,
            "train_acts": cx.acts,
            "train_resolution": data.resolution,
        }
        # at init, before (and independent of) training: the trainer's seed and initialisation
        if scores:
            attrs.update(
                score_attrs(
                    cfg, data, scores, seed=seed, device=setup.device, threads=setup.threads
                )
            )
        if setup.training_free:
            value = attrs.get(f"score_{scores[0]}")
            if value is None:
                why = (
                    attrs.get("score_error")
                    or f"{scores[0]} is not finite (a singular kernel or an overflow)"
                )
                return TrialState.FAIL, {**attrs, "fail_reason": "error", "fail_message": why}
            return TrialState.COMPLETE, attrs
        try:
            result = setup.train_fn(
                cfg, data, setup.schedule, seed=seed, device=setup.device, threads=setup.threads
            )
        except TrainingFailed as e:
            return TrialState.FAIL, {**attrs, "fail_reason": e.reason, "fail_message": str(e)}
        except Exception as e:  # the sweep goes on; the trial says what happened
            # a crash of this code, not a result of the model: recorded, and trained again by the
            # next run
            message = (str(e).strip().splitlines() or [""])[0]
            print(
                f"nas: training trial {trial_id} crashed ({type(e).__name__}: "
                f"{message}); the trial is kept as 'crash' and retried by the next run",
                file=sys.stderr,
            )
            return TrialState.FAIL, {
                **attrs,
                "fail_reason": "crash",
                "fail_message": f"{type(e).__name__}: {message}"[:500],
            }
    out = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    attrs.update({k: out[k] for k in RESULT_FIELDS if k in out})
    for key in ("params", "flops", "acts"):
        if key in out:
            attrs[f"train_{key}"] = out[key]
    error = attrs.get("error")
    if not isinstance(error, int | float) or not math.isfinite(error):
        return TrialState.FAIL, {
            **attrs,
            "fail_reason": "diverged",
            "fail_message": f"error is {error}",
        }
    return TrialState.COMPLETE, attrs


def run_trial(
    st: StudyHandle,
    trial: AnyTrial,
    record: Mapping[str, Any],
    setup: TrainSetup,
    seed: int,
    *,
    objectives: Sequence[str] = ("error",),
    queue_size: int | None = None,
    storage_mark: float | None = None,
) -> TrialState:
    """Train a started trial (`start_trial`) and finish it: the one ask-train-tell path of every
    command.

    The trial's values are its `objectives` read from the record and the results (error, a score,
    flops, ...). A queued trial (`queue_size`: the queue's n) is re-enqueued when Ctrl-C stops it,
    and when it was declared stale while it trained, its result goes to its waiting copy
    (`adopt_result`). `storage_mark`: the storage seconds of this thread when the trial's
    bookkeeping began (``storage_seconds``)."""
    queued = queue_size is not None
    resolution = trial.user_attrs.get("train_resolution") if queued else None
    try:
        state, attrs = train_trial(st, trial._trial_id, record, setup, seed, resolution)
    except KeyboardInterrupt:
        stopped = {"fail_reason": "interrupted", "fail_message": "stopped by the user"}
        if finish_trial(st, trial, stopped, TrialState.FAIL) and queued:
            requeue(st, trial, "interrupted")
        raise
    merged = {**record, **attrs}
    values = [float(merged[o]) for o in objectives] if state == TrialState.COMPLETE else None
    if storage_mark is not None and isinstance(st.storage, RetryingStorage):
        # claim, checks, start
        attrs["storage_seconds"] = round(st.storage.spent() - storage_mark, 4)
    if not finish_trial(st, trial, attrs, state, values) and queue_size is not None:
        adopt_result(st, trial, attrs, state, values, queue_size)
    return state


@dataclass(frozen=True)
class Job:
    """What a worker process of a queued study needs (picklable): `work_queue`'s argument."""

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
    # zero-cost scores recorded with each trial (None: all of nas.scores)
    scores: tuple[str, ...] | None = None
    training_free: bool = False  # score only, rank by scores[0]: no training

    @property
    def objective(self) -> str:
        """The user attr that is the trial's value: error, or the ranking score of a training-free
        sweep."""
        return f"score_{self.scores[0]}" if self.training_free and self.scores else "error"

    @property
    def poll(self) -> float:
        # how often an idle worker looks again
        return max(0.1, min(1.0, self.heartbeat_interval / 2))


def worker_device(device: str, k: int) -> str:
    """Spread the workers of one command over the GPUs: worker k gets cuda:{k % n_gpus}."""
    if device not in ("auto", "cuda"):
        return device
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return f"cuda:{k % count}" if count > 1 else device


def work_queue(
    job: Job,
    k: int = 0,
    train_fn: TrainFn | None = None,
    dataset: Dataset | None = None,
    on_progress: Callable[[], None] | None = None,
) -> int:
    """Claim and train queued trials until none is left (waiting for other workers' running trials,
    which may turn out abandoned and need a retry). Returns how many this worker finished."""
    from nas.datasets import load_dataset
    from nas.trainer import Schedule, default_threads, train

    st = load_study(job.storage, job.study, job.storage_retry)
    spent = st.storage.spent if isinstance(st.storage, RetryingStorage) else (lambda: 0.0)
    setup = TrainSetup(
        dataset if dataset is not None else load_dataset(job.dataset, job.data_dir),
        Schedule.from_dict(job.schedule),
        worker_device(job.device, k),
        job.threads or default_threads(job.workers),
        job.heartbeat_interval,
        train_fn or train,
        job.scores,
        job.training_free,
    )
    finished = 0
    mark = spent()  # storage seconds of this thread when the current trial's bookkeeping began
    while True:
        fail_stale(st, job.grace_period, retry=True)
        trial = claim(st)
        if trial is None:
            if not st.trials(states=(TrialState.RUNNING,)):
                return finished
            if on_progress:
                on_progress()
            time.sleep(job.poll)
            mark = spent()  # waiting for other workers' trials is not this trial's overhead
            continue
        index = trial.user_attrs["index"]
        start_trial(st, trial, index, job.n)
        duplicate = redundant_reason(st, trial, index, job.retry_failed)
        if duplicate:
            finish_trial(
                st,
                trial,
                {"fail_reason": "duplicate", "fail_message": duplicate},
                TrialState.PRUNED,
            )
            continue
        seed = trial.user_attrs.get("seed", job.seed)
        run_trial(
            st,
            trial,
            trial.user_attrs["record"],
            setup,
            seed,
            objectives=(job.objective,),
            queue_size=job.n,
            storage_mark=mark,
        )
        mark = spent()
        finished += 1
        if on_progress:
            on_progress()


def adopt_result(
    st: StudyHandle,
    trial: AnyTrial,
    attrs: Mapping[str, Any],
    state: TrialState,
    values: Sequence[float] | None,
    n: int,
) -> bool:
    """Our trial was declared stale while it trained: put the result on its re-enqueued copy if that
    still waits; otherwise whoever claimed the copy trains it, and this result is dropped."""
    index = trial.user_attrs["index"]
    copy = claim(st, index)
    if copy is None:
        warnings.warn(
            f"trial {trial.number} (index {index}) was declared stale by another worker while it "
            "trained; its retry is already running elsewhere, so this result is dropped",
            stacklevel=2,
        )
        return False
    start_trial(st, copy, index, n)
    return finish_trial(st, copy, {**attrs, "adopted_from": trial.number}, state, values)


def prepare_run(
    schedule: Schedule | None,
    device: str,
    storage: str | None,
    dataset: str,
    data_dir: str | None,
    heartbeat_interval: float,
    grace_period: float | None,
    storage_retry: float | None = None,
) -> tuple[Schedule, float, BaseStorage, Dataset]:
    """Checks and set-up shared by every command that trains: fail on bad arguments before anything
    is stored. Returns the schedule (default: nas.trainer.Schedule()), the grace period (default:
    nas.heartbeat.grace_period_for the interval), the opened storage and the dataset."""
    from nas.datasets import data_dir_note, load_dataset, size_notes
    from nas.trainer import Schedule, resolve_device

    grace_period = grace_period_for(heartbeat_interval) if grace_period is None else grace_period
    if heartbeat_interval <= 0 or grace_period <= heartbeat_interval:
        raise SweepError(
            f"the grace period ({grace_period:g} s) must exceed the heartbeat interval "
            f"({heartbeat_interval:g} s)"
        )
    if storage_retry is not None and storage_retry < 0:
        raise SweepError(f"the storage retry time must be 0 or more seconds, got {storage_retry:g}")
    try:
        resolve_device(device)
    except (ValueError, RuntimeError) as e:
        raise SweepError(str(e)) from None
    data = load_dataset(dataset, data_dir)
    schedule = schedule or Schedule()
    for note in filter(
        None,
        [data_dir_note(data, data_dir), *size_notes(data, schedule.train_size, schedule.test_size)],
    ):
        print(f"nas: note: {note}", file=sys.stderr)
    return schedule, grace_period, open_storage(storage, patience=storage_retry), data
