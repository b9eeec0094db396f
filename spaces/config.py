"""AnyNet configs: plain, frozen, JSON-serializable data, with their validation and exact
complexity.

An `AnyNetConfig` fully determines a network (stem, stages of identical blocks, head). ResNet-style,
AnyNet and RegNet networks are all expressed with it; a RegNet is an AnyNet config whose stages come
from the quantized-linear rule (see `spaces.regnet`). It follows the `NetworkConfig` protocol
(spaces.netconfig): `analytic` counts it with spaces.complexity's array formulas, `build` hands it
to the torch generator of spaces.anynet (imported only then: torch).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from spaces.compat import adjust_block_compatibility
from spaces.complexity import BlockOptions, Complexity, Resolution, check_resolution, network_cost
from spaces.errors import ConfigError
from spaces.records import OPTION_DEFAULTS, RECORD_KEYS, config_key

if TYPE_CHECKING:
    from torch import nn

BLOCKS = {
    "V": "vanilla block: 3x3 conv, BN, ReLU, 3x3 conv, BN, ReLU (no residual)",
    "R": "residual basic block: two 3x3 convs with a residual connection",
    "X": "residual bottleneck block: 1x1, 3x3 group conv, 1x1 (optionally with squeeze-excitation)",
}
STEMS = {
    "imagenet": "3x3 conv stride 2 + BN + ReLU (224 px inputs)",
    "small": "3x3 conv stride 1 + BN + ReLU (28-32 px inputs)",
}
# What the ImageNet stem (stem="imagenet") is; the small stem is always one 3x3 stride-1 conv, no
# pool.
STEM_KINDS = {
    "regnet": "3x3 conv stride 2 + BN + ReLU (RegNet, AnyNet)",
    "resnet": (
        "7x7 conv stride 2 + BN + ReLU + 3x3 max-pool stride 2, padding 1 (torchvision ResNet)"
    ),
    "senet": (
        "7x7 conv stride 2 + BN + ReLU + 3x3 max-pool stride 2, ceil mode (Caffe, legacy SE-ResNet)"
    ),
    "deep": (
        "3x3 convs stride 2 (stem_width/2), 1 (stem_width/2), 1 (stem_width), each + BN + ReLU, "
        "+ 3x3 max-pool stride 2, ceil mode (SENet-154)"
    ),
}


@dataclass(frozen=True)
class StageConfig:
    """One stage: `depth` identical blocks; the first one has `stride` and changes the width.

    `bottleneck` is the paper's ratio b (bottleneck width = width / b); `group_width` is the number
    of channels per group of the 3x3 conv. Both only matter for the X block; V and R record 1 and
    width.
    """

    depth: int
    width: int
    stride: int = 2
    bottleneck: int = 1
    group_width: int = 1

    @property
    def bottleneck_width(self) -> int:
        return self.width // self.bottleneck

    @property
    def groups(self) -> int:
        return self.bottleneck_width // self.group_width


@dataclass(frozen=True)
class AnyNetConfig:
    """Stem + stages + head (global average pool, linear). Y blocks are X blocks with `se_ratio`."""

    stages: tuple[StageConfig, ...]
    block: str = "X"
    se_ratio: float | None = None
    stem: str = "imagenet"
    stem_width: int = 32
    in_channels: int = 3
    num_classes: int = 1000
    stem_kind: str = "regnet"
    se_reduction: int | None = None
    stride_1x1: bool = False
    expand_3x3: bool = False
    proj_kernel: int = 1
    head_dropout: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)
    kind: ClassVar[str] = "anynet"

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))
        _validate(self)

    # --- the NetworkConfig protocol (spaces.netconfig) -------------------------------------------
    @property
    def native_resolution(self) -> int:
        return 224 if self.stem == "imagenet" else 32

    def analytic(self, resolution: Resolution) -> Complexity:
        """Exact counts at `resolution` with the array formulas of spaces.complexity
        (`network_cost`)."""
        check_resolution(resolution)
        depth, width, stride, bottleneck, group_width = (
            # Python ints: any size; int64 when safe
            np.array([[getattr(s, f) for s in self.stages]], dtype=object)
            for f in ("depth", "width", "stride", "bottleneck", "group_width")
        )
        opts = BlockOptions(self.se_reduction, self.stride_1x1, self.expand_3x3, self.proj_kernel)
        cost = network_cost(
            self.block,
            self.se_ratio,
            self.stem,
            self.stem_width,
            self.in_channels,
            self.num_classes,
            resolution,
            depth,
            width,
            stride,
            bottleneck,
            group_width,
            stem_kind=self.stem_kind,
            opts=opts,
        )
        params, flops, acts = (int(np.asarray(x).reshape(-1)[0]) for x in cost)
        return Complexity(params, flops, acts, resolution=resolution)

    def build(self, zero_init_last: bool = False) -> nn.Module:
        from spaces.anynet import AnyNet  # torch, only when a model is built

        return AnyNet(self, zero_init_last=zero_init_last)

    def describe(self) -> str:
        return f"{self.block_name} blocks, stages (depth, width) " + ", ".join(
            f"({s.depth}, {s.width})" for s in self.stages
        )

    # --- derived views -------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        return sum(s.depth for s in self.stages)

    @property
    def block_name(self) -> str:
        """The paper's letter: V, R, X, or Y for X with squeeze-excitation."""
        return "Y" if self.block == "X" and self.se_ratio else self.block

    def options(self) -> dict[str, Any]:
        """The block / stem / head options (OPTION_DEFAULTS) that differ from their defaults."""
        return {k: getattr(self, k) for k, v in OPTION_DEFAULTS.items() if getattr(self, k) != v}

    def key(self) -> str:
        """Identity of the network (spaces.records.config_key of its dict): drops duplicate
        samples."""
        return config_key(self.to_dict())

    def replace(self, **changes: Any) -> AnyNetConfig:
        return dataclasses.replace(self, **changes)

    def for_input(self, in_channels: int, num_classes: int, small: bool) -> AnyNetConfig:
        """The same body adapted to another input: channels, classes and stem."""
        return self.replace(
            in_channels=in_channels, num_classes=num_classes, stem="small" if small else "imagenet"
        )

    # --- serialization -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = {
            "block": self.block,
            "se_ratio": self.se_ratio,
            "stem": self.stem,
            "stem_width": self.stem_width,
            "in_channels": self.in_channels,
            "num_classes": self.num_classes,
            "stages": [dataclasses.asdict(s) for s in self.stages],
        }
        out.update(self.options())  # only non-default options: older dicts stay byte-identical
        out.update(self.extra)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], compatible: bool = True) -> AnyNetConfig:
        """Parse a dict (a config file, or a line of `nas sample --dry-run`).

        The group-width compatibility step is applied unless `compatible=False`, so a file may hold
        the raw sampled values; the config records the adjusted ones.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"a config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        unknown = set(data) - known - RECORD_KEYS
        if unknown:
            raise ConfigError(
                f"unknown config key(s) {sorted(unknown)}; valid keys: {sorted(known)}"
            )
        if "stages" not in data:
            raise ConfigError(
                "config has no 'stages': give a list of {depth, width, stride, bottleneck, "
                "group_width} objects"
            )
        raw_stages = data["stages"]
        if not isinstance(raw_stages, Sequence) or isinstance(raw_stages, str) or not raw_stages:
            raise ConfigError("'stages' must be a non-empty list of stage objects")
        stage_fields = {f.name for f in dataclasses.fields(StageConfig)}
        stages = []
        for i, s in enumerate(raw_stages, 1):
            if not isinstance(s, Mapping):
                raise ConfigError(f"stage {i}: must be an object with keys {sorted(stage_fields)}")
            bad = set(s) - stage_fields
            if bad:
                raise ConfigError(
                    f"stage {i}: unknown key(s) {sorted(bad)}; valid: {sorted(stage_fields)}"
                )
            if "depth" not in s or "width" not in s:
                raise ConfigError(f"stage {i}: 'depth' and 'width' are required")
            stages.append({k: _as_int(v, f"stage {i}: {k}") for k, v in s.items()})
        kwargs = {k: data[k] for k in known & set(data) if k != "stages"}
        block = str(kwargs.get("block", "X")).upper()
        if block == "Y":  # the paper's Y block is the X block with SE of 1/4 the input width
            block = "X"
            kwargs["se_ratio"] = kwargs.get("se_ratio") or 0.25
        kwargs["block"] = block
        for k in ("stem_width", "in_channels", "num_classes", "proj_kernel"):
            if k in kwargs:
                kwargs[k] = _as_int(kwargs[k], k)
        if kwargs.get("se_reduction") is not None:
            kwargs["se_reduction"] = _as_int(kwargs["se_reduction"], "se_reduction")
        extra = {"regnet": data["regnet"]} if isinstance(data.get("regnet"), Mapping) else {}
        return make_anynet(stages, compatible=compatible, extra=extra, **kwargs)


def make_anynet(
    stages: Iterable[Mapping[str, int] | StageConfig], compatible: bool = True, **kwargs: Any
) -> AnyNetConfig:
    """Build an AnyNetConfig from raw stage values, applying the group-width compatibility step."""
    stage_list = [s if isinstance(s, StageConfig) else StageConfig(**s) for s in stages]
    block = kwargs.get("block", "X")
    if compatible:
        stage_list = [adjust_stage(s, block) for s in stage_list]
    return AnyNetConfig(stages=tuple(stage_list), **kwargs)


def adjust_stage(stage: StageConfig, block: str) -> StageConfig:
    """The RegNet paper's group-width compatibility step, exactly as pycls (`spaces.compat`).

    w_b = floor(w / b) (at least 1); g = min(g, w_b); w_b rounded (half to even) to a multiple of g;
    w = w_b * b. V and R blocks have no bottleneck or groups: they record b = 1 and g = w.
    """
    if block != "X":
        return dataclasses.replace(stage, bottleneck=1, group_width=stage.width)
    if stage.width < 1 or stage.bottleneck < 1 or stage.group_width < 1:
        return stage  # left to validation, which names the bad value
    width, g = adjust_block_compatibility(stage.width, stage.bottleneck, stage.group_width)
    return dataclasses.replace(stage, width=int(width), group_width=int(g))


def _as_int(value: Any, what: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not float(value).is_integer()
    ):
        raise ConfigError(f"{what} must be an integer, got {value!r}")
    return int(value)


def _validate(cfg: AnyNetConfig) -> None:
    if cfg.block not in BLOCKS:
        raise ConfigError(
            f"unknown block {cfg.block!r}; valid: {', '.join(BLOCKS)} (and Y = X with SE)"
        )
    if cfg.stem not in STEMS:
        raise ConfigError(f"unknown stem {cfg.stem!r}; valid: {', '.join(STEMS)}")
    if cfg.se_ratio is not None and not (
        isinstance(cfg.se_ratio, int | float) and 0 < cfg.se_ratio <= 1
    ):
        raise ConfigError(f"se_ratio must be null or in (0, 1], got {cfg.se_ratio!r}")
    for name in ("stem_width", "in_channels", "num_classes"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if not cfg.stages:
        raise ConfigError("a network needs at least one stage")
    for i, s in enumerate(cfg.stages, 1):
        for name in ("depth", "width", "bottleneck", "group_width"):
            value = getattr(s, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"stage {i}: {name} must be a positive integer, got {value!r}")
        if s.stride not in (1, 2):
            raise ConfigError(f"stage {i}: stride must be 1 or 2, got {s.stride!r}")
        if cfg.block == "X":
            if s.width % s.bottleneck or s.bottleneck_width % s.group_width:
                raise ConfigError(
                    f"stage {i}: width {s.width} / bottleneck {s.bottleneck} must be a multiple of "
                    f"group width {s.group_width}; apply the compatibility step (make_anynet or "
                    "from_dict do)"
                )
        elif (s.bottleneck, s.group_width) != (1, s.width):
            raise ConfigError(
                f"stage {i}: {cfg.block} blocks have no bottleneck or groups: use "
                f"bottleneck=1 and group_width=width ({s.width})"
            )
    if cfg.se_ratio and cfg.block != "X":
        # SE is defined on the bottleneck here; keep the promise narrow rather than guess a
        # placement.
        raise ConfigError("se_ratio applies to X blocks only (Y = X + SE)")
    _validate_options(cfg)


def _validate_options(cfg: AnyNetConfig) -> None:
    if cfg.stem_kind not in STEM_KINDS:
        raise ConfigError(f"unknown stem_kind {cfg.stem_kind!r}; valid: {', '.join(STEM_KINDS)}")
    if cfg.stem_kind == "deep" and cfg.stem_width % 2:
        raise ConfigError(
            "the deep stem needs an even stem_width (its first convs have half), "
            f"got {cfg.stem_width}"
        )
    red = cfg.se_reduction
    if red is not None:
        if isinstance(red, bool) or not isinstance(red, int) or red < 1:
            raise ConfigError(f"se_reduction must be null or a positive integer, got {red!r}")
        if cfg.block == "V":
            raise ConfigError(
                "se_reduction (SE on the block output) applies to R and X blocks, not V"
            )
        if cfg.se_ratio:
            raise ConfigError(
                "give se_ratio (SE in the bottleneck, RegNet Y) or se_reduction (SE on the block "
                "output, SENet), not both"
            )
        too_narrow = [s.width for s in cfg.stages if s.width < red]
        if too_narrow:
            raise ConfigError(f"se_reduction {red} leaves no SE channels for width {too_narrow[0]}")
    for name in ("stride_1x1", "expand_3x3"):
        value = getattr(cfg, name)
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        if value and cfg.block != "X":
            raise ConfigError(f"{name} applies to X (bottleneck) blocks only")
    if cfg.expand_3x3:
        for i, s in enumerate(cfg.stages, 1):
            if s.width % s.groups:
                raise ConfigError(
                    f"stage {i}: with expand_3x3 the width {s.width} must be a multiple of the "
                    f"3x3 conv's {s.groups} groups"
                )
    if cfg.proj_kernel not in (1, 3) or isinstance(cfg.proj_kernel, bool):
        raise ConfigError(f"proj_kernel must be 1 or 3, got {cfg.proj_kernel!r}")
    if cfg.proj_kernel != 1 and cfg.block == "V":
        raise ConfigError("proj_kernel applies to R and X blocks (V has no shortcut)")
    p = cfg.head_dropout
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p < 1:
        raise ConfigError(f"head_dropout must be in [0, 1), got {p!r}")
