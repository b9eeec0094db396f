"""The AnyNet generator: a pure function from an AnyNet config to a torch module.

`AnyNet` reads its config through `AnyNetBody`, the fields of spaces.config's `AnyNetConfig` it
needs, so that this module (torch) and the config module (which builds through it) do not import
each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch
from torch import nn

from spaces.blocks import BLOCK_TYPES, Head, init_weights, make_stem


class StageBody(Protocol):
    """One stage as `AnyNet` reads it (spaces.config.StageConfig)."""

    @property
    def depth(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def stride(self) -> int: ...
    @property
    def bottleneck(self) -> int: ...
    @property
    def group_width(self) -> int: ...


class AnyNetBody(Protocol):
    """What `AnyNet` reads of its config: an spaces.config.AnyNetConfig (validated, compatible
    widths)."""

    @property
    def stages(self) -> Sequence[StageBody]: ...
    @property
    def block(self) -> str: ...
    @property
    def se_ratio(self) -> float | None: ...
    @property
    def stem(self) -> str: ...
    @property
    def stem_width(self) -> int: ...
    @property
    def stem_kind(self) -> str: ...
    @property
    def in_channels(self) -> int: ...
    @property
    def num_classes(self) -> int: ...
    @property
    def head_dropout(self) -> float: ...

    def options(self) -> dict[str, Any]:
        """The block / stem / head options that differ from their defaults."""
        ...


class Stage(nn.Sequential):
    """`depth` blocks; the first one carries the stride and the width change."""

    def __init__(
        self,
        block: type[nn.Module],
        w_in: int,
        w_out: int,
        depth: int,
        stride: int,
        bottleneck: int,
        group_width: int,
        se_ratio: float | None,
        **options: object,
    ) -> None:
        super().__init__(
            *(
                block(
                    w_in if i == 0 else w_out,
                    w_out,
                    stride if i == 0 else 1,
                    bottleneck,
                    group_width,
                    se_ratio,
                    **options,
                )
                for i in range(depth)
            )
        )


class AnyNet(nn.Module):
    """Stem, stages, head. ResNet-like, AnyNet and RegNet models are all instances of this body."""

    def __init__(self, config: AnyNetBody, zero_init_last: bool = False) -> None:
        super().__init__()
        self.config = config
        self.stem = make_stem(config.in_channels, config.stem_width, config.stem, config.stem_kind)
        block = BLOCK_TYPES[config.block]
        options = {
            k: v for k, v in config.options().items() if k not in ("stem_kind", "head_dropout")
        }
        stages, w_in = [], config.stem_width
        for s in config.stages:
            stages.append(
                Stage(
                    block,
                    w_in,
                    s.width,
                    s.depth,
                    s.stride,
                    s.bottleneck,
                    s.group_width,
                    config.se_ratio,
                    **options,
                )
            )
            w_in = s.width
        self.stages = nn.Sequential(*stages)
        self.head = Head(w_in, config.num_classes, config.head_dropout)
        self.apply(lambda m: init_weights(m, zero_init_last))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))
