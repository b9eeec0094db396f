"""The AnyNet generator: a pure function from an AnyNetConfig to a torch module."""

from __future__ import annotations

import torch
from torch import nn

from spaces.blocks import BLOCK_TYPES, Head, init_weights, make_stem
from spaces.config import AnyNetConfig


class Stage(nn.Sequential):
    """`depth` blocks; the first one carries the stride and the width change."""

    def __init__(self, block: type[nn.Module], w_in: int, w_out: int, depth: int, stride: int,
                 bottleneck: int, group_width: int, se_ratio: float | None, **options: object) -> None:
        super().__init__(*(block(w_in if i == 0 else w_out, w_out, stride if i == 0 else 1,
                                 bottleneck, group_width, se_ratio, **options) for i in range(depth)))


class AnyNet(nn.Module):
    """Stem, stages, head. ResNet-like, AnyNet and RegNet models are all instances of this body."""

    def __init__(self, config: AnyNetConfig, zero_init_last: bool = False) -> None:
        super().__init__()
        self.config = config
        self.stem = make_stem(config.in_channels, config.stem_width, config.stem, config.stem_kind)
        block = BLOCK_TYPES[config.block]
        options = {k: v for k, v in config.options().items() if k not in ("stem_kind", "head_dropout")}
        stages, w_in = [], config.stem_width
        for s in config.stages:
            stages.append(Stage(block, w_in, s.width, s.depth, s.stride, s.bottleneck, s.group_width,
                                config.se_ratio, **options))
            w_in = s.width
        self.stages = nn.Sequential(*stages)
        self.head = Head(w_in, config.num_classes, config.head_dropout)
        self.apply(lambda m: init_weights(m, zero_init_last))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))
