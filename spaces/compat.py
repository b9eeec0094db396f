"""The group-width compatibility step of the RegNet paper, exactly as its reference code.

pycls (`pycls/models/blocks.py`, `adjust_block_compatibility`) works with the bottleneck
*multiplier* m_b = 1 / b (this project records the ratio b: 1, 2, 4) in floating point:

    v = int(max(1, w * m_b))           # the bottleneck width, truncated (not rounded)
    g = min(g, v)
    v = max(g, round(v / g) * g)       # Python's round: half to even
    w = int(v / m_b)

The same float operations are done here, vectorized, so every (w, b, g) gives pycls' answer.
"""

from __future__ import annotations

import numpy as np


def adjust_block_compatibility(width, bottleneck, group_width) -> tuple[np.ndarray, np.ndarray]:
    """Compatible (width, group width) for arrays (or scalars) of widths, bottleneck ratios and
    group widths, all >= 1; returns int64 arrays of the broadcast shape."""
    w = np.asarray(width, dtype=np.float64)
    m_b = 1.0 / np.asarray(bottleneck, dtype=np.float64)
    v = np.trunc(np.maximum(1.0, w * m_b))
    g = np.minimum(np.asarray(group_width, dtype=np.float64), v)
    v = np.maximum(g, np.rint(v / g) * g)
    return np.trunc(v / m_b).astype(np.int64), g.astype(np.int64)
