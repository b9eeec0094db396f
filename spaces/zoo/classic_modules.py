"""Torch modules behind the custom nodes of the classic families (LeNet's partial connections, its
trainable subsampling, input fitting). Imported only when a network is built."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TableConvModule(nn.Module):
    """Output map j reads only input maps table[j]: one grouped conv per distinct fan-in over
    gathered channels."""

    order: torch.Tensor  # a buffer (registered in __init__): output position of each gathered map

    def __init__(
        self,
        table: tuple[tuple[int, ...], ...],
        k: int,
        stride: int,
        padding: int,
        bias: str,
        out_hw: tuple[int, int],
    ) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        order: list[int] = []
        for i, size in enumerate(sorted({len(row) for row in table})):
            maps = [j for j, row in enumerate(table) if len(row) == size]
            order += maps
            self.register_buffer(
                f"index{i}", torch.tensor([m for j in maps for m in table[j]]), persistent=False
            )
            self.convs.append(
                nn.Conv2d(
                    size * len(maps),
                    len(maps),
                    k,
                    stride,
                    padding,
                    groups=len(maps),
                    bias=bias == "map",
                )
            )
        self.register_buffer(
            "order",
            torch.tensor(sorted(range(len(order)), key=order.__getitem__)),
            persistent=False,
        )
        self.reorder = order != sorted(order)
        self.unit_bias = nn.Parameter(torch.zeros(len(table), *out_hw)) if bias == "unit" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [
            conv(x.index_select(1, getattr(self, f"index{i}"))) for i, conv in enumerate(self.convs)
        ]
        y = outs[0] if len(outs) == 1 else torch.cat(outs, 1)
        if self.reorder:
            y = y.index_select(1, self.order)
        return y if self.unit_bias is None else y + self.unit_bias


class SubsampleModule(nn.Module):
    """LeNet-5's S layers: coefficient * (sum of each k x k window) + bias, per map."""

    def __init__(self, channels: int, k: int) -> None:
        super().__init__()
        self.k = k
        self.weight = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, self.k) * (self.weight * self.k * self.k) + self.bias


class CenterPad(nn.Module):
    """Zero-pad (or crop) the input to size x size around the centre."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = int(x.shape[-2]), int(x.shape[-1])
        top, left = (self.size - h) // 2, (self.size - w) // 2
        return F.pad(x, (left, self.size - w - left, top, self.size - h - top))
