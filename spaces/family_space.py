"""Design spaces over a model family's free parameters (the zoo's families, MBConv variants, ...).

A `FamilySpace` samples each named parameter of a base config from a discrete distribution (or a
per-field function of the rng for structured values), builds the configs and counts them exactly
with the config's own analytic complexity. It implements the `DesignSpace` interface
(spaces.design_space) like the AnyNet spaces: `spaces.sample` draws `batch` candidates at a time (a
`ConfigBatch`), rejects by complexity band and drops duplicates; `suggest` asks an Optuna trial for
one config (`nas search`), one categorical per parameter (`suggest_choice`).

    FamilySpace("resnext", "ResNeXt around the paper's settings",
                base=get_config("resnext50_32x4d"),
                params={"cardinality": choice((8, 16, 32, 64)), "base_width": choice((2, 4, 8))})
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from spaces.complexity import REFERENCE_RESOLUTION, Cost, Resolution
from spaces.design_space import DesignSpace, Suggester
from spaces.distributions import Discrete, numpy_to_python
from spaces.errors import ConfigError
from spaces.netconfig import NetworkConfig


@dataclass
class ConfigBatch:
    """Sampled configs: a SampleBatch (spaces.design_space), as `spaces.sample` uses it."""

    configs: list[NetworkConfig]
    resolution: int
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    invalid: int = 0  # draws dropped as invalid combinations (ConfigError)
    invalid_example: str | None = None  # the first such error, to say why

    def __len__(self) -> int:
        return len(self.configs)

    def cost(
        self,
        resolution: Resolution | None = None,
        in_channels: int | None = None,
        num_classes: int | None = None,
        stem: str = "imagenet",
    ) -> Cost:
        """Complexity of each config; by default as published (its own channels and classes, the
        ImageNet-size network at the space's resolution)."""
        res = self.resolution if resolution is None else resolution
        memo: dict[str, tuple[int, int, int]] = {}
        rows = []
        for cfg in self.configs:
            key = cfg.key()
            if key not in memo:
                c = cfg.for_input(
                    in_channels or cfg.in_channels,
                    num_classes or cfg.num_classes,
                    small=stem == "small",
                ).analytic(res)
                memo[key] = (c.params, c.flops, c.acts)
            rows.append(memo[key])
        arr = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
        return Cost(arr[:, 0], arr[:, 1], arr[:, 2])

    def select(self, mask: np.ndarray) -> ConfigBatch:
        idx = np.flatnonzero(mask) if np.asarray(mask).dtype == bool else np.asarray(mask)
        return ConfigBatch([self.configs[i] for i in idx], self.resolution)

    def keys(self) -> list[Any]:
        return [cfg.key() for cfg in self.configs]

    def config(self, i: int) -> NetworkConfig:
        return self.configs[i]


@dataclass(frozen=True)
class FamilySpace(DesignSpace):
    """Independent discrete choices for named fields of `base` (a frozen config dataclass).

    `params` maps a field to a Discrete distribution; `derived` maps a field to a function of the
    drawn values (e.g. widths that follow a sampled multiplier). Invalid combinations (ConfigError)
    are dropped, like the AnyNet compatibility step drops nothing but adjusts.
    """

    name: str
    description: str
    base: NetworkConfig
    params: Mapping[str, Discrete]
    derived: Mapping[str, Callable[[dict[str, Any]], Any]] = field(default_factory=dict)
    resolution: int | None = (
        None  # where complexity is counted (default: the base's native resolution)
    )
    paper_size: float | None = None
    batch: int = 256  # candidates per draw (each is counted on its own graph)
    stale_batches: ClassVar[int] = 40  # draws in a row without a new config: the space is exhausted
    default_flops_band: ClassVar[tuple[float, float] | None] = None

    def __post_init__(self) -> None:
        names = {f.name for f in dataclasses.fields(self.base)}  # type: ignore[arg-type]
        bad = (set(self.params) | set(self.derived)) - names
        if bad:
            raise ConfigError(
                f"space {self.name}: {type(self.base).__name__} has no field(s) {sorted(bad)}"
            )

    @property
    def reference_resolution(self) -> int:
        return self.resolution or self.base.native_resolution

    @property
    def dims(self) -> int:
        return len(self.params)

    def size(self) -> int:
        return math.prod(d.size for d in self.params.values())

    def parameters(self) -> dict[str, str]:
        out = {k: d.describe() for k, d in self.params.items()}
        out.update({k: "derived from the sampled values" for k in self.derived})
        return out

    def draw(self, rng: np.random.Generator, n: int) -> ConfigBatch:
        columns = {k: d.sample(rng, n) for k, d in self.params.items()}
        configs = []
        invalid, example = 0, None
        for i in range(n):
            values = {k: numpy_to_python(v[i]) for k, v in columns.items()}
            values.update({k: f(values) for k, f in self.derived.items()})
            try:
                configs.append(self.base.replace(**values))
            except ConfigError as e:
                invalid += 1
                example = example or str(e)
        return ConfigBatch(
            configs, self.reference_resolution, invalid=invalid, invalid_example=example
        )

    def suggest(self, trial: Suggester) -> NetworkConfig:
        """Define-by-run for `nas search`: one categorical suggestion per parameter, named as the
        field (structured values such as depth layouts are suggested by their label, since Optuna's
        choices must be plain); invalid combinations raise ConfigError, as `draw` drops them."""
        values = {k: suggest_choice(trial, k, d.values) for k, d in self.params.items()}
        values.update({k: f(values) for k, f in self.derived.items()})
        return self.base.replace(**values)


def suggest_choice(trial: Suggester, name: str, choices: Sequence[Any]) -> Any:
    """One of `choices` from `trial`'s categorical parameter `name`: plain values (None, bool, int,
    float, str) as themselves, others (tuples, ...) by their str as label."""
    plain = [numpy_to_python(v) for v in choices]
    if all(v is None or isinstance(v, bool | int | float | str) for v in plain):
        return trial.suggest_categorical(name, plain)
    labels = {str(v): v for v in plain}
    return labels[str(trial.suggest_categorical(name, list(labels)))]


__all__ = ["REFERENCE_RESOLUTION", "ConfigBatch", "FamilySpace"]
