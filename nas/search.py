"""Define-by-run searches: an Optuna sampler (TPE, NSGA-II, random) proposes configs of a space
(`nas search`).

`run_search` asks the study's sampler for a trial, turns its suggestions into a config of the space
(`suggest_config`), closes proposals outside the complexity bands, invalid ones and configs already
trained as PRUNED (out-of-band ones with a constraint violation, so TPE ranks them infeasible), and
trains the others through the one trial lifecycle (nas.lifecycle.run_trial) until the study holds
`n` trained trials. Several objectives (error, params, flops, latency, ...) make a multi-objective
study whose best trials are its Pareto front (`pareto_front`).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.heartbeat import HEARTBEAT_INTERVAL
from nas.lifecycle import (
    TrainFn,
    TrainSetup,
    fail_stale,
    finish_trial,
    prepare_run,
    run_trial,
    start_trial,
)
from nas.progress import Progress, progress_extra
from nas.study import (
    StudyHandle,
    SweepError,
    bands_json,
    bands_text,
    lowest_error,
    open_study,
)
from spaces.design_space import DesignSpace
from spaces.errors import ConfigError
from spaces.netconfig import NetworkConfig
from spaces.records import TRAINED_FAILURES, config_key, make_record
from spaces.registry import get_space

if TYPE_CHECKING:
    from nas.trainer import Schedule
    from spaces.sampling import Band

__all__ = [
    "OBJECTIVES",
    "SAMPLERS",
    "SearchSummary",
    "band_acceptance",
    "default_search_name",
    "pareto_front",
    "parse_objectives",
    "run_search",
    "suggest_config",
]

# objective -> direction; params/flops/acts at the reference setting (224 px), train_* at the
# training one
OBJECTIVES = {
    "error": "minimize",
    "params": "minimize",
    "flops": "minimize",
    "acts": "minimize",
    "train_params": "minimize",
    "train_flops": "minimize",
    "train_acts": "minimize",
    "latency_ms_b1": "minimize",
    "latency_ms_b64": "minimize",
    "train_seconds": "minimize",
    "images_per_second": "maximize",
}
SAMPLERS = ("tpe", "nsga2", "random")


@dataclass
class SearchSummary:
    study: str
    storage: str
    sampler: str
    objectives: list[str]
    n: int
    complete: int
    failed: int
    pruned: int  # proposals rejected before training (out of band, invalid, duplicate)
    trained: int  # trials trained by this call
    seconds: float
    created: bool
    pareto: list[dict[str, Any]]  # the best trial(s): the Pareto front for several objectives

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_search_name(space: str, sampler: str, objectives: Sequence[str], seed: int) -> str:
    return f"{space}-{sampler}-{'-'.join(objectives)}-s{seed}"


class _Rejected(Exception):
    """A proposal that is not trained: `kind` is the fail_reason recorded on the PRUNED trial;
    `violation` > 0 is recorded as a constraint, so that TPE counts the proposal infeasible (ranked
    by how far off it was) instead of ranking it with the good trials while few have completed."""

    def __init__(self, kind: str, message: str, violation: float = 0.0) -> None:
        super().__init__(message)
        self.kind = kind
        self.violation = violation


def suggest_config(trial: optuna.Trial, space: DesignSpace) -> NetworkConfig:
    """Define-by-run: the config a trial's suggestions describe in `space` (its
    `DesignSpace.suggest`); settings that describe no valid network (a RegNet without the space's
    number of stages) raise _Rejected (the proposal is pruned, recorded as infeasible)."""
    try:
        return space.suggest(trial)
    except ConfigError as e:
        raise _Rejected("invalid", str(e), violation=1.0) from None


def _search_record(space: DesignSpace, cfg: NetworkConfig) -> dict[str, Any]:
    from spaces import reference_complexity

    cx = reference_complexity(cfg)
    return make_record(space.name, cfg.to_dict(), cx.params, cx.flops, cx.acts, cx.resolution)


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
        elif t.state == TrialState.FAIL and t.user_attrs.get("fail_reason") in TRAINED_FAILURES:
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

    batch = space.draw(np.random.default_rng(0), min(draws, space.batch * 4))
    if not len(batch):
        return 0.0
    cost = dict(zip(METRICS, batch.cost(), strict=True))
    ok = np.ones(len(batch), dtype=bool)
    for band in bands:
        ok &= band.mask(np.asarray(cost[band.metric]))
    return float(ok.mean())


def run_search(
    space: str | DesignSpace,
    n: int,
    *,
    sampler: str = "tpe",
    objectives: Sequence[str] = ("error",),
    seed: int = 0,
    bands: Sequence[Band] | None = None,
    dataset: str = "fashion-mnist",
    data_dir: str | None = None,
    schedule: Schedule | None = None,
    study: str | None = None,
    storage: str | None = None,
    device: str = "auto",
    threads: int | None = None,
    population_size: int | None = None,
    max_rejected: int | None = None,
    heartbeat_interval: float = HEARTBEAT_INTERVAL,
    grace_period: float | None = None,
    storage_retry: float | None = None,
    train_fn: TrainFn | None = None,
    progress: bool | None = None,
) -> SearchSummary:
    """Search `space` with an Optuna sampler until the study holds `n` trained trials (complete or
    failed).

    Proposals outside the complexity `bands` (default: the space's), RegNet settings without the
    space's number of stages and configs already trained are closed as PRUNED without training and
    not counted; more than `max_rejected` of them in a row (default 200 + 50 n, or 20 / the band's
    acceptance rate among the space's random draws when that is more: spaces whose band holds 0.5%
    of them) stop the search with an error. Several objectives (e.g. error, flops) make a
    multi-objective study; the summary's `pareto` lists the best trials (the Pareto front).
    Re-running continues the study up to `n`.
    """
    from nas.trainer import default_threads, train
    from spaces.sampling import default_bands

    start = time.perf_counter()
    space = get_space(space) if isinstance(space, str) else space
    if not isinstance(space, DesignSpace):
        raise SweepError(
            f"`nas search` needs a design space (spaces.DesignSpace), got {type(space).__name__}"
        )
    if sampler not in SAMPLERS:
        raise SweepError(f"unknown sampler {sampler!r}; valid: {', '.join(SAMPLERS)}")
    objectives = parse_objectives(objectives)
    if n < 1:
        raise SweepError(f"n must be at least 1, got {n}")
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
    population_size = population_size or min(50, max(4, n // 4))
    name = study or default_search_name(space.name, sampler, objectives, seed)
    spec: dict[str, Any] = {
        "kind": "search",
        "space": space.name,
        "sampler": sampler,
        "objectives": objectives,
        "seed": seed,
        "bands": bands_json(bands),
        "dataset": data.name,
        "schedule": schedule.to_dict(),
    }
    if sampler == "nsga2":
        spec["population_size"] = population_size
    directions = [OBJECTIVES[o] for o in objectives]
    st, created = open_study(
        store, storage, name, spec, directions, optuna.samplers.RandomSampler(seed=seed)
    )
    if "ready" not in st.study.user_attrs:
        st.study.set_user_attr("ready", True)
    # the trained trials asked for (re-runs may raise it): for nas status
    if st.study.user_attrs.get("n") != n:
        st.study.set_user_attr("n", n)
    # A fresh stream per (seed, trials so far): a resumed search does not replay its first
    # proposals.
    st.study.sampler = _make_sampler(
        sampler, (seed * 1_000_003 + len(st.trials())) % 2**32, population_size
    )
    setup = TrainSetup(
        data, schedule, device, threads or default_threads(1), heartbeat_interval, train_fn or train
    )
    max_rejected = max_rejected or max(
        200 + 50 * n, round(20 / max(band_acceptance(space, bands), 1e-4))
    )
    complete, failed, _ = _search_counts(st.trials())
    before = complete + failed
    bar = Progress(n, name, unit="trial", initial=min(before, n), enabled=progress)
    rejected = 0
    try:
        while True:
            fail_stale(st, grace_period, retry=False)
            trials = st.trials()
            complete, failed, pruned = _search_counts(trials)
            bar.update(
                min(complete + failed, n),
                failed,
                progress_extra(lowest_error(trials)[0], f"{pruned} pruned" if pruned else ""),
            )
            if complete + failed >= n:
                break
            if rejected >= max_rejected:
                raise SweepError(
                    f"{rejected} proposals in a row were pruned (out of band, invalid or already "
                    f"trained) in {space.name} with {bands_text(bands_json(bands))}; widen the "
                    "band, use another sampler or raise --max-rejected"
                )
            if _search_one(st, space, bands, objectives, setup, seed):
                rejected = 0
            else:
                rejected += 1
    finally:
        bar.close()
    trials = st.trials()
    complete, failed, pruned = _search_counts(trials)
    return SearchSummary(
        study=name,
        storage=st.url,
        sampler=sampler,
        objectives=objectives,
        n=n,
        complete=complete,
        failed=failed,
        pruned=pruned,
        trained=complete + failed - before,
        seconds=round(time.perf_counter() - start, 3),
        created=created,
        pareto=pareto_front(st.study),
    )


def _search_one(
    st: StudyHandle,
    space: DesignSpace,
    bands: Sequence[Band],
    objectives: list[str],
    setup: TrainSetup,
    seed: int,
) -> bool:
    """Ask one trial; train it when it is a new in-band config (True), else close it PRUNED
    (False)."""
    trial = st.study.ask()
    start_trial(st, trial)
    try:
        cfg = suggest_config(trial, space)
        record = _search_record(space, cfg)
        # kept for pruned proposals too (for analysis)
        for key_ in ("record", "params", "flops", "acts"):
            trial.set_user_attr(key_, record if key_ == "record" else record[key_])
        outside = [(band, _band_violation(band, record[band.metric])) for band in bands]
        outside = [(band, v) for band, v in outside if v > 0]
        if outside:
            message = "; ".join(f"{b.metric} {record[b.metric]:,} outside {b}" for b, _ in outside)
            raise _Rejected("out of band", message, violation=sum(v for _, v in outside))
        key = config_key(record)
        for other in st.trials(states=(TrialState.COMPLETE, TrialState.RUNNING, TrialState.FAIL)):
            if other.number == trial.number or not _trained(other):
                continue
            # the key of the other's record (not a stored key: older studies keyed otherwise)
            if config_key(other.user_attrs.get("record") or {}) == key:
                raise _Rejected("duplicate", f"same config as trial {other.number}")
    except _Rejected as r:
        if r.violation > 0:
            trial.set_constraint(r.kind.replace(" ", "_"), r.violation)
        finish_trial(st, trial, {"fail_reason": r.kind, "fail_message": str(r)}, TrialState.PRUNED)
        return False
    # marks a proposal that passed the checks (a RUNNING trial without it is still being checked)
    trial.set_user_attr("config_key", key)
    run_trial(st, trial, record, setup, seed, objectives=objectives)
    return True


def _trained(trial: FrozenTrial) -> bool:
    """Whether another trial holds its config for good: complete, failed as a result of the model,
    or running past the checks (two proposals checked at once do not prune each other)."""
    if trial.state == TrialState.RUNNING:
        return "config_key" in trial.user_attrs
    if trial.state == TrialState.FAIL:
        return trial.user_attrs.get("fail_reason") in TRAINED_FAILURES
    return trial.state == TrialState.COMPLETE


def _band_violation(band: Band, value: float) -> float:
    """How far outside the band: |log(value / nearest bound)|, 0 inside."""
    if band.low is not None and value < band.low:
        return math.log(band.low / max(value, 1))
    if band.high is not None and value > band.high:
        return math.log(value / max(band.high, 1))
    return 0.0


def pareto_front(study: optuna.Study) -> list[dict[str, Any]]:
    """The best trials: the Pareto front of a multi-objective study, the best trial of a
    single-objective one."""
    objectives = study.user_attrs.get("objectives") or ["error"]
    try:
        best = study.best_trials
    except ValueError:
        return []
    rows = []
    for t in sorted(best, key=lambda t: tuple(t.values or ())):
        rec = t.user_attrs.get("record", {})
        stages = rec.get("stages", [])
        rows.append(
            {
                "trial": t.number,
                **{o: v for o, v in zip(objectives, t.values or (), strict=False)},
                "error": t.user_attrs.get("error"),
                "params": rec.get("params"),
                "flops": rec.get("flops"),
                "train_seconds": t.user_attrs.get("train_seconds"),
                **_front_config(rec, stages),
            }
        )
    return rows


def _front_config(rec: dict[str, Any], stages: list[dict[str, Any]]) -> dict[str, Any]:
    """AnyNet/RegNet: stage lists as the paper shows them; other families: their config fields."""
    if "kind" in rec:
        skip = {
            "space",
            "params",
            "flops",
            "acts",
            "resolution",
            "index",
            "in_channels",
            "num_classes",
        }
        return {"config": {k: v for k, v in rec.items() if k not in skip}}
    return {
        "depths": [s["depth"] for s in stages],
        "widths": [s["width"] for s in stages],
        "bottlenecks": [s["bottleneck"] for s in stages],
        "group_widths": [s["group_width"] for s in stages],
        "block": rec.get("block"),
        "se_ratio": rec.get("se_ratio"),
        **({"regnet": rec["regnet"]} if "regnet" in rec else {}),
    }
