"""Design spaces, model generators and exact analytic complexity.

    >>> import spaces
    >>> cfg = spaces.get_config("regnetx_400mf")
    >>> spaces.complexity(cfg).flops
    398000000...
    >>> model = spaces.create_model("regnetx_400mf", num_classes=10)   # a torch.nn.Module

Importing this package registers the model zoo's families (`spaces.zoo`: their config kinds, named
models and design spaces) and does not import torch; only `create_model` does. Submodules never
import this package's `__init__`: each imports the submodule it needs. Every design space implements
`DesignSpace` (spaces.design_space): `draw` for `sample`, `suggest(trial)` for a define-by-run
search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# registers the zoo's families: config kinds, models, references, spaces
from spaces import zoo as zoo
from spaces.complexity import Complexity
from spaces.config import AnyNetConfig, StageConfig, make_anynet
from spaces.design_space import DesignSpace, SampleBatch, Suggester
from spaces.errors import ConfigError, SamplingError, SpacesError, UnknownNameError
from spaces.netconfig import NetworkConfig, build_model, complexity, reference_complexity
from spaces.registry import (
    MODELS,
    SPACES,
    get_config,
    get_space,
    load_config,
    register_model,
    register_space,
)
from spaces.regnet import RegNetParams
from spaces.sampling import Band, SampleResult, sample
from spaces.space import AnyNetSpace, RegNetSpace

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "MODELS",
    "SPACES",
    "AnyNetConfig",
    "AnyNetSpace",
    "Band",
    "Complexity",
    "ConfigError",
    "DesignSpace",
    "NetworkConfig",
    "RegNetParams",
    "RegNetSpace",
    "SampleBatch",
    "SampleResult",
    "SamplingError",
    "SpacesError",
    "StageConfig",
    "Suggester",
    "UnknownNameError",
    "build_model",
    "complexity",
    "create_model",
    "get_config",
    "get_space",
    "load_config",
    "make_anynet",
    "reference_complexity",
    "register_model",
    "register_space",
    "sample",
]


def create_model(name_or_config: str | NetworkConfig | dict, **overrides: Any) -> nn.Module:
    """Build the network of a named model, a config file, a dict or a config.

    `overrides` replace config fields, e.g. in_channels=1, num_classes=10 (AnyNet: stem="small").
    """
    cfg = (
        name_or_config if isinstance(name_or_config, NetworkConfig) else get_config(name_or_config)
    )
    if overrides:
        cfg = cfg.replace(**overrides)
    return build_model(cfg)
