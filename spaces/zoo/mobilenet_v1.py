"""MobileNet V1 [Howard et al. 2017, Table 1]: a 3x3/2 conv and 13 depthwise-separable units (3x3
depthwise conv-BN-ReLU, 1x1 pointwise conv-BN-ReLU), global pooling and one fully connected layer.

Free parameters: the width multiplier alpha (every layer's channels x alpha, rounded to a multiple
of 8 as timm and TF-slim do; exact for alpha in {0.25, 0.5, 0.75, 1}) and the resolution multiplier
rho, which sets the native input size round(224 * rho) (the paper's 192, 160, 128 px are rho = 6/7,
5/7, 4/7). `small=True` makes the stem conv stride 1 (overall stride 16, as CIFAR MobileNets).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from spaces.distributions import choice
from spaces.errors import ConfigError
from spaces.graph_config import GraphConfig, check_common, register_graph_kind
from spaces.layers import Flatten, GlobalPool, Linear, Node, Seq, conv_bn_act
from spaces.registry import register_model, register_space
from spaces.zoo.references import register_reference
from spaces.zoo.structured_space import StructuredFamilySpace

# (output channels, stride) of the 13 depthwise-separable units; the stem conv has 32 channels,
# stride 2.
UNITS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)


def scale_channels(channels: int, alpha: float, divisor: int = 8) -> int:
    """channels * alpha rounded to the nearest multiple of `divisor`, never below it or 10%
    under."""
    v = channels * alpha
    out = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * v else out


@dataclass(frozen=True)
class MobileNetV1Config(GraphConfig):
    kind: ClassVar[str] = "mobilenet_v1"
    width_mult: float = 1.0  # alpha
    resolution_mult: float = 1.0  # rho: native input round(224 * rho)
    in_channels: int = 3
    num_classes: int = 1000
    small: bool = False

    def __post_init__(self) -> None:
        check_common(self)
        for name in ("width_mult", "resolution_mult"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 4:
                raise ConfigError(
                    f"mobilenet_v1: {name} must be a number in (0, 4], e.g. 0.75; got {value!r}"
                )
        if round(224 * self.resolution_mult) < 32:
            raise ConfigError(
                f"mobilenet_v1: resolution_mult {self.resolution_mult} gives a native input below "
                "32 px; use at least 1/7"
            )

    @property
    def native_resolution(self) -> int:
        return 32 if self.small else round(224 * self.resolution_mult)

    def graph(self) -> Node:
        c = scale_channels(32, self.width_mult)
        items: list[Node] = [conv_bn_act(c, 3, 1 if self.small else 2)]
        for out, stride in UNITS:
            items.append(conv_bn_act(c, 3, stride, groups=c))
            c = scale_channels(out, self.width_mult)
            items.append(conv_bn_act(c, 1))
        items += [GlobalPool(), Flatten(), Linear(self.num_classes)]
        return Seq(tuple(items))


register_graph_kind(MobileNetV1Config)

PAPER = "MobileNet paper (Howard et al. 2017) Table {}: {} mult-adds, {} params (rounded)"
TIMM = "timm mobilenetv1_100 (4,231,976 params; = Keras MobileNet's trainable count); "
# name: (alpha, rho, params, flops, resolution, source, note)
NAMED = {
    "mobilenet_v1": (
        1.0,
        1.0,
        4_231_976,
        569e6,
        224,
        TIMM + PAPER.format("6/7", "569M", "4.2M"),
        "",
    ),
    "mobilenet_v1_0.75": (
        0.75,
        1.0,
        2.6e6,
        325e6,
        224,
        PAPER.format(6, "325M", "2.6M"),
        "params rounded in the paper; no library count with this head",
    ),
    "mobilenet_v1_0.5": (
        0.5,
        1.0,
        1.3e6,
        149e6,
        224,
        PAPER.format(6, "149M", "1.3M"),
        "params rounded in the paper",
    ),
    "mobilenet_v1_0.25": (
        0.25,
        1.0,
        0.5e6,
        41e6,
        224,
        PAPER.format(6, "41M", "0.5M"),
        "params rounded in the paper",
    ),
    "mobilenet_v1_1.0_192": (
        1.0,
        6 / 7,
        4_231_976,
        418e6,
        192,
        TIMM + PAPER.format(7, "418M", "4.2M"),
        "",
    ),
    "mobilenet_v1_1.0_160": (
        1.0,
        5 / 7,
        4_231_976,
        290e6,
        160,
        TIMM + PAPER.format(7, "290M", "4.2M"),
        "",
    ),
    "mobilenet_v1_1.0_128": (
        1.0,
        4 / 7,
        4_231_976,
        186e6,
        128,
        TIMM + PAPER.format(7, "186M", "4.2M"),
        "",
    ),
}

for _name, (_a, _r, _params, _flops, _res, _source, _note) in NAMED.items():
    register_model(_name, partial(MobileNetV1Config, _a, _r))
    register_reference(
        _name,
        "mobilenet_v1",
        params=int(_params),
        flops=_flops,
        resolution=_res,
        source=_source,
        note=_note,
    )

register_space(
    StructuredFamilySpace(
        "mobilenet_v1",
        "MobileNet V1: width multiplier alpha and resolution multiplier rho (native input "
        "round(224 rho): 224/192/160/128 px); complexity counted at each config's own "
        "native resolution",
        base=MobileNetV1Config(),
        params={
            "width_mult": choice((0.25, 0.5, 0.75, 1.0)),
            "resolution_mult": choice((4 / 7, 5 / 7, 6 / 7, 1.0)),
        },
        per_config_resolution=True,
        batch=64,
    )
)
