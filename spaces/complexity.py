"""Exact analytic complexity, counted with array arithmetic, without building the network: the cost
algebra (`Cost`, `Complexity`), the layers and AnyNet blocks, and whole AnyNet bodies
(`network_cost`).

This module knows no config class, so that every config module can count with it:
`AnyNetConfig.analytic` (spaces.config) counts AnyNet configs with `network_cost`, the other
families with these layer costs (spaces.layers, spaces.mbconv), and `spaces.complexity(cfg)` /
`reference_complexity(cfg)`, which take any config, are in spaces.netconfig.

Conventions (REFERENCE section 6): params = every learnable parameter (BN: 2 per channel);
flops = multiply-adds of conv and linear layers (fvcore's per-operator conv + linear count; biases
are not multiply-adds); acts = output elements of conv and linear layers.

Every function is written with array arithmetic only, so the same code counts one config or a whole
batch of sampled candidates at once (numpy int64 arrays of shape (n,)): rejection sampling over huge
spaces counts ~10^6 candidates per second this way. Each function mirrors one module of
`spaces.blocks`; tests compare both against built models and fvcore.

Counts are exact, never wrapped: `network_cost` bounds every product it will form (layers x widest
channels^2 x largest kernel^2 x pixels) and, when that bound could pass int64 (huge widths or
resolutions), counts with Python ints (object arrays) instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from spaces.errors import ConfigError

if TYPE_CHECKING:
    from typing_extensions import TypeIs

Resolution = int | tuple[int, int]
REFERENCE_RESOLUTION = 224
INT64_MAX = int(np.iinfo(np.int64).max)


class Cost(NamedTuple):
    """params, flops, acts: Python/numpy ints, or int64 (object: Python ints, for huge counts)
    arrays for a batch."""

    params: np.ndarray | int
    flops: np.ndarray | int
    acts: np.ndarray | int

    def __add__(self, other: Cost) -> Cost:  # type: ignore[override]
        return Cost(self.params + other.params, self.flops + other.flops, self.acts + other.acts)

    def times(self, k: np.ndarray | int) -> Cost:
        return Cost(self.params * k, self.flops * k, self.acts * k)


ZERO = Cost(0, 0, 0)


@dataclass(frozen=True)
class Complexity:
    """The complexity of one network at one input setting."""

    params: int
    flops: int
    acts: int
    resolution: int | tuple[int, int]

    def to_dict(self) -> dict[str, int | list[int]]:
        res = self.resolution if isinstance(self.resolution, int) else list(self.resolution)
        return {"params": self.params, "flops": self.flops, "acts": self.acts, "resolution": res}


# --- layers ---------------------------------------------------------------------------------------
def spatial(h, stride):
    """Output size of a k x k conv with padding k // 2 (odd k), or of the pooled projection."""
    return (h - 1) // stride + 1


def conv(h, w, w_in, w_out, k, stride=1, groups=1, bias=False):
    """Cost and output spatial size of a k x k conv (padding k // 2)."""
    h2, w2 = spatial(h, stride), spatial(w, stride)
    weights = (w_in // groups) * w_out * k * k
    return Cost(weights + bias * w_out, weights * h2 * w2, w_out * h2 * w2), h2, w2


def batchnorm(channels) -> Cost:
    return Cost(2 * channels, 0, 0)


def linear(w_in, w_out, bias=True) -> Cost:
    return Cost(w_in * w_out + bias * w_out, w_in * w_out, w_out)


def conv_bn(h, w, w_in, w_out, k, stride=1, groups=1):
    cost, h2, w2 = conv(h, w, w_in, w_out, k, stride, groups)
    return cost + batchnorm(w_out), h2, w2


def max_pool(h, ceil_mode: bool):
    """Output size of a 3x3 stride-2 max-pool: padding 1 (torchvision), or no padding in ceil mode
    (Caffe)."""
    return h // 2 if ceil_mode else spatial(h, 2)


def stem_cost(h, w, in_channels, stem_width, stem: str, stem_kind: str = "regnet"):
    """Cost and output size of the stem (mirrors spaces.blocks.make_stem)."""
    if stem == "small" or stem_kind == "regnet":
        return conv_bn(h, w, in_channels, stem_width, 3, 2 if stem == "imagenet" else 1)
    if stem_kind == "deep":
        half = stem_width // 2
        cost, h, w = conv_bn(h, w, in_channels, half, 3, 2)
        c2, h, w = conv_bn(h, w, half, half, 3)
        c3, h, w = conv_bn(h, w, half, stem_width, 3)
        cost = cost + c2 + c3
    else:
        cost, h, w = conv_bn(h, w, in_channels, stem_width, 7, 2)
    ceil_mode = stem_kind != "resnet"
    return cost, max_pool(h, ceil_mode), max_pool(w, ceil_mode)


def squeeze_excitation(w_in, w_se) -> Cost:
    """Global pool, 1x1 conv (bias) to w_se, ReLU, 1x1 conv (bias) back, sigmoid: on 1x1 maps."""
    return linear(w_in, w_se) + linear(w_se, w_in)


# --- blocks (mirror spaces.blocks) ----------------------------------------------------------------
class BlockOptions(NamedTuple):
    """The block options of `spaces.config.OPTION_DEFAULTS` (scalars shared by a whole network)."""

    se_reduction: int | None = None
    stride_1x1: bool = False
    expand_3x3: bool = False
    proj_kernel: int = 1


DEFAULT_OPTIONS = BlockOptions()


def projection(h2, w2, w_in, w_out, stride, kernel: int = 1) -> Cost:
    """1x1 conv (stride) + BN on the shortcut, present only when width or resolution changes;
    `kernel` 3 makes the strided ones 3x3 (SENet-154)."""
    needed = (w_in != w_out) | (stride != 1)
    weights = w_in * w_out
    if kernel != 1:
        weights = weights * np.where(stride != 1, kernel * kernel, 1)
    return Cost(
        needed * (weights + 2 * w_out), needed * weights * h2 * w2, needed * w_out * h2 * w2
    )


def vanilla_block(
    h, w, w_in, w_out, stride, bottleneck, group_width, se_ratio, opts=DEFAULT_OPTIONS
):
    a, h2, w2 = conv_bn(h, w, w_in, w_out, 3, stride)
    b, _, _ = conv_bn(h2, w2, w_out, w_out, 3)
    return a + b, h2, w2


def res_basic_block(
    h, w, w_in, w_out, stride, bottleneck, group_width, se_ratio, opts=DEFAULT_OPTIONS
):
    cost, h2, w2 = vanilla_block(h, w, w_in, w_out, stride, bottleneck, group_width, se_ratio)
    cost = cost + projection(h2, w2, w_in, w_out, stride, opts.proj_kernel)
    if opts.se_reduction:
        cost = cost + squeeze_excitation(w_out, w_out // opts.se_reduction)
    return cost, h2, w2


def res_bottleneck_block(
    h, w, w_in, w_out, stride, bottleneck, group_width, se_ratio, opts=DEFAULT_OPTIONS
):
    w_b = w_out // bottleneck
    w_mid = w_out if opts.expand_3x3 else w_b
    s1, s3 = (stride, 1) if opts.stride_1x1 else (1, stride)
    a, h1, w1 = conv_bn(h, w, w_in, w_b, 1, s1)
    b, h2, w2 = conv_bn(h1, w1, w_b, w_mid, 3, s3, w_b // group_width)
    c, _, _ = conv_bn(h2, w2, w_mid, w_out, 1)
    cost = a + b + c + projection(h2, w2, w_in, w_out, stride, opts.proj_kernel)
    if se_ratio:
        cost = cost + squeeze_excitation(w_mid, _round(se_ratio * w_in))
    if opts.se_reduction:
        cost = cost + squeeze_excitation(w_out, w_out // opts.se_reduction)
    return cost, h2, w2


BLOCK_COSTS = {"V": vanilla_block, "R": res_basic_block, "X": res_bottleneck_block}


# --- whole networks -------------------------------------------------------------------------------
def body_cost(
    block,
    se_ratio,
    h,
    w,
    w_in,
    depth,
    width,
    stride,
    bottleneck,
    group_width,
    opts: BlockOptions = DEFAULT_OPTIONS,
):
    """Stem-to-head cost of the stages: arrays of shape (n, S) or lists of per-stage values.

    A stage is one strided first block and depth - 1 identical blocks, so its cost is closed form.
    """
    block_cost = BLOCK_COSTS[block]
    total = ZERO
    for i in range(len(depth[0]) if np.ndim(depth) == 2 else len(depth)):
        d, wo, s, b, g = (
            x[:, i] if np.ndim(x) == 2 else x[i]
            for x in (depth, width, stride, bottleneck, group_width)
        )
        first, h, w = block_cost(h, w, w_in, wo, s, b, g, se_ratio, opts)
        rest, _, _ = block_cost(h, w, wo, wo, 1, b, g, se_ratio, opts)
        total = total + first + rest.times(d - 1)
        w_in = wo
    return total, w_in


def _round(x):
    """Round half to even to whole numbers (np.rint): int64 for int64 arrays, Python ints
    otherwise."""
    if np.ndim(x) == 0:
        return round(float(x))
    x = np.asarray(x)
    if x.dtype == object:
        return np.array([round(float(v)) for v in x.ravel()], dtype=object).reshape(x.shape)
    return np.rint(x).astype(np.int64)


def count_bound(
    se_ratio,
    stem_width,
    in_channels,
    num_classes,
    h,
    w,
    depth,
    width,
    opts: BlockOptions = DEFAULT_OPTIONS,
) -> int:
    """An upper bound (a Python int) on every count and every intermediate product of
    `network_cost`: at most 8 conv / linear layers a block (3 convs, the projection, two SE pairs)
    and 4 more (stem, head), each with at most (widest channels)^2 x (largest kernel)^2 weights,
    (widest channels) x pixels outputs and (widest channels)^2 x (largest kernel)^2 x pixels
    multiply-adds."""
    widest = max(int(np.max(width)), int(stem_width), int(in_channels), int(num_classes), 1)
    # SE hidden widths: se_ratio x the block input
    widest = widest * max(1, math.ceil(se_ratio or 0)) + 1
    kernel2 = max(49, int(opts.proj_kernel) ** 2)  # the 7x7 stem, 3x3 projections
    blocks = int(np.max(np.sum(depth, axis=-1)))
    return (8 * blocks + 4) * (widest * widest * kernel2 + 3 * widest) * max(1, int(h) * int(w))


def network_cost(
    block,
    se_ratio,
    stem,
    stem_width,
    in_channels,
    num_classes,
    resolution: Resolution,
    depth,
    width,
    stride,
    bottleneck,
    group_width,
    stem_kind: str = "regnet",
    opts: BlockOptions = DEFAULT_OPTIONS,
) -> Cost:
    h, w = (resolution, resolution) if _is_size(resolution) else resolution
    arrays = (depth, width, stride, bottleneck, group_width)
    if (
        count_bound(se_ratio, stem_width, in_channels, num_classes, h, w, depth, width, opts)
        > INT64_MAX
    ):
        # counts that could pass int64: Python ints throughout (object arrays), exact at any size
        depth, width, stride, bottleneck, group_width = (
            np.asarray(x).astype(object) for x in arrays
        )
        h, w, stem_width, in_channels, num_classes = (
            int(x) for x in (h, w, stem_width, in_channels, num_classes)
        )
    elif any(np.asarray(x).dtype == object for x in arrays):
        # Python ints that fit: the fast int64 path
        depth, width, stride, bottleneck, group_width = (
            np.asarray(x).astype(np.int64) for x in arrays
        )
    stem, h, w = stem_cost(h, w, in_channels, stem_width, stem, stem_kind)
    body, w_last = body_cost(
        block, se_ratio, h, w, stem_width, depth, width, stride, bottleneck, group_width, opts
    )
    return stem + body + linear(w_last, num_classes)


def _is_size(resolution: Resolution) -> TypeIs[int]:
    """Whether `resolution` is one size for both sides (a scalar: a Python or numpy integer) rather
    than a (height, width) pair."""
    return np.ndim(resolution) == 0


def check_resolution(resolution: Resolution) -> None:
    """Raise ConfigError unless `resolution` is a positive integer or a (height, width) pair of
    them."""
    values = (resolution,) if _is_size(resolution) else tuple(resolution)
    if len(values) not in (1, 2) or any(
        isinstance(v, bool) or int(v) != v or v < 1 for v in values
    ):
        raise ConfigError(
            f"resolution must be a positive integer or (height, width), got {resolution!r}"
        )
