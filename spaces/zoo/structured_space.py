"""A FamilySpace that can also choose structured values (layouts, per-stage tuples) and count each
config at its own native resolution.

`FamilySpace` draws numeric fields from `Discrete` grids; a block layout such as DenseNet's (6, 12,
24, 16) is not a number, so `structured` maps a field to labelled values drawn uniformly:

    StructuredFamilySpace("densenet", "...", base=DenseNetConfig(),
                          params={"growth_rate": choice((12, 24, 32))},
                          structured={"block_config": {"121": (6, 12, 24, 16),
                                                       "169": (6, 12, 32, 32)}})

`per_config_resolution=True` counts every candidate at its own `native_resolution`, and its record
reports that one (`record_resolution`; MobileNet's resolution multiplier changes the input size, not
the network).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spaces.complexity import Cost, Resolution
from spaces.design_space import Suggester
from spaces.distributions import numpy_to_python
from spaces.errors import ConfigError
from spaces.family_space import ConfigBatch, FamilySpace, suggest_choice
from spaces.netconfig import NetworkConfig


@dataclass
class NativeResolutionBatch(ConfigBatch):
    """A ConfigBatch whose default cost counts each config at its own native resolution."""

    def cost(
        self,
        resolution: Resolution | None = None,
        in_channels: int | None = None,
        num_classes: int | None = None,
        stem: str = "imagenet",
    ) -> Cost:
        if resolution is not None:
            return super().cost(resolution, in_channels, num_classes, stem)
        rows = []
        for cfg in self.configs:
            adapted = cfg.for_input(
                in_channels or cfg.in_channels,
                num_classes or cfg.num_classes,
                small=stem == "small",
            )
            c = adapted.analytic(adapted.native_resolution)
            rows.append((c.params, c.flops, c.acts))
        arr = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
        return Cost(arr[:, 0], arr[:, 1], arr[:, 2])

    def select(self, mask: np.ndarray) -> NativeResolutionBatch:
        idx = np.flatnonzero(mask) if np.asarray(mask).dtype == bool else np.asarray(mask)
        return NativeResolutionBatch([self.configs[i] for i in idx], self.resolution)


@dataclass(frozen=True)
class StructuredFamilySpace(FamilySpace):
    """FamilySpace plus uniform choices among labelled structured values (see the module
    docstring)."""

    structured: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    per_config_resolution: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        names = {f.name for f in dataclasses.fields(self.base)}  # type: ignore[arg-type]
        bad = set(self.structured) - names
        if bad:
            raise ConfigError(
                f"space {self.name}: {type(self.base).__name__} has no field(s) {sorted(bad)}"
            )
        empty = [k for k, v in self.structured.items() if not v]
        if empty:
            raise ConfigError(
                f"space {self.name}: structured field(s) {empty} have no choices; give at least one"
            )

    @property
    def dims(self) -> int:
        return len(self.params) + len(self.structured)

    def size(self) -> int:
        return super().size() * math.prod(len(v) for v in self.structured.values())

    def parameters(self) -> dict[str, str]:
        out = {k: d.describe() for k, d in self.params.items()}
        out.update({k: f"choice over {{{', '.join(v)}}}" for k, v in self.structured.items()})
        out.update({k: "derived from the sampled values" for k in self.derived})
        return out

    def draw(self, rng: np.random.Generator, n: int) -> ConfigBatch:
        columns = {k: d.sample(rng, n) for k, d in self.params.items()}
        picks = {k: rng.integers(0, len(v), n) for k, v in self.structured.items()}
        configs = []
        invalid, example = 0, None
        for i in range(n):
            values = {k: numpy_to_python(v[i]) for k, v in columns.items()}
            values.update(
                {k: list(self.structured[k].values())[int(j[i])] for k, j in picks.items()}
            )
            values.update({k: f(values) for k, f in self.derived.items()})
            try:
                configs.append(self.base.replace(**values))
            except ConfigError as e:
                invalid += 1
                example = example or str(e)
        batch_type = NativeResolutionBatch if self.per_config_resolution else ConfigBatch
        return batch_type(
            configs, self.reference_resolution, invalid=invalid, invalid_example=example
        )

    def record_resolution(self, cfg: NetworkConfig) -> int:
        """Each config's own native resolution with `per_config_resolution`, else the space's."""
        return cfg.native_resolution if self.per_config_resolution else self.reference_resolution

    def suggest(self, trial: Suggester) -> NetworkConfig:
        """As FamilySpace's, plus one categorical over the labels of each structured field."""
        values = {k: suggest_choice(trial, k, d.values) for k, d in self.params.items()}
        for k, choices in self.structured.items():
            values[k] = choices[str(trial.suggest_categorical(k, list(choices)))]
        values.update({k: f(values) for k, f in self.derived.items()})
        return self.base.replace(**values)
