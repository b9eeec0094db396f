"""DenseNet-BC [Huang et al. 2017, Table 1]: dense blocks of
BN-ReLU-conv1x1(bn_size*k)-BN-ReLU-conv3x3(k) layers, each concatenating its k new channels to its
input; transitions BN-ReLU-conv1x1 (compression) and 2x2 average pooling. Layout and counting as
torchvision's `densenet121/161/169/201`.

Free parameters: growth rate k, block layout, bottleneck size (bn_size * k), compression, stem
features. `small=True` replaces the 7x7/2 conv and 3x3/2 max pool by one 3x3/1 conv (CIFAR
DenseNet-BC's stem).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from spaces.distributions import choice
from spaces.errors import ConfigError
from spaces.graph_config import GraphConfig, check_common, register_graph_kind
from spaces.layers import (
    BN,
    Act,
    Concat,
    Conv,
    Flatten,
    GlobalPool,
    Identity,
    Linear,
    Node,
    Pool,
    Seq,
)
from spaces.registry import register_model, register_space
from spaces.zoo.references import register_reference
from spaces.zoo.structured_space import StructuredFamilySpace


@dataclass(frozen=True)
class DenseNetConfig(GraphConfig):
    kind: ClassVar[str] = "densenet"
    growth_rate: int = 32
    block_config: tuple[int, ...] = (6, 12, 24, 16)
    bn_size: int = 4  # bottleneck width = bn_size * growth_rate
    compression: float = 0.5  # transition output = floor(compression * channels)
    init_features: int = 64
    in_channels: int = 3
    num_classes: int = 1000
    small: bool = False

    def __post_init__(self) -> None:
        check_common(self)
        for name in ("growth_rate", "bn_size", "init_features"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"densenet: {name} must be a positive integer, got {value!r}")
        blocks = self.block_config
        if (
            not isinstance(blocks, tuple)
            or not blocks
            or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in blocks)
        ):
            raise ConfigError(
                f"densenet: block_config must be a non-empty list of positive layer counts, "
                f"e.g. [6, 12, 24, 16]; got {blocks!r}"
            )
        if not isinstance(self.compression, int | float) or not 0 < self.compression <= 1:
            raise ConfigError(f"densenet: compression must be in (0, 1], got {self.compression!r}")

    def graph(self) -> Node:
        k = self.growth_rate
        if self.small:
            items: list[Node] = [Conv(self.init_features, 3), BN(), Act()]
        else:
            items = [Conv(self.init_features, 7, 2, 3), BN(), Act(), Pool("max", 3, 2, 1)]
        c = self.init_features
        for i, layers in enumerate(self.block_config):
            for _ in range(layers):
                body = Seq((BN(), Act(), Conv(self.bn_size * k, 1), BN(), Act(), Conv(k, 3)))
                items.append(Concat((Identity(), body)))
                c += k
            if i < len(self.block_config) - 1:
                c = max(1, math.floor(c * self.compression))
                items.append(Seq((BN(), Act(), Conv(c, 1), Pool("avg", 2, 2))))
        items += [BN(), Act(), GlobalPool(), Flatten(), Linear(self.num_classes)]
        return Seq(tuple(items))


register_graph_kind(DenseNetConfig)

LAYOUTS = {
    "121": (6, 12, 24, 16),
    "169": (6, 12, 32, 32),
    "201": (6, 12, 48, 32),
    "264": (6, 12, 64, 48),
    "161": (6, 12, 36, 24),
}
TV = "torchvision.models.{} (params: sum of parameters; flops: its GFLOPS metadata, multiply-adds)"
# name: (growth rate, layout, init features, params, flops at 224, source, note)
NAMED = {
    "densenet121": (32, LAYOUTS["121"], 64, 7_978_856, 2.834e9, TV.format("densenet121"), ""),
    "densenet161": (48, LAYOUTS["161"], 96, 28_681_000, 7.728e9, TV.format("densenet161"), ""),
    "densenet169": (32, LAYOUTS["169"], 64, 14_149_480, 3.360e9, TV.format("densenet169"), ""),
    "densenet201": (32, LAYOUTS["201"], 64, 20_013_928, 4.291e9, TV.format("densenet201"), ""),
    "densenet264": (
        32,
        LAYOUTS["264"],
        64,
        33_337_704,
        5.82e9,
        "params: our count of the paper's Table 1 layout (k=32), confirmed by PaddleClas "
        "DenseNet264 (33.74M = 33,337,704 + its BN running mean/var, 2 x 199,264); flops: "
        "PaddleClas 5.82 GFLOPs",
        "no library ships the plain DenseNet-264 with torchvision's counting (timm's "
        "densenet264d has a deep stem); PaddleClas' FLOPs run ~1% above conv+linear "
        "multiply-adds (its DenseNet-121: 2.87G vs torchvision's 2.834G); ours: 5.75G",
    ),
}

for _name, (_k, _layout, _init, _params, _flops, _source, _note) in NAMED.items():
    register_model(_name, partial(DenseNetConfig, _k, _layout, init_features=_init))
    register_reference(
        _name, "densenet", params=_params, flops=_flops, resolution=224, source=_source, note=_note
    )

register_space(
    StructuredFamilySpace(
        "densenet",
        "DenseNet-BC around the paper's settings: growth rate and block layout "
        "(k=32 DenseNet-121/169/201/264 and DenseNet-161's layout), bottleneck 4k, "
        "compression 0.5",
        base=DenseNetConfig(),
        params={"growth_rate": choice((12, 16, 24, 32, 40, 48))},
        structured={"block_config": LAYOUTS},
        batch=64,
    )
)
