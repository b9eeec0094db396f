"""Pareto fronts of two objectives (e.g. error and flops, both minimized) and their plot."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from analysis.errors import AnalysisError
from analysis.units import si_ticks

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")
COMPLEXITY = ("params", "flops", "acts", "train_params", "train_flops", "train_acts")


def pareto_mask(
    x: np.ndarray, y: np.ndarray, maximize_x: bool = False, maximize_y: bool = False
) -> np.ndarray:
    """Rows that no other row dominates (at least as good in both, better in one); both minimized
    unless told."""
    a = -np.asarray(x, float) if maximize_x else np.asarray(x, float)
    b = -np.asarray(y, float) if maximize_y else np.asarray(y, float)
    if a.shape != b.shape:
        raise AnalysisError(f"the two objectives have {a.size} and {b.size} values")
    keep = np.ones(a.size, dtype=bool)
    for i in range(a.size):  # O(n^2) comparisons, vectorized per row: fine for sweeps of thousands
        keep[i] = not np.any((a <= a[i]) & (b <= b[i]) & ((a < a[i]) | (b < b[i])))
    return keep


def plot_pareto(
    frames: Mapping[str, pd.DataFrame],
    x: str,
    y: str,
    path: str | Path,
    maximize_x: bool = False,
    maximize_y: bool = False,
) -> Path:
    """Every model of each frame as a point, its Pareto front as a step line; complexity axes on log
    scale."""
    fig = Figure(figsize=(6.0, 4.2))
    ax = fig.subplots()
    for k, (label, frame) in enumerate(frames.items()):
        part = frame[[x, y]].dropna()
        if part.empty:
            continue
        color = COLORS[k % len(COLORS)]
        xs, ys = part[x].to_numpy(float), part[y].to_numpy(float)
        ax.scatter(xs, ys, s=12, alpha=0.45, color=color, label=f"{label} (n={len(part)})")
        front = pareto_mask(xs, ys, maximize_x, maximize_y)
        order = np.argsort(xs[front])
        ax.step(
            xs[front][order],
            ys[front][order],
            where="post",
            color=color,
            lw=1.6,
            label=f"{label}: Pareto front ({int(front.sum())})",
        )
    for axis, name, setter in ((ax.xaxis, x, ax.set_xscale), (ax.yaxis, y, ax.set_yscale)):
        if name in COMPLEXITY:
            setter("log")
            axis.set_major_formatter(FuncFormatter(si_ticks))
            axis.set_minor_formatter(FuncFormatter(lambda *_: ""))
    ax.set_xlabel(x + (" (max)" if maximize_x else ""))
    ax.set_ylabel(y + (" (max)" if maximize_y else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=110, bbox_inches="tight")
    return p
