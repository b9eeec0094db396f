"""VGG (Simonyan & Zisserman 2015, Table 1): configurations A, A-LRN, B, C, D, E, with or without
batch norm.

3x3 convs (C also has three 1x1 convs), padding 1, ReLU, 2x2/2 max pools after each of five blocks,
then FC 4096 -> FC 4096 -> FC 1000 with dropout 0.5 after the first two. As torchvision builds it,
an adaptive 7x7 average pool precedes the classifier (the identity at 224 px; it keeps the
classifier at 25,088 inputs at any resolution), and the _bn variants put BatchNorm after every conv
(convs keep their biases, as there). A-LRN puts LRN (the paper: AlexNet's settings) after the first
conv's ReLU.

small=True (28-32 px): the fifth max pool is dropped (28 px would reach 1x1 after four), then a
global average pool and a single linear classifier from 512 features, as the common CIFAR VGGs do.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from spaces.complexity import ZERO, Cost
from spaces.distributions import choice
from spaces.errors import ConfigError
from spaces.family_space import FamilySpace
from spaces.graph_config import GraphConfig, check_common, register_graph_kind
from spaces.layers import (
    BN,
    LRN,
    Act,
    Conv,
    Dropout,
    Flatten,
    GlobalPool,
    Linear,
    Node,
    Pool,
    Seq,
    Shape,
)
from spaces.registry import register_model, register_space
from spaces.zoo.references import register_reference

if TYPE_CHECKING:
    from torch import nn

# Table 1: per block, the convs' (kernel, width); a max pool follows each block.
_B = ((3, 64), (3, 64)), ((3, 128), (3, 128))
LAYOUTS: dict[str, tuple[tuple[tuple[int, int], ...], ...]] = {
    "A": (((3, 64),), ((3, 128),), ((3, 256),) * 2, ((3, 512),) * 2, ((3, 512),) * 2),
    "A-LRN": (((3, 64),), ((3, 128),), ((3, 256),) * 2, ((3, 512),) * 2, ((3, 512),) * 2),
    "B": (*_B, ((3, 256),) * 2, ((3, 512),) * 2, ((3, 512),) * 2),
    "C": (
        *_B,
        ((3, 256),) * 2 + ((1, 256),),
        ((3, 512),) * 2 + ((1, 512),),
        ((3, 512),) * 2 + ((1, 512),),
    ),
    "D": (*_B, ((3, 256),) * 3, ((3, 512),) * 3, ((3, 512),) * 3),
    "E": (*_B, ((3, 256),) * 4, ((3, 512),) * 4, ((3, 512),) * 4),
}


@dataclass(frozen=True)
class AdaptiveAvgPool(Node):
    """Average pooling to a fixed size x size output, whatever the input (torchvision's VGG and
    AlexNet)."""

    size: int

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        return ZERO, (shape[0], self.size, self.size)

    def build(self, shape: Shape) -> nn.Module:
        from torch import nn

        return nn.AdaptiveAvgPool2d(self.size)


@dataclass(frozen=True)
class VGGConfig(GraphConfig):
    kind: ClassVar[str] = "vgg"
    letter: str = "D"
    batch_norm: bool = False
    in_channels: int = 3
    num_classes: int = 1000
    small: bool = False

    def __post_init__(self) -> None:
        check_common(self)
        if self.letter not in LAYOUTS:
            raise ConfigError(
                f"vgg: unknown configuration {self.letter!r}; valid: {', '.join(LAYOUTS)}"
            )
        if not isinstance(self.batch_norm, bool):
            raise ConfigError(f"vgg: batch_norm must be true or false, got {self.batch_norm!r}")

    def graph(self) -> Node:
        items: list[Node] = []
        blocks = LAYOUTS[self.letter]
        for b, block in enumerate(blocks):
            for i, (k, width) in enumerate(block):
                items += [
                    Conv(width, k, bias=True),
                    *((BN(),) if self.batch_norm else ()),
                    Act("relu"),
                ]
                if self.letter == "A-LRN" and b == i == 0:
                    items.append(LRN(5, 1e-4, 0.75, 2.0))
            if not (self.small and b == len(blocks) - 1):
                items.append(Pool("max", 2, 2))
        if self.small:
            items += [GlobalPool(), Flatten(), Linear(self.num_classes)]
        else:
            items += [
                AdaptiveAvgPool(7),
                Flatten(),
                Linear(4096),
                Act("relu"),
                Dropout(0.5),
                Linear(4096),
                Act("relu"),
                Dropout(0.5),
                Linear(self.num_classes),
            ]
        return Seq(tuple(items))


register_graph_kind(VGGConfig)

_TV = "torchvision.models.{} (IMAGENET1K_V1 weights): {:,} params"
# name, letter, batch_norm, torchvision params, torchvision GFLOPS (multiply-adds) at 224
_MODELS = (
    ("vgg11", "A", False, 132_863_336, 7.61e9),
    ("vgg11_lrn", "A-LRN", False, None, None),
    ("vgg13", "B", False, 133_047_848, 11.31e9),
    ("vgg16_c", "C", False, None, None),
    ("vgg16", "D", False, 138_357_544, 15.47e9),
    ("vgg19", "E", False, 143_667_240, 19.63e9),
    ("vgg11_bn", "A", True, 132_868_840, 7.61e9),
    ("vgg13_bn", "B", True, 133_053_736, 11.31e9),
    ("vgg16_bn", "D", True, 138_365_992, 15.47e9),
    ("vgg19_bn", "E", True, 143_678_248, 19.63e9),
)
for _name, _letter, _bn, _params, _flops in _MODELS:
    register_model(_name, partial(VGGConfig, letter=_letter, batch_norm=_bn))
    if _params is not None and _flops is not None:
        register_reference(
            _name,
            "vgg",
            params=_params,
            flops=_flops,
            resolution=224,
            source=_TV.format(_name, _params) + f", {_flops / 1e9:.2f} GFLOPS",
        )
register_reference(
    "vgg11_lrn",
    "vgg",
    params=133_000_000,
    resolution=224,
    source="Simonyan & Zisserman 2015, Table 2: A-LRN 133M (LRN adds no parameters: = vgg11)",
    note="LRN after the first conv's ReLU with AlexNet's settings (size 5, alpha 1e-4, beta 0.75, "
    "k 2)",
)
register_reference(
    "vgg16_c",
    "vgg",
    params=134_000_000,
    resolution=224,
    source="Simonyan & Zisserman 2015, Table 2: C 134M",
    note="exact count 133,638,952 (vgg16 with the last conv of blocks 3-5 1x1)",
)

register_space(
    FamilySpace(
        "vgg",
        "VGG's configurations A-E (Table 1) with or without batch norm",
        base=VGGConfig(),
        params={"letter": choice(tuple(LAYOUTS)), "batch_norm": choice((False, True))},
        batch=32,
    )
)
