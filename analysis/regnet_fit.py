"""Fit RegNet parameters to a model's per-block widths [RegNet §3.3, REFERENCE section 2].

For depth d = number of blocks, search (w0, wa, wm) minimizing e_fit = mean_j |log(pred_j / obs_j)| where
pred is the quantized-linear rule of spaces.regnet.block_widths (q = 8). e_fit is piecewise constant in
wa and wm, so the search is derivative-free: a vectorized coarse grid, then a shrinking local grid around
the best few candidates (plus a data-driven start), stopping at an exact fit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from analysis.errors import AnalysisError
from spaces.regnet import RegNetParams, block_widths, stages_from_block_widths

if TYPE_CHECKING:
    import pandas as pd

Q = 8
_STAGE_COLUMN = re.compile(r"^(depth|width)_(\d+)$")


@dataclass(frozen=True)
class RegNetFit:
    """Best (w0, wa, wm) for a depth-d model, its e_fit, and the stages the fitted parameters generate
    (quantized widths before the compatibility step, which needs a group width: see `params`)."""

    d: int
    w0: int
    wa: float
    wm: float
    e_fit: float
    observed: tuple[float, ...]
    predicted: tuple[int, ...]

    @property
    def stage_widths(self) -> list[int]:
        return stages_from_block_widths(list(self.predicted))[0]

    @property
    def stage_depths(self) -> list[int]:
        return stages_from_block_widths(list(self.predicted))[1]

    def params(self, group_width: int = 8, bottleneck: int = 1, se_ratio: float | None = None) -> RegNetParams:
        """The fitted parameters as RegNetParams; `.to_anynet()` applies the compatibility step."""
        return RegNetParams(self.d, self.w0, self.wa, self.wm, group_width, bottleneck, se_ratio, Q)

    def to_dict(self) -> dict:
        return {"d": self.d, "w0": self.w0, "wa": self.wa, "wm": self.wm, "e_fit": self.e_fit,
                "stage_widths": self.stage_widths, "stage_depths": self.stage_depths,
                "observed": [float(x) for x in self.observed], "predicted": list(self.predicted)}


def expand_stages(widths: Sequence[float], depths: Sequence[int]) -> list[float]:
    """Per-block widths of stages: each stage width repeated depth times."""
    if len(widths) != len(depths):
        raise AnalysisError(f"{len(widths)} stage widths for {len(depths)} stage depths")
    if any(int(d) != d or d < 0 for d in depths):
        raise AnalysisError(f"stage depths must be non-negative integers, got {list(depths)}")
    return [float(w) for w, d in zip(widths, depths, strict=True) for _ in range(int(d))]


def e_fit(observed: Sequence[float], w0: np.ndarray, wa: np.ndarray, wm: np.ndarray) -> np.ndarray:
    """e_fit of each (w0, wa, wm) candidate (arrays of equal shape) for the observed per-block widths."""
    obs = np.asarray(observed, float)
    w0, wa, wm = (np.atleast_1d(np.asarray(x, float)) for x in (w0, wa, wm))
    pred = block_widths(np.full(len(w0), len(obs)), w0, wa, wm, Q)
    return np.abs(np.log(pred / obs)).mean(axis=1)


def fit_regnet(widths: Sequence[float], depths: Sequence[int] | None = None, rounds: int = 14,
               keep: int = 6) -> RegNetFit:
    """Fit (w0, wa, wm) to per-block `widths` (or to stage `widths` with stage `depths`).

    `rounds` local refinements of the `keep` best coarse candidates; each round searches a 5x9x9 grid
    (w0 ± 8, wa and wm on log scales) around every candidate and halves the step when it cannot improve.
    """
    obs = np.asarray(expand_stages(widths, depths) if depths is not None else widths, float)
    if obs.ndim != 1 or len(obs) == 0 or not np.isfinite(obs).all() or (obs <= 0).any():
        raise AnalysisError(f"widths must be a non-empty list of positive numbers, got {np.asarray(widths).tolist()}")
    w0, wa, wm = _coarse(obs, keep)
    best = e_fit(obs, w0, wa, wm)
    steps = np.full(len(w0), 1.0)                                     # log-scale half-width of the local grid
    for _ in range(rounds):
        if best.min() == 0:
            break
        w0, wa, wm, best, steps = _refine(obs, w0, wa, wm, best, steps)
    i = int(np.argmin(best))
    w0_, wa_, wm_ = int(w0[i]), *_tidy(obs, int(w0[i]), float(wa[i]), float(wm[i]), float(best[i]))
    pred = block_widths(len(obs), w0_, wa_, wm_, Q)
    return RegNetFit(len(obs), w0_, wa_, wm_, float(np.abs(np.log(pred / obs)).mean()), tuple(obs.tolist()),
                     tuple(int(x) for x in pred))


def _w0_candidates(obs: np.ndarray) -> np.ndarray:
    grid = np.geomspace(Q, max(obs.max(), 2 * Q), 8)
    near = obs[0] * np.array([0.8, 1.0, 1.25])               # the first block's width is w0 exactly
    return np.unique(np.maximum(Q, np.round(np.concatenate([grid, near]) / Q) * Q))


def _coarse(obs: np.ndarray, keep: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best `keep` points of a coarse (w0, wa, wm) grid, plus a start from the width trend."""
    d = len(obs)
    w0s, was = _w0_candidates(obs), np.geomspace(0.5, max(obs.max(), 16.0), 24)
    wms = np.geomspace(1.3, 4.0, 20)
    g0, ga, gm = (x.ravel() for x in np.meshgrid(w0s, was, wms, indexing="ij"))
    err = e_fit(obs, g0, ga, gm)
    top = np.argsort(err, kind="stable")[:keep]
    start = _trend_start(obs, d)
    return (np.append(g0[top], start[0]), np.append(ga[top], start[1]), np.append(gm[top], start[2]))


def _trend_start(obs: np.ndarray, d: int) -> tuple[float, float, float]:
    """w0 = first width, wa from the slope of a line through the widths, wm from the stage-width ratios."""
    w0 = max(Q, round(obs[0] / Q) * Q)
    wa = max(0.5, np.polyfit(np.arange(d), obs, 1)[0]) if d > 1 else 1.0
    stage = np.unique(np.round(obs / Q) * Q)
    wm = float(np.exp(np.mean(np.log(stage[1:] / stage[:-1])))) if len(stage) > 1 else 2.0
    return w0, wa, min(max(wm, 1.05), 8.0)


def _refine(obs: np.ndarray, w0: np.ndarray, wa: np.ndarray, wm: np.ndarray, best: np.ndarray,
            steps: np.ndarray) -> tuple[np.ndarray, ...]:
    """One round of local search around every candidate (all candidates in one vectorized evaluation)."""
    off = np.linspace(-1, 1, 9)
    d0, da, dm = (x.ravel() for x in np.meshgrid(np.arange(-2, 3) * Q, off, off, indexing="ij"))
    c0 = np.maximum(Q, w0[:, None] + d0[None, :])
    ca = wa[:, None] * np.exp(steps[:, None] * da[None, :])
    # wm varies on log(wm - 1) so steps stay meaningful near 1
    cm = 1 + (wm[:, None] - 1) * np.exp(steps[:, None] * 0.5 * dm[None, :])
    err = e_fit(obs, c0.ravel(), ca.ravel(), cm.ravel()).reshape(c0.shape)
    j = np.argmin(err, axis=1)
    rows = np.arange(len(w0))
    improved = err[rows, j] < best - 1e-15
    w0 = np.where(improved, c0[rows, j], w0)
    wa = np.where(improved, ca[rows, j], wa)
    wm = np.where(improved, cm[rows, j], wm)
    best = np.minimum(best, err[rows, j])
    steps = np.where(improved, steps, steps / 2)
    return w0, wa, wm, best, steps


def _tidy(obs: np.ndarray, w0: int, wa: float, wm: float, err: float) -> tuple[float, float]:
    """Round wa and wm to the fewest decimals (2..6) that keep the same e_fit, for readable output."""
    for digits in range(2, 7):
        a, m = round(wa, digits), round(wm, digits + 1)
        if m > 1 and e_fit(obs, w0, a, m)[0] <= err + 1e-12:
            return a, m
    return wa, wm


# --- populations -------------------------------------------------------------------------------------
def stage_columns(frame: pd.DataFrame) -> list[int]:
    """Stage numbers i with both depth_i and width_i columns, in order."""
    found = {int(m.group(2)) for c in frame.columns if (m := _STAGE_COLUMN.match(str(c)))}
    return sorted(i for i in found if f"depth_{i}" in frame.columns and f"width_{i}" in frame.columns)


def frame_block_widths(frame: pd.DataFrame) -> list[list[float]]:
    """Per-block widths of every row of a frame with depth_i / width_i columns (missing stages skipped)."""
    stages = stage_columns(frame)
    if not stages:
        raise AnalysisError("no per-stage depth_i / width_i columns to take block widths from")
    depths = frame[[f"depth_{i}" for i in stages]].to_numpy(float)
    widths = frame[[f"width_{i}" for i in stages]].to_numpy(float)
    out = []
    for ds, ws in zip(depths, widths, strict=True):
        ok = np.isfinite(ds) & np.isfinite(ws) & (ds > 0)
        out.append(expand_stages(ws[ok], ds[ok].astype(int)))
    return out


@dataclass(frozen=True)
class Trend:
    """Least-squares line u_j = w0 + wa·j through the per-block widths of the top-k models."""

    w0: float
    wa: float
    k: int
    blocks: int
    r2: float

    def to_dict(self) -> dict:
        return {"w0": self.w0, "wa": self.wa, "k": self.k, "blocks": self.blocks, "r2": self.r2}


def population_trend(frame: pd.DataFrame, top_k: int = 20) -> Trend:
    """Fit u_j = w0 + wa·j to the pooled (j, w_j) of the `top_k` lowest-error models of `frame`
    (the RegNet paper finds w_j ≈ 48·(j+1) for AnyNetX_E's good models)."""
    if "error" not in frame.columns:
        raise AnalysisError("population_trend needs an 'error' column")
    top = frame[np.isfinite(frame["error"].to_numpy(float))].nsmallest(top_k, "error")
    if len(top) == 0:
        raise AnalysisError("no models with an error to take the top-k of")
    blocks = frame_block_widths(top)
    j = np.concatenate([np.arange(len(b)) for b in blocks])
    w = np.concatenate([np.asarray(b, float) for b in blocks])
    if len(np.unique(j)) < 2:
        raise AnalysisError("the top models have a single block each; a width trend needs more")
    wa, w0 = np.polyfit(j, w, 1)
    resid = w - (w0 + wa * j)
    r2 = 1 - resid.var() / w.var() if w.var() > 0 else 1.0
    return Trend(float(w0), float(wa), len(top), len(j), float(r2))


def add_efit_column(frame: pd.DataFrame, rounds: int = 8) -> pd.DataFrame:
    """A copy of `frame` with e_fit (and fitted fit_w0, fit_wa, fit_wm) for every model, e.g. to plot
    error against e_fit. Fewer refinement `rounds` than fit_regnet's default keep it quick for hundreds."""
    fits = [fit_regnet(b, rounds=rounds) if b else None for b in frame_block_widths(frame)]
    out = frame.copy()
    for key in ("e_fit", "w0", "wa", "wm"):
        name = key if key == "e_fit" else f"fit_{key}"
        out[name] = [getattr(f, key) if f else np.nan for f in fits]
    return out
