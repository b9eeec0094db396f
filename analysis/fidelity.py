"""How well a cheap proxy ranks models the way real training does.

Given, for the same models, a ground-truth error (training close to convergence) and a proxy value
(a short training run's error, or a training-free score oriented so that lower predicts better):
Spearman's rho and Kendall's tau with percentile bootstrap intervals over models, the overlap of the
proxy's best quarter with the ground truth's best quarter, and whether the proxy orders the design
spaces' mean ground-truth errors correctly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analysis.errors import AnalysisError
from analysis.stats import Interval, finite_pairs

KEY = ["space", "index"]  # a model of a run file: its space and its position in the space's sample


def read_runs(path: str | Path) -> pd.DataFrame:
    """A run file of bench/ground_truth.py (one JSON object a finished run: space, index, seed,
    error, failed, schedule, ...) as a DataFrame."""
    text = Path(path).read_text()
    return pd.DataFrame([json.loads(line) for line in text.splitlines() if line.strip()])


def mean_over_seeds(runs: pd.DataFrame, seeds: range) -> pd.DataFrame:
    """Per model (space, index) that has a run at every one of `seeds`: the mean error over them and
    the summed seconds."""
    part = runs[runs.seed.isin(list(seeds))]
    grouped = part.groupby(KEY).agg(
        error=("error", "mean"), seconds=("seconds", "sum"), runs=("seed", "nunique")
    )
    return grouped[grouped.runs == len(seeds)].sort_index()


@dataclass(frozen=True)
class Fidelity:
    """Rank agreement of one proxy with the ground truth on `n` models."""

    n: int
    spearman: Interval
    kendall: Interval
    top_overlap: float  # |proxy's best quarter ∩ truth's best quarter| / quarter size
    # proxy orders the spaces' mean truths as the truth does (None: one space)
    space_order: bool | None
    space_means: dict[str, float]

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "spearman": self.spearman.to_dict(),
            "kendall": self.kendall.to_dict(),
            "top_overlap": self.top_overlap,
            "space_order": self.space_order,
            "space_means": self.space_means,
        }


def _rho(a: np.ndarray, b: np.ndarray) -> float:
    return float(stats.spearmanr(a, b).statistic)


def _tau(a: np.ndarray, b: np.ndarray) -> float:
    return float(stats.kendalltau(a, b).statistic)


def top_overlap(truth: np.ndarray, proxy: np.ndarray, frac: float = 0.25) -> float:
    """Share of the truth's best `frac` (lowest values) that are also among the proxy's best
    `frac`."""
    k = max(1, round(frac * len(truth)))
    best_truth = set(np.argsort(truth, kind="stable")[:k].tolist())
    best_proxy = set(np.argsort(proxy, kind="stable")[:k].tolist())
    return len(best_truth & best_proxy) / k


def space_order(
    truth: np.ndarray, proxy: np.ndarray, groups: Sequence[str]
) -> tuple[bool | None, dict]:
    """Whether ranking the groups by their mean proxy value gives the order of their mean truths."""
    labels = np.asarray(groups)
    names = sorted(set(labels.tolist()))
    means = {g: float(truth[labels == g].mean()) for g in names}
    if len(names) < 2:
        return None, means
    by_truth = sorted(names, key=lambda g: means[g])
    by_proxy = sorted(names, key=lambda g: float(proxy[labels == g].mean()))
    return by_truth == by_proxy, means


def fidelity(
    truth: Sequence[float],
    proxy: Sequence[float],
    groups: Sequence[str] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> Fidelity:
    """Spearman and Kendall between `truth` and `proxy` (lower = better for both) with bootstrap
    intervals over models, the best-quarter overlap and the group order."""
    t, p, ok = finite_pairs(truth, proxy, "truth and proxy", "models with both values")
    if np.ptp(t) == 0 or np.ptp(p) == 0:
        raise AnalysisError("a constant truth or proxy has no ranking to compare")
    g = np.asarray(groups)[ok] if groups is not None else np.array(["all"] * len(t))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(t), size=(n_boot, len(t)))
    rhos, taus = [], []
    for row in idx:
        if np.ptp(t[row]) == 0 or np.ptp(p[row]) == 0:
            continue  # a resample of one repeated model has no ranking
        rhos.append(_rho(t[row], p[row]))
        taus.append(_tau(t[row], p[row]))
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    rho_lo, rho_hi = np.percentile(rhos, q)
    tau_lo, tau_hi = np.percentile(taus, q)
    order, means = space_order(t, p, g.tolist())
    return Fidelity(
        len(t),
        Interval(_rho(t, p), float(rho_lo), float(rho_hi)),
        Interval(_tau(t, p), float(tau_lo), float(tau_hi)),
        top_overlap(t, p),
        order,
        means,
    )
