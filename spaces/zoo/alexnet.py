"""AlexNet as in the paper (Krizhevsky, Sutskever, Hinton 2012, Sec. 3 and Fig. 2): the two-GPU net.

conv1 96 11x11/4 -> ReLU -> LRN -> max pool 3/2; conv2 256 5x5 (two groups: each half reads only its
own GPU's half) -> ReLU -> LRN -> max pool 3/2; conv3 384 3x3 (across both GPUs); conv4 384 3x3 and
conv5 256 3x3 (two groups) -> max pool 3/2; FC 4096 -> FC 4096 (dropout 0.5 before each) -> FC 1000.
Every layer has biases. 60,965,224 params ("60 million" in the paper).

The paper says 224x224 inputs, but 11x11 kernels at stride 4 then give 54.25 positions: the net only
works out (55x55 conv1 maps, 6x6x256 into FC6) at 227x227, as in Caffe's reference model; the native
size here is 227. LRN as the paper: k=2, n=5, alpha=1e-4, beta=0.75 (PyTorch's LocalResponseNorm
divides alpha by n, as Caffe does).

Free parameters (the paper's ablations): groups (2 = the two-GPU split, 1 = one GPU), lrn,
overlapping pooling (3/2, or non-overlapping 2/2, which gives the same map sizes at 227), dropout.

small=True (28-32 px): conv1 at stride 1 (padding 5), the three max pools kept (32 -> 15 -> 7 -> 3),
then a global average pool, so FC6 reads 256 features (CIFAR variants shrink the classifier
likewise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from spaces.distributions import choice
from spaces.errors import ConfigError
from spaces.family_space import FamilySpace
from spaces.graph_config import GraphConfig, check_common, register_graph_kind
from spaces.layers import LRN, Act, Conv, Dropout, Flatten, GlobalPool, Linear, Node, Pool, Seq
from spaces.registry import register_model, register_space
from spaces.zoo.references import register_reference


@dataclass(frozen=True)
class AlexNetConfig(GraphConfig):
    kind: ClassVar[str] = "alexnet"
    native_size: ClassVar[int] = 227
    groups: int = 2
    lrn: bool = True
    overlapping_pool: bool = True
    dropout: float = 0.5
    in_channels: int = 3
    num_classes: int = 1000
    small: bool = False

    def __post_init__(self) -> None:
        check_common(self)
        if self.groups not in (1, 2):
            raise ConfigError(
                "alexnet: groups must be 1 (one GPU) or 2 (the paper's two GPUs), "
                f"got {self.groups!r}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"alexnet: dropout must be in [0, 1), got {self.dropout!r}")

    def graph(self) -> Node:
        g = self.groups

        def conv(
            out: int, k: int, stride: int = 1, padding: int = 0, groups: int = 1
        ) -> tuple[Node, ...]:
            return Conv(out, k, stride, padding, groups, bias=True), Act("relu")

        def pool() -> Node:
            return Pool("max", 3, 2) if self.overlapping_pool else Pool("max", 2, 2)

        lrn: tuple[Node, ...] = (LRN(5, 1e-4, 0.75, 2.0),) if self.lrn else ()
        drop: tuple[Node, ...] = (Dropout(self.dropout),) if self.dropout else ()
        items: list[Node] = [
            *conv(96, 11, 1 if self.small else 4, 5 if self.small else 0),
            *lrn,
            pool(),
            *conv(256, 5, 1, 2, g),
            *lrn,
            pool(),
            *conv(384, 3, 1, 1),
            *conv(384, 3, 1, 1, g),
            *conv(256, 3, 1, 1, g),
            pool(),
            *((GlobalPool(), Flatten()) if self.small else (Flatten(),)),
            *drop,
            Linear(4096),
            Act("relu"),
            *drop,
            Linear(4096),
            Act("relu"),
            Linear(self.num_classes),
        ]
        return Seq(tuple(items))


register_graph_kind(AlexNetConfig)
register_model("alexnet", AlexNetConfig)
register_reference(
    "alexnet",
    "alexnet",
    params=60_965_224,
    flops=None,
    resolution=227,
    source="Krizhevsky et al. 2012 (paper: '60 million parameters'); exact count of the two-GPU "
    "net of Sec. 3.5 / Fig. 2",
    note="input 227x227 (the paper's 224 does not fit 11x11/4 to 55x55); the paper gives no flops "
    "(here 724M multiply-adds at 227); torchvision's alexnet (61,100,840) is the one-GPU "
    "variant of 'One weird trick' (64/192/384/256/256 filters, no LRN), a different net",
)

register_space(
    FamilySpace(
        "alexnet",
        "AlexNet's ablations: two-GPU grouping, LRN, overlapping pooling, dropout",
        base=AlexNetConfig(),
        params={
            "groups": choice((1, 2)),
            "lrn": choice((True, False)),
            "overlapping_pool": choice((True, False)),
            "dropout": choice((0.0, 0.5)),
        },
        batch=32,
    )
)
