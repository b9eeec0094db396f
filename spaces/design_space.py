"""The declared interface of a design space, and of what it hands out.

* `DesignSpace`: the abstract base of every design space (AnyNetSpace and RegNetSpace in
  spaces.space, FamilySpace and the zoo's structured spaces, MBConvSpace, ScalingSpace).
  `spaces.sample` and `nas sweep` draw from it in vectorized batches (`draw`), `nas search` asks it
  for one config per Optuna trial (`suggest`), spaces.bounds reads its analytic ends (`extremes`),
  `nas spaces` lists it (`summary`).
* `SampleBatch`: what `draw` returns, a batch of candidates that `spaces.sample` counts, filters by
  complexity band, deduplicates and turns into configs (spaces.space.Candidates,
  spaces.family_space's ConfigBatch, spaces.scaling's ScalingBatch).
* `Suggester`: the three methods of an Optuna trial that `suggest` calls, with Optuna's signatures,
  so that an `optuna.Trial` is one and this package never imports optuna.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from spaces.complexity import REFERENCE_RESOLUTION, Cost
from spaces.netconfig import NetworkConfig

# A categorical choice of an Optuna trial (optuna.distributions.CategoricalChoiceType).
Choice = None | bool | int | float | str

BATCH = 8192  # candidates a space draws at a time unless it says otherwise (DesignSpace.batch)


@runtime_checkable
class Suggester(Protocol):
    """What `DesignSpace.suggest` asks of a trial: Optuna's `Trial.suggest_int`, `suggest_float` and
    `suggest_categorical`, with their signatures. Each call names one parameter of the study; asking
    the same name again must give the same value (Optuna does)."""

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int: ...

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...

    def suggest_categorical(self, name: str, choices: Sequence[Choice]) -> Choice: ...


@runtime_checkable
class SampleBatch(Protocol):
    """A batch of candidates drawn by `DesignSpace.draw`, as `spaces.sample` uses it.

    `len(batch)` candidates, each already a valid network; `invalid` draws were dropped as invalid
    combinations (`invalid_example`: the first one's error), so that a space whose every draw is
    invalid can say why."""

    invalid: int
    invalid_example: str | None

    def __len__(self) -> int: ...

    def cost(self) -> Cost:
        """params, flops and acts of every candidate (arrays of len(batch)), at the space's
        reference setting: as published (ImageNet input, 1000 classes) at the space's
        `reference_resolution`, or for spaces whose records report each config's own resolution
        (`record_resolution`), at that one."""
        ...

    def select(self, index: np.ndarray, /) -> SampleBatch:
        """The candidates at the positions `index` (an integer array), in that order."""
        ...

    def keys(self) -> Sequence[Hashable]:
        """One identity per candidate: equal keys are the same network (duplicates are dropped)."""
        ...

    def config(self, i: int) -> NetworkConfig:
        """Candidate i as a config."""
        ...


class DesignSpace(ABC):
    """A design space: a distribution over the networks of one family, drawn at random in batches
    (`draw`) or one at a time from a trial's suggestions (`suggest`); see the module docstring.

    Subclasses are frozen dataclasses with a `name`, a `description` and the `paper_size` they have
    in their paper (None if none). The class attributes below are the defaults `spaces.sample` works
    with."""

    name: str
    description: str
    paper_size: float | None
    # `nas sample`'s default band
    default_flops_band: ClassVar[tuple[float, float] | None] = (360e6, 400e6)
    batch: int = BATCH  # candidates per `draw` (family spaces count each on its graph)
    stale_batches: ClassVar[int | None] = (
        None  # finite spaces: draws without a new config that end sampling
    )

    @property
    def reference_resolution(self) -> int:
        """The input size at which bands and records count complexity (224 px unless the space
        says)."""
        return REFERENCE_RESOLUTION

    @property
    @abstractmethod
    def dims(self) -> int:
        """Number of free parameters."""

    @abstractmethod
    def size(self) -> int:
        """Number of distinct parameter settings on the sampling grid."""

    @abstractmethod
    def parameters(self) -> dict[str, str]:
        """Parameter name -> distribution, for docs and `nas spaces --json`."""

    @abstractmethod
    def draw(self, rng: np.random.Generator, n: int) -> SampleBatch:
        """`n` random draws from `rng` (fewer candidates where some are invalid: see
        SampleBatch)."""

    @abstractmethod
    def suggest(self, trial: Suggester) -> NetworkConfig:
        """The config a trial's suggestions describe (define-by-run, for `nas search`): one
        suggestion per parameter, named as the space names them, following the distributions `draw`
        samples from. A setting that gives no valid network raises ConfigError (the search prunes
        it)."""

    def extremes(self) -> tuple[SampleBatch, SampleBatch] | None:
        """The smallest and the largest setting, as one-candidate batches whose complexity bounds
        that of every config the space can draw (spaces.bounds); None (the default) when the space
        has none, and the sampler learns the range from its draws."""
        return None

    def record_resolution(self, cfg: NetworkConfig) -> int:
        """The resolution a record of `cfg` reports, where its complexity was counted (by default
        the space's reference resolution)."""
        return self.reference_resolution

    def summary(self) -> dict[str, Any]:
        band = self.default_flops_band
        return {
            "name": self.name,
            "dims": self.dims,
            "size": self.size(),
            "paper_size": self.paper_size,
            "description": self.description,
            "parameters": self.parameters(),
            "default_flops_band": list(band) if band else None,
        }


__all__ = ["BATCH", "Choice", "DesignSpace", "SampleBatch", "Suggester"]
