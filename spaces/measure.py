"""Complexity measured on a built model, to check the analytic counts (and to count models that have
no analytic formula yet). params: parameter count; flops: fvcore's per-operator conv + linear count;
acts: output elements of every conv and linear layer, by forward hooks."""

from __future__ import annotations

import logging

import torch
from torch import nn

from spaces.complexity import Complexity, Resolution

FLOP_OPERATORS = ("conv", "linear", "addmm", "matmul", "bmm", "einsum")


def measure(model: nn.Module, resolution: Resolution, in_channels: int = 3) -> Complexity:
    """Count a built model on one input of the given size (batch 1, eval mode, CPU)."""
    from fvcore.nn import FlopCountAnalysis

    h, w = (resolution, resolution) if isinstance(resolution, int) else resolution
    x = torch.zeros(1, in_channels, h, w)
    was_training = model.training
    model.eval()
    acts = 0

    def count(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        nonlocal acts
        acts += int(output.numel())  # under tracing numel() is a traced value

    layers = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    handles = [m.register_forward_hook(count) for m in layers]
    try:  # one traced forward pass serves both fvcore and the hooks
        logging.getLogger("fvcore").setLevel(logging.ERROR)
        analysis = FlopCountAnalysis(model, x).unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        by_op = analysis.by_operator()
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    flops = sum(v for k, v in by_op.items() if k in FLOP_OPERATORS)
    params = sum(p.numel() for p in model.parameters())
    return Complexity(params=params, flops=int(flops), acts=acts, resolution=resolution)
