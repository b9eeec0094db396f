"""Analytic bounds of the complexity a design space can reach, so an impossible band fails at once.

params, flops and acts of an AnyNet body grow with every stage's depth, width, bottleneck width
(width / b) and group width. So the space's smallest setting (each stage at the smallest depth and
width, the largest bottleneck ratio, the smallest group width) and its largest (the opposite) bound
every config it can draw: all-equal stages satisfy every sharing and ordering constraint, so for
AnyNet spaces both ends are configs of the space and the bounds are exact. For RegNet spaces the
ends are bounds, not configs: every stage at the smallest width w0 with one block, and every stage
with all d blocks at the widest quantized width the ranges allow (w0 + wa (d - 1), times sqrt(wm)
for the rounding to a power of wm, plus a group width for the compatibility step). Each space gives
its two ends (`DesignSpace.extremes`: AnyNetSpace and RegNetSpace in spaces.space); other spaces
have none (None): the sampler then learns from its draws.
"""

from __future__ import annotations

import numpy as np

from spaces.design_space import DesignSpace

METRICS = ("params", "flops", "acts")


def complexity_bounds(space: DesignSpace) -> dict[str, tuple[int, int]] | None:
    """{metric: (lowest, highest)} that any config of `space` can have at its reference setting (224
    px, RGB, 1000 classes), or None when the space has no analytic bounds (no `extremes`)."""
    ends = space.extremes()
    if ends is None:
        return None
    low, high = (dict(zip(METRICS, c.cost(), strict=True)) for c in ends)
    return {m: (int(np.asarray(low[m])[0]), int(np.asarray(high[m])[0])) for m in METRICS}
