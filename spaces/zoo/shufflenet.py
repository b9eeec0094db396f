"""ShuffleNet V1 [Zhang et al. 2018, Table 1] and ShuffleNet V2 [Ma et al. 2018, Table 5].

V1 unit (bottleneck = stage output / 4): 1x1 group conv-BN-ReLU, channel shuffle, 3x3 depthwise
conv-BN, 1x1 group conv-BN; stride 1: ReLU(x + unit), stride 2: ReLU(concat(avgpool3x3/2(x), unit))
where the unit outputs the missing channels. The first 1x1 conv of stage 2 is not grouped (its input
has only 24 channels). Layout as Megvii's official code (ShuffleNet-Series/ShuffleNetV1), except
that the classifier has a bias (theirs has none: 1000 fewer parameters).
Free parameters: groups g (the stage widths of the paper's table for that g) and the scale s
(channels x s, rounded to multiples of 4g; the stem to 24 s rounded to a multiple of g).

V2 unit: stride 1 splits the channels in halves, keeps one and runs 1x1 conv-BN-ReLU, 3x3 depthwise
conv-BN, 1x1 conv-BN-ReLU on the other, concatenates and shuffles with 2 groups; stride 2 runs two
branches on the whole input (3x3/2 depthwise-BN, 1x1-BN-ReLU | the unit above with stride 2). Layout
and counting as torchvision's `shufflenet_v2_x0_5/x1_0/x1_5/x2_0`. Free parameter: the width
multiplier.

`small=True` (both): stride-1 stem conv and no max pool (overall stride 8).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from spaces.complexity import Cost
from spaces.distributions import choice
from spaces.errors import ConfigError
from spaces.family_space import FamilySpace
from spaces.graph_config import GraphConfig, check_common, register_graph_kind
from spaces.layers import (
    BN,
    Act,
    ChannelShuffle,
    Concat,
    Conv,
    Flatten,
    GlobalPool,
    Linear,
    Node,
    Pool,
    Residual,
    Seq,
    Shape,
    conv_bn_act,
)
from spaces.registry import register_model, register_space
from spaces.zoo.references import register_reference
from spaces.zoo.structured_space import StructuredFamilySpace

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ChannelSlice(Node):
    """Channels [start, stop) of the input: one side of ShuffleNet V2's channel split. No cost."""

    start: int
    stop: int

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        if not 0 <= self.start < self.stop <= shape[0]:
            raise ConfigError(
                f"channel slice [{self.start}, {self.stop}) does not fit {shape[0]} channels"
            )
        return Cost(0, 0, 0), (self.stop - self.start, *shape[1:])

    def build(self, shape: Shape) -> nn.Module:
        from spaces.zoo.shufflenet_modules import ChannelSliceModule

        self.count(shape)
        return ChannelSliceModule(self.start, self.stop)


def _stem(out: int, small: bool) -> list[Node]:
    return [conv_bn_act(out, 3, 1)] if small else [conv_bn_act(out, 3, 2), Pool("max", 3, 2, 1)]


def _positive_int(cfg: GraphConfig, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{cfg.kind}: {name} must be a positive integer, got {value!r}")


def _check_repeats(cfg: GraphConfig, repeats: object) -> None:
    if not isinstance(repeats, tuple) or len(repeats) != 3:
        raise ConfigError(
            f"{cfg.kind}: repeats must be 3 units per stage, e.g. [4, 8, 4]; got {repeats!r}"
        )
    for r in repeats:
        _positive_int(cfg, "each of repeats", r)


# --- ShuffleNet V1 --------------------------------------------------------------------------------
V1_WIDTHS = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
V1_STEM = 24


@dataclass(frozen=True)
class ShuffleNetV1Config(GraphConfig):
    kind: ClassVar[str] = "shufflenet_v1"
    groups: int = 3
    scale: float = 1.0
    repeats: tuple[int, ...] = (4, 8, 4)
    in_channels: int = 3
    num_classes: int = 1000
    small: bool = False

    def __post_init__(self) -> None:
        check_common(self)
        if (
            isinstance(self.groups, bool)
            or not isinstance(self.groups, int)
            or self.groups not in V1_WIDTHS
        ):
            raise ConfigError(
                f"shufflenet_v1: groups must be one of {sorted(V1_WIDTHS)} (the paper's table), "
                f"got {self.groups!r}"
            )
        if (
            isinstance(self.scale, bool)
            or not isinstance(self.scale, int | float)
            or not 0 < self.scale <= 4
        ):
            raise ConfigError(
                f"shufflenet_v1: scale must be a number in (0, 4], e.g. 0.5; got {self.scale!r}"
            )
        _check_repeats(self, self.repeats)

    def widths(self) -> tuple[int, tuple[int, ...]]:
        """(stem channels, stage output channels) after scaling."""
        g, q = self.groups, 4 * self.groups
        stages = tuple(max(q, round(w * self.scale / q) * q) for w in V1_WIDTHS[g])
        return max(g, round(V1_STEM * self.scale / g) * g), stages

    def graph(self) -> Node:
        g = self.groups
        stem, stages = self.widths()
        items, c = _stem(stem, self.small), stem
        for s, (out, reps) in enumerate(zip(stages, self.repeats, strict=True)):
            mid = out // 4
            for i in range(reps):
                first_groups = 1 if s == 0 and i == 0 else g
                stride = 2 if i == 0 else 1
                shuffle = [ChannelShuffle(g)] if g > 1 else []
                body = Seq(
                    (
                        Conv(mid, 1, groups=first_groups),
                        BN(),
                        Act(),
                        *shuffle,
                        Conv(mid, 3, stride, groups=mid),
                        BN(),
                        Conv(out - c if stride == 2 else out, 1, groups=g),
                        BN(),
                    )
                )
                if stride == 2:
                    items.append(Seq((Concat((Pool("avg", 3, 2, 1), body)), Act())))
                else:
                    items.append(Residual(body, act="relu"))
                c = out
        items += [GlobalPool(), Flatten(), Linear(self.num_classes)]
        return Seq(tuple(items))


register_graph_kind(ShuffleNetV1Config)

# the paper's Table 1 complexity, 1x, 224 px
V1_FLOPS = {1: 143e6, 2: 140e6, 3: 137e6, 4: 133e6, 8: 137e6}
V1_PARAMS = {3: 1.9e6, 8: 2.4e6}  # Megvii ShuffleNet-Series README, 1.0x
for _g, _flops in V1_FLOPS.items():
    _name = f"shufflenet_v1_g{_g}"
    register_model(_name, partial(ShuffleNetV1Config, groups=_g))
    _p = V1_PARAMS.get(_g)
    register_reference(
        _name,
        "shufflenet_v1",
        params=int(_p) if _p else None,
        flops=_flops,
        resolution=224,
        source="ShuffleNet paper Table 1 (complexity, MFLOPs = multiply-adds)"
        + ("; params: Megvii ShuffleNet-Series README (rounded)" if _p else ""),
        note=(
            "the paper gives no parameter count; our classifier has a bias, Megvii's code has "
            "none (+num_classes)"
        )
        + ("" if _p else "; no published count for this g"),
    )

register_space(
    FamilySpace(
        "shufflenet_v1",
        "ShuffleNet V1 around the paper's settings: groups g (the paper's stage widths for that g) "
        "and scale s (channels x s)",
        base=ShuffleNetV1Config(),
        params={"groups": choice((1, 2, 3, 4, 8)), "scale": choice((0.25, 0.5, 1.0, 1.5, 2.0))},
        batch=64,
    )
)


# --- ShuffleNet V2 --------------------------------------------------------------------------------
# stages 2-4, conv5
V2_WIDTHS = {
    0.5: (48, 96, 192, 1024),
    1.0: (116, 232, 464, 1024),
    1.5: (176, 352, 704, 1024),
    2.0: (244, 488, 976, 2048),
}


def _v2_unit(inp: int, out: int, stride: int) -> Node:
    half = out // 2
    main = (
        conv_bn_act(half, 1),
        conv_bn_act(half, 3, stride, groups=half, act=None),
        conv_bn_act(half, 1),
    )
    if stride == 1:
        if inp != out:
            raise ConfigError(f"shufflenet_v2: a stride-1 unit keeps its width, got {inp} -> {out}")
        split = Concat((ChannelSlice(0, half), Seq((ChannelSlice(half, inp), *main))))
    else:
        side = Seq((conv_bn_act(inp, 3, stride, groups=inp, act=None), conv_bn_act(half, 1)))
        split = Concat((side, Seq(main)))
    return Seq((split, ChannelShuffle(2)))


@dataclass(frozen=True)
class ShuffleNetV2Config(GraphConfig):
    kind: ClassVar[str] = "shufflenet_v2"
    width_mult: float = 1.0
    repeats: tuple[int, ...] = (4, 8, 4)
    in_channels: int = 3
    num_classes: int = 1000
    small: bool = False

    def __post_init__(self) -> None:
        check_common(self)
        if self.width_mult not in V2_WIDTHS:
            raise ConfigError(
                f"shufflenet_v2: width_mult must be one of {sorted(V2_WIDTHS)} (the paper's "
                f"Table 5), got {self.width_mult!r}"
            )
        _check_repeats(self, self.repeats)

    def graph(self) -> Node:
        *stages, last = V2_WIDTHS[self.width_mult]
        items, c = _stem(24, self.small), 24
        for out, reps in zip(stages, self.repeats, strict=True):
            for i in range(reps):
                items.append(_v2_unit(c, out, 2 if i == 0 else 1))
                c = out
        items += [conv_bn_act(last, 1), GlobalPool(), Flatten(), Linear(self.num_classes)]
        return Seq(tuple(items))


register_graph_kind(ShuffleNetV2Config)

# name: (width, torchvision params, paper flops)
V2_NAMED = {
    "shufflenet_v2_x0_5": (0.5, 1_366_792, 41e6),
    "shufflenet_v2_x1_0": (1.0, 2_278_604, 146e6),
    "shufflenet_v2_x1_5": (1.5, 3_503_624, 299e6),
    "shufflenet_v2_x2_0": (2.0, 7_393_996, 591e6),
}
for _name, (_w, _params, _flops) in V2_NAMED.items():
    register_model(_name, partial(ShuffleNetV2Config, width_mult=_w))
    register_reference(
        _name,
        "shufflenet_v2",
        params=_params,
        flops=_flops,
        resolution=224,
        source=f"params: torchvision.models.{_name}; flops: ShuffleNet V2 paper Table 5 (MFLOPs = "
        "multiply-adds)",
    )

register_space(
    StructuredFamilySpace(
        "shufflenet_v2",
        "ShuffleNet V2 around the paper's settings: width multiplier (the paper's Table 5 widths) "
        "and units per stage",
        base=ShuffleNetV2Config(),
        params={"width_mult": choice((0.5, 1.0, 1.5, 2.0))},
        structured={"repeats": {"3-7-3": (3, 7, 3), "4-8-4": (4, 8, 4), "4-12-4": (4, 12, 4)}},
        batch=64,
    )
)
