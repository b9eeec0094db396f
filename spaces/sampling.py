"""Seeded rejection sampling of configs from a design space, within complexity bands.

Candidates are drawn in fixed-size batches from one numpy Generator, so a seed always yields the
same sequence and the first k of n samples do not depend on n. Accepted candidates keep their draw
order. The sampler works with any space through the `DesignSpace` and `SampleBatch` interfaces
(spaces.design_space): `space.batch` candidates a draw, `stale_batches`, `record_resolution`, and
the analytic bounds of spaces.bounds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spaces.bounds import complexity_bounds
from spaces.design_space import DesignSpace, SampleBatch
from spaces.errors import ConfigError, SamplingError
from spaces.records import make_record

DEFAULT_MAX_CANDIDATES = 20_000_000
METRICS = ("params", "flops", "acts")


@dataclass(frozen=True)
class Band:
    """Closed interval on one complexity metric at the reference setting; None = unbounded."""

    metric: str
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ConfigError(f"unknown metric {self.metric!r}; valid: {', '.join(METRICS)}")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ConfigError(f"{self.metric} band is empty: low {self.low:g} > high {self.high:g}")

    def mask(self, values: np.ndarray) -> np.ndarray:
        ok = np.ones(len(values), dtype=bool)
        if self.low is not None:
            ok &= values >= self.low
        if self.high is not None:
            ok &= values <= self.high
        return ok

    def __str__(self) -> str:
        lo = "-inf" if self.low is None else _si(self.low)
        hi = "inf" if self.high is None else _si(self.high)
        return f"{self.metric} in [{lo}, {hi}]"


@dataclass
class SampleResult:
    """Sampled records plus the bookkeeping a user needs to judge the run."""

    records: list[dict[str, Any]]
    candidates_tried: int
    in_band: int
    duplicates: int
    seconds: float
    bands: list[Band] = field(default_factory=list)

    @property
    def candidates_per_second(self) -> float:
        return self.candidates_tried / max(self.seconds, 1e-9)


def default_bands(space: DesignSpace) -> list[Band]:
    band = space.default_flops_band
    return [Band("flops", *band)] if band else []


def sample(
    space: DesignSpace,
    n: int,
    seed: int = 0,
    bands: list[Band] | None = None,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    progress: Callable[[int], None] | None = None,
) -> SampleResult:
    """Draw `n` distinct configs from `space` whose reference complexity lies in every band.

    `bands=None` uses the space's default (the paper's 360-400 MF at 224x224); `[]` means no band.
    """
    if n < 1:
        raise ConfigError(f"n must be at least 1, got {n}")
    bands = default_bands(space) if bands is None else bands
    _check_reachable(space, bands)
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    records: list[dict[str, Any]] = []
    seen: set[Hashable] = set()
    tried = in_band = duplicates = 0
    lo_seen = {m: math.inf for m in METRICS}
    hi_seen = {m: -math.inf for m in METRICS}
    stale_limit = space.stale_batches  # small finite spaces: stop once nothing new comes
    stale = invalid = 0
    example: str | None = None
    while len(records) < n:
        if tried >= max_candidates or (stale_limit and stale >= stale_limit):
            if invalid == tried:
                raise SamplingError(
                    f"every one of the {tried:,} candidates drawn from {space.name} was invalid "
                    f"(e.g. {example}); check the space's parameter ranges"
                )
            raise SamplingError(
                _infeasible(
                    space,
                    n,
                    len(records),
                    tried,
                    bands,
                    lo_seen,
                    hi_seen,
                    exhausted=tried < max_candidates,
                )
            )
        found = len(records)
        size = space.batch  # family spaces count each candidate's graph: smaller batches
        tried += size
        batch = space.draw(rng, size)
        invalid += batch.invalid
        example = example or batch.invalid_example
        # every draw invalid: a stale batch too, or such a space would run to the limit
        if not len(batch):
            stale += 1
            continue
        # arrays of len(batch)
        cost = {m: np.asarray(c) for m, c in zip(METRICS, batch.cost(), strict=True)}
        for m in METRICS:
            lo_seen[m] = min(lo_seen[m], float(cost[m].min()))
            hi_seen[m] = max(hi_seen[m], float(cost[m].max()))
        ok = np.ones(len(batch), dtype=bool)
        for band in bands:
            ok &= band.mask(cost[band.metric])
        idx = np.flatnonzero(ok)
        in_band += len(idx)
        kept = batch.select(idx)
        for j, key in enumerate(kept.keys()):
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            records.append(
                _record(space, kept, j, {m: int(cost[m][idx[j]]) for m in METRICS}, len(records))
            )
            if progress:
                progress(1)
            if len(records) == n:
                break
        stale = stale + 1 if len(records) == found else 0
    return SampleResult(records, tried, in_band, duplicates, time.perf_counter() - start, bands)


def _record(
    space: DesignSpace, kept: SampleBatch, j: int, cost: dict[str, int], index: int
) -> dict:
    cfg = kept.config(j)
    return make_record(
        space.name,
        cfg.to_dict(),
        cost["params"],
        cost["flops"],
        cost["acts"],
        space.record_resolution(cfg),
        index,
    )


def _si(x: float) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:g}{unit}"
    return f"{x:g}"


def _check_reachable(space: DesignSpace, bands: list[Band]) -> None:
    """Fail at once on a band that no config of the space can reach (spaces.bounds), before any
    drawing."""
    bounds = complexity_bounds(space)
    if not bounds:
        return
    for band in bands:
        low, high = bounds[band.metric]
        if (band.low is not None and band.low > high) or (
            band.high is not None and band.high < low
        ):
            raise SamplingError(
                f"no config of {space.name} has {band}: its {band.metric} lie within "
                f"{_si(low)}..{_si(high)} (at {space.reference_resolution} px; from its smallest "
                "and largest settings); move the band into that range"
            )


def _infeasible(space, n, found, tried, bands, lo_seen, hi_seen, exhausted: bool = False) -> str:
    covered = ", ".join(
        f"{m} {_si(lo_seen[m])}..{_si(hi_seen[m])}" for m in METRICS if math.isfinite(lo_seen[m])
    )
    wanted = "; ".join(str(b) for b in bands) or "no band"
    if exhausted:
        return (
            f"{space.name} holds only {found} distinct configs with {wanted} (no new one in the "
            f"last {space.stale_batches} draws, {tried:,} candidates; they covered {covered}); "
            f"ask for at most {found} or widen the band"
        )
    return (
        f"found only {found} of {n} distinct configs of {space.name} with {wanted} after {tried:,} "
        f"candidates (they covered {covered}); widen or move the band, ask for fewer configs, or "
        f"raise --max-candidates"
    )
