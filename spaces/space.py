"""The AnyNet and RegNet design spaces as data: parameter distributions, constraints, a batch
generator of candidates (`Candidates`) and define-by-run suggestion from an Optuna trial.

`AnyNetSpace` and `RegNetSpace` implement the `DesignSpace` interface (spaces.design_space; imported
here, so `spaces.space.DesignSpace` still names it). A space draws candidates in vectorized batches
(`draw`), already through the compatibility step, and counts their complexity with the array-valued
functions of `spaces.complexity`; the sampler then rejects by complexity band and drops duplicates.
`suggest` builds one config from a trial's suggestions, with the parameter names and distributions
`nas search` has always used; `extremes` gives the analytic ends that spaces.bounds checks bands
against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spaces.compat import adjust_block_compatibility
from spaces.complexity import REFERENCE_RESOLUTION, Cost, Resolution, network_cost
from spaces.config import AnyNetConfig, StageConfig, make_anynet
from spaces.design_space import DesignSpace, Suggester
from spaces.distributions import (
    Discrete,
    choice,
    log_uniform,
    multichoose,
    power2_or_log_uniform,
    uniform_int,
)
from spaces.records import STAGE_FIELDS
from spaces.regnet import RegNetParams, block_widths, pycls_accepts, stage_arrays


@dataclass
class Candidates:
    """A batch of AnyNet bodies sharing block type and SE: (n, stages) int64 arrays."""

    depth: np.ndarray
    width: np.ndarray
    stride: np.ndarray
    bottleneck: np.ndarray
    group_width: np.ndarray
    block: str
    se_ratio: float | None
    stem_width: int = 32
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # per-candidate provenance columns
    invalid: int = 0  # SampleBatch: AnyNet draws are never invalid (widths are adjusted)
    invalid_example: str | None = None

    def __len__(self) -> int:
        return len(self.depth)

    def cost(
        self,
        resolution: Resolution = REFERENCE_RESOLUTION,
        in_channels: int = 3,
        num_classes: int = 1000,
        stem: str = "imagenet",
    ) -> Cost:
        return network_cost(
            self.block,
            self.se_ratio,
            stem,
            self.stem_width,
            in_channels,
            num_classes,
            resolution,
            *(getattr(self, f) for f in STAGE_FIELDS),
        )

    def select(self, mask: np.ndarray) -> Candidates:
        return Candidates(
            self.depth[mask],
            self.width[mask],
            self.stride[mask],
            self.bottleneck[mask],
            self.group_width[mask],
            self.block,
            self.se_ratio,
            self.stem_width,
            {k: v[mask] for k, v in self.extra.items()},
        )

    def keys(self) -> list[bytes]:
        """Row identities for dropping duplicate networks."""
        stacked = np.concatenate([getattr(self, f) for f in STAGE_FIELDS], axis=1)
        return [row.tobytes() for row in np.ascontiguousarray(stacked)]

    def config(self, i: int) -> AnyNetConfig:
        stages = tuple(
            StageConfig(*(int(getattr(self, f)[i, s]) for f in STAGE_FIELDS))
            for s in range(self.depth.shape[1])
        )
        extra = {}
        if self.extra:
            extra["regnet"] = {k: _int_or_rounded(v[i]) for k, v in self.extra.items()}
        return AnyNetConfig(
            stages,
            block=self.block,
            se_ratio=self.se_ratio,
            stem_width=self.stem_width,
            extra=extra,
        )


def _int_or_rounded(x: Any) -> int | float:
    """A drawn numpy value as an int (integer dtypes) or a float rounded to 6 decimals (RegNet's wa,
    wm)."""
    return int(x) if np.issubdtype(np.asarray(x).dtype, np.integer) else round(float(x), 6)


def adjust_compatibility(
    width: np.ndarray, bottleneck: np.ndarray, group_width: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized group-width compatibility step (pycls' rule, `spaces.compat`)."""
    return adjust_block_compatibility(width, bottleneck, group_width)


# Distributions of the RegNet paper (REFERENCE section 1).
DEPTH = log_uniform(1, 16, 1)
WIDTH = log_uniform(8, 1024, 8)
BOTTLENECK = choice((1, 2, 4))
GROUP_WIDTH = choice((1, 2, 4, 8, 16, 32))


@dataclass(frozen=True)
class AnyNetSpace(DesignSpace):
    """AnyNet over `num_stages` stages with optional sharing and monotonicity constraints."""

    name: str
    description: str
    block: str = "X"
    se_ratio: float | None = None
    shared_bottleneck: bool = False
    shared_group_width: bool = False
    increasing_widths: bool = False
    increasing_depths: bool = False
    num_stages: int = 4
    depth: Discrete = DEPTH
    width: Discrete = WIDTH
    bottleneck: Discrete = BOTTLENECK
    group_width: Discrete = GROUP_WIDTH
    stem_width: int = 32
    paper_size: float | None = None

    @property
    def dims(self) -> int:
        s = self.num_stages
        return 2 * s + (1 if self.shared_bottleneck else s) + (1 if self.shared_group_width else s)

    def size(self) -> int:
        s = self.num_stages
        depths = multichoose(self.depth.size, s) if self.increasing_depths else self.depth.size**s
        widths = multichoose(self.width.size, s) if self.increasing_widths else self.width.size**s
        bs = self.bottleneck.size ** (1 if self.shared_bottleneck else s)
        gs = self.group_width.size ** (1 if self.shared_group_width else s)
        return depths * widths * bs * gs

    def parameters(self) -> dict[str, str]:
        order = " non-decreasing over stages" if self.increasing_depths else " per stage"
        w_order = " non-decreasing over stages" if self.increasing_widths else " per stage"
        return {
            "depth": self.depth.describe() + order,
            "width": self.width.describe() + w_order,
            "bottleneck": self.bottleneck.describe()
            + (" shared" if self.shared_bottleneck else " per stage"),
            "group_width": self.group_width.describe()
            + (" shared" if self.shared_group_width else " per stage"),
        }

    def draw(self, rng: np.random.Generator, n: int) -> Candidates:
        s = self.num_stages
        depth = self._stagewise(rng, self.depth, n, self.increasing_depths)
        width = self._stagewise(rng, self.width, n, self.increasing_widths)
        b = self._shared(rng, self.bottleneck, n, self.shared_bottleneck)
        g = self._shared(rng, self.group_width, n, self.shared_group_width)
        width, g = adjust_compatibility(width, b, g)
        stride = np.full((n, s), 2, dtype=np.int64)
        return Candidates(
            depth.astype(np.int64),
            width,
            stride,
            b.astype(np.int64),
            g,
            self.block,
            self.se_ratio,
            self.stem_width,
        )

    def _stagewise(self, rng, dist: Discrete, n: int, increasing: bool) -> np.ndarray:
        if increasing:
            return dist.sample_nondecreasing(rng, n, self.num_stages)
        return dist.sample(rng, (n, self.num_stages))

    def _shared(self, rng, dist: Discrete, n: int, shared: bool) -> np.ndarray:
        if shared:
            return np.repeat(dist.sample(rng, (n, 1)), self.num_stages, axis=1)
        return dist.sample(rng, (n, self.num_stages))

    def suggest(self, trial: Suggester) -> AnyNetConfig:
        """Define-by-run (`nas search`): depth_i, width_i (i = 1..num_stages), bottleneck[_i] and
        group_width[_i] (a shared one once, without the stage), each as `Discrete.suggest` asks its
        grid (depth and width log scale, snapped to the grid); non-decreasing depths or widths as
        depth_i_u / width_i_u in [0, 1] (`Discrete.suggest_nondecreasing`). Then the compatibility
        step, as `draw`."""
        depths = self._suggest_stagewise(trial, "depth", self.depth, self.increasing_depths)
        widths = self._suggest_stagewise(trial, "width", self.width, self.increasing_widths)
        bs = self._suggest_shared(trial, "bottleneck", self.bottleneck, self.shared_bottleneck)
        gs = self._suggest_shared(trial, "group_width", self.group_width, self.shared_group_width)
        stages = [
            {
                "depth": int(d),
                "width": int(w),
                "stride": 2,
                "bottleneck": int(b),
                "group_width": int(g),
            }
            for d, w, b, g in zip(depths, widths, bs, gs, strict=True)
        ]
        return make_anynet(
            stages, block=self.block, se_ratio=self.se_ratio, stem_width=self.stem_width
        )

    def _suggest_stagewise(
        self, trial: Suggester, name: str, dist: Discrete, increasing: bool
    ) -> list:
        if increasing:
            return dist.suggest_nondecreasing(trial, name, self.num_stages)
        return [dist.suggest(trial, f"{name}_{i + 1}") for i in range(self.num_stages)]

    def _suggest_shared(self, trial: Suggester, name: str, dist: Discrete, shared: bool) -> list:
        if shared:
            return [dist.suggest(trial, name)] * self.num_stages
        return [dist.suggest(trial, f"{name}_{i + 1}") for i in range(self.num_stages)]

    def extremes(self) -> tuple[Candidates, Candidates]:
        """Every stage at the smallest depth and width, the largest bottleneck ratio and the
        smallest group width, and the opposite: all-equal stages meet every sharing and ordering
        constraint, so both are configs of the space and its complexity bounds (spaces.bounds) are
        exact."""
        d, w, b, g = (
            getattr(self, k).values for k in ("depth", "width", "bottleneck", "group_width")
        )
        return (
            _uniform_body(self, min(d), min(w), max(b), min(g), self.block),
            _uniform_body(self, max(d), max(w), min(b), max(g), self.block),
        )


def _uniform_body(
    space: AnyNetSpace | RegNetSpace, depth: float, width: float, b: float, g: float, block: str
) -> Candidates:
    """One candidate whose `space.num_stages` stages all have this depth, width (rounded up),
    bottleneck ratio and group width (at most the bottleneck width)."""
    row = np.ones((1, space.num_stages), dtype=np.int64)
    width = math.ceil(width)
    g = int(min(g, max(width // int(b), 1)))
    return Candidates(
        row * int(depth),
        row * width,
        row * 2,
        row * int(b),
        row * g,
        block,
        space.se_ratio,
        space.stem_width,
    )


# The reference sampler's RegNet ranges and steps (pycls `regnet_sampler`, REFERENCE section 2): d
# uniform in [12, 28]; w0 log-uniform in [8, 256] on a step of 8; wa on 0.1 and wm on 0.001; group
# width pycls' power2_or_log_uniform in [8, 128] on 8 (at low = 8 the same as log-uniform on 8); b =
# 1.
REGNET_DEPTH = uniform_int(12, 28)
REGNET_W0 = log_uniform(8, 256, 8)
REGNET_WA = log_uniform(8, 256, 0.1)
REGNET_WM = log_uniform(2, 3, 0.001)
REGNET_GROUP_WIDTH = power2_or_log_uniform(8, 128, 8)
REGNET_BOTTLENECK = choice((1,))


@dataclass(frozen=True)
class RegNetSpace(DesignSpace):
    """Quantized-linear widths: (d, w0, wa, wm, g, b), sampled and accepted as pycls' RegNet sweeps.

    A setting is kept when it has exactly `num_stages` distinct widths and no width level is skipped
    (largest level + 1 == number of stages, pycls' `check_regnet_constraints`)."""

    name: str
    description: str
    se_ratio: float | None = None
    depth: Discrete = REGNET_DEPTH
    w0: Discrete = REGNET_W0
    wa: Discrete = REGNET_WA
    wm: Discrete = REGNET_WM
    group_width: Discrete = REGNET_GROUP_WIDTH
    bottleneck: Discrete = REGNET_BOTTLENECK
    num_stages: int = 4
    stem_width: int = 32
    paper_size: float | None = 3.0e8
    q: int = 8

    @property
    def dims(self) -> int:
        return 6

    def size(self) -> int:
        return math.prod(
            d.size
            for d in (self.depth, self.w0, self.wa, self.wm, self.group_width, self.bottleneck)
        )

    def parameters(self) -> dict[str, str]:
        return {
            k: getattr(self, k).describe()
            for k in ("depth", "w0", "wa", "wm", "group_width", "bottleneck")
        }

    def draw(self, rng: np.random.Generator, n: int) -> Candidates:
        d, w0, wa, wm, g, b = (
            getattr(self, k).sample(rng, n)
            for k in ("depth", "w0", "wa", "wm", "group_width", "bottleneck")
        )
        widths = block_widths(d.astype(np.int64), w0, wa, wm, self.q)
        ok, stage_w, stage_d = stage_arrays(widths, self.num_stages)
        ok &= pycls_accepts(d.astype(np.int64), w0, wa, wm, self.num_stages)
        s = self.num_stages
        b = np.repeat(b.astype(np.int64)[:, None], s, axis=1)
        g = np.repeat(g.astype(np.int64)[:, None], s, axis=1)
        stage_w, g = adjust_compatibility(stage_w, b, g)
        stride = np.full((n, s), 2, dtype=np.int64)
        extra = {"d": d.astype(np.int64), "w0": w0.astype(np.int64), "wa": wa, "wm": wm}
        return Candidates(
            stage_d, stage_w, stride, b, g, "X", self.se_ratio, self.stem_width, extra
        ).select(ok)

    def suggest(self, trial: Suggester) -> AnyNetConfig:
        """Define-by-run (`nas search`): d, w0, wa, wm, group_width and bottleneck, each as
        `Discrete.suggest` asks its grid (a one-value grid, like b = 1, asks nothing). A setting
        that does not give exactly `num_stages` stages raises ConfigError (`draw` drops such
        settings too; it also drops those that skip a width level, which this does not check)."""
        p = {
            k: getattr(self, attr).suggest(trial, k)
            for k, attr in (
                ("d", "depth"),
                ("w0", "w0"),
                ("wa", "wa"),
                ("wm", "wm"),
                ("group_width", "group_width"),
                ("bottleneck", "bottleneck"),
            )
        }
        params = RegNetParams(
            depth=int(p["d"]),
            w0=int(p["w0"]),
            wa=float(p["wa"]),
            wm=float(p["wm"]),
            group_width=int(p["group_width"]),
            bottleneck=int(p["bottleneck"]),
            se_ratio=self.se_ratio,
            q=self.q,
        )
        return params.to_anynet(stem_width=self.stem_width, num_stages=self.num_stages)

    def extremes(self) -> tuple[Candidates, Candidates]:
        """Bounds, not configs: every stage at the smallest width w0 with one block, and every stage
        with all d blocks at the widest quantized width the ranges allow (w0 + wa (d - 1), times
        sqrt(wm) for the rounding to a power of wm, plus a group width for the compatibility
        step)."""
        d, w0, wa, wm, g, b = (
            getattr(self, k).values
            for k in ("depth", "w0", "wa", "wm", "group_width", "bottleneck")
        )
        widest = (max(w0) + max(wa) * (max(d) - 1)) * math.sqrt(max(wm))
        widest = math.ceil(widest / self.q) * self.q + max(g)
        return (
            _uniform_body(self, 1, min(w0), max(b), 1, "X"),
            _uniform_body(self, max(d), widest, min(b), max(g), "X"),
        )
