"""Counts of a *built* network that share no code with the analytic formulas of `spaces.complexity`,
for tests that must not compare the analytic counts with themselves.

The network is built on PyTorch's meta device (shapes only: no weights are allocated and no
arithmetic is done, so even a 140M-parameter VGG counts in a fraction of a second) and run once on a
meta input:

- params: sum(p.numel()) over the built module's parameters;
- flops: multiply-adds of every nn.Conv2d and nn.Linear module that runs, each counted by hand from
  its output shape: output elements x (input channels / groups) x kernel height x kernel width for a
  conv, output elements x input features for a linear layer (biases are not multiply-adds:
  fvcore's convention);
- acts: output elements of every nn.Conv2d and nn.Linear, by the same forward hooks.

A network that did arithmetic outside these modules (a functional conv or matmul) would count less
here than in fvcore; the tests that use this compare it with the analytic count, so they would
show that.
"""

from __future__ import annotations

import torch
from torch import nn

from spaces.netconfig import NetworkConfig


def built_counts(cfg: NetworkConfig, resolution: int) -> tuple[int, int, int]:
    """(params, flops, acts) of `cfg.build()` on one resolution x resolution input, counted on the
    meta device."""
    with torch.device("meta"):
        model = cfg.build().eval()
    flops = acts = 0

    def count(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        nonlocal flops, acts
        acts += output.numel()
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            flops += output.numel() * (module.in_channels // module.groups) * kh * kw
        else:
            flops += output.numel() * module.in_features

    handles = [
        m.register_forward_hook(count)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    try:
        with torch.no_grad():
            model(torch.empty(1, cfg.in_channels, resolution, resolution, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return sum(p.numel() for p in model.parameters()), flops, acts
