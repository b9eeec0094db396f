"""Fit RegNet parameters to a model's per-block widths [RegNet §3.3, REFERENCE section 2].

For depth d = number of blocks, find (w0, wa, wm) minimizing e_fit = mean_j |log(pred_j / obs_j)|,
where pred is the quantized-linear rule of spaces.regnet.block_widths (q = 8), over w0 a positive
multiple of 8, wa >= 0 and wm >= wm_min (default 1.5, the lower end of the paper's RegNet range; no
upper limit).

The search is exact: it returns the global optimum of e_fit over that domain (up to ties in floating
point), not the best point of a grid. e_fit is piecewise constant. Block j enters level k+1 (width
round8(w0·wm^(k+1))) at the breakpoint wa = w0·(wm^(k+½) - 1) / j, so for fixed (w0, wm) a sweep
over the sorted breakpoints gives the best wa exactly. Over log(wm) a branch and bound splits
intervals until they are ruled out by a lower bound (at every wa, each block's level lies between
its levels at the two ends, each level's width between its widths at the ends) or hold no change of
level widths and no crossing of breakpoints (then one sweep is exact). w0 runs over every multiple
of 8 that a lower bound leaves open. 10-100 ms for a 4-stage network.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from analysis.errors import AnalysisError
from spaces.regnet import RegNetParams, block_widths, stages_from_block_widths

if TYPE_CHECKING:
    import pandas as pd

Q = 8
WM_MIN = 1.5  # the RegNet paper's range of wm is 1.5 to 3; the fit allows any wm >= wm_min
_BIG = 1e6  # cost of a block at a level wider than the cap (such a fit cannot beat the incumbent)
# an interval is kept only if its bound is below the incumbent's e_fit by more than this
_TOL = 1e-12
_PARTS = 16  # first split of each w0's range of log(wm)
_CELLS = 1_000_000  # intervals bounded at once: about this many (interval, block, level) cells
_STAGE_COLUMN = re.compile(r"^(depth|width)_(\d+)$")


@dataclass(frozen=True)
class RegNetFit:
    """Best (w0, wa, wm) for a depth-d model, its e_fit, and the stages the fitted parameters
    generate (quantized widths before the compatibility step, which needs a group width: see
    `params`)."""

    d: int
    w0: int
    wa: float
    wm: float
    e_fit: float
    observed: tuple[float, ...]
    predicted: tuple[int, ...]
    wm_min: float = WM_MIN

    @property
    def stage_widths(self) -> list[int]:
        return stages_from_block_widths(list(self.predicted))[0]

    @property
    def stage_depths(self) -> list[int]:
        return stages_from_block_widths(list(self.predicted))[1]

    def params(
        self, group_width: int = 8, bottleneck: int = 1, se_ratio: float | None = None
    ) -> RegNetParams:
        """The fitted parameters as RegNetParams; `.to_anynet()` applies the compatibility step."""
        return RegNetParams(self.d, self.w0, self.wa, self.wm, group_width, bottleneck, se_ratio, Q)

    def to_dict(self) -> dict:
        return {
            "d": self.d,
            "w0": self.w0,
            "wa": self.wa,
            "wm": self.wm,
            "e_fit": self.e_fit,
            "stage_widths": self.stage_widths,
            "stage_depths": self.stage_depths,
            "observed": [float(x) for x in self.observed],
            "predicted": list(self.predicted),
            "wm_min": self.wm_min,
            "method": "exact (branch and bound)",
        }


def expand_stages(widths: Sequence[float], depths: Sequence[int]) -> list[float]:
    """Per-block widths of stages: each stage width repeated depth times."""
    if len(widths) != len(depths):
        raise AnalysisError(f"{len(widths)} stage widths for {len(depths)} stage depths")
    if any(int(d) != d or d < 0 for d in depths):
        raise AnalysisError(f"stage depths must be non-negative integers, got {list(depths)}")
    return [float(w) for w, d in zip(widths, depths, strict=True) for _ in range(int(d))]


def e_fit(observed: ArrayLike, w0: ArrayLike, wa: ArrayLike, wm: ArrayLike) -> np.ndarray:
    """e_fit of each (w0, wa, wm) candidate (arrays of equal shape, or scalars) for the observed
    per-block widths."""
    obs = np.asarray(observed, float)
    w0, wa, wm = (np.atleast_1d(np.asarray(x, float)) for x in (w0, wa, wm))
    pred = block_widths(np.full(len(w0), len(obs)), w0, wa, wm, Q)
    return np.abs(np.log(pred / obs)).mean(axis=1)


def fit_regnet(
    widths: Sequence[float], depths: Sequence[int] | None = None, wm_min: float = WM_MIN
) -> RegNetFit:
    """The (w0, wa, wm) of least e_fit for per-block `widths` (or stage `widths` with stage
    `depths`): the global optimum over w0 in 8, 16, ..., wa >= 0 and wm >= `wm_min` (see the module
    docstring)."""
    obs = np.asarray(expand_stages(widths, depths) if depths is not None else widths, float)
    if obs.ndim != 1 or len(obs) == 0 or not np.isfinite(obs).all() or (obs <= 0).any():
        raise AnalysisError(
            "widths must be a non-empty list of positive numbers, got "
            f"{np.asarray(widths).tolist()}"
        )
    if not (np.isfinite(wm_min) and wm_min > 1):
        raise AnalysisError(f"wm_min must be a number above 1, got {wm_min!r}")
    with np.errstate(over="ignore", invalid="ignore"):
        err, w0, wa, wm = _Search(obs, float(wm_min)).run()
    wa, wm = _tidy(obs, w0, wa, wm, err, wm_min)
    pred = block_widths(len(obs), w0, wa, wm, Q)
    return RegNetFit(
        len(obs),
        w0,
        wa,
        wm,
        float(np.abs(np.log(pred / obs)).mean()),
        tuple(obs.tolist()),
        tuple(int(x) for x in pred),
        wm_min,
    )


class _Search:
    """Branch and bound over (w0, interval of L = log wm); the incumbent is the best point found so
    far."""

    def __init__(self, obs: np.ndarray, wm_min: float):
        self.obs, self.d, self.wm_min, self.l_min = obs, len(obs), wm_min, float(np.log(wm_min))
        self.iso = _isotonic_l1(np.log(obs[:-1]))
        self.best = self._start()

    def cap(self) -> float:
        """No block can be wider than this in a fit better than the incumbent: the last block is the
        widest and the others cost at least their isotonic (non-decreasing) regression."""
        return float(self.obs[-1] * np.exp(self.d * self.best[0] - self.iso))

    def run(self) -> tuple[float, int, float, float]:
        queue: tuple[np.ndarray, ...] = self._initial()
        if len(queue[0]):
            levels = _n_levels(queue[0], queue[1], self.cap()) + 2
            batch = max(8, _CELLS // (self.d * levels))
        while len(queue[0]):
            w0, la, lb = (x[:batch] for x in queue)
            queue = tuple(x[batch:] for x in queue)
            w0, la, lb = self._step(w0, la, lb)
            queue = tuple(np.concatenate([q, x]) for q, x in zip(queue, (w0, la, lb), strict=True))
        err, w0_, wa, wm = self.best
        return err, int(w0_), float(wa), float(wm)

    def _start(self) -> tuple[float, float, float, float]:
        """Incumbent: the best constant prediction (wa = 0), or a coarse sweep near w0 = first
        width."""
        obs = self.obs
        w0s = np.arange(Q, obs.max() + 2 * Q, Q, dtype=float)
        const = np.abs(np.log(w0s[:, None] / obs[None, :])).mean(axis=1)
        i = int(np.argmin(const))
        best = (float(const[i]), float(w0s[i]), 0.0, max(self.wm_min, 2.0))
        first = max(Q, round(obs[0] / Q) * Q)
        w0 = np.array([w for w in (first - Q, first, first + Q) if w >= Q], float)
        top = np.log((4 * obs.max() + Q) / w0)
        ok = top > self.l_min
        if ok.any():
            w0 = np.repeat(w0[ok], 128)
            grid = np.linspace(0, 1, 128)
            ls = np.concatenate([self.l_min + (t - self.l_min) * grid for t in top[ok]])
            best = self._offer(best, w0, np.exp(ls), 4 * obs.max())
        return best

    def _initial(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every w0 a cheap bound leaves open, each with its range of L cut into _PARTS
        intervals."""
        obs, err, cap = self.obs, self.best[0], self.cap()
        # w0 <= cap, and past the widest width e_fit >= log(w0) - mean(log obs)
        w0s = np.arange(
            Q, min(cap, max(obs.max(), np.exp(err + np.log(obs).mean()))) + Q, Q, dtype=float
        )
        # block j > 0 gets w0 or a level of at least round8(w0 · wm_min)
        second = np.round(w0s * self.wm_min / Q) * Q
        rest = np.minimum(
            np.abs(np.log(w0s[:, None] / obs[None, 1:])),
            np.maximum(0, np.log(second[:, None] / obs[None, 1:])),
        ).sum(axis=1)
        bound = (np.abs(np.log(w0s / obs[0])) + rest) / self.d
        w0s = w0s[bound < err - _TOL]
        # wm = wm_min itself, exactly: the intervals' sweeps are inside them, and wm_min may be a
        # tie of round8 (w0 = 56, wm = 1.5: 84 rounds to 80, a width that every wm just above 1.5
        # rounds to 88)
        self.best = self._offer(self.best, w0s, np.full(len(w0s), self.wm_min), cap)
        top = np.log((cap + Q) / w0s)  # past it every level but w0 is wider than the cap
        w0s, top = w0s[top > self.l_min], top[top > self.l_min]
        t = np.linspace(0, 1, _PARTS + 1)
        la = self.l_min + (top[:, None] - self.l_min) * t[None, :-1]
        lb = self.l_min + (top[:, None] - self.l_min) * t[None, 1:]
        return np.repeat(w0s, _PARTS), la.ravel(), lb.ravel()

    def _step(self, w0: np.ndarray, la: np.ndarray, lb: np.ndarray) -> tuple[np.ndarray, ...]:
        """Bound a batch of intervals, sweep the survivors at their midpoints, split the unresolved
        ones."""
        obs, cap = self.obs, self.cap()
        bound, settled = _level_bound(obs, w0, la, lb, cap)
        keep = bound < self.best[0] - _TOL
        w0, la, lb, settled = w0[keep], la[keep], lb[keep], settled[keep]
        if len(w0):
            keep = _sweep_bound(obs, w0, la, lb, cap) < self.best[0] - _TOL
            w0, la, lb, settled = w0[keep], la[keep], lb[keep], settled[keep]
        if not len(w0):
            return w0, la, lb
        mid = (la + lb) / 2
        self.best = self._offer(self.best, w0, np.exp(mid), cap)
        # exact: no level width changes inside the interval and no two breakpoints cross there
        done = settled.copy()
        if settled.any():
            done[settled] = _same_order(self.d, w0[settled], la[settled], lb[settled], cap)
        split = ~done & (lb - la > 1e-13 * lb)
        w0, la, lb, mid = w0[split], la[split], lb[split], mid[split]
        return np.concatenate([w0, w0]), np.concatenate([la, mid]), np.concatenate([mid, lb])

    def _offer(
        self, best: tuple, w0: np.ndarray, wm: np.ndarray, cap: float
    ) -> tuple[float, float, float, float]:
        """The incumbent (e_fit, w0, wa, wm), or the best exact sweep at (w0, wm) that e_fit
        confirms."""
        if not len(w0):
            return best
        wa, err = _sweep(self.obs, w0, wm, cap)
        better = np.flatnonzero(err < best[0])
        if len(better):
            real = e_fit(self.obs, w0[better], wa[better], wm[better])
            i = better[int(np.argmin(real))]
            if real.min() < best[0]:
                best = (float(real.min()), float(w0[i]), float(wa[i]), float(wm[i]))
        return best


def _n_levels(w0: np.ndarray, ls: np.ndarray, cap: float) -> int:
    """K such that level K+1 is wider than the cap for every row."""
    return max(1, int(np.ceil(np.log((cap + Q) / w0.min()) / ls.min())) + 1)


def _levels(w0: np.ndarray, wm: np.ndarray, k: int) -> np.ndarray:
    """(n, k+2) level widths round8(w0 · wm^s), s = 0..k+1, computed as block_widths does."""
    s = np.arange(k + 2)
    return np.round(w0[:, None] * np.power(wm[:, None], s[None, :]) / Q) * Q


def _breakpoints(w0: np.ndarray, ls: np.ndarray, d: int, k: int) -> np.ndarray:
    """(n, d-1, k+1): the wa at which block j (1..d-1) enters level i+1 (i = 0..k)."""
    j = np.arange(1, d)
    a = np.arange(k + 1) + 0.5
    return w0[:, None, None] * np.expm1(ls[:, None, None] * a[None, None, :]) / j[None, :, None]


def _sweep(
    obs: np.ndarray, w0: np.ndarray, wm: np.ndarray, cap: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exact best wa at each row (w0, wm) and its e_fit, from the sorted breakpoints (levels above
    the cap are left out: they cost more than the incumbent)."""
    d, n, ls = len(obs), len(wm), np.log(wm)
    base = np.abs(np.log(w0[:, None] / obs[None, :])).sum(axis=1)
    if d == 1:
        return np.zeros(n), base
    k = _n_levels(w0, ls, cap)
    widths = _levels(w0, wm, k)
    cost = np.abs(np.log(widths[:, None, :] / obs[None, 1:, None]))  # (n, d-1, k+2)
    step = np.where(widths[:, None, 1:] > cap, _BIG, np.diff(cost, axis=2)).reshape(n, -1)
    at = _breakpoints(w0, ls, d, k).reshape(n, -1)
    order = np.argsort(at, axis=1)
    at = np.take_along_axis(at, order, 1)
    total = np.cumsum(np.take_along_axis(step, order, 1), axis=1)
    after = np.concatenate([at[:, 1:], 2 * at[:, -1:] + 1], axis=1)
    total = np.where(after > at, total, np.inf)  # empty cells
    i, rows = np.argmin(total, axis=1), np.arange(n)
    best, wa = base + total[rows, i], (at[rows, i] + after[rows, i]) / 2
    flat = base <= best  # wa = 0: every block at w0
    return np.where(flat, 0.0, wa), np.where(flat, base, best) / d


def _level_bound(
    obs: np.ndarray, w0: np.ndarray, la: np.ndarray, lb: np.ndarray, cap: float
) -> tuple[np.ndarray, np.ndarray]:
    """Lower bound of e_fit over L in [la, lb] and any wa: blocks take non-decreasing levels, each
    level's width between its widths at la and lb. Also whether those widths (up to the cap) are
    constant there."""
    uniq, inv = np.unique(obs, return_inverse=True)
    k = _n_levels(w0, la, cap)
    low, high = _levels(w0, np.exp(la), k), _levels(w0, np.exp(lb), k)
    # (n, u, k+2)
    dist = _distance(np.log(uniq)[None, :, None], low[:, None, :], high[:, None, :], cap)
    best = np.full(low.shape, np.inf)
    best[:, 0] = dist[:, inv[0], 0]
    for j in range(1, len(obs)):
        best = np.minimum.accumulate(best, axis=1) + dist[:, inv[j], :]
    return best.min(axis=1) / len(obs), ((low == high) | (low > cap)).all(axis=1)


def _distance(log_obs: np.ndarray, low: np.ndarray, high: np.ndarray, cap: float) -> np.ndarray:
    """|log| distance from an observed width to a level's range of widths [low, high]; _BIG above
    the cap."""
    gap = np.maximum(0, np.maximum(np.log(low) - log_obs, log_obs - np.log(high)))
    return np.where(low > cap, _BIG, gap)


def _sweep_bound(
    obs: np.ndarray, w0: np.ndarray, la: np.ndarray, lb: np.ndarray, cap: float
) -> np.ndarray:
    """Lower bound of e_fit over L in [la, lb]: at each wa, block j's level lies between its levels
    at lb and at la (breakpoints grow with L), and each level's width between its widths at la and
    lb."""
    d, n = len(obs), len(la)
    first = np.abs(np.log(w0 / obs[0]))
    if d == 1:
        return first
    k = _n_levels(w0, la, cap)
    low, high = _levels(w0, np.exp(la), k), _levels(w0, np.exp(lb), k)
    # (n, d-1, k+2)
    dist = _distance(np.log(obs[1:])[None, :, None], low[:, None, :], high[:, None, :], cap)
    # dist is unimodal in the level: clip this into [lowest, highest]
    nearest = np.argmin(dist, axis=2)
    at = np.concatenate([_breakpoints(w0, la, d, k), _breakpoints(w0, lb, d, k)], axis=2)
    # la's breakpoints raise the highest level, lb's the lowest
    raises_top = np.repeat([1, 0], k + 1)
    order = np.argsort(at, axis=2, kind="stable")
    at, top = np.take_along_axis(at, order, 2), raises_top[order]
    level = np.clip(nearest[:, :, None], np.cumsum(1 - top, axis=2), np.cumsum(top, axis=2))
    value = np.take_along_axis(dist, level, 2)
    start = dist[:, :, 0]
    step = np.diff(np.concatenate([start[:, :, None], value], axis=2), axis=2).reshape(n, -1)
    order = np.argsort(at.reshape(n, -1), axis=1)
    total = np.cumsum(np.take_along_axis(step, order, 1), axis=1)
    return (first + start.sum(axis=1) + np.minimum(0, total.min(axis=1))) / d


def _same_order(d: int, w0: np.ndarray, la: np.ndarray, lb: np.ndarray, cap: float) -> np.ndarray:
    """Whether the breakpoints that matter (up to the first one into a level above the cap) keep
    their order from la to lb. Two breakpoints' ratio is monotone in L, so they cross at most
    once."""
    if d == 1:
        return np.ones(len(la), bool)
    n = len(la)
    k = _n_levels(w0, la, cap)
    over = _levels(w0, np.exp((la + lb) / 2), k)[:, 1:] > cap
    first_over, rows = np.argmax(over, axis=1), np.arange(n)
    at_a, at_b = _breakpoints(w0, la, d, k), _breakpoints(w0, lb, d, k)
    limit_a, limit_b = at_a[rows, d - 2, first_over], at_b[rows, d - 2, first_over]
    at_a, at_b = at_a.reshape(n, -1), at_b.reshape(n, -1)
    matters = (at_a <= limit_a[:, None]) | (at_b <= limit_b[:, None])
    order_a = np.argsort(np.where(matters, at_a, np.inf), axis=1, kind="stable")
    order_b = np.argsort(np.where(matters, at_b, np.inf), axis=1, kind="stable")
    return (order_a == order_b).all(axis=1)


def _isotonic_l1(x: np.ndarray) -> float:
    """min over non-decreasing p of sum |p_j - x_j| (an optimal p takes values among the x)."""
    if len(x) == 0:
        return 0.0
    values = np.unique(x)
    best = np.zeros(len(values))
    for xj in x:
        best = np.minimum.accumulate(best) + np.abs(values - xj)
    return float(best.min())


def _tidy(
    obs: np.ndarray, w0: int, wa: float, wm: float, err: float, wm_min: float
) -> tuple[float, float]:
    """Round wa and wm to the fewest decimals (2..6) that keep the same e_fit, for readable
    output."""
    for digits in range(2, 7):
        a, m = round(wa, digits), round(wm, digits + 1)
        if m >= wm_min and e_fit(obs, w0, a, m)[0] <= err + 1e-12:
            return a, m
    return wa, wm


# --- populations ----------------------------------------------------------------------------------
def stage_columns(frame: pd.DataFrame) -> list[int]:
    """Stage numbers i with both depth_i and width_i columns, in order."""
    found = {int(m.group(2)) for c in frame.columns if (m := _STAGE_COLUMN.match(str(c)))}
    return sorted(
        i for i in found if f"depth_{i}" in frame.columns and f"width_{i}" in frame.columns
    )


def frame_block_widths(frame: pd.DataFrame) -> list[list[float]]:
    """Per-block widths of every row of a frame with depth_i / width_i columns (missing stages
    skipped)."""
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


def add_efit_column(frame: pd.DataFrame, wm_min: float = WM_MIN) -> pd.DataFrame:
    """A copy of `frame` with e_fit (and fitted fit_w0, fit_wa, fit_wm) for every model, e.g. to
    plot error against e_fit."""
    fits = [fit_regnet(b, wm_min=wm_min) if b else None for b in frame_block_widths(frame)]
    out = frame.copy()
    for key in ("e_fit", "w0", "wa", "wm"):
        name = key if key == "e_fit" else f"fit_{key}"
        out[name] = [getattr(f, key) if f else np.nan for f in fits]
    return out
