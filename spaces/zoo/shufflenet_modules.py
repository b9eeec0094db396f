"""Torch modules behind the ShuffleNet nodes (imported only when a model is built)."""

from __future__ import annotations

import torch
from torch import nn


class ChannelSliceModule(nn.Module):
    """x[:, start:stop]: one half of ShuffleNet V2's channel split."""

    def __init__(self, start: int, stop: int) -> None:
        super().__init__()
        self.start, self.stop = start, stop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.start : self.stop]

    def extra_repr(self) -> str:
        return f"start={self.start}, stop={self.stop}"
