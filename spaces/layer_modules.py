"""The torch modules behind the composite nodes of `spaces.layers`."""

from __future__ import annotations

import torch
from torch import nn


class ConcatModule(nn.Module):
    def __init__(self, branches: list[nn.Module]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], dim=1)


class ResidualModule(nn.Module):
    def __init__(
        self, body: nn.Module, shortcut: nn.Module | None, scale: float, act: nn.Module | None
    ) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut
        self.scale = scale
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        short = x if self.shortcut is None else self.shortcut(x)
        body = self.body(x)
        out = short + (body if self.scale == 1.0 else self.scale * body)
        return out if self.act is None else self.act(out)


class SEModule(nn.Module):
    def __init__(self, channels: int, hidden: int, act: nn.Module, gate: nn.Module) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, hidden, 1, bias=True)
        self.act = act
        self.expand = nn.Conv2d(hidden, channels, 1, bias=True)
        self.gate = gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))
