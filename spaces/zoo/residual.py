"""The residual families as AnyNet bodies: ResNet, ResNeXt, SE-ResNet / SE-ResNeXt, SENet-154 (and
the reference figures of the published RegNets).

ResNet, ResNeXt, SE-ResNet, AnyNet and RegNet are the same body with different block and stage
parameters. A `ResNetConfig` holds a residual family's free parameters as the papers state them
(depth layout, block, planes, cardinality, base width, SE reduction, ...) and turns them into an
ordinary `AnyNetConfig` (`body()`), which builds the module and counts the exact complexity, like
`RegNetParams` does for RegNet. Bottleneck width, as in torchvision and the legacy SENet code:
w_b = floor(planes * base_width / 64) * cardinality, block width planes * 4 (planes for basic
blocks).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict

from spaces.config import STEM_KINDS, AnyNetConfig, StageConfig
from spaces.distributions import choice
from spaces.errors import ConfigError
from spaces.family_space import FamilySpace
from spaces.graph_config import config_fields, construct
from spaces.netconfig import register_kind
from spaces.records import config_key
from spaces.registry import register_model, register_space
from spaces.regnet import PUBLISHED
from spaces.zoo.references import register_reference

if TYPE_CHECKING:
    from torch import nn

    from spaces.complexity import Complexity, Resolution

BLOCKS = {"basic": "R", "bottleneck": "X"}
EXPANSION = {"basic": 1, "bottleneck": 4}
# SENet-only options: left out of to_dict() when they have these values.
_QUIET_DEFAULTS = {
    "se_reduction": None,
    "stride_1x1": False,
    "expand_3x3": False,
    "proj_kernel": 1,
    "head_dropout": 0.0,
}


@dataclass(frozen=True)
class ResNetConfig:
    """A ResNet-family network by its published parameters; its body is an AnyNet (`body()`).

    depths: blocks per stage (the depth layout); planes: per-stage base widths (block width = planes
    x 4 for bottleneck blocks); cardinality and base_width: ResNeXt's C and d (the 3x3 conv has C
    groups of floor(planes * d / 64) channels); se_reduction: SE on the block output, w_out // r
    channels (SENet); stride_1x1: stride on the first 1x1 conv (Caffe, SE-ResNet); expand_3x3: the
    3x3 conv widens to the block width (SENet-154); proj_kernel: 3 for 3x3 strided projections
    (SENet-154); small: the 28-32 px stem (3x3 stride-1 conv, no max-pool).
    """

    kind: ClassVar[str] = "resnet"
    depths: tuple[int, ...] = (3, 4, 6, 3)
    block: str = "bottleneck"
    planes: tuple[int, ...] = (64, 128, 256, 512)
    cardinality: int = 1
    base_width: int = 64
    se_reduction: int | None = None
    stride_1x1: bool = False
    expand_3x3: bool = False
    proj_kernel: int = 1
    head_dropout: float = 0.0
    stem_kind: str = "resnet"
    stem_width: int = 64
    small: bool = False
    in_channels: int = 3
    num_classes: int = 1000

    def __post_init__(self) -> None:
        for name in ("depths", "planes"):
            value = getattr(self, name)
            if isinstance(value, str) or not hasattr(value, "__iter__"):
                raise ConfigError(
                    f"resnet: {name} must be a list of positive integers, got {value!r}"
                )
            object.__setattr__(self, name, tuple(int(v) if _integral(v) else v for v in value))
        self._check()
        self.body()  # validates the AnyNet body (widths, groups, options) with its own messages

    def _check(self) -> None:
        if self.block not in BLOCKS:
            raise ConfigError(f"resnet: unknown block {self.block!r}; valid: {', '.join(BLOCKS)}")
        if not self.depths or len(self.depths) != len(self.planes):
            raise ConfigError(
                f"resnet: depths {list(self.depths)} and planes {list(self.planes)} need one "
                "value per stage each"
            )
        for name in ("depths", "planes"):
            bad = [v for v in getattr(self, name) if not _integral(v) or v < 1]
            if bad:
                raise ConfigError(f"resnet: {name} must be positive integers, got {bad[0]!r}")
        for name in ("cardinality", "base_width", "stem_width", "in_channels", "num_classes"):
            value = getattr(self, name)
            if not _integral(value) or value < 1:
                raise ConfigError(f"resnet: {name} must be a positive integer, got {value!r}")
        if self.block == "basic" and (self.cardinality, self.base_width) != (1, 64):
            raise ConfigError(
                "resnet: basic blocks have no groups: use cardinality 1 and base_width 64 "
                "(or block 'bottleneck' for ResNeXt)"
            )
        if not isinstance(self.small, bool):
            raise ConfigError(f"resnet: small must be true or false, got {self.small!r}")
        if self.stem_kind not in STEM_KINDS or self.stem_kind == "regnet":
            valid = ", ".join(k for k in STEM_KINDS if k != "regnet")
            raise ConfigError(f"resnet: unknown stem_kind {self.stem_kind!r}; valid: {valid}")
        for i, p in enumerate(self.planes, 1):
            w_b, w_out = self.bottleneck_width(p), p * EXPANSION[self.block]
            if self.block == "bottleneck" and (w_b < 1 or w_out % w_b):
                raise ConfigError(
                    f"resnet: stage {i}: bottleneck width floor({p} * {self.base_width} / 64) * "
                    f"{self.cardinality} = {w_b} must divide the block width {w_out} "
                    "(cardinality x base_width at most 256)"
                )

    def bottleneck_width(self, planes: int) -> int:
        return (planes * self.base_width // 64) * self.cardinality

    # --- the AnyNet body --------------------------------------------------------------------------
    def body(self) -> AnyNetConfig:
        """The same network as an AnyNetConfig (the config that builds and counts it)."""
        stages = []
        for i, (d, p) in enumerate(zip(self.depths, self.planes, strict=True)):
            w_out = p * EXPANSION[self.block]
            if self.block == "basic":
                b, g = 1, w_out
            else:
                w_b = self.bottleneck_width(p)
                b, g = w_out // w_b, w_b // self.cardinality
            stages.append(StageConfig(d, w_out, 1 if i == 0 else 2, b, g))
        return AnyNetConfig(
            tuple(stages),
            block=BLOCKS[self.block],
            stem="small" if self.small else "imagenet",
            stem_width=self.stem_width,
            in_channels=self.in_channels,
            num_classes=self.num_classes,
            stem_kind=self.stem_kind,
            se_reduction=self.se_reduction,
            stride_1x1=self.stride_1x1,
            expand_3x3=self.expand_3x3,
            proj_kernel=self.proj_kernel,
            head_dropout=self.head_dropout,
        )

    # --- NetworkConfig protocol -------------------------------------------------------------------
    @property
    def native_resolution(self) -> int:
        return 32 if self.small else 224

    def analytic(self, resolution: Resolution) -> Complexity:
        return self.body().analytic(resolution)

    def build(self, zero_init_last: bool = False) -> nn.Module:
        return self.body().build(zero_init_last)

    def key(self) -> str:
        """Identity of the network (spaces.records.config_key of its dict)."""
        return config_key(self.to_dict())

    def replace(self, **changes: Any) -> ResNetConfig:
        return dataclasses.replace(self, **changes)

    def for_input(self, in_channels: int, num_classes: int, small: bool) -> ResNetConfig:
        return self.replace(in_channels=in_channels, num_classes=num_classes, small=small)

    def describe(self) -> str:
        groups = (
            f", {self.cardinality}x{self.base_width}d"
            if self.block == "bottleneck" and (self.cardinality, self.base_width) != (1, 64)
            else ""
        )
        se = f", SE 1/{self.se_reduction} on the output" if self.se_reduction else ""
        return (
            f"ResNet-style {self.block} blocks{groups}{se}, {self.stem_kind} stem, depths "
            f"{'-'.join(map(str, self.depths))}, planes {'-'.join(map(str, self.planes))}"
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _QUIET_DEFAULTS and value == _QUIET_DEFAULTS[f.name]:
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResNetConfig:
        return construct(cls, config_fields(cls, data))


def _integral(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | float) and float(v).is_integer()


register_kind(ResNetConfig.kind, ResNetConfig.from_dict)

# --- named models ---------------------------------------------------------------------------------
LAYOUTS = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}


class _SEOptions(TypedDict):
    se_reduction: int
    stem_kind: str


_SE: _SEOptions = {"se_reduction": 16, "stem_kind": "senet"}
NAMED: dict[str, ResNetConfig] = {
    "resnet18": ResNetConfig(LAYOUTS[18], "basic"),
    "resnet34": ResNetConfig(LAYOUTS[34], "basic"),
    "resnet50": ResNetConfig(LAYOUTS[50]),
    "resnet101": ResNetConfig(LAYOUTS[101]),
    "resnet152": ResNetConfig(LAYOUTS[152]),
    "resnext50_32x4d": ResNetConfig(LAYOUTS[50], cardinality=32, base_width=4),
    "resnext101_32x8d": ResNetConfig(LAYOUTS[101], cardinality=32, base_width=8),
    "resnext101_64x4d": ResNetConfig(LAYOUTS[101], cardinality=64, base_width=4),
    "se_resnet50": ResNetConfig(LAYOUTS[50], stride_1x1=True, **_SE),
    "se_resnet101": ResNetConfig(LAYOUTS[101], stride_1x1=True, **_SE),
    "se_resnext50_32x4d": ResNetConfig(LAYOUTS[50], cardinality=32, base_width=4, **_SE),
    # SENet-154: 64 groups of floor(planes * 2 / 64) = planes * 2 / 64 channels, the 3x3 widening to
    # planes * 4
    "senet154": ResNetConfig(
        LAYOUTS[152],
        cardinality=64,
        base_width=2,
        expand_3x3=True,
        proj_kernel=3,
        head_dropout=0.2,
        se_reduction=16,
        stem_kind="deep",
        stem_width=128,
    ),
}


def _returns(cfg: ResNetConfig) -> Callable[[], ResNetConfig]:
    """A model factory that gives `cfg` itself (configs are frozen)."""
    return lambda: cfg


for _name, _cfg in NAMED.items():
    register_model(_name, _returns(_cfg))

# --- reference figures ----------------------------------------------------------------------------
# params: exact counts of the libraries' models (torchvision 0.x model builders; timm's legacy SENet
# port of Cadene's pretrainedmodels); flops: multiply-adds at 224 as documented (torchvision's
# "GFLOPS" column, the SE paper's GFLOPs; both count one multiply-add as one flop, rounded to 2
# decimals).
_TV = "torchvision model builders (params exact; GFLOPS = multiply-adds at 224)"
_TIMM = "timm legacy SENet (Cadene's pretrainedmodels port): params exact"
for _name, _family, _params, _flops, _source in (
    ("resnet18", "resnet", 11_689_512, 1.81e9, _TV),
    ("resnet34", "resnet", 21_797_672, 3.66e9, _TV),
    ("resnet50", "resnet", 25_557_032, 4.09e9, _TV),
    ("resnet101", "resnet", 44_549_160, 7.80e9, _TV),
    ("resnet152", "resnet", 60_192_808, 11.51e9, _TV),
    ("resnext50_32x4d", "resnext", 25_028_904, 4.23e9, _TV),
    ("resnext101_32x8d", "resnext", 88_791_336, 16.41e9, _TV),
    ("resnext101_64x4d", "resnext", 83_455_272, 15.46e9, _TV),
    (
        "se_resnet50",
        "senet",
        28_088_024,
        3.87e9,
        _TIMM + " (legacy_seresnet50); flops: SE paper Table 2",
    ),
    (
        "se_resnet101",
        "senet",
        49_326_872,
        7.60e9,
        _TIMM + " (legacy_seresnet101); flops: SE paper Table 2",
    ),
    (
        "se_resnext50_32x4d",
        "senet",
        27_559_896,
        4.25e9,
        _TIMM + " (legacy_seresnext50_32x4d); flops: SE paper Table 2",
    ),
    ("senet154", "senet", 115_088_984, None, _TIMM + " (legacy_senet154)"),
):
    register_reference(_name, _family, params=_params, flops=_flops, resolution=224, source=_source)

# The published RegNets (RegNet paper Table / pycls model zoo: params M and GF to their printed
# precision).
_REGNET = {
    "regnetx_200mf": (2.68, 0.199),
    "regnetx_400mf": (5.16, 0.398),
    "regnetx_600mf": (6.20, 0.601),
    "regnetx_800mf": (7.26, 0.800),
    "regnetx_1.6gf": (9.19, 1.603),
    "regnetx_3.2gf": (15.30, 3.177),
    "regnetx_4.0gf": (22.12, 3.964),
    "regnetx_6.4gf": (26.21, 6.460),
    "regnetx_8.0gf": (39.57, 7.995),
    "regnetx_12gf": (46.11, 12.087),
    "regnetx_16gf": (54.28, 15.941),
    "regnetx_32gf": (107.81, 31.736),
    "regnety_200mf": (3.16, 0.200),
    "regnety_400mf": (4.34, 0.402),
    "regnety_600mf": (6.06, 0.601),
    "regnety_800mf": (6.26, 0.797),
    "regnety_1.6gf": (11.20, 1.612),
    "regnety_3.2gf": (19.44, 3.176),
    "regnety_4.0gf": (20.65, 3.973),
    "regnety_6.4gf": (30.58, 6.355),
    "regnety_8.0gf": (39.18, 7.963),
    "regnety_12gf": (51.82, 12.092),
    "regnety_16gf": (83.59, 15.912),
    "regnety_32gf": (145.05, 32.280),
}
assert set(_REGNET) == set(PUBLISHED)
for _name, (_params_m, _gf) in _REGNET.items():
    register_reference(
        _name,
        "regnet",
        params=round(_params_m * 1e6),
        flops=_gf * 1e9,
        resolution=224,
        source="RegNet paper / pycls model zoo",
        note="reference rounded to 0.01 M params, 0.001 GF",
    )

# --- design spaces around the published settings --------------------------------------------------
# Depth layouts: ResNet-18/26 (2-2-2-2), 38 (3-3-3-3), 34/50 (3-4-6-3), 101 (3-4-23-3), 152
# (3-8-36-3), 200 (3-24-36-3)
L26, L38, L200 = (2, 2, 2, 2), (3, 3, 3, 3), (3, 24, 36, 3)
WIDTHS = (
    (32, 64, 128, 256),
    (48, 96, 192, 384),
    (64, 128, 256, 512),
    (80, 160, 320, 640),
    (96, 192, 384, 768),
)
register_space(
    FamilySpace(
        "resnet",
        "ResNet around the paper's settings: block, depth layout (18/26 to 200) and "
        "stage widths (planes)",
        base=NAMED["resnet50"],
        params={
            "block": choice(("basic", "bottleneck")),
            "depths": choice((L26, L38, LAYOUTS[50], LAYOUTS[101], LAYOUTS[152], L200)),
            "planes": choice(WIDTHS),
        },
    )
)
register_space(
    FamilySpace(
        "resnext",
        "ResNeXt around the paper's settings: cardinality, base width, depth layout (26 to 152); "
        "cardinality x base width above 256 (a bottleneck wider than the block) is left out",
        base=NAMED["resnext50_32x4d"],
        params={
            "cardinality": choice((8, 16, 32, 64)),
            "base_width": choice((2, 4, 8)),
            "depths": choice((L26, L38, LAYOUTS[50], LAYOUTS[101], LAYOUTS[152])),
        },
    )
)
register_space(
    FamilySpace(
        "se_resnet",
        "SE-ResNet(Xt) around the paper's settings: SE reduction, depth layout (26 to 152), "
        "cardinality (1: SE-ResNet, 32x4d: SE-ResNeXt), stride on the 1x1 (Caffe) or the 3x3 conv",
        base=NAMED["se_resnext50_32x4d"],
        params={
            "se_reduction": choice((4, 8, 16, 32)),
            "depths": choice((L26, LAYOUTS[50], LAYOUTS[101], LAYOUTS[152])),
            "cardinality": choice((1, 32)),
            "stride_1x1": choice((False, True)),
        },
        derived={"base_width": lambda v: 64 if v["cardinality"] == 1 else 4},
    )
)
