"""What every network config offers, and the table that turns a dict back into the right config
class.

AnyNet/RegNet configs (`spaces.config`), MBConv networks and the model zoo's families all follow the
`NetworkConfig` protocol: frozen, JSON-serializable data from which both the module (`build`) and
the exact analytic complexity (`analytic`) follow as pure functions. A config's dict names its
`kind` (AnyNet dicts may omit it: they predate the others), so stored records and config files
round-trip through `config_from_dict` whatever the family.

The functions every config kind shares live here too: `build_model` (the torch module) and
`complexity` / `reference_complexity` (its exact counts at any input, through the config's own
`analytic`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from spaces.complexity import Complexity, Resolution, check_resolution
from spaces.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn


@runtime_checkable
class NetworkConfig(Protocol):
    """The interface the trainer, the sweeps and the CLI rely on."""

    kind: ClassVar[str]

    @property
    def in_channels(self) -> int:
        """Input channels (3 for RGB)."""
        ...

    @property
    def num_classes(self) -> int:
        """Outputs of the classifier."""
        ...

    @property
    def native_resolution(self) -> int:
        """The input size the network was designed for (224 for AnyNet, 240 for EfficientNet-B1,
        ...)."""
        ...

    def to_dict(self) -> dict[str, Any]: ...

    def key(self) -> str:
        """Identity of the network (duplicate detection): spaces.records.config_key of its dict."""
        ...

    def replace(self, **changes: Any) -> NetworkConfig: ...

    def for_input(self, in_channels: int, num_classes: int, small: bool) -> NetworkConfig:
        """The same network for another input: channels, classes, and (small=True) a stem for 28-32
        px."""
        ...

    def analytic(self, resolution: Resolution) -> Complexity:
        """Exact params / flops / acts at `resolution`, without building the network."""
        ...

    def build(self, zero_init_last: bool = False) -> nn.Module:
        """The torch module (imports torch), initialised as pycls does (fan-out normal convs, unit
        BN, small-normal linear layers); `zero_init_last` zeroes the last BN of each residual branch
        (timm's `zero_init_last`), so residual blocks start as identities (families without residual
        branches: no effect)."""
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


def complexity(
    cfg: NetworkConfig,
    resolution: Resolution | None = None,
    in_channels: int | None = None,
    num_classes: int | None = None,
    stem: str | None = None,
) -> Complexity:
    """params, flops and acts of any network config at `resolution` (an int or (h, w); default: the
    config's native resolution, 224 for AnyNet); channel/class overrides are optional, and `stem`
    ("imagenet" or "small") swaps in the family's ImageNet or small-image stem."""
    resolution = cfg.native_resolution if resolution is None else resolution
    check_resolution(resolution)
    if in_channels or num_classes or stem:
        small = (stem == "small") if stem else False
        if stem and stem not in ("small", "imagenet"):
            raise ConfigError(f"unknown stem {stem!r}; valid: imagenet, small")
        if stem is None:
            cfg = cfg.replace(
                **{
                    k: v
                    for k, v in (("in_channels", in_channels), ("num_classes", num_classes))
                    if v
                }
            )
        else:
            cfg = cfg.for_input(
                in_channels or cfg.in_channels, num_classes or cfg.num_classes, small
            )
    return cfg.analytic(resolution)


def reference_complexity(cfg: NetworkConfig) -> Complexity:
    """The paper's setting: AnyNet/RegNet at 224x224 RGB, ImageNet stem, 1000 classes; other
    families: the network as published, at its native resolution, e.g. 299 for Inception, 240 for
    EfficientNet-B1, 16 for LeNet."""
    # the published input of the family: its config class's defaults (3 x 1000 for ImageNet
    # families, 1 x 10 for LeNet), so a variant made by for_input(1, 10) still reports the published
    # network's counts
    defaults = {
        f.name: f.default
        for f in dataclasses.fields(cfg)  # type: ignore[arg-type]
        if f.name in ("in_channels", "num_classes") and f.default is not dataclasses.MISSING
    }
    cfg = cfg.for_input(
        defaults.get("in_channels", cfg.in_channels),
        defaults.get("num_classes", cfg.num_classes),
        small=False,
    )
    return cfg.analytic(cfg.native_resolution)
