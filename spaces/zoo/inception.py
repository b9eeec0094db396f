"""GoogLeNet (Inception v1) and Inception v3, v4, Inception-ResNet v1 and v2.

GoogLeNet (Szegedy et al. 2015, Table 1) as in the paper: 5x5 branches, biases, ReLU, no batch norm,
LRN after the first two convs (as in the BVLC reference), ceil-mode max pools, 7x7 average pool (a
global one here, the same at 224), dropout 0.4, one linear classifier. The two auxiliary classifiers
(training only) are left out. Its per-module params and ops agree with the paper's table (the
table's params are in units of 1,024) except the first conv, for which the table's 2.7K / 34M fit no
7x7x3x64 layer (9.4K / 118M here).

Inception v3 (Szegedy et al. 2016) as torchvision / timm build it (conv without bias + BN eps 1e-3 +
ReLU), without the auxiliary classifier: 23,834,568 params (torchvision's 27,161,264 includes its
AuxLogits head). Inception v4 and Inception-ResNet v2 (Szegedy et al. 2017) as timm builds them (the
TF-slim release). Inception-ResNet v1 from the paper (Figs. 10-14, 7 with k, l, m, n = 192, 192,
256, 384): 5 / 10 / 5 blocks, residual branches scaled by 0.17 / 0.10 / 0.20 (the values of the
released v2 code; the paper says 0.1-0.3), conv + BN + ReLU units, a linear (biased, unnormalized)
1x1 up-projection in each residual block.

Free parameters: GoogLeNet's width multiplier, LRN and factorized (each 5x5 as two 3x3, Inception
v2's first change); Inception's version, width multiplier (every conv width times it, rounded to a
multiple of 8) and depths (blocks per stage for v4 and the residual versions).

small=True (28-32 px): every stride of the stem becomes 1, its valid convs are padded, and its max
pools are dropped (kept at stride 1 where they are a concatenated branch); the grid reductions
inside the network keep their strides (32 -> 15 -> 7 for v3/v4/resnet; GoogLeNet 32 -> 16 -> 8).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from spaces.distributions import choice
from spaces.errors import ConfigError
from spaces.family_space import FamilySpace
from spaces.graph_config import GraphConfig, check_common, register_graph_kind
from spaces.layers import (
    LRN,
    Act,
    Concat,
    Conv,
    Dropout,
    Flatten,
    GlobalPool,
    Linear,
    Node,
    Pair,
    Pool,
    Residual,
    Seq,
    conv_bn_act,
)
from spaces.registry import register_model, register_space
from spaces.zoo.references import register_reference


def _scaled(c: int, width: float) -> int:
    return c if width == 1.0 else max(8, int(c * width / 8 + 0.5) * 8)


def _check_width(kind: str, width: float) -> None:
    if isinstance(width, bool) or not isinstance(width, int | float) or not 0.0 < width <= 4.0:
        raise ConfigError(f"{kind}: width must be a multiplier in (0, 4], got {width!r}")


# --- GoogLeNet ------------------------------------------------------------------------------------
# Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
GOOGLENET_MODULES: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def _relu_conv(out: int, k: int, stride: int = 1, padding: int | None = None) -> Seq:
    return Seq((Conv(out, k, stride, padding, bias=True), Act("relu")))


def inception_v1(
    spec: tuple[int, int, int, int, int, int], width: float = 1.0, factorized: bool = False
) -> Node:
    """One GoogLeNet inception module: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 (or 3x3, 3x3) | max pool 3/1 ->
    1x1."""
    c1, r3, c3, r5, c5, pp = (_scaled(c, width) for c in spec)
    five: tuple[Node, ...] = (
        (_relu_conv(c5, 3), _relu_conv(c5, 3)) if factorized else (_relu_conv(c5, 5),)
    )
    return Concat(
        (
            _relu_conv(c1, 1),
            Seq((_relu_conv(r3, 1), _relu_conv(c3, 3))),
            Seq((_relu_conv(r5, 1), *five)),
            Seq((Pool("max", 3, 1, 1, ceil_mode=True), _relu_conv(pp, 1))),
        )
    )


@dataclass(frozen=True)
class GoogLeNetConfig(GraphConfig):
    kind: ClassVar[str] = "googlenet"
    native_size: ClassVar[int] = 224
    width: float = 1.0
    lrn: bool = True
    factorized: bool = False
    in_channels: int = 3
    num_classes: int = 1000
    small: bool = False

    def __post_init__(self) -> None:
        check_common(self)
        _check_width(self.kind, self.width)

    def graph(self) -> Node:
        w, s = self.width, self.small
        lrn: tuple[Node, ...] = (LRN(5, 1e-4, 0.75, 1.0),) if self.lrn else ()
        pool: tuple[Node, ...] = (Pool("max", 3, 2, ceil_mode=True),)
        items: list[Node] = [
            _relu_conv(_scaled(64, w), 7, 1 if s else 2, 3),
            *(() if s else pool),
            *lrn,
            _relu_conv(_scaled(64, w), 1),
            _relu_conv(_scaled(192, w), 3),
            *lrn,
            *(() if s else pool),
        ]
        for name, spec in GOOGLENET_MODULES.items():
            if name in ("4a", "5a"):
                items += pool
            items.append(inception_v1(spec, w, self.factorized))
        items += [GlobalPool(), Flatten(), Dropout(0.4), Linear(self.num_classes)]
        return Seq(tuple(items))


# --- Inception v3 / v4 / Inception-ResNet ---------------------------------------------------------
VERSIONS = ("v3", "v4", "resnet_v1", "resnet_v2")
DEFAULT_DEPTHS = {"v4": (4, 7, 3), "resnet_v1": (5, 10, 5), "resnet_v2": (10, 20, 10)}


class _Builder:
    """Conv + BN(eps 1e-3) + ReLU units at a width multiplier; `small` turns the stem's strides to
    1."""

    def __init__(self, width: float, small: bool) -> None:
        self.width, self.small = width, small

    def w(self, c: int) -> int:
        return _scaled(c, self.width)

    def cba(self, out: int, k: Pair = 1, stride: int = 1, padding: Pair | None = None) -> Seq:
        return conv_bn_act(self.w(out), k, stride, padding, eps=1e-3)

    def stem(self, out: int, k: int = 3, stride: int = 1, valid: bool = True) -> Seq:
        """A stem conv: valid (no padding) unless small, where it keeps the size (stride 1, padding
        k // 2)."""
        if self.small:
            return self.cba(out, k, 1, k // 2)
        return self.cba(out, k, stride, 0 if valid else k // 2)

    def stem_pool(self) -> Node:
        return Pool("max", 3, 1, 1) if self.small else Pool("max", 3, 2)

    def avg_proj(self, out: int, count_include_pad: bool = True) -> Seq:
        return Seq((Pool("avg", 3, 1, 1, count_include_pad=count_include_pad), self.cba(out, 1)))


def _v3(b: _Builder) -> list[Node]:
    def block_a(pool_features: int) -> Node:  # torchvision InceptionA
        return Concat(
            (
                b.cba(64),
                Seq((b.cba(48), b.cba(64, 5))),
                Seq((b.cba(64), b.cba(96, 3), b.cba(96, 3))),
                b.avg_proj(pool_features),
            )
        )

    def block_c(c7: int) -> Node:  # InceptionC
        return Concat(
            (
                b.cba(192),
                Seq((b.cba(c7), b.cba(c7, (1, 7)), b.cba(192, (7, 1)))),
                Seq(
                    (
                        b.cba(c7),
                        b.cba(c7, (7, 1)),
                        b.cba(c7, (1, 7)),
                        b.cba(c7, (7, 1)),
                        b.cba(192, (1, 7)),
                    )
                ),
                b.avg_proj(192),
            )
        )

    def block_e() -> Node:  # InceptionE
        split = Concat((b.cba(384, (1, 3)), b.cba(384, (3, 1))))
        return Concat(
            (
                b.cba(320),
                Seq((b.cba(384), split)),
                Seq((b.cba(448), b.cba(384, 3), split)),
                b.avg_proj(192),
            )
        )

    red_b = Concat(
        (b.cba(384, 3, 2, 0), Seq((b.cba(64), b.cba(96, 3), b.cba(96, 3, 2, 0))), Pool("max", 3, 2))
    )
    red_d = Concat(
        (
            Seq((b.cba(192), b.cba(320, 3, 2, 0))),
            Seq((b.cba(192), b.cba(192, (1, 7)), b.cba(192, (7, 1)), b.cba(192, 3, 2, 0))),
            Pool("max", 3, 2),
        )
    )
    stem = [
        b.stem(32, stride=2),
        b.stem(32),
        b.stem(64, valid=False),
        *(() if b.small else (Pool("max", 3, 2),)),
        b.cba(80),
        b.stem(192),
        *(() if b.small else (Pool("max", 3, 2),)),
    ]
    return [
        *stem,
        block_a(32),
        block_a(64),
        block_a(64),
        red_b,
        block_c(128),
        block_c(160),
        block_c(160),
        block_c(192),
        red_d,
        block_e(),
        block_e(),
        GlobalPool(),
        Flatten(),
        Dropout(0.5),
    ]


def _v4(b: _Builder, depths: tuple[int, ...]) -> list[Node]:
    mixed_3a = Concat((b.stem_pool(), b.stem(96, stride=2)))
    mixed_4a = Concat(
        (
            Seq((b.cba(64), b.stem(96))),
            Seq((b.cba(64), b.cba(64, (1, 7)), b.cba(64, (7, 1)), b.stem(96))),
        )
    )
    mixed_5a = Concat((b.stem(192, stride=2), b.stem_pool()))
    block_a = Concat(
        (
            b.cba(96),
            Seq((b.cba(64), b.cba(96, 3))),
            Seq((b.cba(64), b.cba(96, 3), b.cba(96, 3))),
            b.avg_proj(96, False),
        )
    )
    red_a = Concat(
        (
            b.cba(384, 3, 2, 0),
            Seq((b.cba(192), b.cba(224, 3), b.cba(256, 3, 2, 0))),
            Pool("max", 3, 2),
        )
    )
    block_b = Concat(
        (
            b.cba(384),
            Seq((b.cba(192), b.cba(224, (1, 7)), b.cba(256, (7, 1)))),
            Seq(
                (
                    b.cba(192),
                    b.cba(192, (7, 1)),
                    b.cba(224, (1, 7)),
                    b.cba(224, (7, 1)),
                    b.cba(256, (1, 7)),
                )
            ),
            b.avg_proj(128, False),
        )
    )
    red_b = Concat(
        (
            Seq((b.cba(192), b.cba(192, 3, 2, 0))),
            Seq((b.cba(256), b.cba(256, (1, 7)), b.cba(320, (7, 1)), b.cba(320, 3, 2, 0))),
            Pool("max", 3, 2),
        )
    )
    block_c = Concat(
        (
            b.cba(256),
            Seq((b.cba(384), Concat((b.cba(256, (1, 3)), b.cba(256, (3, 1)))))),
            Seq(
                (
                    b.cba(384),
                    b.cba(448, (3, 1)),
                    b.cba(512, (1, 3)),
                    Concat((b.cba(256, (1, 3)), b.cba(256, (3, 1)))),
                )
            ),
            b.avg_proj(256, False),
        )
    )
    na, nb, nc = depths
    return [
        b.stem(32, stride=2),
        b.stem(32),
        b.stem(64, valid=False),
        mixed_3a,
        mixed_4a,
        mixed_5a,
        *[block_a] * na,
        red_a,
        *[block_b] * nb,
        red_b,
        *[block_c] * nc,
        GlobalPool(),
        Flatten(),
        Dropout(0.2),
    ]


def _resnet(b: _Builder, version: str, depths: tuple[int, ...]) -> list[Node]:
    def res(
        branches: tuple[Node, ...], channels: int, scale: float, act: str | None = "relu"
    ) -> Node:
        up = Conv(channels, 1, bias=True)  # linear 1x1 back to the block's input width
        return Residual(Seq((Concat(branches), up)), scale=scale, act=act)

    na, nb, nc = depths
    if version == "resnet_v1":  # the paper's Figs. 14, 10, 7, 11, 12, 13
        stem = [
            b.stem(32, stride=2),
            b.stem(32),
            b.stem(64, valid=False),
            *(() if b.small else (Pool("max", 3, 2),)),
            b.cba(80),
            b.stem(192),
            b.stem(256, stride=2),
        ]
        c = b.w(256)
        block_a = res(
            (
                b.cba(32),
                Seq((b.cba(32), b.cba(32, 3))),
                Seq((b.cba(32), b.cba(32, 3), b.cba(32, 3))),
            ),
            c,
            0.17,
        )
        red_a = Concat(
            (
                Pool("max", 3, 2),
                b.cba(384, 3, 2, 0),
                Seq((b.cba(192), b.cba(192, 3), b.cba(256, 3, 2, 0))),
            )
        )
        c += b.w(384) + b.w(256)
        block_b = res(
            (b.cba(128), Seq((b.cba(128), b.cba(128, (1, 7)), b.cba(128, (7, 1))))), c, 0.10
        )
        red_b = Concat(
            (
                Pool("max", 3, 2),
                Seq((b.cba(256), b.cba(384, 3, 2, 0))),
                Seq((b.cba(256), b.cba(256, 3, 2, 0))),
                Seq((b.cba(256), b.cba(256, 3), b.cba(256, 3, 2, 0))),
            )
        )
        c += b.w(384) + 2 * b.w(256)
        block_c = res(
            (b.cba(192), Seq((b.cba(192), b.cba(192, (1, 3)), b.cba(192, (3, 1))))), c, 0.20
        )
        return [
            *stem,
            *[block_a] * na,
            red_a,
            *[block_b] * nb,
            red_b,
            *[block_c] * nc,
            GlobalPool(),
            Flatten(),
            Dropout(0.2),
        ]
    # resnet_v2 as timm's inception_resnet_v2 (the TF-slim release)
    stem = [
        b.stem(32, stride=2),
        b.stem(32),
        b.stem(64, valid=False),
        *(() if b.small else (Pool("max", 3, 2),)),
        b.cba(80),
        b.stem(192),
        *(() if b.small else (Pool("max", 3, 2),)),
    ]
    mixed_5b = Concat(
        (
            b.cba(96),
            Seq((b.cba(48), b.cba(64, 5))),
            Seq((b.cba(64), b.cba(96, 3), b.cba(96, 3))),
            b.avg_proj(64, False),
        )
    )
    c = b.w(96) + b.w(64) + b.w(96) + b.w(64)
    block35 = res(
        (b.cba(32), Seq((b.cba(32), b.cba(32, 3))), Seq((b.cba(32), b.cba(48, 3), b.cba(64, 3)))),
        c,
        0.17,
    )
    mixed_6a = Concat(
        (
            b.cba(384, 3, 2, 0),
            Seq((b.cba(256), b.cba(256, 3), b.cba(384, 3, 2, 0))),
            Pool("max", 3, 2),
        )
    )
    c += 2 * b.w(384)
    block17 = res((b.cba(192), Seq((b.cba(128), b.cba(160, (1, 7)), b.cba(192, (7, 1))))), c, 0.10)
    mixed_7a = Concat(
        (
            Seq((b.cba(256), b.cba(384, 3, 2, 0))),
            Seq((b.cba(256), b.cba(288, 3, 2, 0))),
            Seq((b.cba(256), b.cba(288, 3), b.cba(320, 3, 2, 0))),
            Pool("max", 3, 2),
        )
    )
    c += b.w(384) + b.w(288) + b.w(320)
    branches8 = (b.cba(192), Seq((b.cba(192), b.cba(224, (1, 3)), b.cba(256, (3, 1)))))
    blocks8 = [res(branches8, c, 0.20)] * (nc - 1) + [res(branches8, c, 1.0, act=None)]
    return [
        *stem,
        mixed_5b,
        *[block35] * na,
        mixed_6a,
        *[block17] * nb,
        mixed_7a,
        *blocks8,
        b.cba(1536),
        GlobalPool(),
        Flatten(),
        Dropout(0.2),
    ]


@dataclass(frozen=True)
class InceptionConfig(GraphConfig):
    kind: ClassVar[str] = "inception"
    native_size: ClassVar[int] = 299
    version: str = "v3"
    width: float = 1.0
    depths: tuple[
        int, ...
    ] = ()  # blocks per stage (v4, resnet_v1, resnet_v2); () = the published ones
    in_channels: int = 3
    num_classes: int = 1000
    small: bool = False

    def __post_init__(self) -> None:
        check_common(self)
        _check_width(self.kind, self.width)
        if self.version not in VERSIONS:
            raise ConfigError(
                f"inception: version must be one of {', '.join(VERSIONS)}, got {self.version!r}"
            )
        if self.depths:
            if self.version == "v3":
                raise ConfigError(
                    "inception: depths apply to v4, resnet_v1 and resnet_v2 (v3's modules differ "
                    "one from another); leave depths empty for v3"
                )
            if (
                not isinstance(self.depths, tuple)
                or len(self.depths) != 3
                or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in self.depths)
            ):
                raise ConfigError(
                    f"inception: depths must be three positive block counts, e.g. "
                    f"{list(DEFAULT_DEPTHS[self.version])}, got {self.depths!r}"
                )

    def graph(self) -> Node:
        b = _Builder(self.width, self.small)
        depths = self.depths or DEFAULT_DEPTHS.get(self.version, ())
        if self.version == "v3":
            body = _v3(b)
        elif self.version == "v4":
            body = _v4(b, depths)
        else:
            body = _resnet(b, self.version, depths)
        return Seq((*body, Linear(self.num_classes)))


register_graph_kind(GoogLeNetConfig)
register_graph_kind(InceptionConfig)

register_model("googlenet", GoogLeNetConfig)
register_model("inception_v3", lambda: InceptionConfig(version="v3"))
register_model("inception_v4", lambda: InceptionConfig(version="v4"))
register_model("inception_resnet_v1", lambda: InceptionConfig(version="resnet_v1"))
register_model("inception_resnet_v2", lambda: InceptionConfig(version="resnet_v2"))

register_reference(
    "googlenet",
    "googlenet",
    params=6_800_000,
    flops=1.5e9,
    resolution=224,
    source="Szegedy et al. 2015, Table 1 (sum of the params column, ~6.8M) and Sec. 5 ('1.5 "
    "billion multiply-adds')",
    note="exact count 6,998,552, 1.58G multiply-adds (with biases, without the two auxiliary "
    "classifiers); the table counts params in units of 1,024; it gives conv1 2.7K / 34M where a "
    "7x7x3x64 conv has 9.4K / 118M, and 4c 463K, 5a 1072K / 54M where its own filter counts "
    "give 497.5K, 1018K / 51.1M; the other rows agree within 2% (params) and 1% (ops); "
    "torchvision's googlenet (6,624,904) uses BN and 3x3 in the '5x5' branch, a different net",
)
register_reference(
    "inception_v3",
    "inception",
    params=23_834_568,
    flops=5.71e9,
    resolution=299,
    source="timm inception_v3 (= torchvision Inception3 without AuxLogits): 23,834,568 params; "
    "torchvision inception_v3: 5.71 GFLOPS",
    note="torchvision's inception_v3 (27,161,264) includes the training-only auxiliary classifier "
    "(3,326,696 params)",
)
register_reference(
    "inception_v4",
    "inception",
    params=42_679_816,
    flops=12.3e9,
    resolution=299,
    source="timm inception_v4: 42,679,816 params; its model card: 12.3 GMACs",
    note="conv + linear multiply-adds counted here: 12.25G (the card rounds to 3 digits)",
)
register_reference(
    "inception_resnet_v2",
    "inception",
    params=55_843_464,
    flops=13.2e9,
    resolution=299,
    source="timm inception_resnet_v2: 55,843,464 params; its model card: 13.2 GMACs",
    note="the released (TF-slim) net: 10 / 20 / 10 blocks where the paper's Fig. 15 shows "
    "5 / 10 / 5, the last block without ReLU or scaling; conv + linear multiply-adds here 13.16G "
    "(the card rounds to 3 digits)",
)
register_reference(
    "inception_resnet_v1",
    "inception",
    params=None,
    flops=None,
    resolution=299,
    source="Szegedy et al. 2017, Figs. 10-15 (no parameter or flop count given; 'computational "
    "cost of Inception-v3')",
    note="built from the figures: 5 / 10 / 5 blocks, residual scales 0.17 / 0.10 / 0.20 (the "
    "released v2 code's), conv + BN + ReLU units, biased linear 1x1 up-projections",
)

register_space(
    FamilySpace(
        "googlenet",
        "GoogLeNet around the paper: width multiplier, LRN, 5x5 branches factorized into two 3x3",
        base=GoogLeNetConfig(),
        params={
            "width": choice((0.5, 0.75, 1.0, 1.25)),
            "lrn": choice((True, False)),
            "factorized": choice((False, True)),
        },
        batch=32,
    )
)
register_space(
    FamilySpace(
        "inception",
        "Inception v3, v4, Inception-ResNet v1 and v2 at width multipliers 0.5-1",
        base=InceptionConfig(),
        params={"version": choice(VERSIONS), "width": choice((0.5, 0.75, 1.0))},
        batch=32,
    )
)
