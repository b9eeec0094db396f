"""RegNet: quantized-linear per-block widths (RegNet paper section 3.3, REFERENCE section 2).

u_j = w0 + wa * j (0 <= j < d); s_j = log(u_j / w0) / log(wm) rounded; w_j = w0 * wm^s_j rounded to
a multiple of q. Stages are the runs of equal w_j. The result is an ordinary AnyNetConfig.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from spaces.config import AnyNetConfig, make_anynet
from spaces.errors import ConfigError


@dataclass(frozen=True)
class RegNetParams:
    """The six RegNet parameters (plus SE) of one model."""

    depth: int
    w0: int
    wa: float
    wm: float
    group_width: int
    bottleneck: int = 1
    se_ratio: float | None = None
    q: int = 8

    def to_dict(self) -> dict:
        return asdict(self)

    def block_widths(self) -> list[int]:
        """Per-block widths w_j before the compatibility step."""
        return block_widths(self.depth, self.w0, self.wa, self.wm, self.q).tolist()

    def to_anynet(
        self,
        stem_width: int = 32,
        in_channels: int = 3,
        num_classes: int = 1000,
        stem: str = "imagenet",
        num_stages: int | None = None,
    ) -> AnyNetConfig:
        """Stage widths and depths from the quantized-linear rule, then the compatibility step."""
        _check_params(self)
        widths, depths = stages_from_block_widths(self.block_widths())
        if num_stages is not None and len(widths) != num_stages:
            raise ConfigError(
                f"RegNet {self.to_dict()} gives {len(widths)} stages, not {num_stages}"
            )
        stages = [
            {
                "depth": d,
                "width": w,
                "stride": 2,
                "bottleneck": self.bottleneck,
                "group_width": self.group_width,
            }
            for w, d in zip(widths, depths, strict=True)
        ]
        extra = {"regnet": {"d": self.depth, "w0": self.w0, "wa": self.wa, "wm": self.wm}}
        return make_anynet(
            stages,
            block="X",
            se_ratio=self.se_ratio,
            stem=stem,
            stem_width=stem_width,
            in_channels=in_channels,
            num_classes=num_classes,
            extra=extra,
        )


def block_widths(depth, w0, wa, wm, q: int = 8) -> np.ndarray:
    """Quantized per-block widths; vectorized: scalars give (d,), arrays of shape (n,) give (n, max
    d) with zeros past each row's depth."""
    return _quantized(depth, w0, wa, wm, q)[0]


def block_levels(depth, w0, wa, wm) -> np.ndarray:
    """The rounded exponents s_j of the blocks (w_j = w0 * wm^s_j before rounding to q), shaped as
    `block_widths`, with -1 past each row's depth. pycls keeps a setting only when its largest level
    + 1 equals its number of stages (`check_regnet_constraints`: no level is skipped)."""
    return _quantized(depth, w0, wa, wm, 8)[1]


def pycls_accepts(depth, w0, wa, wm, num_stages: int = 4) -> np.ndarray:
    """pycls' acceptance of RegNet settings (`check_regnet_constraints` with NUM_STAGES [n, n]):
    exactly `num_stages` distinct block widths and largest level + 1 equal to it. Vectorized."""
    widths, levels = _quantized(depth, w0, wa, wm, 8)
    widths, levels = np.atleast_2d(widths), np.atleast_2d(levels)
    ordered = np.sort(widths, axis=1)  # zeros (no block) first
    first = np.concatenate(
        [np.ones((len(ordered), 1), bool), np.diff(ordered, axis=1) != 0], axis=1
    )
    distinct = (first & (ordered > 0)).sum(axis=1)
    ok = (distinct == num_stages) & (levels.max(axis=1) + 1 == num_stages)
    return ok if np.ndim(depth) else ok[0]


def _quantized(depth, w0, wa, wm, q: int) -> tuple[np.ndarray, np.ndarray]:
    depth, w0, wa, wm = (np.asarray(x) for x in (depth, w0, wa, wm))
    j = np.arange(int(depth.max()))
    if depth.ndim:
        j = j[None, :]
        w0, wa, wm, depth = w0[:, None], wa[:, None], wm[:, None], depth[:, None]
    u = w0 + wa * j
    s = np.round(np.log(u / w0) / np.log(wm))
    widths = (np.round(w0 * np.power(wm, s) / q) * q).astype(np.int64)
    inside = j < depth
    return np.where(inside, widths, 0), np.where(inside, s, -1).astype(np.int64)


def stages_from_block_widths(widths: list[int]) -> tuple[list[int], list[int]]:
    """Distinct widths (in order) and how many blocks each has."""
    values, counts = np.unique(np.asarray(widths), return_counts=True)
    return values.tolist(), counts.tolist()


def stage_arrays(widths: np.ndarray, num_stages: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorized stage split of (n, max d) block widths (0 = no block): returns a mask of rows with
    exactly `num_stages` stages, and their (n, num_stages) stage widths and depths."""
    valid = widths > 0
    change = np.concatenate(
        [np.zeros((len(widths), 1), bool), (widths[:, 1:] != widths[:, :-1]) & valid[:, 1:]], axis=1
    )
    stage_index = np.cumsum(change, axis=1)
    count = stage_index.max(axis=1, where=valid, initial=0) + 1
    ok = count == num_stages
    depths = np.stack([((stage_index == i) & valid).sum(axis=1) for i in range(num_stages)], axis=1)
    stage_widths = np.stack(
        [np.where((stage_index == i) & valid, widths, 0).max(axis=1) for i in range(num_stages)],
        axis=1,
    )
    return ok, stage_widths, depths


def _check_params(p: RegNetParams) -> None:
    if not (isinstance(p.depth, int) and p.depth >= 1):
        raise ConfigError(f"RegNet depth must be a positive integer, got {p.depth!r}")
    if not (p.w0 > 0 and p.w0 % p.q == 0):
        raise ConfigError(f"RegNet w0 must be a positive multiple of {p.q}, got {p.w0!r}")
    if not p.wa >= 0:
        raise ConfigError(f"RegNet wa must be >= 0, got {p.wa!r}")
    if not p.wm > 1:
        raise ConfigError(f"RegNet wm must be > 1, got {p.wm!r}")
    if p.group_width < 1 or p.bottleneck < 1:
        raise ConfigError("RegNet group_width and bottleneck must be positive integers")


# Published models (RegNet paper, appendix; pycls model zoo): d, w0, wa, wm, group width.
_X = {
    "200mf": (13, 24, 36.44, 2.49, 8),
    "400mf": (22, 24, 24.48, 2.54, 16),
    "600mf": (16, 48, 36.97, 2.24, 24),
    "800mf": (16, 56, 35.73, 2.28, 16),
    "1.6gf": (18, 80, 34.01, 2.25, 24),
    "3.2gf": (25, 88, 26.31, 2.25, 48),
    "4.0gf": (23, 96, 38.65, 2.43, 40),
    "6.4gf": (17, 184, 60.83, 2.07, 56),
    "8.0gf": (23, 80, 49.56, 2.88, 120),
    "12gf": (19, 168, 73.36, 2.37, 112),
    "16gf": (22, 216, 55.59, 2.1, 128),
    "32gf": (23, 320, 69.86, 2.0, 168),
}
_Y = {
    "200mf": (13, 24, 36.44, 2.49, 8),
    "400mf": (16, 48, 27.89, 2.09, 8),
    "600mf": (15, 48, 32.54, 2.32, 16),
    "800mf": (14, 56, 38.84, 2.4, 16),
    "1.6gf": (27, 48, 20.71, 2.65, 24),
    "3.2gf": (21, 80, 42.63, 2.66, 24),
    "4.0gf": (22, 96, 31.41, 2.24, 64),
    "6.4gf": (25, 112, 33.22, 2.27, 72),
    "8.0gf": (17, 192, 76.82, 2.19, 56),
    "12gf": (19, 168, 73.36, 2.37, 112),
    "16gf": (18, 200, 106.23, 2.48, 112),
    "32gf": (20, 232, 115.89, 2.53, 232),
}
PUBLISHED: dict[str, RegNetParams] = {
    **{f"regnetx_{k}": RegNetParams(d, w0, wa, wm, g) for k, (d, w0, wa, wm, g) in _X.items()},
    **{
        f"regnety_{k}": RegNetParams(d, w0, wa, wm, g, se_ratio=0.25)
        for k, (d, w0, wa, wm, g) in _Y.items()
    },
}
