"""EfficientNet's grid search over (alpha, beta, gamma) as a stored, resumable study
(`nas scale --grid`).

The grid search (step 1 of EfficientNet) proxy-trains every phi = 1 model of the grid
(spaces.scaling: `grid_points`, `compound`) at the dataset's resolution times gamma, with the base's
widths and depths scaled by beta and alpha, as the queued trials of one Optuna study: the trial
lifecycle of every sweep (nas.lifecycle: workers, heartbeats, abandoned trials retried, resumable:
the same command trains only what is missing). The top few rules are trained again with more seeds;
the best mean error wins, and the family phi = 1..7 is listed with its complexity. `grid_table`
lists the grid without training. The command (`nas scale`, also --phi and --published) is
nas.cli.scale.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nas.heartbeat import HEARTBEAT_INTERVAL
from spaces.errors import ConfigError

if TYPE_CHECKING:
    from nas.trainer import Schedule
    from spaces.netconfig import NetworkConfig
    from spaces.scaling import Scaled


# --- the grid -------------------------------------------------------------------------------------
def grid_table(
    base: NetworkConfig, step: float, tolerance: float, resolution: int | None = None
) -> list[dict]:
    """One row per grid point: the rule and the phi = 1 model's complexity at the base's setting."""
    from spaces.scaling import compound, grid_points

    rows = []
    for i, (a, b, g) in enumerate(grid_points(step, tolerance)):
        s = compound(base, 1, a, b, g, resolution)
        rows.append(
            {
                "point": i,
                "alpha": a,
                "beta": b,
                "gamma": g,
                "product": round(a * b * b * g * g, 4),
                "resolution": s.resolution,
                "depth": stage_depth(s.config),
                "params": s.complexity.params,
                "flops": s.complexity.flops,
                "flops_growth": round(s.flops_growth, 4),
            }
        )
    return rows


def stage_depth(cfg: Any) -> int:
    return sum(s.depth for s in cfg.stages)


@dataclasses.dataclass
class GridResult:
    study: str
    storage: str
    points: int
    trained: int
    ranking: list[dict[str, Any]]  # every point with its seed errors, best mean first
    best: dict[str, Any] | None
    family: list[dict[str, Any]]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def run_grid(
    base: NetworkConfig,
    base_name: str,
    *,
    step: float = 0.05,
    tolerance: float = 0.1,
    top: int = 3,
    repeats: int = 3,
    seed: int = 0,
    dataset: str = "fashion-mnist",
    data_dir: str | None = None,
    schedule: Schedule | None = None,
    study: str | None = None,
    storage: str | None = None,
    workers: int = 1,
    device: str = "auto",
    threads: int | None = None,
    heartbeat_interval: float = HEARTBEAT_INTERVAL,
    grace_period: float | None = None,
    storage_retry: float | None = None,
    train_fn: Callable[..., Any] | None = None,
    family_resolution: int | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool | None = None,
) -> GridResult:
    """Grid search of EfficientNet's step 1 as a stored, resumable study; see the module docstring.

    The phi = 1 model of every grid point is a queued trial (index = point) trained with `seed`;
    then the `top` points are queued again with seeds seed+1 .. seed+repeats-1 (index = r * points +
    point). Both rounds go through the trial lifecycle of every sweep (nas.lifecycle): `workers`
    processes, heartbeats, abandoned trials retried, Ctrl-C re-queues the running trial."""
    import optuna
    from optuna.trial import TrialState

    from nas.lifecycle import Job, enqueue_missing, prepare_run, work_queue
    from nas.progress import Progress
    from nas.study import SweepError, open_study
    from nas.trainer import default_threads, resolve_precision
    from nas.workers import run_processes
    from spaces.records import TRAINED_FAILURES
    from spaces.scaling import compound, family, grid_points

    start = time.perf_counter()
    if top < 1 or repeats < 1:
        raise ConfigError(f"--top and --repeats must be at least 1, got {top} and {repeats}")
    if workers < 1:
        raise SweepError(f"workers must be at least 1, got {workers}")
    points = grid_points(step, tolerance)
    if not points:
        raise ConfigError(
            f"the grid with step {step:g} and tolerance {tolerance:g} has no point with "
            "alpha beta^2 gamma^2 near 2; use a finer --step or a larger --tolerance"
        )
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
    small = data.resolution < 64
    proxy_base = base.for_input(data.in_channels, data.num_classes, small=small)
    name = study or f"scale-{base_name}-grid-s{seed}"
    spec = {
        "kind": "scale-grid",
        "base": base.to_dict(),
        "step": step,
        "tolerance": tolerance,
        "seed": seed,
        "dataset": data.name,
        "schedule": schedule.to_dict(),
    }
    st, _ = open_study(
        store, storage, name, spec, ["minimize"], optuna.samplers.RandomSampler(seed)
    )
    if "ready" not in st.study.user_attrs:
        st.study.set_user_attr("ready", True)
    say = log or (lambda text: None)
    count = len(points)
    # one precision for all the processes of this command (probed at the first round's threads)
    each = threads or default_threads(min(workers, count))
    fixed = dataclasses.replace(
        schedule, precision=resolve_precision(schedule.precision, device, each)
    )
    job = Job(
        study=name,
        storage=storage,
        n=count * repeats,
        dataset=dataset,
        data_dir=data_dir,
        schedule=fixed.to_dict(),
        seed=seed,
        device=device,
        threads=threads,
        workers=workers,
        retry_failed=False,
        heartbeat_interval=heartbeat_interval,
        grace_period=grace_period,
        storage_retry=storage_retry,
    )

    def finished() -> dict[tuple[int, int], float | None]:
        """(point, seed) -> error (None: failed for good) of the finished trials (also those of
        studies made before the queue, which have no index)."""
        out: dict[tuple[int, int], float | None] = {}
        for t in st.trials():
            point, trial_seed = t.user_attrs.get("point"), t.user_attrs.get("seed")
            if not isinstance(point, int) or not isinstance(trial_seed, int):
                continue
            key = (point, trial_seed)
            if t.state == TrialState.COMPLETE and t.values:
                out[key] = float(t.values[0])
            elif t.state == TrialState.FAIL and t.user_attrs.get("fail_reason") in TRAINED_FAILURES:
                out.setdefault(key, None)
        return out

    def train(wanted: list[tuple[int, int]], label: str) -> None:
        """Queue the (point, repeat) pairs not yet finished, then run the workers until the queue is
        empty."""
        done = finished()
        records, extra = {}, {}
        for i, r in wanted:
            if (i, seed + r) in done:
                continue
            a, b, g = points[i]
            scaled = compound(proxy_base, 1, a, b, g, data.resolution, 1 if small else 8)
            records[r * count + i] = {
                "params": scaled.complexity.params,
                "flops": scaled.complexity.flops,
                "acts": scaled.complexity.acts,
                "resolution": scaled.resolution,
                **scaled.config.to_dict(),
            }
            extra[r * count + i] = {
                "point": i,
                "seed": seed + r,
                "alpha": a,
                "beta": b,
                "gamma": g,
                "train_resolution": scaled.resolution,
            }
        enqueue_missing(st, records, retry_failed=False, extra=extra)
        waiting = len(st.trials(states=(TrialState.WAITING,)))
        running = len(st.trials(states=(TrialState.RUNNING,)))
        if not waiting and not running:
            return
        say(f"{label}: {waiting} trial(s) to train")
        bar = Progress(
            len(wanted),
            f"{name} {label}",
            unit="trial",
            initial=len(wanted) - len(records),
            enabled=progress,
        )
        keys = {(i, seed + r) for i, r in wanted}

        def refresh() -> None:
            now = finished()
            bar.update(len(keys & set(now)), sum(now[k] is None for k in keys & set(now)))

        try:
            use = dataclasses.replace(job, workers=min(workers, max(waiting, 1)))
            if use.workers == 1:
                work_queue(use, 0, train_fn, data, on_progress=refresh)
            else:
                run_processes(use, train_fn, refresh, bar.note)
            refresh()
        finally:
            bar.close()
        # a ranking from an incomplete round would be wrong without a word: workers that died, or
        # trials that crashed, leave pairs unfinished; the same command trains only those
        missing = sorted(keys - set(finished()))
        if missing:
            raise SweepError(
                f"{len(missing)} trial(s) of {label} did not finish (point, seed: "
                f"{', '.join(map(str, missing[:5]))}{', ...' if len(missing) > 5 else ''}); "
                "run the same command again to train them"
            )

    before = len(finished())
    train([(i, 0) for i in range(count)], "every point")
    done = finished()
    first = sorted((e, i) for (i, s_), e in done.items() if s_ == seed and e is not None)
    train([(i, r) for _, i in first[:top] for r in range(1, repeats)], f"the top {top} again")
    done = finished()
    ranking: list[dict[str, Any]] = []
    for i, (a, b, g) in enumerate(points):
        errors = [e for s_ in range(seed, seed + repeats) if (e := done.get((i, s_))) is not None]
        if not errors:
            continue
        mean = sum(errors) / len(errors)
        std = (
            math.sqrt(sum((e - mean) ** 2 for e in errors) / (len(errors) - 1))
            if len(errors) > 1
            else None
        )
        ranking.append(
            {
                "point": i,
                "alpha": a,
                "beta": b,
                "gamma": g,
                "errors": errors,
                "mean_error": mean,
                "std": std,
                "seeds": len(errors),
            }
        )
    # the repeated rules first (their means are comparable), then the single-seed ones
    most = min(repeats, max((r["seeds"] for r in ranking), default=1))
    ranking.sort(key=lambda r: (r["seeds"] < most, r["mean_error"]))
    best = ranking[0] if ranking else None
    fam: list[dict[str, Any]] = []
    if best:
        for s in family(
            base, best["alpha"], best["beta"], best["gamma"], resolution=family_resolution
        ):
            fam.append(family_row(s))
    return GridResult(
        name,
        st.url,
        count,
        len(done) - before,
        ranking,
        best,
        fam,
        round(time.perf_counter() - start, 3),
    )


def family_row(s: Scaled) -> dict[str, Any]:
    return {
        "phi": s.phi,
        "depth_mult": round(s.alpha**s.phi, 4),
        "width_mult": round(s.beta**s.phi, 4),
        "resolution": s.resolution,
        "layers": stage_depth(s.config) if hasattr(s.config, "stages") else None,
        "params": s.complexity.params,
        "flops": s.complexity.flops,
        "acts": s.complexity.acts,
        "flops_growth": round(s.flops_growth, 4),
        "ideal_growth": round(s.ideal_growth, 4),
    }
