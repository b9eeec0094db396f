"""How much of a sweep's spread of errors is the proxy's run-to-run noise.

A proxy run is one short training of one model at one seed (the seed draws the initialisation, the
batch order, the augmentation and, in this project, the subset of training images); trained again at
another seed, or with another thread count (the order of floating-point sums changes, and 39 SGD
steps amplify it), the same model lands elsewhere. Given models run twice, and the errors of a whole
sweep (one run a model): one run's noise standard deviation (the standard deviation of the paired
differences over sqrt(2)), the Spearman correlation between the two runs, and the reliability of one
run, 1 - noise variance / the sweep's variance: the share of the spread that belongs to the models,
not to the run. A reliability near 0 means rankings within that sweep are mostly noise. The mean of
the paired differences is reported apart: a second seed can move every model alike (another subset
of images), which shifts errors without reordering them, so it is left out of the noise.

Intervals are percentile bootstraps that resample the pairs and the sweep independently, although
the first runs are usually part of the sweep (a mild approximation). With ten or so pairs a
percentile interval of a standard deviation is somewhat too narrow: read it as the least of the
uncertainty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis.errors import AnalysisError
from analysis.stats import Interval, finite_pairs


@dataclass(frozen=True)
class Repeatability:
    """Run-to-run agreement of `n` models trained twice, against a sweep of `sweep_n` models."""

    n: int
    spearman: Interval  # between the two runs of the same models
    noise_sd: Interval  # one run's noise: sd of the paired differences / sqrt(2)
    mean_shift: Interval  # mean of (second - first): a move of every model alike
    sweep_sd: Interval  # the sweep's spread of errors, one run a model
    reliability: Interval  # 1 - noise_sd**2 / sweep_sd**2
    sweep_n: int

    def to_dict(self) -> dict:
        out: dict = {"n": self.n, "sweep_n": self.sweep_n}
        for name in ("spearman", "noise_sd", "mean_shift", "sweep_sd", "reliability"):
            out[name] = getattr(self, name).to_dict()
        return out


def _statistics(first: np.ndarray, second: np.ndarray, sweep: np.ndarray) -> np.ndarray:
    diff = second - first
    noise = diff.std(ddof=1) / np.sqrt(2)
    spread = sweep.std(ddof=1)
    rho = stats.spearmanr(first, second).statistic if np.ptp(first) and np.ptp(second) else np.nan
    return np.array([rho, noise, diff.mean(), spread, 1 - noise**2 / spread**2])


def repeatability(
    first: Sequence[float],
    second: Sequence[float],
    sweep: Sequence[float],
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> Repeatability:
    """`first[i]` and `second[i]`: two runs of model i; `sweep`: the errors of the whole sweep those
    models come from (one run each). Percentile bootstrap intervals resample the pairs and the
    sweep independently."""
    a, b, _ = finite_pairs(first, second, "first and second", "models run twice")
    s = np.asarray(sweep, dtype=float)
    s = s[np.isfinite(s)]
    if len(s) < 4 or np.ptp(s) == 0:
        raise AnalysisError("the sweep needs at least 4 errors that are not all equal")
    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, len(a), size=(n_boot, len(a)))
    models = rng.integers(0, len(s), size=(n_boot, len(s)))
    draws = np.array([_statistics(a[p], b[p], s[m]) for p, m in zip(pairs, models, strict=True)])
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    point = _statistics(a, b, s)
    bounds = [np.nanpercentile(draws[:, k], q) for k in range(draws.shape[1])]
    rho, noise, shift, spread, reliability = (
        Interval(float(point[k]), float(lo), float(hi)) for k, (lo, hi) in enumerate(bounds)
    )
    return Repeatability(len(a), rho, noise, shift, spread, reliability, len(s))
