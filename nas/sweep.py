"""Sweeps: draw N configs of a design space from a seed and proxy-train each once, resumably
(`nas sample`).

`run_sweep` draws N configs from a seed (exactly the configs `nas sample --dry-run` writes), creates
or checks the study that records them (nas.study), enqueues the missing ones (nas.lifecycle) and
runs the workers that claim and train them: this process, `workers` local processes (nas.workers),
or the jobs of a launcher (nas.cluster). The lifecycle of each trial (claim, heartbeat, stale
trials, retries, finish) is nas.lifecycle's; a searched study (`nas search`) is nas.search's;
`nas export` is nas.tables'.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import optuna
from optuna.trial import TrialState

from nas.heartbeat import HEARTBEAT_INTERVAL
from nas.lifecycle import Job, TrainFn, enqueue_missing, index_status, prepare_run, work_queue
from nas.progress import Progress, progress_extra
from nas.study import (
    SweepError,
    bands_json,
    configs_digest,
    grow_study,
    highest_score,
    lowest_error,
    open_study,
)
from nas.workers import run_processes
from spaces.registry import get_space
from spaces.space import DesignSpace

if TYPE_CHECKING:
    from nas.trainer import Schedule
    from spaces.sampling import Band

__all__ = ["Launched", "Launcher", "SweepSummary", "default_study_name", "run_sweep"]


class Launched(Protocol):
    exit_codes: Sequence[int]  # one per worker job that was waited for (empty when not waited for)
    job_ids: Sequence[str]


class Launcher(Protocol):
    """Runs worker jobs for a prepared sweep (nas.cluster.Launcher): calls refresh() while it
    waits."""

    def __call__(self, job: Any, refresh: Callable[[], None]) -> Launched: ...


@dataclass
class SweepSummary:
    study: str
    storage: str
    n: int
    complete: int  # indexes with a COMPLETE trial
    failed: int  # indexes that failed for good (diverged, oom, error)
    missing: int  # indexes neither complete nor failed when the call returned
    trained: int  # indexes finished by this call
    best_error: float | None
    best_trial: int | None
    seconds: float
    created: bool
    worker_exit_codes: list[int] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)  # ids of the worker jobs a launcher submitted
    # ranked by a zero-cost score (nas.scores), nothing trained: no errors
    training_free: bool = False
    score: str | None = None  # the ranking score of a training-free sweep (higher is better)
    best_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_study_name(space: str, seed: int, training_free_score: str | None = None) -> str:
    """SPACE-sSEED; a training-free sweep ranked by a score: SPACE-sSEED-trainfree-SCORE."""
    return f"{space}-s{seed}" + (f"-trainfree-{training_free_score}" if training_free_score else "")


def run_sweep(
    space: str | DesignSpace,
    n: int,
    *,
    seed: int = 0,
    bands: Sequence[Band] | None = None,
    dataset: str = "fashion-mnist",
    data_dir: str | None = None,
    schedule: Schedule | None = None,
    study: str | None = None,
    storage: str | None = None,
    workers: int = 1,
    device: str = "auto",
    threads: int | None = None,
    retry_failed: bool = False,
    max_candidates: int | None = None,
    heartbeat_interval: float = HEARTBEAT_INTERVAL,
    grace_period: float | None = None,
    storage_retry: float | None = None,
    launcher: Launcher | None = None,
    train_fn: TrainFn | None = None,
    progress: bool | None = None,
    scores: Sequence[str] | None = None,
    training_free: bool = False,
) -> SweepSummary:
    """Sample `n` configs of `space` from `seed` (what `nas sample --dry-run` writes) and train each
    once as a trial of the Optuna study `study` (default "<space>-s<seed>") in `storage` (default
    results/nas.journal).

    Each trial also records the zero-cost scores `scores` (nas.scores; default all, () none) of the
    model at init as ``score_<name>``. `training_free` trains nothing: the trials are ranked by
    scores[0] (default naswot; higher is better, the study maximizes it), the study is
    "<space>-s<seed>-trainfree-<score>" and its attrs say ``training_free``; such trials have no
    error.

    Re-running with the same arguments resumes: only the missing configs are trained. `workers` > 1
    starts that many processes sharing the study (on CPU each gets its share of the cores).
    `train_fn` replaces nas.trainer.train (same signature; with workers > 1 it must be picklable).
    Ctrl-C raises KeyboardInterrupt after marking the running trial FAIL ("interrupted") and
    re-enqueueing it.

    `grace_period`: a RUNNING trial without a heartbeat for this long is retried (default
    nas.heartbeat.grace_period_for(heartbeat_interval)). `storage_retry` bounds how long a worker
    retries a failing storage (default $NAS_STORAGE_RETRY or 300 s).
    `launcher` (nas.cluster.Launcher: submitit's local processes or Slurm jobs) runs `workers`
    worker jobs instead of this process's own workers; when it does not wait for them (Slurm), the
    summary lists the submitted jobs and counts what was finished when they were submitted.
    """
    from spaces import sample
    from spaces.sampling import DEFAULT_MAX_CANDIDATES, default_bands

    start = time.perf_counter()
    space = get_space(space) if isinstance(space, str) else space
    if workers < 1:
        raise SweepError(f"workers must be at least 1, got {workers}")
    scores = _score_names(scores, training_free)
    schedule, grace_period, store, data = prepare_run(
        schedule,
        device,
        storage,
        dataset,
        data_dir,
        heartbeat_interval,
        grace_period,
        storage_retry,
    )
    bands = default_bands(space) if bands is None else list(bands)
    records = sample(
        space, n, seed=seed, bands=bands, max_candidates=max_candidates or DEFAULT_MAX_CANDIDATES
    ).records
    name = study or default_study_name(space.name, seed, scores[0] if training_free else None)
    spec = {
        "kind": "sample",
        "space": space.name,
        "seed": seed,
        "n": n,
        "bands": bands_json(bands),
        "dataset": data.name,
        "schedule": schedule.to_dict(),
        "configs": configs_digest(records),
    }
    if training_free:  # nothing is trained: no schedule; what the trial values are instead
        from nas.scores import BATCH_SIZE

        del spec["schedule"]
        spec.update(
            training_free=True,
            objective=f"score_{scores[0]}",
            direction="maximize (higher is better)",
            scores=scores,
            score_batch=BATCH_SIZE,
        )
    grow_study(store, storage, name, spec, records)
    st, created = open_study(
        store,
        storage,
        name,
        spec,
        ["maximize" if training_free else "minimize"],
        optuna.samplers.RandomSampler(seed=seed),
    )
    enqueue_missing(st, records, retry_failed)
    if "ready" not in st.study.user_attrs:
        st.study.set_user_attr("ready", True)
    trials = st.trials()
    before = index_status(trials)
    waiting = sum(t.state == TrialState.WAITING for t in trials)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    # No more processes than queued trials; one to watch trials running elsewhere (they may need a
    # retry).
    workers = min(workers, max(waiting, 1 if running else 0))
    # this machine's processes: one precision for all of them
    if launcher is None and not training_free and waiting:
        from nas.trainer import default_threads, resolve_precision

        each = threads or default_threads(max(workers, 1))
        schedule = dataclasses.replace(
            schedule, precision=resolve_precision(schedule.precision, device, each)
        )
    job = Job(
        study=name,
        storage=storage,
        n=n,
        dataset=dataset,
        data_dir=data_dir,
        schedule=schedule.to_dict(),
        seed=seed,
        device=device,
        threads=threads,
        workers=max(workers, 1),
        retry_failed=retry_failed,
        heartbeat_interval=heartbeat_interval,
        grace_period=grace_period,
        storage_retry=storage_retry,
        scores=tuple(scores),
        training_free=training_free,
    )
    bar = Progress(n, name, unit="trial", initial=len(before.done(retry_failed)), enabled=progress)

    def refresh() -> None:
        trials = st.trials()
        status = index_status(trials)
        running = len([t for t in trials if t.state == TrialState.RUNNING])
        best = highest_score(trials, job.objective)[0] if training_free else None
        extra = progress_extra(
            lowest_error(trials)[0],
            f"best {scores[0]} {best:.4g} (training-free)" if best is not None else "",
            f"{running} running" if running else "",
        )
        bar.update(len(status.done()), len(status.failed), extra)

    codes: list[int] = []
    jobs: list[str] = []
    try:
        refresh()  # the start: done/total before this run
        if launcher is not None and workers >= 1:
            launched = launcher(job, refresh)
            codes, jobs = list(launched.exit_codes), list(launched.job_ids)
        elif workers == 1:
            work_queue(job, 0, train_fn, data, on_progress=refresh)
        elif workers > 1:
            codes = run_processes(job, train_fn, refresh, bar.note)
        refresh()
    finally:
        bar.close()
    trials = st.trials()
    after = index_status(trials)
    best_error, best_trial = lowest_error(trials)
    best_score = None
    if training_free:
        best_score, best_trial = highest_score(trials, job.objective)
    done = after.done()
    return SweepSummary(
        study=name,
        storage=st.url,
        n=n,
        complete=len(after.complete),
        failed=len(after.failed),
        missing=n - len(done),
        trained=len(done - before.done(retry_failed)),
        best_error=best_error,
        best_trial=best_trial,
        seconds=round(time.perf_counter() - start, 3),
        created=created,
        worker_exit_codes=codes,
        jobs=jobs,
        training_free=training_free,
        score=scores[0] if training_free else None,
        best_score=best_score,
    )


def _score_names(scores: Sequence[str] | None, training_free: bool) -> list[str]:
    """The checked zero-cost score names (nas.scores); a training-free sweep needs one (default
    naswot)."""
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
