"""Base of the config classes whose network is a `spaces.layers` graph (the zoo's classic families).

A subclass is a frozen dataclass with its family's free parameters plus `in_channels`, `num_classes`
and `small` (the reduced-downsampling stem for 28-32 px inputs), a `kind`, and one pure method
`graph()`. Everything else (analytic complexity, building, (de)serialization, input adaptation)
comes from here:

    @dataclass(frozen=True)
    class VGGConfig(GraphConfig):
        kind: ClassVar[str] = "vgg"
        letter: str = "D"
        batch_norm: bool = False
        in_channels: int = 3
        num_classes: int = 1000
        small: bool = False

        def graph(self) -> Node: ...

    register_graph_kind(VGGConfig)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

from spaces.complexity import Complexity, Resolution
from spaces.errors import ConfigError
from spaces.layers import Node, count_graph
from spaces.netconfig import register_kind
from spaces.records import RECORD_KEYS, config_key

if TYPE_CHECKING:
    from torch import nn


class ConfigClass(Protocol):
    """A config class as `config_fields` and `construct` use it: a dataclass with a `kind`."""

    kind: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]


class GraphConfig:
    """Mixin for frozen dataclasses; see the module docstring."""

    # set by @dataclass on each subclass
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    kind: ClassVar[str] = ""
    native_size: ClassVar[int] = 224  # the ImageNet input size of the family
    in_channels: int
    num_classes: int
    small: bool

    def graph(self) -> Node:
        raise NotImplementedError

    # --- NetworkConfig protocol -------------------------------------------------------------------
    @property
    def native_resolution(self) -> int:
        return 32 if self.small else self.native_size

    def analytic(self, resolution: Resolution) -> Complexity:
        h, w = (resolution, resolution) if isinstance(resolution, int) else resolution
        cost, _ = count_graph(self.graph(), (self.in_channels, h, w))
        return Complexity(int(cost.params), int(cost.flops), int(cost.acts), resolution)

    def build(self, zero_init_last: bool = False) -> nn.Module:
        from spaces.blocks import init_weights

        model = self.graph().build(
            (self.in_channels, self.native_resolution, self.native_resolution)
        )
        model.apply(lambda m: init_weights(m, zero_init_last))  # pycls' init, as every family
        return model

    def key(self) -> str:
        """Identity of the network (spaces.records.config_key of its dict)."""
        return config_key(self.to_dict())

    def replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)

    def for_input(self, in_channels: int, num_classes: int, small: bool) -> Self:
        return self.replace(in_channels=in_channels, num_classes=num_classes, small=small)

    def describe(self) -> str:
        fields = [
            f"{f.name}={getattr(self, f.name)}"
            for f in dataclasses.fields(self)
            if f.name not in ("in_channels", "num_classes", "small")
        ]
        return f"{self.kind} ({', '.join(fields)})"

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind}
        out.update(_tuples_to_lists(dataclasses.asdict(self)))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GraphConfig:
        kwargs = {k: _tuples(v) for k, v in config_fields(cls, data).items()}
        return construct(cls, kwargs)


def config_fields(cls: type[ConfigClass], data: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of a config dict that are fields of `cls` (a frozen dataclass with a `kind`);
    record keys (space, params, ...) are ignored, anything else is an error naming the valid
    keys."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a config must be a JSON object, got {type(data).__name__}")
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - fields - RECORD_KEYS
    if unknown:
        raise ConfigError(
            f"{cls.kind}: unknown config key(s) {sorted(unknown)}; valid: {sorted(fields)}"
        )
    return {k: v for k, v in data.items() if k in fields}


def construct(cls: type[ConfigClass], kwargs: Mapping[str, Any]) -> Any:
    """cls(**kwargs) with a wrong-typed or missing argument reported as a ConfigError."""
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"{cls.kind}: {e}") from None


def _tuples_to_lists(x: Any) -> Any:
    """Tuples (and lists), also inside lists and dicts, as the JSON lists a config dict holds."""
    if isinstance(x, tuple | list):
        return [_tuples_to_lists(v) for v in x]
    if isinstance(x, dict):
        return {k: _tuples_to_lists(v) for k, v in x.items()}
    return x


def _tuples(x: Any) -> Any:
    """JSON lists back to the tuples frozen configs hold."""
    return tuple(_tuples(v) for v in x) if isinstance(x, list) else x


def check_common(cfg: GraphConfig) -> None:
    """Validation every graph config shares; call from __post_init__."""
    for name in ("in_channels", "num_classes"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{cfg.kind}: {name} must be a positive integer, got {value!r}")
    if not isinstance(cfg.small, bool):
        raise ConfigError(f"{cfg.kind}: small must be true or false, got {cfg.small!r}")


def register_graph_kind(cls: type[GraphConfig]) -> type[GraphConfig]:
    """Make `config_from_dict` (config files, stored records) understand `cls.kind`."""
    register_kind(cls.kind, cls.from_dict)
    return cls
