"""Error EDFs and NDS complexity-normalized weights (REFERENCE section 3).

F(e) = Σ_i w_i 1[e_i < e] with w_i = 1/n (plain) or the normalized weights: equal-width complexity
bins over a range, each model weighted 1 / (models in its bin) / (number of bins), so every bin
holds the same mass and spaces with different complexity distributions become comparable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from analysis.errors import AnalysisError


def edf(errors: np.ndarray, points: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """F(e) = Σ w_i 1[e_i < e] at each point (strict: a model with error exactly e is not
    counted)."""
    e = finite_values(errors, "errors")
    w = np.full(len(e), 1.0 / len(e)) if weights is None else checked_weights(weights, e)
    w = w / w.sum()  # any weights: F rises from 0 to 1
    order = np.argsort(e, kind="stable")
    cum = np.concatenate([[0.0], np.cumsum(w[order])])
    return cum[np.searchsorted(e[order], np.asarray(points, float), side="left")]


def error_grid(*errors: np.ndarray, num: int = 400) -> np.ndarray:
    """Evaluation points spanning all the given errors, with one step past each end so curves reach
    0 and 1."""
    pooled = np.concatenate([finite_values(e, "errors") for e in errors])
    lo, hi = pooled.min(), pooled.max()
    pad = (hi - lo) * 0.02 or 1e-6
    return np.linspace(lo - pad, hi + pad, num)


def weighted_quantile(values: np.ndarray, q: float, weights: np.ndarray | None = None) -> float:
    """Quantile of the weighted sample: the midpoint of the smallest x with cumulative weight >= q
    and the smallest with cumulative weight > q (numpy's averaged_inverted_cdf; the usual median
    when unweighted)."""
    x = finite_values(values, "values")
    w = np.full(len(x), 1.0 / len(x)) if weights is None else checked_weights(weights, x)
    order = np.argsort(x, kind="stable")
    return float(quantile_sorted(x[order], (w[order] / w.sum())[None, :], q)[0])


def quantile_sorted(sorted_values: np.ndarray, weights: np.ndarray, q: float) -> np.ndarray:
    """Row-wise weighted quantile (as weighted_quantile) of one sorted sample under many weight
    rows."""
    cum = np.cumsum(weights, axis=1)
    last = len(sorted_values) - 1
    lo = np.minimum(np.argmax(cum >= q - 1e-12, axis=1), last)
    hi = np.where((cum > q + 1e-12).any(axis=1), np.argmax(cum > q + 1e-12, axis=1), lo)
    return (sorted_values[lo] + sorted_values[hi]) / 2


@dataclass(frozen=True)
class Bins:
    """Equal-width bins over [low, high] (in log space when `log`); the last bin is closed on the
    right."""

    low: float
    high: float
    count: int
    log: bool = False

    def __post_init__(self) -> None:
        if self.count < 1:
            raise AnalysisError(f"the number of bins must be at least 1, got {self.count}")
        if self.log and self.low <= 0:
            raise AnalysisError(f"log bins need a positive range, got low={self.low:g}")
        if not self.low < self.high and self.count > 1:
            raise AnalysisError(
                f"complexity range [{self.low:g}, {self.high:g}] has no width for {self.count} "
                "bins; use 1 bin or no normalization"
            )

    @property
    def edges(self) -> np.ndarray:
        if self.log:
            return np.exp(np.linspace(np.log(self.low), np.log(self.high), self.count + 1))
        return np.linspace(self.low, self.high, self.count + 1)

    def inside(self, values: np.ndarray) -> np.ndarray:
        v = np.asarray(values, float)
        return (v >= self.low) & (v <= self.high)

    def index(self, values: np.ndarray) -> np.ndarray:
        """Bin of each value (0 .. count-1); -1 outside [low, high]."""
        v = np.asarray(values, float)
        if self.count == 1:
            return np.where(self.inside(v), 0, -1)
        t = np.log(v.clip(min=1e-300)) if self.log else v
        lo, hi = (np.log(self.low), np.log(self.high)) if self.log else (self.low, self.high)
        idx = np.minimum(np.floor((t - lo) / (hi - lo) * self.count).astype(int), self.count - 1)
        return np.where(self.inside(v), idx, -1)

    def describe(self, i: int) -> str:
        e = self.edges
        close = "]" if i == self.count - 1 else ")"
        return f"bin {i + 1} [{e[i]:.4g}, {e[i + 1]:.4g}{close}"


def complexity_weights(
    values: np.ndarray, bins: Bins, label: str = "models", metric: str = "complexity"
) -> np.ndarray:
    """Normalized weights of models whose complexity lies inside `bins` (all must); an empty bin
    raises an AnalysisError naming the bins and what to do."""
    v = finite_values(values, metric)
    idx = bins.index(v)
    if (idx < 0).any():
        raise AnalysisError(
            f"{(idx < 0).sum()} of {len(v)} {label} lie outside the {metric} range "
            f"[{bins.low:.4g}, {bins.high:.4g}]; leave them out first (see normalize())"
        )
    counts = np.bincount(idx, minlength=bins.count)
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        listed = ", ".join(bins.describe(i) for i in empty[:5]) + (
            ", ..." if len(empty) > 5 else ""
        )
        raise AnalysisError(
            f"{len(empty)} of {bins.count} {'log ' if bins.log else ''}{metric} bins are empty "
            f"for {label} (n={len(v)} in range): {listed}; use fewer bins or a narrower "
            f"{metric} range"
        )
    return 1.0 / counts[idx] / bins.count


@dataclass(frozen=True)
class Normalization:
    """Per-space weights over a common binning; `inside[label]` marks the models kept, `left_out`
    counts the rest."""

    bins: Bins
    metric: str
    inside: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]
    left_out: dict[str, int]


def overlap_range(
    values: Mapping[str, np.ndarray], metric: str = "complexity"
) -> tuple[float, float]:
    """[max of minima, min of maxima]: the complexity range every space covers."""
    lows = {k: float(np.min(finite_values(v, metric))) for k, v in values.items()}
    highs = {k: float(np.max(finite_values(v, metric))) for k, v in values.items()}
    lo, hi = max(lows.values()), min(highs.values())
    if lo > hi:
        spans = "; ".join(f"{k}: [{lows[k]:.4g}, {highs[k]:.4g}]" for k in values)
        raise AnalysisError(
            f"the {metric} ranges of the spaces do not overlap ({spans}); compare spaces with "
            f"overlapping {metric} or do not normalize"
        )
    return lo, hi


def auto_bins(n_min: int) -> int:
    """About 25 models per bin, 5 to 40 bins (REFERENCE: 40 for large samples, 5-10 for small ones),
    and at least 2 models per bin on average for tiny samples."""
    return int(max(1, min(40, max(5, n_min // 25), n_min // 2)))


def normalize_auto(
    values: Mapping[str, np.ndarray],
    bins: int | None = None,
    value_range: tuple[float, float] | None = None,
    log: bool = False,
    metric: str = "complexity",
) -> Normalization:
    """`normalize` with the default bin count, `auto_bins` of the smallest space in the range (the
    overlap of the spaces' ranges unless `value_range` is given), when `bins` is None."""
    if bins is None:
        arrays = {k: finite_values(v, metric) for k, v in values.items()}
        lo, hi = value_range or overlap_range(arrays, metric)
        bins = auto_bins(min(int(((v >= lo) & (v <= hi)).sum()) for v in arrays.values()))
    return normalize(values, bins, value_range, log, metric)


def normalize(
    values: Mapping[str, np.ndarray],
    bins: int = 10,
    value_range: tuple[float, float] | None = None,
    log: bool = False,
    metric: str = "complexity",
) -> Normalization:
    """NDS weights for each space over common bins; the default range is the overlap of the spaces'
    ranges.

    Models outside the range are left out (counted in `left_out`); a space with fewer models in
    range than bins, or with an empty bin, raises an AnalysisError.
    """
    arrays = {k: finite_values(v, metric) for k, v in values.items()}
    lo, hi = value_range if value_range is not None else overlap_range(arrays, metric)
    b = Bins(float(lo), float(hi), int(bins), log)
    inside = {k: b.inside(v) for k, v in arrays.items()}
    for k, m in inside.items():
        if m.sum() < b.count:
            raise AnalysisError(
                f"{k} has {m.sum()} models in the {metric} range [{lo:.4g}, {hi:.4g}] "
                f"(of {len(m)}), fewer than the {b.count} bins; use fewer bins or more models"
            )
    weights = {k: complexity_weights(v[inside[k]], b, k, metric) for k, v in arrays.items()}
    left_out = {k: int((~m).sum()) for k, m in inside.items()}
    return Normalization(b, metric, inside, weights, left_out)


def finite_values(values: np.ndarray, what: str) -> np.ndarray:
    """`values` as a flat float array; AnalysisError naming `what` when it is empty or not all
    finite."""
    v = np.asarray(values, dtype=float).ravel()
    if len(v) == 0:
        raise AnalysisError(f"no {what} given")
    if not np.isfinite(v).all():
        raise AnalysisError(
            f"{(~np.isfinite(v)).sum()} of {len(v)} {what} are missing or not finite"
        )
    return v


def checked_weights(weights: np.ndarray, e: np.ndarray) -> np.ndarray:
    """`weights` as a flat float array, one per error of `e`, finite, non-negative and not all
    zero."""
    w = np.asarray(weights, dtype=float).ravel()
    if w.shape != e.shape:
        raise AnalysisError(f"{len(w)} weights for {len(e)} errors")
    if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise AnalysisError("weights must be finite, non-negative and not all zero")
    return w
