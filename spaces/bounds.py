"""Analytic bounds of the complexity a design space can reach, so an impossible band fails at once.

params, flops and acts of an AnyNet body grow with every stage's depth, width, bottleneck width (width / b)
and group width. So the space's smallest setting (each stage at the smallest depth and width, the largest
bottleneck ratio, the smallest group width) and its largest (the opposite) bound every config it can draw:
all-equal stages satisfy every sharing and ordering constraint, so for AnyNet spaces both ends are configs
of the space and the bounds are exact. For RegNet spaces the ends are bounds, not configs: every stage at
the smallest width w0 with one block, and every stage with all d blocks at the widest quantized width the
ranges allow (w0 + wa (d - 1), times sqrt(wm) for the rounding to a power of wm, plus a group width for the
compatibility step). Other spaces have no bounds here (None): the sampler then learns from its draws.
"""

from __future__ import annotations

import math

import numpy as np

from spaces.complexity import REFERENCE_RESOLUTION
from spaces.space import AnyNetSpace, Candidates, DesignSpace, RegNetSpace

METRICS = ("params", "flops", "acts")


def _ends(space: DesignSpace) -> tuple[Candidates, Candidates] | None:
    s = space.num_stages if isinstance(space, AnyNetSpace | RegNetSpace) else 0

    def body(depth: float, width: float, b: float, g: float, block: str) -> Candidates:
        row = np.ones((1, s), dtype=np.int64)
        width = math.ceil(width)
        g = int(min(g, max(width // int(b), 1)))
        return Candidates(row * int(depth), row * width, row * 2, row * int(b), row * g, block, space.se_ratio,
                          space.stem_width)

    if isinstance(space, AnyNetSpace):
        d, w, b, g = (getattr(space, k).values for k in ("depth", "width", "bottleneck", "group_width"))
        return (body(min(d), min(w), max(b), min(g), space.block), body(max(d), max(w), min(b), max(g), space.block))
    if isinstance(space, RegNetSpace):
        d, w0, wa, wm, g, b = (getattr(space, k).values for k in ("depth", "w0", "wa", "wm", "group_width",
                                                                   "bottleneck"))
        widest = (max(w0) + max(wa) * (max(d) - 1)) * math.sqrt(max(wm))
        widest = math.ceil(widest / space.q) * space.q + max(g)
        return (body(1, min(w0), max(b), 1, "X"), body(max(d), widest, min(b), max(g), "X"))
    return None


def complexity_bounds(space: DesignSpace) -> dict[str, tuple[int, int]] | None:
    """{metric: (lowest, highest)} that any config of `space` can have at its reference setting (224 px, RGB,
    1000 classes), or None when the space has no analytic bounds here."""
    ends = _ends(space)
    if ends is None:
        return None
    resolution = getattr(space, "reference_resolution", REFERENCE_RESOLUTION)
    low, high = (dict(zip(METRICS, c.cost(resolution), strict=True)) for c in ends)
    return {m: (int(np.asarray(low[m])[0]), int(np.asarray(high[m])[0])) for m in METRICS}
