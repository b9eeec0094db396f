"""Uncertainty and comparison statistics for error distributions (REFERENCE section 3).

Every resampling function takes a `seed` (numpy Generator) and is vectorized: resamples are count
matrices C (resamples x models), and weights, EDFs and statistics are matrix products on them.
Normalized variants take each model's complexity and the common `Bins`; weights are recomputed for
every resample, and resamples that leave a bin empty (weights undefined) are rejected and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from analysis.edf import (
    Bins,
    checked_weights,
    complexity_weights,
    edf,
    finite_values,
    quantile_sorted,
    weighted_quantile,
)
from analysis.errors import AnalysisError

MIN_ACCEPTED = 0.5  # below this share of usable resamples the bins are too fine for a bootstrap


@dataclass(frozen=True)
class Interval:
    """A point estimate and its bootstrap interval."""

    estimate: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class BootstrapEDF:
    """EDF at `points` with a pointwise percentile band, and intervals for min, mean and median
    error."""

    points: np.ndarray
    edf: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    intervals: dict[str, Interval]
    n: int
    n_boot: int
    rejected: int = 0
    level: float = 0.95


@dataclass(frozen=True)
class KSResult:
    """Kolmogorov-Smirnov distance and its permutation p-value."""

    D: float
    p_value: float
    n_perm: int
    rejected: int = 0
    normalized: bool = False


@dataclass(frozen=True)
class BestRange:
    """Empirical bootstrap of the best value of a parameter [RegNet footnote 4]."""

    median: float
    low: float
    high: float
    n: int
    draws: int
    n_boot: int
    values: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))

    def to_dict(self) -> dict[str, float | int]:
        return {
            "median": self.median,
            "low": self.low,
            "high": self.high,
            "n": self.n,
            "draws": self.draws,
            "n_boot": self.n_boot,
        }


# --- resampled weights ----------------------------------------------------------------------------
def finite_pairs(
    x: Sequence[float], y: Sequence[float], names: str, counted: str, minimum: int = 4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two paired lists as float arrays, kept where both values are finite, and that mask.
    AnalysisError when they are not two lists of one length (`names`: "truth and proxy") or fewer
    than `minimum` pairs remain (`counted`: "models with both values")."""
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise AnalysisError(
            f"{names} must be two lists of the same length, got {a.shape} and {b.shape}"
        )
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < minimum:
        raise AnalysisError(f"need at least {minimum} {counted}, got {int(ok.sum())}")
    return a[ok], b[ok], ok


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """(B, n) multiplicities of each model in each resample of indices `idx` (B, k)."""
    rows = np.repeat(np.arange(len(idx)), idx.shape[1])
    return (
        np.bincount(rows * n + idx.ravel(), minlength=len(idx) * n)
        .reshape(len(idx), n)
        .astype(float)
    )


def _weights(
    counts: np.ndarray, bin_index: np.ndarray | None, nbins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-resample weights (rows sum to 1) and the mask of resamples with no empty bin."""
    if bin_index is None:
        return counts / counts.sum(axis=1, keepdims=True), np.ones(len(counts), bool)
    per_bin = counts @ np.eye(nbins)[bin_index]  # (B, bins) models per bin
    ok = (per_bin > 0).all(axis=1)
    safe = np.where(per_bin > 0, per_bin, 1.0)
    return counts / safe[:, bin_index] / nbins, ok


def _bin_index(complexity: np.ndarray | None, bins: Bins | None, n: int) -> np.ndarray | None:
    if bins is None:
        return None
    if complexity is None:
        raise AnalysisError(
            "normalized statistics need each model's complexity along with the bins"
        )
    idx = bins.index(finite_values(complexity, "complexity"))
    if len(idx) != n:
        raise AnalysisError(f"{len(idx)} complexity values for {n} errors")
    if (idx < 0).any():
        raise AnalysisError(
            f"{(idx < 0).sum()} models lie outside the bins' range; leave them out first"
        )
    return idx


def _check_accepted(ok: np.ndarray, what: str) -> None:
    if ok.mean() < MIN_ACCEPTED:
        raise AnalysisError(
            f"{(~ok).sum()} of {len(ok)} {what} left a complexity bin empty, so the normalized "
            "weights are undefined too often; use fewer bins or a narrower range"
        )


# --- bootstrap bands and intervals ----------------------------------------------------------------
def bootstrap_edf(
    errors: np.ndarray,
    points: np.ndarray,
    complexity: np.ndarray | None = None,
    bins: Bins | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> BootstrapEDF:
    """Resample models with replacement `n_boot` times: a pointwise band for the (normalized) EDF
    and percentile intervals for min, mean and median error (weighted when `bins` is given)."""
    e = finite_values(errors, "errors")
    n, pts = len(e), np.asarray(points, float)
    bidx = _bin_index(complexity, bins, n)
    nbins = bins.count if bins else 1
    # the sample's own weights first: an empty bin there raises the message that names it (bins
    # without the complexity raised in _bin_index)
    base_w = (
        np.full(n, 1.0 / n)
        if bins is None or complexity is None
        else complexity_weights(complexity, bins, "the sample")
    )
    rng = np.random.default_rng(seed)
    counts = _counts(rng.integers(0, n, size=(n_boot, n)), n)
    w, ok = _weights(counts, bidx, nbins)
    _check_accepted(ok, "bootstrap resamples")
    w, counts = w[ok], counts[ok]
    curves = w @ (e[:, None] < pts[None, :])
    a = (1 - level) / 2
    lower, upper = np.quantile(curves, [a, 1 - a], axis=0)

    order = np.argsort(e, kind="stable")
    stats = {
        "min": np.where(counts > 0, e, np.inf).min(axis=1),
        "mean": w @ e,
        "median": quantile_sorted(e[order], w[:, order], 0.5),
    }
    point = {
        "min": float(e.min()),
        "mean": float(base_w @ e),
        "median": weighted_quantile(e, 0.5, base_w),
    }
    intervals = {
        k: Interval(point[k], *map(float, np.quantile(v, [a, 1 - a]))) for k, v in stats.items()
    }
    return BootstrapEDF(
        pts, edf(e, pts, base_w), lower, upper, intervals, n, int(ok.sum()), int((~ok).sum()), level
    )


def error_intervals(
    errors: np.ndarray,
    complexity: np.ndarray | None = None,
    bins: Bins | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """Bootstrap intervals for the min, mean and median error (weighted means and medians with
    `bins`)."""
    return bootstrap_edf(errors, np.empty(0), complexity, bins, n_boot, level, seed).intervals


# --- Kolmogorov-Smirnov ---------------------------------------------------------------------------
def ks_distance(
    a: np.ndarray,
    b: np.ndarray,
    weights_a: np.ndarray | None = None,
    weights_b: np.ndarray | None = None,
) -> float:
    """D = sup_e |F_a(e) - F_b(e)|; the sup is attained just above a pooled data point, where the
    strict and non-strict EDFs agree, so this equals scipy.stats.ks_2samp's statistic when
    unweighted."""
    a, b = finite_values(a, "errors"), finite_values(b, "errors")
    pts = np.unique(np.concatenate([a, b]))
    fa = edf(a, np.nextafter(pts, np.inf), weights_a)
    fb = edf(b, np.nextafter(pts, np.inf), weights_b)
    return float(np.abs(fa - fb).max())


def ks_test(
    a: np.ndarray,
    b: np.ndarray,
    complexity_a: np.ndarray | None = None,
    complexity_b: np.ndarray | None = None,
    bins: Bins | None = None,
    n_perm: int = 1000,
    seed: int = 0,
) -> KSResult:
    """KS distance between two (normalized) EDFs and a permutation p-value: the pooled models (with
    their complexity) are split at random into groups of the original sizes and weights are
    recomputed."""
    a, b = finite_values(a, "errors"), finite_values(b, "errors")
    na, n = len(a), len(a) + len(b)
    pooled = np.concatenate([a, b])
    bidx = None
    if bins is not None:
        if complexity_a is None or complexity_b is None:
            raise AnalysisError("a normalized KS test needs the complexity of both samples")
        bidx = _bin_index(
            np.concatenate(
                [
                    finite_values(complexity_a, "complexity"),
                    finite_values(complexity_b, "complexity"),
                ]
            ),
            bins,
            n,
        )
    nbins = bins.count if bins else 1
    observed = np.zeros((1, n))
    observed[0, :na] = 1
    rng = np.random.default_rng(seed)
    labels = np.argsort(rng.random((n_perm, n)), axis=1) < na  # each row: a random split na / nb
    d_obs, ok_obs = _split_distances(pooled, observed, bidx, nbins)
    # only bins leave a bin empty, and with bins both complexities were checked above
    if not ok_obs[0] and bins is not None and complexity_a is not None and complexity_b is not None:
        # raise the message that names the empty bins
        complexity_weights(complexity_a, bins, "sample a")
        complexity_weights(complexity_b, bins, "sample b")
    d_perm, ok = _split_distances(pooled, labels.astype(float), bidx, nbins)
    _check_accepted(ok, "permutations")
    d_perm = d_perm[ok]
    p = (1 + np.count_nonzero(d_perm >= d_obs[0] - 1e-12)) / (1 + len(d_perm))
    return KSResult(float(d_obs[0]), float(p), len(d_perm), int((~ok).sum()), bins is not None)


def _split_distances(
    pooled: np.ndarray, in_a: np.ndarray, bidx: np.ndarray | None, nbins: int
) -> tuple[np.ndarray, np.ndarray]:
    """KS distance for each row of the 0/1 membership matrix `in_a` (rows: splits of the pooled
    models)."""
    wa, ok_a = _weights(in_a, bidx, nbins)
    wb, ok_b = _weights(1 - in_a, bidx, nbins)
    order = np.argsort(pooled, kind="stable")
    s = pooled[order]
    # last model of each run of equal errors
    ends = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    diff = np.cumsum((wa - wb)[:, order], axis=1)[:, ends]
    return np.abs(diff).max(axis=1), ok_a & ok_b


# --- best parameter value -------------------------------------------------------------------------
def best_parameter_bootstrap(
    x: np.ndarray,
    errors: np.ndarray,
    frac: float = 0.25,
    n_boot: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
) -> BestRange:
    """Draw `frac` of the (x, error) pairs with replacement, keep the x of the lowest error; repeat
    `n_boot` times. Returns the median (most likely best value) and the `level` interval of x.
    Pairs with a missing x or error are ignored."""
    x, e = np.asarray(x, float).ravel(), np.asarray(errors, float).ravel()
    if x.shape != e.shape:
        raise AnalysisError(f"{len(x)} parameter values for {len(e)} errors")
    keep = np.isfinite(x) & np.isfinite(e)
    x, e = x[keep], e[keep]
    if len(x) == 0:
        raise AnalysisError("no models with both a parameter value and an error")
    n, draws = len(x), max(1, round(frac * len(x)))
    rng = np.random.default_rng(seed)
    best = np.empty(n_boot)
    chunk = max(1, 2_000_000 // draws)  # bounds memory for large samples
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), draws))
        best[start : start + len(idx)] = x[idx[np.arange(len(idx)), np.argmin(e[idx], axis=1)]]
    a = (1 - level) / 2
    # inverted_cdf: ends and median are values the parameter actually took
    # (matters for integer params)
    lo, med, hi = np.quantile(best, [a, 0.5, 1 - a], method="inverted_cdf")
    return BestRange(float(med), float(lo), float(hi), n, draws, n_boot, best)


# --- random search --------------------------------------------------------------------------------
def default_draws(n: int) -> np.ndarray:
    """m = 1, 2, 4, ... up to n, with n itself last."""
    ms = 2 ** np.arange(int(np.log2(n)) + 1) if n >= 1 else np.empty(0, int)
    return np.unique(np.append(ms, n))


def random_search_curve(
    errors: np.ndarray,
    draws: np.ndarray | None = None,
    replace: bool = False,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact expected minimum error of m random models from the sample, for each m in `draws`.

    With sorted errors e_(1) <= ... <= e_(n), E[min] = Σ_k e_(k) (S_k - S_{k+1}) where
    S_k = P(min >= e_(k)): C(n-k+1, m) / C(n, m) for distinct models (replace=False, m <= n), or
    (tail weight from k)^m for independent draws (replace=True, which also accepts weights, e.g.
    the normalized ones).
    """
    e = finite_values(errors, "errors")
    n = len(e)
    ms = default_draws(n) if draws is None else np.asarray(draws, int).ravel()
    if (ms < 1).any() or (not replace and (ms > n).any()):
        raise AnalysisError(
            f"draws must be between 1 and n={n} without replacement, got {ms.tolist()}"
        )
    if weights is not None and not replace:
        raise AnalysisError("weighted random search draws with replacement; pass replace=True")
    order = np.argsort(e, kind="stable")
    s = e[order]
    k = np.arange(1, n + 2)[None, :]  # k = 1 .. n+1 (S_{n+1} = 0)
    m = ms[:, None]
    if replace:
        w = (
            np.full(n, 1.0 / n)
            if weights is None
            else checked_weights(weights, e)[order] / np.sum(weights)
        )
        tail = np.append(np.cumsum(w[::-1])[::-1], 0.0).clip(0, 1)
        surv = tail[None, :] ** m
    else:
        from scipy.special import gammaln

        avail = n - k + 1  # models not below e_(k)
        log_ratio = (
            gammaln(avail + 1)
            - gammaln(np.maximum(avail - m, 0) + 1)
            - gammaln(n + 1)
            + gammaln(n - m + 1)
        )
        surv = np.where(avail >= m, np.exp(log_ratio), 0.0)
    return ms, (surv[:, :-1] - surv[:, 1:]) @ s
