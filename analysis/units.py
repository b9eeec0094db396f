"""Readable numbers for plots and reports: 362.1M rather than 3.621e+08."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

UNITS = (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3))


def si(x: Any, digits: int = 4) -> str:
    """`x` with `digits` significant digits and a K / M / G / T suffix from 10,000 up; '-' for None
    or NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    x = float(x)
    for unit, scale in UNITS:
        if abs(x) >= 10 * scale if unit == "K" else abs(x) >= scale:
            return f"{x / scale:.{digits}g}{unit}"
    return f"{x:.{digits}g}"


def si_ticks(value: float, _position: Any = None) -> str:
    """A tick label: up to 3 significant digits with a suffix (360M, 1.5G), for matplotlib's
    FuncFormatter."""
    for unit, scale in UNITS:
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def nice_log_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """About `count` round tick values (2 significant digits) between low > 0 and high on a log
    axis: the 1-2-5 steps when the range spans them, else evenly spaced in log and rounded."""
    steps = [
        m * 10.0**e
        for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
        for m in (1, 2, 5)
    ]
    inside = [v for v in steps if low <= v <= high]
    if len(inside) >= 3:
        return inside
    ticks = []
    for v in np.geomspace(low, high, count + 2)[1:-1]:
        digits = 10.0 ** (math.floor(math.log10(v)) - 1)
        ticks.append(round(v / digits) * digits)
    return sorted(set(ticks))
