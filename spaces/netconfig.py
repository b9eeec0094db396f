"""What every network config offers, and the table that turns a dict back into the right config class.

AnyNet/RegNet configs (`spaces.config`), MBConv networks and the model zoo's families all follow the
`NetworkConfig` protocol: frozen, JSON-serializable data from which both the module (`build`) and the
exact analytic complexity (`analytic`) follow as pure functions. A config's dict names its `kind`
(AnyNet dicts may omit it: they predate the others), so stored records and config files round-trip
through `config_from_dict` whatever the family.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from spaces.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

    from spaces.complexity import Complexity, Resolution


@runtime_checkable
class NetworkConfig(Protocol):
    """The interface the trainer, the sweeps and the CLI rely on."""

    kind: ClassVar[str]
    in_channels: int
    num_classes: int

    @property
    def native_resolution(self) -> int:
        """The input size the network was designed for (224 for AnyNet, 240 for EfficientNet-B1, ...)."""
        ...

    def to_dict(self) -> dict[str, Any]: ...

    def key(self) -> tuple:
        """Hashable identity of the network (duplicate detection)."""
        ...

    def replace(self, **changes: Any) -> NetworkConfig: ...

    def for_input(self, in_channels: int, num_classes: int, small: bool) -> NetworkConfig:
        """The same network for another input: channels, classes, and (small=True) a stem for 28-32 px."""
        ...

    def analytic(self, resolution: Resolution) -> Complexity:
        """Exact params / flops / acts at `resolution`, without building the network."""
        ...

    def build(self, zero_init_last: bool = False) -> nn.Module:
        """The torch module (imports torch), initialised as pycls does (fan-out normal convs, unit BN,
        small-normal linear layers); `zero_init_last` zeroes the last BN of each residual branch (timm's
        `zero_init_last`), so residual blocks start as identities (families without residual branches:
        no effect)."""
        ...

    def describe(self) -> str:
        """One line for humans."""
        ...


# kind -> parser of the dict form; filled by the modules that define each kind.
CONFIG_KINDS: dict[str, Callable[[Mapping[str, Any]], NetworkConfig]] = {}


def register_kind(kind: str, from_dict: Callable[[Mapping[str, Any]], NetworkConfig]) -> None:
    CONFIG_KINDS[kind] = from_dict


def config_kind(data: Mapping[str, Any]) -> str:
    kind = data.get("kind", "anynet")
    if kind not in CONFIG_KINDS:
        raise ConfigError(f"unknown config kind {kind!r}; valid: {', '.join(sorted(CONFIG_KINDS))}")
    return kind


def build_model(cfg: NetworkConfig, zero_init_last: bool = False) -> nn.Module:
    if not isinstance(cfg, NetworkConfig):
        raise ConfigError(f"not a network config: {type(cfg).__name__}")
    return cfg.build(zero_init_last=zero_init_last)
