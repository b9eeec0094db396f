"""Compound scaling (EfficientNet): scale any base network by depth, width and resolution
multipliers.

Rounding rules of the reference code (REFERENCE section 4):

* channels c -> make_divisible(c * width): the nearest multiple of 8, at least 8, plus 8 when that
  loses more than 10% (stem, every stage and the head alike); AnyNet/RegNet widths then go through
  the group-width compatibility step;
* layers n -> ceil(n * depth), per stage;
* resolution r -> round(r * res / q) * q with q = 8 at ImageNet sizes (q = 1 below 64 px, for
  proxies).

`compound(base, phi, alpha, beta, gamma)` uses depth = alpha^phi, width = beta^phi, resolution =
gamma^phi (the EfficientNet paper's rule, 1.2 / 1.1 / 1.15) and reports the analytic flops next to
the ideal growth (alpha * beta^2 * gamma^2)^phi. The published B1-B7 were not made by that rule:
their multipliers were picked by hand (PUBLISHED_EFFICIENTNET); `published(base, n)` applies them
and reproduces B1-B7 from B0 exactly. `grid_points` enumerates step 1 of EfficientNet: alpha, beta,
gamma >= 1 on a grid with alpha beta^2 gamma^2 ~ 2; `ScalingSpace` is the design space of those
rules (a `DesignSpace`, spaces.design_space, drawn as `ScalingBatch`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, overload

import numpy as np

from spaces.complexity import Complexity, Cost, Resolution
from spaces.config import AnyNetConfig, make_anynet
from spaces.design_space import DesignSpace, Suggester
from spaces.errors import ConfigError
from spaces.mbconv import MBConvConfig, efficientnet_b0, make_divisible
from spaces.netconfig import NetworkConfig

TARGET = 2.0  # alpha * beta^2 * gamma^2: flops double per unit of phi
RULE = (1.2, 1.1, 1.15)  # the EfficientNet paper's (alpha, beta, gamma) [EffNet §3.3]
# EfficientNet-B0..B7 as published: (width, depth, resolution, dropout), the reference code's table
# (tensorflow/tpu models/official/efficientnet/efficientnet_builder.py, efficientnet_params; timm
# and torchvision use the same numbers). Hand-picked: e.g. B1 keeps B0's width where beta^1 would be
# 1.1.
PUBLISHED_EFFICIENTNET: dict[int, tuple[float, float, int, float]] = {
    0: (1.0, 1.0, 224, 0.2),
    1: (1.0, 1.1, 240, 0.2),
    2: (1.1, 1.2, 260, 0.3),
    3: (1.2, 1.4, 300, 0.3),
    4: (1.4, 1.8, 380, 0.4),
    5: (1.6, 2.2, 456, 0.4),
    6: (1.8, 2.6, 528, 0.5),
    7: (2.0, 3.1, 600, 0.5),
}
PUBLISHED_BASE_RESOLUTION = 224  # B0's, to which the published resolutions are relative


def round_depth(layers: int, depth: float) -> int:
    """ceil(layers * depth), as the reference code (and torchvision) compute it."""
    return math.ceil(layers * depth)


def round_resolution(resolution: float, divisor: int | None = None) -> int:
    """Nearest multiple of `divisor` (default 8 from 64 px up, 1 below), at least the divisor."""
    q = divisor or (8 if resolution >= 64 else 1)
    return max(q, round(resolution / q) * q)


@overload
def scale(cfg: MBConvConfig, depth: float = 1.0, width: float = 1.0) -> MBConvConfig: ...
@overload
def scale(cfg: AnyNetConfig, depth: float = 1.0, width: float = 1.0) -> AnyNetConfig: ...
@overload
def scale(cfg: NetworkConfig, depth: float = 1.0, width: float = 1.0) -> NetworkConfig: ...
def scale(cfg: NetworkConfig, depth: float = 1.0, width: float = 1.0) -> NetworkConfig:
    """`cfg` with every stage's layers times `depth` (ceil) and every width times `width`
    (make_divisible).

    Works for MBConv networks (EfficientNet, MobileNet, MnasNet) and AnyNet/RegNet configs. The
    resolution is not part of an AnyNet config: `compound` carries it next to the scaled config.
    """
    for name, value in (("depth", depth), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigError(
                f"scaling: the {name} multiplier must be a positive number, got {value!r}"
            )
    if isinstance(cfg, MBConvConfig):
        stages = tuple(
            dataclasses.replace(
                s, width=make_divisible(s.width * width), depth=round_depth(s.depth, depth)
            )
            for s in cfg.stages
        )
        return cfg.replace(
            stages=stages,
            stem_width=make_divisible(cfg.stem_width * width),
            head_width=make_divisible(cfg.head_width * width) if cfg.head_width else 0,
            head_hidden=make_divisible(cfg.head_hidden * width) if cfg.head_hidden else 0,
        )
    if isinstance(cfg, AnyNetConfig):
        layout = [
            {
                "depth": round_depth(s.depth, depth),
                "width": make_divisible(s.width * width),
                "stride": s.stride,
                "bottleneck": s.bottleneck,
                "group_width": s.group_width,
            }
            for s in cfg.stages
        ]
        kwargs = {
            f.name: getattr(cfg, f.name)
            for f in dataclasses.fields(cfg)
            if f.name not in ("stages", "extra")
        }
        kwargs["stem_width"] = make_divisible(cfg.stem_width * width)
        return make_anynet(layout, **kwargs)
    raise ConfigError(
        f"scaling supports MBConv (EfficientNet, MobileNet, MnasNet) and AnyNet/RegNet configs, "
        f"not {type(cfg).__name__} ({getattr(cfg, 'kind', '?')})"
    )


@dataclass(frozen=True)
class Scaled:
    """A compound-scaled network: the config, its resolution and complexity, and the base's.

    coefficients "rule": the multipliers are alpha^phi, beta^phi, gamma^phi; "published": they are
    EfficientNet-B<phi>'s from PUBLISHED_EFFICIENTNET (alpha, beta, gamma are then the rule's, for
    comparison).
    """

    config: NetworkConfig
    resolution: int
    phi: float
    alpha: float
    beta: float
    gamma: float
    complexity: Complexity
    base_complexity: Complexity
    coefficients: str = "rule"
    multipliers: tuple[float, float, float] | None = (
        None  # (depth, width, resolution) if not the rule's
    )
    base_name: str | None = None

    @property
    def depth_mult(self) -> float:
        return self.multipliers[0] if self.multipliers else self.alpha**self.phi

    @property
    def width_mult(self) -> float:
        return self.multipliers[1] if self.multipliers else self.beta**self.phi

    @property
    def resolution_mult(self) -> float:
        return self.multipliers[2] if self.multipliers else self.gamma**self.phi

    @property
    def ideal_growth(self) -> float:
        """(alpha * beta^2 * gamma^2)^phi: the flops growth compound scaling aims at."""
        return (self.alpha * self.beta**2 * self.gamma**2) ** self.phi

    @property
    def flops_growth(self) -> float:
        return self.complexity.flops / self.base_complexity.flops

    @property
    def rule_phi(self) -> dict[str, float | None]:
        """The phi at which the rule (alpha, beta, gamma) gives each multiplier: phi itself for the
        rule, different per dimension for the published coefficients (None where the coefficient is
        1)."""
        pairs = (
            ("depth", self.depth_mult, self.alpha),
            ("width", self.width_mult, self.beta),
            ("resolution", self.resolution_mult, self.gamma),
        )
        return {k: round(math.log(m) / math.log(c), 4) if c != 1 else None for k, m, c in pairs}

    def to_dict(self) -> dict[str, Any]:
        return {
            "coefficients": self.coefficients,
            "base_name": self.base_name,
            "phi": self.phi,
            "alpha": self.alpha,
            "beta": self.beta,
            "gamma": self.gamma,
            "depth_mult": self.depth_mult,
            "width_mult": self.width_mult,
            "resolution_mult": self.resolution_mult,
            "rule_phi": self.rule_phi,
            "resolution": self.resolution,
            "params": self.complexity.params,
            "flops": self.complexity.flops,
            "acts": self.complexity.acts,
            "flops_growth": round(self.flops_growth, 4),
            "ideal_growth": round(self.ideal_growth, 4),
            "base": self.base_complexity.to_dict(),
            "config": self.config.to_dict(),
        }


def _check_coefficients(phi: float, alpha: float, beta: float, gamma: float) -> None:
    if isinstance(phi, bool) or not isinstance(phi, int | float) or phi < 0:
        raise ConfigError(f"compound scaling: phi must be a number >= 0, got {phi!r}")
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigError(f"compound scaling: {name} must be a positive number, got {value!r}")


def compound(
    base: NetworkConfig,
    phi: float,
    alpha: float = 1.2,
    beta: float = 1.1,
    gamma: float = 1.15,
    resolution: int | None = None,
    resolution_divisor: int | None = None,
    base_name: str | None = None,
) -> Scaled:
    """Scale `base` by depth alpha^phi, width beta^phi and resolution gamma^phi (from `resolution`,
    default the base's native one), with the reference rounding; complexity with the base's channels
    and classes. `base_name` (default: the one `base` records, if any) goes into the result and the
    config's `scaling`."""
    _check_coefficients(phi, alpha, beta, gamma)
    base_res = base.native_resolution if resolution is None else resolution
    new_res = round_resolution(base_res * gamma**phi, resolution_divisor)
    cfg = scale(base, alpha**phi, beta**phi)
    name = base_name or _recorded_name(base)
    if isinstance(cfg, MBConvConfig):
        cfg = cfg.replace(
            resolution=new_res,
            scaling={"base": name, "phi": phi, "alpha": alpha, "beta": beta, "gamma": gamma},
        )
    return Scaled(
        cfg,
        new_res,
        phi,
        alpha,
        beta,
        gamma,
        cfg.analytic(new_res),
        base.analytic(base_res),
        base_name=name,
    )


def published(
    base: NetworkConfig, n: int, resolution: int | None = None, base_name: str | None = None
) -> Scaled:
    """EfficientNet-B`n`'s published multipliers (PUBLISHED_EFFICIENTNET: width, depth, resolution
    and dropout) applied to `base`, with the reference rounding. From EfficientNet-B0 this is B`n`
    exactly; the resolution is B`n`'s times base resolution / 224 (default: the base's native one),
    to the nearest pixel. The Scaled's alpha, beta, gamma are the paper's rule (RULE), for
    comparison (see Scaled.rule_phi)."""
    if isinstance(n, bool) or not isinstance(n, int | float) or n not in PUBLISHED_EFFICIENTNET:
        raise ConfigError(
            f"published EfficientNet coefficients exist for B0 to B7 (phi 0..7), not phi={n!r}"
        )
    n = int(n)
    width, depth, res, dropout = PUBLISHED_EFFICIENTNET[n]
    base_res = base.native_resolution if resolution is None else resolution
    new_res = max(1, round(res * base_res / PUBLISHED_BASE_RESOLUTION))
    cfg = scale(base, depth, width)
    name = base_name or _recorded_name(base)
    if isinstance(cfg, MBConvConfig):
        cfg = cfg.replace(
            resolution=new_res,
            dropout=dropout,
            scaling={
                "base": name,
                "phi": n,
                "coefficients": "published",
                "width": width,
                "depth": depth,
                "resolution": res,
            },
        )
    return Scaled(
        cfg,
        new_res,
        n,
        *RULE,
        cfg.analytic(new_res),
        base.analytic(base_res),
        coefficients="published",
        multipliers=(depth, width, new_res / base_res),
        base_name=name,
    )


def _recorded_name(base: NetworkConfig) -> str | None:
    return base.scaling.get("base") if isinstance(base, MBConvConfig) and base.scaling else None


def grid_points(
    step: float = 0.05, tolerance: float = 0.1, target: float = TARGET
) -> list[tuple[float, float, float]]:
    """(alpha, beta, gamma) >= 1 on multiples of `step` from 1 with |alpha beta^2 gamma^2 - target|
    <= tolerance, in increasing order."""
    if not 0 < step <= 1:
        raise ConfigError(f"grid step must be in (0, 1], got {step!r}")
    if not 0 <= tolerance < target - 1:
        raise ConfigError(f"grid tolerance must be in [0, {target - 1:g}), got {tolerance!r}")
    top = target + tolerance
    na, nb = math.floor((top - 1) / step + 1e-9), math.floor((math.sqrt(top) - 1) / step + 1e-9)
    points = []
    for i in range(na + 1):
        a = round(1 + i * step, 10)
        for j in range(nb + 1):
            b = round(1 + j * step, 10)
            for k in range(nb + 1):
                g = round(1 + k * step, 10)
                if abs(a * b * b * g * g - target) <= tolerance + 1e-12:
                    points.append((a, b, g))
    return points


def family(
    base: NetworkConfig,
    alpha: float,
    beta: float,
    gamma: float,
    phis: range | list[int] = range(1, 8),
    resolution: int | None = None,
) -> list[Scaled]:
    """Step 2 of EfficientNet: fix alpha, beta, gamma and scale the base by phi = 1..7."""
    return [compound(base, phi, alpha, beta, gamma, resolution) for phi in phis]


# --- a design space of scaling rules --------------------------------------------------------------
@dataclass
class ScalingBatch:
    """Candidates of `ScalingSpace`: indices into its grid (a SampleBatch, spaces.design_space)."""

    space: ScalingSpace
    index: np.ndarray
    invalid: int = 0  # every rule of the grid gives a network
    invalid_example: str | None = None

    def __len__(self) -> int:
        return len(self.index)

    def cost(
        self,
        resolution: Resolution | None = None,
        in_channels: int = 3,
        num_classes: int = 1000,
        stem: str = "imagenet",
    ) -> Cost:
        rows = [
            self.space.cost_of(int(i), resolution, in_channels, num_classes, stem)
            for i in self.index
        ]
        arr = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
        return Cost(arr[:, 0], arr[:, 1], arr[:, 2])

    def select(self, mask: np.ndarray) -> ScalingBatch:
        return ScalingBatch(self.space, self.index[mask])

    def keys(self) -> list[int]:
        return [int(i) for i in self.index]

    def config(self, i: int) -> MBConvConfig:
        return self.space.config(int(self.index[i]))


MEMO_LIMIT = 50_000  # counted networks a ScalingSpace keeps (about 10 MB); then it starts over


@dataclass(frozen=True)
class ScalingSpace(DesignSpace):
    """Scaling rules (alpha, beta, gamma) >= 1 on a fine grid with |alpha beta^2 gamma^2 - 2| <=
    tolerance, uniform over the grid; each sample is the base scaled with phi = 1 (for EDFs of
    scaling rules)."""

    name: str = "effnet_scaling"
    description: str = (
        "EfficientNet-B0 compound-scaled with phi = 1 by rules (alpha, beta, gamma) >= 1, "
        "|alpha beta^2 gamma^2 - 2| <= 0.1, on a 0.01 grid"
    )
    base: MBConvConfig = field(default_factory=efficientnet_b0)
    base_name: str = "efficientnet_b0"
    phi: float = 1.0
    step: float = 0.01
    tolerance: float = 0.1
    paper_size: float | None = None
    batch: int = 8192
    default_flops_band: ClassVar[tuple[float, float] | None] = None
    _memo: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def grid(self) -> list[tuple[float, float, float]]:
        if "grid" not in self._memo:
            self._memo["grid"] = grid_points(self.step, self.tolerance)
        return self._memo["grid"]

    @property
    def reference_resolution(self) -> int:
        return self.base.resolution  # each record carries its own scaled resolution

    @property
    def dims(self) -> int:
        return 3

    def size(self) -> int:
        return len(self.grid)

    def parameters(self) -> dict[str, str]:
        a, b, g = (sorted({p[i] for p in self.grid}) for i in range(3))
        return {
            "alpha": f"grid in [{a[0]:g}, {a[-1]:g}] step {self.step:g}",
            "beta": f"grid in [{b[0]:g}, {b[-1]:g}] step {self.step:g}",
            "gamma": f"grid in [{g[0]:g}, {g[-1]:g}] step {self.step:g}",
            "constraint": (
                f"|alpha beta^2 gamma^2 - 2| <= {self.tolerance:g}, uniform over the grid"
            ),
        }

    def config(self, i: int) -> MBConvConfig:
        a, b, g = self.grid[i]
        cfg = compound(self.base, self.phi, a, b, g).config
        # compound() keeps the MBConv base an MBConvConfig and records its scaling in it
        assert isinstance(cfg, MBConvConfig) and cfg.scaling is not None
        return cfg.replace(scaling={**cfg.scaling, "base": self.base_name})

    def cost_of(
        self, i: int, resolution: Resolution | None, in_channels: int, num_classes: int, stem: str
    ) -> tuple[int, int, int]:
        key = (i, resolution, in_channels, num_classes, stem)
        # a registered space lives for the process
        if key not in self._memo and len(self._memo) >= MEMO_LIMIT:
            grid = self._memo.get("grid")
            self._memo.clear()
            if grid is not None:
                self._memo["grid"] = grid
        if key not in self._memo:
            a, b, g = self.grid[i]
            cfg = scale(self.base, a**self.phi, b**self.phi)
            res = resolution or round_resolution(self.base.resolution * g**self.phi)
            net = (cfg.for_input(in_channels, num_classes, stem == "small").key(), res)
            if net not in self._memo:  # many rules round to the same network
                c = cfg.for_input(in_channels, num_classes, stem == "small").analytic(res)
                self._memo[net] = (c.params, c.flops, c.acts)
            self._memo[key] = self._memo[net]
        return self._memo[key]

    def draw(self, rng: np.random.Generator, n: int) -> ScalingBatch:
        return ScalingBatch(self, rng.integers(0, len(self.grid), size=n))

    def suggest(self, trial: Suggester) -> MBConvConfig:
        """Define-by-run for `nas search`: the rule's index in the grid as the int parameter "rule",
        uniform over the grid as `draw`."""
        return self.config(trial.suggest_int("rule", 0, len(self.grid) - 1))


__all__ = [
    "PUBLISHED_EFFICIENTNET",
    "RULE",
    "Scaled",
    "ScalingSpace",
    "compound",
    "family",
    "grid_points",
    "published",
    "round_depth",
    "round_resolution",
    "scale",
]
