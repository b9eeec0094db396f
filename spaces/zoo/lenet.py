"""LeNet: the 1989 zip-code network (LeCun et al., "Backpropagation applied to handwritten zip code
recognition") and LeNet-5 (LeCun et al. 1998, "Gradient-based learning applied to document
recognition").

1989 (the survey's Sec. 2): a 16x16 input; H1 = 12 maps of 8x8, 5x5 kernels at stride 2, one bias
per unit (768 biases + 12 x 25 weights = 1,068 free parameters); H2 = 12 maps of 4x4, 5x5 kernels at
stride 2, each map connected to 8 of H1's 12 maps, one bias per unit (192 + 12 x 200 = 2,592); H3 =
30 units fully connected (5,790); 10 outputs (310). 1,256 units, 64,660 connections, 9,760 free
parameters, tanh units.
The paper does not list which 8 of the 12 H1 maps feed each H2 map; here map j reads maps j .. j+7
(mod 12). Kernels overlap the border (the input is padded by 2), so every unit has its full 25 (200)
connections.

1998 (LeNet-5): 32x32 input; C1 6@28x28 (5x5); S2 trainable subsampling (per map a coefficient and a
bias); C3 16@10x10 with the paper's Table I connection table (1,516 params); S4; C5 120 (5x5 on
5x5); F6 84; output 10. The paper's output layer is 10 Euclidean RBF units with hand-set (not
trained) 84-long parameter vectors; here it is a linear layer (850 params), so the net has 60,850
trainable params where the paper counts "60,000" (60,840 with the RBF vectors). The scaled tanh
1.7159 tanh(2a/3) is plain tanh here; the output is logits (no output squashing: the trainer uses
cross-entropy, the papers used MSE).

Counting: flops are conv + linear multiply-adds (connections less the bias ones); acts are the units
of conv and linear layers. Subsampling layers add no flops and no acts (not conv or linear).

Small inputs (small=True): the 1989 net resizes its 28-32 px input to the paper's 16x16 by area
averaging; LeNet-5 pads (or crops) it to 32x32 around the centre, as the paper placed MNIST's 28x28
digits in a 32x32 field. Both keep the network, and its counts, exactly as at the native size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from spaces.complexity import ZERO, Cost
from spaces.distributions import choice
from spaces.errors import ConfigError
from spaces.family_space import FamilySpace
from spaces.graph_config import GraphConfig, check_common, register_graph_kind
from spaces.layers import Act, Flatten, Linear, Node, Pool, Seq, Shape, out_size
from spaces.registry import register_model, register_space
from spaces.zoo.references import register_reference

if TYPE_CHECKING:
    from torch import nn

# LeNet-5's C3 connection table (LeCun 1998, Table I): the S2 maps each C3 map reads.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2),
    (1, 2, 3),
    (2, 3, 4),
    (3, 4, 5),
    (0, 4, 5),
    (0, 1, 5),
    (0, 1, 2, 3),
    (1, 2, 3, 4),
    (2, 3, 4, 5),
    (0, 3, 4, 5),
    (0, 1, 4, 5),
    (0, 1, 2, 5),
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)
# The 1989 net's H2: each of the 12 maps reads 8 of H1's 12 maps (a cyclic choice; the paper gives
# none).
H2_TABLE: tuple[tuple[int, ...], ...] = tuple(
    tuple(sorted((j + i) % 12 for i in range(8))) for j in range(12)
)

BIASES = ("map", "unit", "none")


@dataclass(frozen=True)
class TableConv(Node):
    """A k x k convolution whose output map j reads only the input maps table[j] (None: all of
    them); bias "map" (one per map, as usual), "unit" (one per output unit, LeNet-1989) or "none".

    Built as one grouped convolution per distinct fan-in over gathered input channels, so fvcore
    counts exactly the table's multiply-adds."""

    out: int
    k: int = 5
    stride: int = 1
    padding: int = 0
    table: tuple[tuple[int, ...], ...] | None = None
    bias: str = "map"

    def __post_init__(self) -> None:
        if self.bias not in BIASES:
            raise ConfigError(f"unknown bias kind {self.bias!r}; valid: {', '.join(BIASES)}")
        if self.table is not None and len(self.table) != self.out:
            raise ConfigError(
                f"connection table has {len(self.table)} rows for {self.out} output maps"
            )

    def _table(self, c: int) -> tuple[tuple[int, ...], ...]:
        table = (
            self.table
            if self.table is not None
            else tuple(tuple(range(c)) for _ in range(self.out))
        )
        if any(not row or max(row) >= c or min(row) < 0 for row in table):
            raise ConfigError(f"connection table refers to input maps outside 0..{c - 1}")
        return table

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        c, h, w = shape
        oh, ow = (out_size(s, self.k, self.stride, self.padding) for s in (h, w))
        fan_in = sum(len(row) for row in self._table(c)) * self.k * self.k
        biases = {"map": self.out, "unit": self.out * oh * ow, "none": 0}[self.bias]
        return Cost(fan_in + biases, fan_in * oh * ow, self.out * oh * ow), (self.out, oh, ow)

    def build(self, shape: Shape) -> nn.Module:
        from spaces.zoo.classic_modules import TableConvModule

        _, (_, oh, ow) = self.count(shape)
        return TableConvModule(
            self._table(shape[0]), self.k, self.stride, self.padding, self.bias, (oh, ow)
        )


@dataclass(frozen=True)
class Subsample(Node):
    """LeNet-5's S layers: the sum of each 2x2 window times a trained per-map coefficient, plus a
    per-map bias (2 params per map; no conv/linear flops)."""

    k: int = 2

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        c, h, w = shape
        return Cost(2 * c, 0, 0), (
            c,
            out_size(h, self.k, self.k, 0),
            out_size(w, self.k, self.k, 0),
        )

    def build(self, shape: Shape) -> nn.Module:
        from spaces.zoo.classic_modules import SubsampleModule

        return SubsampleModule(shape[0], self.k)


@dataclass(frozen=True)
class FitInput(Node):
    """Bring any input to size x size: "area" resizes by adaptive average pooling, "pad" zero-pads
    (or crops) around the centre. No params, flops or acts."""

    size: int
    how: str = "pad"

    def count(self, shape: Shape) -> tuple[Cost, Shape]:
        return ZERO, (shape[0], self.size, self.size)

    def build(self, shape: Shape) -> nn.Module:
        from torch import nn

        from spaces.zoo.classic_modules import CenterPad

        return nn.AdaptiveAvgPool2d(self.size) if self.how == "area" else CenterPad(self.size)


VERSIONS = ("1989", "1998")
SUBSAMPLING = ("trainable", "avg", "max")


@dataclass(frozen=True)
class LeNetConfig(GraphConfig):
    """version "1989" (the zip-code net) or "1998" (LeNet-5); connection_table False connects H2/C3
    to every map; subsampling (LeNet-5's S2/S4) "trainable" as in the paper, or plain "avg"/"max"
    pooling."""

    kind: ClassVar[str] = "lenet"
    native_size: ClassVar[int] = 32
    version: str = "1998"
    connection_table: bool = True
    subsampling: str = "trainable"
    activation: str = "tanh"
    in_channels: int = 1
    num_classes: int = 10
    small: bool = False

    def __post_init__(self) -> None:
        check_common(self)
        if self.version not in VERSIONS:
            raise ConfigError(
                f"lenet: version must be one of {', '.join(VERSIONS)}, got {self.version!r}"
            )
        if self.subsampling not in SUBSAMPLING:
            raise ConfigError(
                f"lenet: subsampling must be one of {', '.join(SUBSAMPLING)}, "
                f"got {self.subsampling!r}"
            )
        if self.activation not in ("tanh", "relu", "sigmoid"):
            raise ConfigError(
                f"lenet: activation must be tanh, relu or sigmoid, got {self.activation!r}"
            )

    @property
    def native_resolution(self) -> int:
        return 32 if self.small else (16 if self.version == "1989" else 32)

    def graph(self) -> Node:
        act = Act(self.activation)
        if self.version == "1989":
            items: list[Node] = [
                TableConv(12, 5, 2, 2, bias="unit"),
                act,  # H1 12@8x8
                TableConv(12, 5, 2, 2, H2_TABLE if self.connection_table else None, "unit"),
                act,  # H2 12@4x4
                Flatten(),
                Linear(30),
                act,  # H3
                Linear(self.num_classes),
            ]
            return Seq(((FitInput(16, "area"),) if self.small else ()) + tuple(items))
        pool: Node = Subsample(2) if self.subsampling == "trainable" else Pool(self.subsampling, 2)
        layers: list[Node | None] = [
            TableConv(6, 5),
            act,
            pool,
            act if self.subsampling == "trainable" else None,  # C1, S2
            TableConv(16, 5, table=C3_TABLE if self.connection_table else None),
            act,  # C3
            pool,
            act if self.subsampling == "trainable" else None,  # S4
            TableConv(120, 5),
            act,
            Flatten(),
            Linear(84),
            act,
            Linear(self.num_classes),  # C5, F6, out
        ]
        return Seq(
            ((FitInput(32, "pad"),) if self.small else ())
            + tuple(i for i in layers if i is not None)
        )


register_graph_kind(LeNetConfig)

register_model("lenet_1989", lambda: LeNetConfig(version="1989"))
register_model("lenet5", lambda: LeNetConfig(version="1998"))

register_reference(
    "lenet_1989",
    "lenet",
    params=9_760,
    flops=63_660,
    resolution=16,
    source="LeCun et al. 1989, Sec. 3.3 (survey Sec. 2): 1,256 units, 64,660 connections, "
    "9,760 free parameters",
    note="flops = the 64,660 connections less the 1,000 bias connections; which 8 of the 12 H1 "
    "maps feed each H2 map is not given in the paper (here a cyclic choice); tanh, logits out",
)
register_reference(
    "lenet5",
    "lenet",
    params=60_000,
    flops=None,
    resolution=32,
    source="LeCun et al. 1998, Sec. II.B: LeNet-5 has 340,908 connections and 60,000 trainable "
    "parameters",
    note="exact count here 60,850: the paper's output is 10 Euclidean RBF units with hand-set "
    "parameters (840, not trained), here a linear layer (840 + 10 biases); plain tanh for "
    "the scaled tanh; flops 326,520 at 32 px (C1 117,600, C3 150,000, C5 48,000, F6 10,080, "
    "out 840; S2/S4 none)",
)

register_space(
    FamilySpace(
        "lenet",
        "LeNet-5 variants: C3's connection table, trainable or plain subsampling, activation",
        base=LeNetConfig(version="1998"),
        params={
            "connection_table": choice((True, False)),
            "subsampling": choice(SUBSAMPLING),
            "activation": choice(("tanh", "relu")),
        },
        batch=32,
    )
)
