"""A small layer-graph language: each node is frozen data that both counts itself and builds itself.

The zoo's families that are not AnyNet bodies (LeNet, AlexNet, VGG, Inception, DenseNet, ShuffleNet,
...) are written as a pure function config -> node tree. Counting walks the tree with shapes (C, H,
W), so the analytic complexity needs no torch; `build` turns the same tree into modules, so both
cannot drift apart.

Conventions as in `spaces.complexity`: params = learnable parameters (BN: 2 per channel); flops =
multiply-adds of conv and linear layers; acts = output elements of conv and linear layers. Counts
are Python ints (a node's sizes are made Python ints first, even when a config holds numpy ints), so
they are exact at any size and never wrap. `out_size` is the window arithmetic the nodes share
(PyTorch's output size of a conv or pool), public for families that define nodes of their own
(LeNet's).

    net = Seq((conv_bn_act(64, 7, stride=2), Pool("max", 3, 2, 1), GlobalPool(), Flatten(),
               Linear(1000)))
    cost, shape = net.count((3, 224, 224))
    module = net.build((3, 224, 224))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spaces.complexity import ZERO, Cost
from spaces.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

Shape = tuple[int, int, int]  # channels, height, width
Pair = int | tuple[int, int]


def _pair(x: Pair) -> tuple[int, int]:
    return (int(x[0]), int(x[1])) if isinstance(x, tuple | list) else (int(x), int(x))


def out_size(
    size: int, k: int, stride: int, pad: int, ceil_mode: bool = False, dilation: int = 1
) -> int:
    """Output size along one axis of a k-wide window (conv or pool) with this stride, padding,
    dilation and ceil mode, as PyTorch computes it; ConfigError when the input is too small for one
    window."""
    span = size + 2 * pad - dilation * (k - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:  # PyTorch: the last window must start inside
        out -= 1
    if out < 1:
        raise ConfigError(
            f"input {size} px is too small for a {k}x{k} window (stride {stride}, padding {pad}); "
            "use a larger resolution or the family's small-input variant"
        )
    return out


class Node:
    """A layer or a composition. Subclasses implement count() and build()."""

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        raise NotImplementedError

    def build(self, shape: Shape) -> nn.Module:
        raise NotImplementedError


@dataclass(frozen=True)
class Conv(Node):
    """k x k convolution (padding None = k // 2 on each side)."""

    out: int
    k: Pair = 3
    stride: Pair = 1
    padding: Pair | None = None
    groups: int = 1
    bias: bool = False

    def _geometry(self, shape: Shape):
        c, h, w = shape
        (kh, kw), (sh, sw) = _pair(self.k), _pair(self.stride)
        ph, pw = (kh // 2, kw // 2) if self.padding is None else _pair(self.padding)
        if c % self.groups or self.out % self.groups:
            raise ConfigError(
                f"conv with {self.groups} groups needs channels divisible by it: {c} -> {self.out}"
            )
        return c, (kh, kw), (sh, sw), (ph, pw), (out_size(h, kh, sh, ph), out_size(w, kw, sw, pw))

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        c, (kh, kw), _, _, (oh, ow) = self._geometry(shape)
        c, out, oh, ow = int(c), int(self.out), int(oh), int(ow)
        weights = (c // int(self.groups)) * out * kh * kw
        return Cost(weights + self.bias * out, weights * oh * ow, out * oh * ow), (out, oh, ow)

    def build(self, shape: Shape) -> nn.Module:
        from torch import nn

        c, k, s, p, _ = self._geometry(shape)
        return nn.Conv2d(c, self.out, k, s, p, groups=self.groups, bias=self.bias)


@dataclass(frozen=True)
class BN(Node):
    eps: float = 1e-5

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        return Cost(2 * int(shape[0]), 0, 0), shape

    def build(self, shape: Shape) -> nn.Module:
        from torch import nn

        return nn.BatchNorm2d(shape[0], eps=self.eps)


ACTIVATIONS = ("relu", "relu6", "tanh", "sigmoid", "silu", "hardswish", "hardsigmoid")


@dataclass(frozen=True)
class Act(Node):
    kind: str = "relu"

    def __post_init__(self) -> None:
        if self.kind not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {self.kind!r}; valid: {', '.join(ACTIVATIONS)}")

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        return ZERO, shape

    def build(self, shape: Shape) -> nn.Module:
        from torch import nn

        return {
            "relu": nn.ReLU,
            "relu6": nn.ReLU6,
            "tanh": nn.Tanh,
            "sigmoid": nn.Sigmoid,
            "silu": nn.SiLU,
            "hardswish": nn.Hardswish,
            "hardsigmoid": nn.Hardsigmoid,
        }[self.kind]()


@dataclass(frozen=True)
class Pool(Node):
    """Max or average pooling (count_include_pad as PyTorch's default)."""

    kind: str
    k: Pair
    stride: Pair | None = None
    padding: Pair = 0
    ceil_mode: bool = False
    count_include_pad: bool = True

    def _out(self, shape: Shape) -> Shape:
        c, h, w = shape
        (kh, kw), (ph, pw) = _pair(self.k), _pair(self.padding)
        sh, sw = _pair(self.stride if self.stride is not None else self.k)
        return c, out_size(h, kh, sh, ph, self.ceil_mode), out_size(w, kw, sw, pw, self.ceil_mode)

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        return ZERO, self._out(shape)

    def build(self, shape: Shape) -> nn.Module:
        from torch import nn

        stride = self.stride if self.stride is not None else self.k
        if self.kind == "max":
            return nn.MaxPool2d(self.k, stride, self.padding, ceil_mode=self.ceil_mode)
        if self.kind == "avg":
            return nn.AvgPool2d(
                self.k,
                stride,
                self.padding,
                ceil_mode=self.ceil_mode,
                count_include_pad=self.count_include_pad,
            )
        raise ConfigError(f"unknown pooling {self.kind!r}; valid: max, avg")


@dataclass(frozen=True)
class GlobalPool(Node):
    """Global average pooling to 1 x 1."""

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        return ZERO, (shape[0], 1, 1)

    def build(self, shape: Shape) -> nn.Module:
        from torch import nn

        return nn.AdaptiveAvgPool2d(1)


@dataclass(frozen=True)
class Flatten(Node):
    """(C, H, W) -> (C*H*W, 1, 1): what a Linear consumes."""

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        return ZERO, (math.prod(shape), 1, 1)

    def build(self, shape: Shape) -> nn.Module:
        from torch import nn

        return nn.Flatten(1)


@dataclass(frozen=True)
class Linear(Node):
    out: int
    bias: bool = True

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        if shape[1:] != (1, 1):
            raise ConfigError(
                f"a linear layer needs a flat input (put Flatten or GlobalPool first), got {shape}"
            )
        c, out = int(shape[0]), int(self.out)
        return Cost(c * out + self.bias * out, c * out, out), (out, 1, 1)

    def build(self, shape: Shape) -> nn.Module:
        from torch import nn

        return nn.Linear(shape[0], self.out, bias=self.bias)


@dataclass(frozen=True)
class Dropout(Node):
    p: float = 0.5

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        return ZERO, shape

    def build(self, shape: Shape) -> nn.Module:
        from torch import nn

        return nn.Dropout(self.p)


@dataclass(frozen=True)
class LRN(Node):
    """Local response normalization across channels (AlexNet, GoogLeNet, VGG A-LRN)."""

    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 2.0

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        return ZERO, shape

    def build(self, shape: Shape) -> nn.Module:
        from torch import nn

        return nn.LocalResponseNorm(self.size, self.alpha, self.beta, self.k)


@dataclass(frozen=True)
class Identity(Node):
    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        return ZERO, shape

    def build(self, shape: Shape) -> nn.Module:
        from torch import nn

        return nn.Identity()


@dataclass(frozen=True)
class Seq(Node):
    items: tuple[Node, ...]

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        total = ZERO
        for item in self.items:
            cost, shape = item.count(shape)
            total = total + cost
        return total, shape

    def build(self, shape: Shape) -> nn.Module:
        from torch import nn

        modules = []
        for item in self.items:
            modules.append(item.build(shape))
            shape = item.count(shape)[1]
        return nn.Sequential(*modules)


@dataclass(frozen=True)
class Concat(Node):
    """Parallel branches on the same input, concatenated along channels (Inception, DenseNet)."""

    branches: tuple[Node, ...]

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        shapes: list[Shape] = []
        total = ZERO
        for b in self.branches:
            cost, out = b.count(shape)
            total, shapes = total + cost, [*shapes, out]
        if len({s[1:] for s in shapes}) != 1:
            raise ConfigError(
                f"concatenated branches disagree on spatial size: {[s[1:] for s in shapes]}"
            )
        return total, (sum(s[0] for s in shapes), *shapes[0][1:])

    def build(self, shape: Shape) -> nn.Module:
        from spaces.layer_modules import ConcatModule

        return ConcatModule([b.build(shape) for b in self.branches])


@dataclass(frozen=True)
class Residual(Node):
    """act(shortcut(x) + scale * body(x)); shortcut None is the identity."""

    body: Node
    shortcut: Node | None = None
    scale: float = 1.0
    act: str | None = None

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        cost, out = self.body.count(shape)
        short_cost, short = self.shortcut.count(shape) if self.shortcut else (ZERO, shape)
        if short != out:
            raise ConfigError(
                f"residual branch {out} and shortcut {short} differ; add a projection shortcut"
            )
        return cost + short_cost, out

    def build(self, shape: Shape) -> nn.Module:
        from spaces.layer_modules import ResidualModule

        return ResidualModule(
            self.body.build(shape),
            self.shortcut.build(shape) if self.shortcut else None,
            self.scale,
            Act(self.act).build(shape) if self.act else None,
        )


@dataclass(frozen=True)
class ChannelShuffle(Node):
    groups: int

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        if shape[0] % self.groups:
            raise ConfigError(
                f"channel shuffle: {shape[0]} channels are not divisible by {self.groups} groups"
            )
        return ZERO, shape

    def build(self, shape: Shape) -> nn.Module:
        from torch import nn

        return nn.ChannelShuffle(self.groups)


@dataclass(frozen=True)
class SE(Node):
    """Squeeze-excitation: global pool, 1x1 conv (bias) to `hidden`, act, 1x1 conv (bias) back,
    gate."""

    hidden: int
    act: str = "relu"
    gate: str = "sigmoid"

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        c, hidden = int(shape[0]), int(self.hidden)
        return Cost(2 * c * hidden + hidden + c, 2 * c * hidden, hidden + c), shape

    def build(self, shape: Shape) -> nn.Module:
        from spaces.layer_modules import SEModule

        return SEModule(
            shape[0], self.hidden, Act(self.act).build(shape), Act(self.gate).build(shape)
        )


def conv_bn_act(
    out: int,
    k: Pair = 3,
    stride: Pair = 1,
    padding: Pair | None = None,
    groups: int = 1,
    act: str | None = "relu",
    bn: bool = True,
    eps: float = 1e-5,
) -> Seq:
    """The common conv (no bias when followed by BN) + BN + activation unit."""
    items: list[Node] = [Conv(out, k, stride, padding, groups, bias=not bn)]
    if bn:
        items.append(BN(eps))
    if act:
        items.append(Act(act))
    return Seq(tuple(items))


def count_graph(node: Node, shape: Shape) -> tuple[Cost, Shape]:
    """Count `node` on an input shape; int results (batched arrays are for the AnyNet spaces)."""
    cost, out = node.count(tuple(int(x) for x in shape))  # type: ignore[arg-type]
    return Cost(*(int(x) for x in cost)), out


def describe_graph(node: Node) -> dict[str, Any]:
    """Counts of node types, for one-line descriptions."""
    counts: dict[str, int] = {}

    def walk(n: Node) -> None:
        counts[type(n).__name__] = counts.get(type(n).__name__, 0) + 1
        for child in getattr(n, "items", ()) + getattr(n, "branches", ()):
            walk(child)
        for attr in ("body", "shortcut"):
            if getattr(n, attr, None) is not None:
                walk(getattr(n, attr))

    walk(node)
    return counts
