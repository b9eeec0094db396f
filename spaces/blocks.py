"""Torch building blocks of the AnyNet family. Each module mirrors a function of
`spaces.complexity`."""

from __future__ import annotations

import math

import torch
from torch import nn


def conv_bn(w_in: int, w_out: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(w_in, w_out, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(w_out)
    )


class Stem(nn.Module):
    """3x3 conv + BN + ReLU: stride 2 for ImageNet-size inputs, stride 1 for 28-32 px inputs."""

    def __init__(self, in_channels: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv = conv_bn(in_channels, width, 3, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x))


class ResNetStem(nn.Module):
    """The ImageNet stems of the ResNet family (`spaces.config.STEM_KINDS`): a 7x7 stride-2 conv
    ("resnet", "senet") or three 3x3 convs ("deep"), each + BN + ReLU, then a 3x3 stride-2 max-pool
    (padding 1 for "resnet", ceil mode without padding for the Caffe-derived "senet" and "deep")."""

    def __init__(self, in_channels: int, width: int, kind: str) -> None:
        super().__init__()
        if kind == "deep":
            half = width // 2
            self.convs = nn.Sequential(
                conv_bn(in_channels, half, 3, 2),
                nn.ReLU(inplace=True),
                conv_bn(half, half, 3),
                nn.ReLU(inplace=True),
                conv_bn(half, width, 3),
                nn.ReLU(inplace=True),
            )
        else:
            self.convs = nn.Sequential(conv_bn(in_channels, width, 7, 2), nn.ReLU(inplace=True))
        self.pool = (
            nn.MaxPool2d(3, 2, padding=1)
            if kind == "resnet"
            else nn.MaxPool2d(3, 2, ceil_mode=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.convs(x))


def make_stem(in_channels: int, width: int, stem: str, stem_kind: str = "regnet") -> nn.Module:
    """The stem a config asks for: the small-image 3x3 stride-1 conv, or the family's ImageNet
    stem."""
    if stem == "small":
        return Stem(in_channels, width, 1)
    return (
        Stem(in_channels, width, 2)
        if stem_kind == "regnet"
        else ResNetStem(in_channels, width, stem_kind)
    )


class SqueezeExcitation(nn.Module):
    """Channel gating from globally pooled features (Hu et al.); w_se is set by the caller."""

    def __init__(self, w_in: int, w_se: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(w_in, w_se, 1, bias=True)
        self.expand = nn.Conv2d(w_se, w_in, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.reduce(self.pool(x)))
        return x * torch.sigmoid(self.expand(s))


class Projection(nn.Module):
    """1x1 conv + BN on the shortcut when width or resolution changes (`kernel` 3 for strided ones:
    SENet-154)."""

    def __init__(self, w_in: int, w_out: int, stride: int, kernel: int = 1) -> None:
        super().__init__()
        k = kernel if stride != 1 else 1
        self.conv = nn.Conv2d(w_in, w_out, k, stride, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(w_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class VanillaBlock(nn.Module):
    """V: 3x3 conv, BN, ReLU, 3x3 conv, BN, ReLU."""

    def __init__(
        self,
        w_in: int,
        w_out: int,
        stride: int,
        bottleneck: int = 1,
        group_width: int = 1,
        se_ratio: float | None = None,
        **options: object,
    ) -> None:
        super().__init__()
        self.a = conv_bn(w_in, w_out, 3, stride)
        self.b = conv_bn(w_out, w_out, 3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.b(self.relu(self.a(x))))


class ResidualBlock(nn.Module):
    """A residual function f plus an identity or projected shortcut, then ReLU.

    With `se_reduction` (SENet), f ends with squeeze-excitation of width w_out // se_reduction on
    its output.
    """

    def __init__(
        self,
        w_in: int,
        w_out: int,
        stride: int,
        proj_kernel: int = 1,
        se_reduction: int | None = None,
    ) -> None:
        super().__init__()
        needs_proj = w_in != w_out or stride != 1
        self.proj = Projection(w_in, w_out, stride, proj_kernel) if needs_proj else None
        self.relu = nn.ReLU(inplace=True)
        self.se_out = SqueezeExcitation(w_out, w_out // se_reduction) if se_reduction else None

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.proj is None else self.proj(x)
        f = self.residual(x)
        if self.se_out is not None:
            f = self.se_out(f)
        return self.relu(shortcut + f)


class ResBasicBlock(ResidualBlock):
    """R: two 3x3 convs with a residual connection."""

    def __init__(
        self,
        w_in: int,
        w_out: int,
        stride: int,
        bottleneck: int = 1,
        group_width: int = 1,
        se_ratio: float | None = None,
        proj_kernel: int = 1,
        se_reduction: int | None = None,
        **options: object,
    ) -> None:
        super().__init__(w_in, w_out, stride, proj_kernel, se_reduction)
        self.a = conv_bn(w_in, w_out, 3, stride)
        self.b = conv_bn(w_out, w_out, 3)
        mark_final_bn(self.b[1])

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.relu(self.a(x)))


class ResBottleneckBlock(ResidualBlock):
    """X: 1x1, 3x3 group conv (stride here), [SE], 1x1; Y when se_ratio is set.

    SE width is se_ratio x the block's *input* width, as in the RegNet reference code. Options: the
    stride on the first 1x1 conv (`stride_1x1`, Caffe / SE-ResNet), a 3x3 conv that widens w_b to
    w_out (`expand_3x3`, SENet-154), SE on the output (`se_reduction`) and 3x3 projections
    (`proj_kernel`).
    """

    def __init__(
        self,
        w_in: int,
        w_out: int,
        stride: int,
        bottleneck: int = 1,
        group_width: int = 1,
        se_ratio: float | None = None,
        proj_kernel: int = 1,
        se_reduction: int | None = None,
        stride_1x1: bool = False,
        expand_3x3: bool = False,
        **options: object,
    ) -> None:
        super().__init__(w_in, w_out, stride, proj_kernel, se_reduction)
        w_b = w_out // bottleneck
        w_mid = w_out if expand_3x3 else w_b
        s1, s3 = (stride, 1) if stride_1x1 else (1, stride)
        self.a = conv_bn(w_in, w_b, 1, s1)
        self.b = conv_bn(w_b, w_mid, 3, s3, groups=w_b // group_width)
        self.se = SqueezeExcitation(w_mid, round(se_ratio * w_in)) if se_ratio else None
        self.c = conv_bn(w_mid, w_out, 1)
        mark_final_bn(self.c[1])

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.b(self.relu(self.a(x))))
        if self.se is not None:
            x = self.se(x)
        return self.c(x)


BLOCK_TYPES: dict[str, type[nn.Module]] = {
    "V": VanillaBlock,
    "R": ResBasicBlock,
    "X": ResBottleneckBlock,
}


class Head(nn.Module):
    """Global average pool + linear classifier."""

    def __init__(self, w_in: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout else None
        self.fc = nn.Linear(w_in, num_classes, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.pool(x), 1)
        return self.fc(x if self.dropout is None else self.dropout(x))


def mark_final_bn(bn: nn.Module) -> None:
    """Mark `bn` as the last BN of a residual branch: `init_weights(..., zero_init_last=True)`
    zeroes it.

    A plain Python attribute (not a parameter, buffer or submodule), so it is set as nn.Module
    itself sets such values, with object.__setattr__: nn.Module.__setattr__ is typed for tensors and
    modules only."""
    object.__setattr__(bn, "final_bn", True)


def init_weights(module: nn.Module, zero_init_last: bool = False) -> None:
    """pycls initialization: fan-out normal convs, unit BN (optionally zero on the last BN of a
    residual branch), small-normal linear."""
    if isinstance(module, nn.Conv2d):
        fan_out = (
            module.kernel_size[0] * module.kernel_size[1] * module.out_channels // module.groups
        )
        module.weight.data.normal_(mean=0.0, std=math.sqrt(2.0 / fan_out))
        if module.bias is not None:
            module.bias.data.zero_()
    elif isinstance(module, nn.BatchNorm2d):
        final = getattr(module, "final_bn", False) and zero_init_last
        module.weight.data.fill_(0.0 if final else 1.0)
        module.bias.data.zero_()
    elif isinstance(module, nn.Linear):
        module.weight.data.normal_(mean=0.0, std=0.01)
        if module.bias is not None:
            module.bias.data.zero_()
