"""PNG plots in the RegNet / NDS papers' style. Uses matplotlib's object API (Figure + Agg canvas),
so it never touches pyplot's global state or needs a display."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis.regnet_fit import frame_block_widths
from analysis.stats import BestRange, BootstrapEDF
from analysis.units import nice_log_ticks, si, si_ticks

COLORS = (
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:gray",
    "tab:olive",
    "tab:cyan",
)
DISCRETE = 12  # at most this many distinct values: one trend point per value instead of bins
MARK_COLUMNS = ("flops", "params", "acts")  # the complexity panels named models are marked on


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _save(fig: Figure, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=110, bbox_inches="tight")
    return p


def _grid(count: int, ncols: int, size: float = 3.2) -> tuple[Figure, list]:
    ncols = max(1, min(ncols, count))
    nrows = -(-count // ncols)
    fig = Figure(figsize=(size * ncols, size * 0.85 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes[:count]


def edf_label(label: str, curve: BootstrapEDF) -> str:
    """The papers' legend: name, sample size, min and mean error."""
    return (
        f"{label} (n={curve.n}, min={_fmt(curve.intervals['min'].estimate)}, "
        f"mean={_fmt(curve.intervals['mean'].estimate)})"
    )


def plot_edfs(
    curves: Mapping[str, BootstrapEDF],
    path: str | Path,
    title: str = "error EDF",
    xlabel: str = "error",
    ylabel: str = "cumulative prob.",
) -> Path:
    """EDF step curves with their bootstrap bands, one per space."""
    return _save(edf_figure(curves, title, xlabel, ylabel), path)


def edf_figure(
    curves: Mapping[str, BootstrapEDF],
    title: str = "error EDF",
    xlabel: str = "error",
    ylabel: str = "cumulative prob.",
) -> Figure:
    """The figure of `plot_edfs`; the legend sits below the axes, off the curves, within the
    figure's size."""
    # about 6 x 4.2 in once saved with its padding
    fig = Figure(figsize=(5.8, 4.0), layout="constrained")
    ax = fig.subplots()
    for color, (label, c) in zip(COLORS * 10, curves.items(), strict=False):
        ax.fill_between(c.points, c.lower, c.upper, step="pre", color=color, alpha=0.2, linewidth=0)
        ax.step(c.points, c.edf, where="pre", color=color, label=edf_label(label, c))
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)
    return fig


def plot_random_search(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path
) -> Path:
    """Expected best error of m random models against m (log2 axis) [NDS]."""
    fig = Figure(figsize=(6.0, 4.2))
    ax = fig.subplots()
    for color, (label, (ms, best)) in zip(COLORS * 10, curves.items(), strict=False):
        ax.plot(ms, best, "o-", color=color, label=label, markersize=3)
    ax.set_xscale("log", base=2)
    ax.set(title="random search efficiency", xlabel="models tried (m)", ylabel="expected min error")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def binned_trend(x: np.ndarray, y: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Median y per x bin (per distinct x when there are few; log bins for wide positive ranges)."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) == 0:
        return np.empty(0), np.empty(0)
    values = np.unique(x)
    if len(values) <= DISCRETE:
        return values, np.array([np.median(y[x == v]) for v in values])
    log = x.min() > 0 and x.max() / x.min() > 8
    edges = (
        np.geomspace(x.min(), x.max(), bins + 1) if log else np.linspace(x.min(), x.max(), bins + 1)
    )
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
    centers = np.sqrt(edges[:-1] * edges[1:]) if log else (edges[:-1] + edges[1:]) / 2
    have = np.bincount(idx, minlength=bins) > 0
    medians = np.array([np.median(y[idx == i]) if have[i] else np.nan for i in range(bins)])
    return centers[have], medians[have]


def plot_error_vs(
    frames: Mapping[str, pd.DataFrame],
    columns: Sequence[str],
    path: str | Path,
    ncols: int = 4,
    marks: Sequence[Mapping] = (),
) -> Path:
    """Error against each column: a scatter per space plus its binned median trend line. The
    complexity columns (MARK_COLUMNS) are on log axes labelled in units (362M); on them each of
    `marks` ({"model", "params", "flops", "acts"[, "error"]}) is a labelled vertical line (a star at
    its error when it has one), or an arrow at the panel's edge when it lies outside the sweep's
    range (so the sweep keeps the panel)."""
    return _save(error_vs_figure(frames, columns, ncols, marks), path)


def error_vs_figure(
    frames: Mapping[str, pd.DataFrame],
    columns: Sequence[str],
    ncols: int = 4,
    marks: Sequence[Mapping] = (),
) -> Figure:
    """The figure of `plot_error_vs`."""
    fig, axes = _grid(len(columns), ncols)
    for ax, col in zip(axes, columns, strict=True):
        for color, (label, f) in zip(COLORS * 10, frames.items(), strict=False):
            if col not in f.columns:
                continue
            x, y = f[col].to_numpy(float), f["error"].to_numpy(float)
            ax.scatter(x, y, s=4, alpha=0.35, color=color, linewidths=0, label=label)
            tx, ty = binned_trend(x, y)
            ax.plot(tx, ty, "-", color=color, linewidth=1.6)
        values = [f[col].to_numpy(float) for f in frames.values() if col in f.columns]
        finite = np.concatenate(values) if values else np.empty(0)
        finite = finite[np.isfinite(finite)]
        complexity = col in MARK_COLUMNS
        positive = bool(len(finite)) and finite.min() > 0
        if positive and (complexity or finite.max() / finite.min() > 8):
            ax.set_xscale("log")
        if complexity and positive:
            pad = max(finite.max() / finite.min(), 1.1) ** 0.06
            xlim = (finite.min() / pad, finite.max() * pad)
            ax.set_xlim(*xlim)
            _unit_ticks(ax, *xlim)
            if marks:
                _draw_marks(ax, col, marks, xlim)
        ax.set(xlabel=col, ylabel="error")
        ax.grid(alpha=0.3)
    if axes:
        axes[0].legend(fontsize=7, markerscale=3)
    fig.tight_layout()
    return fig


def _unit_ticks(ax, low: float, high: float) -> None:
    """Round ticks in units (200M, 500M, 1G) on a log axis from `low` to `high`, no minor labels."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    ax.xaxis.set_major_locator(FixedLocator(nice_log_ticks(low, high)))
    ax.xaxis.set_major_formatter(FuncFormatter(si_ticks))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _draw_marks(ax, col: str, marks: Sequence[Mapping], xlim: tuple[float, float]) -> None:
    """Marks inside the range as labelled lines (labels staggered down the panel so they do not
    overlap), marks outside it as an arrow label at the nearer edge."""
    for k, m in enumerate(sorted(marks, key=lambda m: float(m[col]))):
        x = float(m[col])
        y_label = 0.98 - 0.1 * (k % 5)
        if x < xlim[0] or x > xlim[1]:
            right = x > xlim[1]
            text = f"{m['model']} {si(x, 3)} →" if right else f"← {m['model']} {si(x, 3)}"
            ax.annotate(
                text,
                (1.0 if right else 0.0, y_label),
                xycoords="axes fraction",
                ha="right" if right else "left",
                va="top",
                fontsize=6,
                color="dimgray",
                xytext=(-2 if right else 2, 0),
                textcoords="offset points",
            )
            continue
        ax.axvline(x, color="black", linestyle="--", linewidth=0.8, alpha=0.7)
        # label on the inner side
        right_half = math.log(x / xlim[0]) > 0.5 * math.log(xlim[1] / xlim[0])
        ax.annotate(
            m["model"],
            (x, y_label),
            xycoords=("data", "axes fraction"),
            fontsize=6,
            ha="right" if right_half else "left",
            va="top",
            xytext=(-2 if right_half else 2, 0),
            textcoords="offset points",
        )
        if m.get("error") is not None:
            ax.plot([x], [float(m["error"])], "*", color="black", markersize=8)


def plot_width_profiles(frames: Mapping[str, pd.DataFrame], path: str | Path, k: int = 5) -> Path:
    """Per-block widths of the k best (blue) and k worst (red) models of each space."""
    fig, axes = _grid(len(frames), 3, size=4.0)
    for ax, (label, f) in zip(axes, frames.items(), strict=True):
        ranked = f.sort_values("error", kind="stable")
        for rows, color, name in (
            (ranked.head(k), "tab:blue", "best"),
            (ranked.tail(k), "tab:red", "worst"),
        ):
            for i, widths in enumerate(frame_block_widths(rows)):
                ax.step(
                    np.arange(len(widths)),
                    widths,
                    where="post",
                    color=color,
                    alpha=0.7,
                    label=f"{name} {k}" if i == 0 else None,
                )
        ax.set_yscale("log", base=2)
        ax.set(title=label, xlabel="block index j", ylabel="width")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def plot_best_ranges(
    ranges: Mapping[str, Mapping[str, BestRange]], path: str | Path, ncols: int = 4
) -> Path:
    """For each parameter, each space's bootstrap 95% interval of the best value (bar) and median
    (dot)."""
    columns = list(dict.fromkeys(c for r in ranges.values() for c in r))
    fig, axes = _grid(max(1, len(columns)), ncols)
    labels = list(ranges)
    for ax, col in zip(axes, columns, strict=False):
        for y, (color, label) in enumerate(zip(COLORS * 10, labels, strict=False)):
            r = ranges[label].get(col)
            if r is None:
                continue
            ax.plot([r.low, r.high], [y, y], "-", color=color, linewidth=4, alpha=0.5)
            ax.plot([r.median], [y], "o", color=color)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_ylim(-0.7, len(labels) - 0.3)
        ax.set(xlabel=f"best {col}")
        ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return _save(fig, path)
