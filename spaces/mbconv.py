"""MBConv networks: EfficientNet(-V2), MobileNetV2/V3 and MnasNet from one generator, counted
exactly.

A network is a stem (3x3 conv stride 2, BN, act), stages of MBConv or Fused-MBConv blocks, a head
(1x1 conv, BN, act), global pooling, an optional hidden linear layer (MobileNetV3), dropout and the
classifier.

* MBConv: 1x1 expansion (absent when the expanded width equals the input), depthwise k x k (the
  stage's stride on the first block), squeeze-excitation, linear 1x1 projection (BN, no activation);
  residual when stride is 1 and the width is kept, with stochastic depth growing linearly over the
  blocks.
* Fused-MBConv: one regular k x k conv in place of expansion + depthwise, then the linear 1x1
  projection (with expansion 1: the k x k conv alone, with its activation), as torchvision's
  EfficientNetV2.
* Expanded width: make_divisible(c_in * expand, 8) (expansion 1: c_in). SE width: the block *input*
  width times the SE ratio, at least 1 (EfficientNet: max(1, c_in // 4)), or, with
  se_base="expanded" and se_divisor=8, make_divisible(expanded * ratio, 8) (MobileNetV3). SE
  act/gate: SiLU/sigmoid, ReLU/hard sigmoid for MobileNetV3.

A stage is written compactly, like the reference code's block strings:

    mb6_k5_s2_c40_n2_se0.25    MBConv, expansion 6, 5x5, stride 2, 40 channels, 2 blocks, SE 0.25
    fused4_k3_s2_c48_n4        Fused-MBConv, expansion 4, 3x3, stride 2, 48 channels, 4 blocks
    mb3_k5_s2_c40_n3_se0.25_relu   ... with ReLU in place of the network's activation

The network is a `spaces.layers` graph, so the analytic params / flops / acts and the built module
come from the same description (`GraphConfig`). `MBConvSpace` is the MnasNet-style design space over
a base layout (a `DesignSpace`, spaces.design_space: `draw` for sampling, `suggest` for `nas
search`).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from spaces.complexity import ZERO, Complexity, Cost, Resolution
from spaces.design_space import DesignSpace, Suggester
from spaces.distributions import choice, numpy_to_python
from spaces.errors import ConfigError
from spaces.family_space import ConfigBatch
from spaces.graph_config import GraphConfig, config_fields, construct, register_graph_kind
from spaces.layers import (
    ACTIVATIONS,
    SE,
    Act,
    Dropout,
    Flatten,
    GlobalPool,
    Linear,
    Node,
    Residual,
    Seq,
    Shape,
    conv_bn_act,
    count_graph,
)

if TYPE_CHECKING:
    from torch import nn

BLOCK_TYPES = {
    "mb": "MBConv: 1x1 expansion, depthwise k x k, SE, linear 1x1 projection",
    "fused": "Fused-MBConv: regular k x k conv (expansion), SE, linear 1x1 projection",
}
SE_BASES = ("input", "expanded")
_STAGE_COSTS: dict[
    tuple, tuple[Cost, Shape]
] = {}  # (stage, c_in, input shape, SE rule) -> cost, output shape


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """The reference rounding of channel counts: nearest multiple of `divisor` (at least
    `min_value`, default the divisor), plus one divisor when that loses more than 10%
    (TF/torchvision `_make_divisible`)."""
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return int(new)


def _num(x: float | str) -> int | float:
    x = float(x)
    return int(x) if x.is_integer() else x


@dataclass(frozen=True)
class DropPath(Node):
    """Stochastic depth on a residual branch: no parameters, no flops (identity at inference)."""

    p: float

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        return ZERO, shape

    def build(self, shape: Shape) -> nn.Module:
        from spaces.mbconv_modules import DropPath as DropPathModule

        return DropPathModule(self.p)


_SPEC = re.compile(r"^(mb|fused)(\d+(?:\.\d+)?)_k(\d+)_s(\d+)_c(\d+)_n(\d+)((?:_[a-z0-9.]+)*)$")


@dataclass(frozen=True)
class MBStage:
    """`depth` blocks of one type; the first has `stride` and changes the width to `width`."""

    block: str = "mb"
    expand: float = 6
    kernel: int = 3
    stride: int = 1
    width: int = 16
    depth: int = 1
    se: float = 0.0
    act: str | None = None  # None: the network's activation

    def spec(self) -> str:
        out = (
            f"{self.block}{_num(self.expand)}_k{self.kernel}_s{self.stride}_c{self.width}"
            f"_n{self.depth}"
        )
        if self.se:
            out += f"_se{_num(self.se)}"
        return out + (f"_{self.act}" if self.act else "")

    def to_dict(self) -> dict[str, Any]:
        out = {
            "block": self.block,
            "expand": _num(self.expand),
            "kernel": self.kernel,
            "stride": self.stride,
            "width": self.width,
            "depth": self.depth,
            "se": _num(self.se),
        }
        if self.act:
            out["act"] = self.act
        return out

    @classmethod
    def parse(cls, value: str | Mapping[str, Any] | MBStage, where: str = "stage") -> MBStage:
        """A stage from its spec string, its dict form or itself."""
        if isinstance(value, MBStage):
            return value
        if isinstance(value, str):
            m = _SPEC.match(value.strip().lower())
            if not m:
                raise ConfigError(
                    f"{where}: cannot read {value!r}; write e.g. mb6_k5_s2_c40_n2_se0.25 or "
                    "fused4_k3_s2_c48_n4 (block+expansion, k kernel, s stride, c channels, "
                    "n blocks, optional _seRATIO and _ACTIVATION)"
                )
            block, expand, k, s, c, n, rest = m.groups()
            se, act = 0.0, None
            for token in filter(None, rest.split("_")):
                if token.startswith("se") and re.fullmatch(r"se\d+(\.\d+)?", token):
                    se = float(token[2:])
                elif token in ACTIVATIONS:
                    act = token
                else:
                    raise ConfigError(
                        f"{where}: unknown option {token!r} in {value!r}; valid: seRATIO or an "
                        f"activation ({', '.join(ACTIVATIONS)})"
                    )
            return cls(block, _num(expand), int(k), int(s), int(c), int(n), _num(se), act)
        if isinstance(value, Mapping):
            fields = {f.name for f in dataclasses.fields(cls)}
            unknown = set(value) - fields
            if unknown:
                raise ConfigError(
                    f"{where}: unknown key(s) {sorted(unknown)}; valid: {sorted(fields)}"
                )
            return cls(**value)
        raise ConfigError(
            f"{where}: give a spec string like mb6_k3_s2_c24_n2_se0.25 or an object, "
            f"got {type(value).__name__}"
        )

    def check(self, where: str) -> None:
        if self.block not in BLOCK_TYPES:
            raise ConfigError(
                f"{where}: unknown block {self.block!r}; valid: {', '.join(BLOCK_TYPES)}"
            )
        if (
            isinstance(self.expand, bool)
            or not isinstance(self.expand, int | float)
            or not self.expand >= 1
        ):
            raise ConfigError(f"{where}: expand must be a number >= 1, got {self.expand!r}")
        for name in ("kernel", "width", "depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{where}: {name} must be a positive integer, got {value!r}")
        if self.kernel % 2 == 0:
            raise ConfigError(f"{where}: kernel must be odd (3, 5, 7, ...), got {self.kernel}")
        if self.stride not in (1, 2) or isinstance(self.stride, bool):
            raise ConfigError(f"{where}: stride must be 1 or 2, got {self.stride!r}")
        if (
            isinstance(self.se, bool)
            or not isinstance(self.se, int | float)
            or not 0 <= self.se <= 1
        ):
            raise ConfigError(f"{where}: se must be a ratio in [0, 1] (0 = no SE), got {self.se!r}")
        if self.act is not None and self.act not in ACTIVATIONS:
            raise ConfigError(
                f"{where}: unknown activation {self.act!r}; valid: {', '.join(ACTIVATIONS)}"
            )


@register_graph_kind
@dataclass(frozen=True)
class MBConvConfig(GraphConfig):
    """An MBConv network; see the module docstring. `resolution` is its native input size."""

    kind: ClassVar[str] = "mbconv"
    stages: tuple[MBStage, ...] = ()
    stem_width: int = 32
    head_width: int = 1280  # 1x1 conv before pooling (0: none)
    head_hidden: int = 0  # hidden linear layer + act after pooling (MobileNetV3; 0: none)
    act: str = "silu"
    se_base: str = "input"  # SE width from the block input (EfficientNet) or the expanded width
    se_divisor: int = 1  # 1: max(1, int(base * ratio)); 8: make_divisible(base * ratio, 8)
    se_act: str | None = None  # None: the network's activation
    se_gate: str = "sigmoid"
    bn_eps: float = 1e-5
    dropout: float = 0.2
    drop_path: float = 0.2  # stochastic depth of the last block (linear in the block index)
    resolution: int = 224
    in_channels: int = 3
    num_classes: int = 1000
    small: bool = False
    # provenance of a compound-scaled network ({"base", "phi", "alpha", "beta", "gamma"}); not the
    # network
    scaling: Mapping[str, Any] | None = dataclasses.field(
        default=None, compare=False, hash=False, repr=False
    )

    def __post_init__(self) -> None:
        if isinstance(self.stages, str | bytes) or not isinstance(self.stages, Sequence):
            raise ConfigError(
                "mbconv: stages must be a list of stage specs (e.g. mb6_k3_s2_c24_n2_se0.25)"
            )
        stages = tuple(MBStage.parse(s, f"mbconv stage {i}") for i, s in enumerate(self.stages, 1))
        object.__setattr__(self, "stages", stages)
        self._check()

    def _check(self) -> None:
        from spaces.graph_config import check_common

        check_common(self)
        if not self.stages:
            raise ConfigError("mbconv: a network needs at least one stage")
        for i, s in enumerate(self.stages, 1):
            s.check(f"mbconv stage {i}")
        for name, low in (
            ("stem_width", 1),
            ("head_width", 0),
            ("head_hidden", 0),
            ("se_divisor", 1),
            ("resolution", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"mbconv: {name} must be an integer >= {low}, got {value!r}")
        for name in ("act", "se_act", "se_gate"):
            value = getattr(self, name)
            if not (value is None and name == "se_act") and value not in ACTIVATIONS:
                raise ConfigError(
                    f"mbconv: unknown {name} {value!r}; valid: {', '.join(ACTIVATIONS)}"
                )
        if self.se_base not in SE_BASES:
            raise ConfigError(
                f"mbconv: se_base must be one of {', '.join(SE_BASES)}, got {self.se_base!r}"
            )
        for name in ("dropout", "drop_path"):
            p = getattr(self, name)
            if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p < 1:
                raise ConfigError(f"mbconv: {name} must be in [0, 1), got {p!r}")
        if (
            isinstance(self.bn_eps, bool)
            or not isinstance(self.bn_eps, int | float)
            or self.bn_eps <= 0
        ):
            raise ConfigError(f"mbconv: bn_eps must be positive, got {self.bn_eps!r}")

    # --- the network ------------------------------------------------------------------------------
    @property
    def native_resolution(self) -> int:
        return 32 if self.small else self.resolution

    @property
    def stem(self) -> str:
        return "small" if self.small else "imagenet"

    @property
    def depth(self) -> int:
        return sum(s.depth for s in self.stages)

    def expanded(self, stage: MBStage, c_in: int) -> int:
        return c_in if stage.expand == 1 else make_divisible(c_in * stage.expand, 8)

    def se_width(self, stage: MBStage, c_in: int, expanded: int) -> int:
        base = c_in if self.se_base == "input" else expanded
        if self.se_divisor == 1:
            return max(1, int(base * stage.se))
        return make_divisible(base * stage.se, self.se_divisor)

    def block(self, stage: MBStage, c_in: int, stride: int, drop: float) -> Node:
        act = stage.act or self.act
        eps = self.bn_eps
        mid = self.expanded(stage, c_in)
        se: list[Node] = []
        if stage.se:
            se = [SE(self.se_width(stage, c_in, mid), self.se_act or self.act, self.se_gate)]
        body: list[Node] = []
        if stage.block == "mb":
            if mid != c_in:
                body.append(conv_bn_act(mid, 1, act=act, eps=eps))
            body += [
                conv_bn_act(mid, stage.kernel, stride, groups=mid, act=act, eps=eps),
                *se,
                conv_bn_act(stage.width, 1, act=None, eps=eps),
            ]
        elif mid != c_in:
            body += [
                conv_bn_act(mid, stage.kernel, stride, act=act, eps=eps),
                *se,
                conv_bn_act(stage.width, 1, act=None, eps=eps),
            ]
        else:
            body += [conv_bn_act(stage.width, stage.kernel, stride, act=act, eps=eps), *se]
        if stride == 1 and c_in == stage.width:
            if drop > 0:
                body.append(DropPath(drop))
            return Residual(Seq(tuple(body)))
        return Seq(tuple(body))

    def _stem(self) -> Node:
        return conv_bn_act(
            self.stem_width, 3, 1 if self.small else 2, act=self.act, eps=self.bn_eps
        )

    def _head(self) -> tuple[Node, ...]:
        items: list[Node] = []
        if self.head_width:
            items.append(conv_bn_act(self.head_width, 1, act=self.act, eps=self.bn_eps))
        items += [GlobalPool(), Flatten()]
        if self.head_hidden:
            items += [Linear(self.head_hidden), Act(self.act)]
        if self.dropout:
            items.append(Dropout(self.dropout))
        items.append(Linear(self.num_classes))
        return tuple(items)

    def graph(self) -> Node:
        items: list[Node] = [self._stem()]
        c, index, total = self.stem_width, 0, self.depth
        for stage in self.stages:
            for j in range(stage.depth):
                drop = round(self.drop_path * index / total, 6)
                items.append(self.block(stage, c, stage.stride if j == 0 else 1, drop))
                c, index = stage.width, index + 1
        return Seq((*items, *self._head()))

    def analytic(self, resolution: Resolution) -> Complexity:
        """Exact params / flops / acts: the graph's count, summed stage by stage with a memo of
        stage costs (the design spaces count thousands of configs that share most stages)."""
        h, w = (resolution, resolution) if isinstance(resolution, int) else resolution
        shape: Shape = (self.in_channels, int(h), int(w))
        total, shape = count_graph(Seq((self._stem(),)), shape)
        c = self.stem_width
        for stage in self.stages:
            key = (stage, c, shape, self.se_base, self.se_divisor)
            if key not in _STAGE_COSTS:
                if len(_STAGE_COSTS) > 200_000:
                    _STAGE_COSTS.clear()
                blocks = [
                    self.block(
                        stage, c if j == 0 else stage.width, stage.stride if j == 0 else 1, 0.0
                    )
                    for j in range(stage.depth)
                ]
                _STAGE_COSTS[key] = count_graph(Seq(tuple(blocks)), shape)
            cost, shape = _STAGE_COSTS[key]
            total, c = total + cost, stage.width
        cost, _ = count_graph(Seq(self._head()), shape)
        total = total + cost
        return Complexity(int(total.params), int(total.flops), int(total.acts), resolution)

    def build(self, zero_init_last: bool = False) -> nn.Module:
        """The module, with pycls initialization; the last BN of each residual branch is marked
        `final_bn` (zero-initialized with zero_init_last, so residual blocks start as
        identities)."""
        from torch import nn

        from spaces.blocks import init_weights, mark_final_bn
        from spaces.layer_modules import ResidualModule

        model = self.graph().build(
            (self.in_channels, self.native_resolution, self.native_resolution)
        )
        for module in model.modules():
            if isinstance(module, ResidualModule):
                bns = [m for m in module.body.modules() if isinstance(m, nn.BatchNorm2d)]
                if bns:
                    mark_final_bn(bns[-1])
        model.apply(lambda m: init_weights(m, zero_init_last))
        return model

    # --- protocol details -------------------------------------------------------------------------
    def replace(self, **changes: Any) -> MBConvConfig:
        if "stem" in changes:  # the AnyNet spelling of the input adaptation
            stem = changes.pop("stem")
            if stem not in ("imagenet", "small"):
                raise ConfigError(f"unknown stem {stem!r}; valid: imagenet, small")
            changes["small"] = stem == "small"
        try:
            return dataclasses.replace(self, **changes)
        except TypeError as e:
            raise ConfigError(f"mbconv: {e}") from None

    def describe(self) -> str:
        stages = " ".join(s.spec() for s in self.stages)
        head = f", hidden {self.head_hidden}" if self.head_hidden else ""
        return (
            f"mbconv ({self.act}) stem {self.stem_width}, {stages}, head {self.head_width}{head}, "
            f"{self.resolution} px"
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "scaling" and value is None:
                continue
            out[f.name] = [s.to_dict() for s in value] if f.name == "stages" else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MBConvConfig:
        kwargs = config_fields(cls, data)
        if "stages" not in kwargs:
            raise ConfigError(
                "mbconv: the config has no 'stages': give a list like "
                '["mb1_k3_s1_c16_n1_se0.25", "mb6_k3_s2_c24_n2_se0.25"]'
            )
        return construct(cls, kwargs)


def mbconv(stages: Sequence[str | Mapping[str, Any] | MBStage], **kwargs: Any) -> MBConvConfig:
    """An MBConvConfig from stage specs, e.g. mbconv(["mb1_k3_s1_c16_n1_se0.25", ...],
    stem_width=32)."""
    parsed = tuple(MBStage.parse(s, f"mbconv stage {i}") for i, s in enumerate(stages, 1))
    return MBConvConfig(stages=parsed, **kwargs)


# --- the MnasNet-style factorized hierarchical space over B0's stages -----------------------------
B0_STAGES = (
    "mb1_k3_s1_c16_n1_se0.25",
    "mb6_k3_s2_c24_n2_se0.25",
    "mb6_k5_s2_c40_n2_se0.25",
    "mb6_k3_s2_c80_n3_se0.25",
    "mb6_k5_s1_c112_n3_se0.25",
    "mb6_k5_s2_c192_n4_se0.25",
    "mb6_k3_s1_c320_n1_se0.25",
)
SPACE_BLOCKS = ("mb", "fused")
SPACE_EXPAND = (1, 3, 4, 6)
SPACE_KERNEL = (3, 5, 7)
SPACE_SE = (0, 0.25)
SPACE_WIDTH = (0.75, 1.0, 1.25)
SPACE_DEPTH_DELTA = (-1, 0, 1, 2)


def efficientnet_b0() -> MBConvConfig:
    return mbconv(
        B0_STAGES, stem_width=32, head_width=1280, dropout=0.2, drop_path=0.2, resolution=224
    )


@dataclass(frozen=True)
class MBConvSpace(DesignSpace):
    """Per stage of a base layout (default: EfficientNet-B0's 7 stages), independently: block type,
    expansion, kernel, SE ratio, layers (base -1..+2, at least 1) and width (0.75 / 1.0 / 1.25 x
    base, rounded to 8). Strides, stem and head stay the base's."""

    name: str = "mbconv"
    description: str = (
        "MnasNet-style factorized space over EfficientNet-B0's 7 stages: per stage block "
        "(MBConv/Fused), expansion, kernel, SE, layers, width"
    )
    base: MBConvConfig = dataclasses.field(default_factory=efficientnet_b0)
    paper_size: float | None = None
    batch: int = 256
    # around B0's 0.39 GF at 224
    default_flops_band: ClassVar[tuple[float, float] | None] = (360e6, 400e6)

    @property
    def reference_resolution(self) -> int:
        return self.base.resolution

    def choices(self, i: int) -> dict[str, tuple]:
        s = self.base.stages[i]
        depths = tuple(sorted({max(1, s.depth + d) for d in SPACE_DEPTH_DELTA}))
        widths = tuple(sorted({make_divisible(s.width * m, 8) for m in SPACE_WIDTH}))
        return {
            "block": SPACE_BLOCKS,
            "expand": SPACE_EXPAND,
            "kernel": SPACE_KERNEL,
            "se": SPACE_SE,
            "depth": depths,
            "width": widths,
        }

    @property
    def dims(self) -> int:
        return sum(len(self.choices(i)) for i in range(len(self.base.stages)))

    def size(self) -> int:
        return math.prod(
            len(v) for i in range(len(self.base.stages)) for v in self.choices(i).values()
        )

    def parameters(self) -> dict[str, str]:
        out = {}
        for i in range(len(self.base.stages)):
            for k, values in self.choices(i).items():
                out[f"{k}_{i + 1}"] = choice(values).describe()
        return out

    def make(self, values: Sequence[Mapping[str, Any]]) -> MBConvConfig:
        stages = [
            dataclasses.replace(s, **{k: numpy_to_python(v) for k, v in vals.items()})
            for s, vals in zip(self.base.stages, values, strict=True)
        ]
        return self.base.replace(stages=tuple(stages))

    def draw(self, rng: np.random.Generator, n: int) -> ConfigBatch:
        per_stage = []
        for i in range(len(self.base.stages)):
            per_stage.append({k: choice(v).sample(rng, n) for k, v in self.choices(i).items()})
        configs = [
            self.make([{k: col[j] for k, col in stage.items()} for stage in per_stage])
            for j in range(n)
        ]
        return ConfigBatch(configs, self.reference_resolution)  # type: ignore[arg-type]

    def suggest(self, trial: Suggester) -> MBConvConfig:
        """Define-by-run for `nas search`: one categorical per stage and choice (block_1, expand_1,
        ...)."""
        values = [
            {
                k: trial.suggest_categorical(f"{k}_{i + 1}", list(v))
                for k, v in self.choices(i).items()
            }
            for i in range(len(self.base.stages))
        ]
        return self.make(values)


__all__ = [
    "B0_STAGES",
    "BLOCK_TYPES",
    "DropPath",
    "MBConvConfig",
    "MBConvSpace",
    "MBStage",
    "efficientnet_b0",
    "make_divisible",
    "mbconv",
]
