"""Registries of named design spaces and named models, with lookups that fail helpfully.

The registries hold the AnyNet and RegNet spaces and the published RegNets; the model zoo's families
(spaces.zoo) add theirs when imported, which the package (`import spaces`) does: this module does
not import the zoo, the zoo imports it.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypedDict

from spaces.config import AnyNetConfig
from spaces.design_space import DesignSpace
from spaces.errors import ConfigError, UnknownNameError
from spaces.netconfig import CONFIG_KINDS, NetworkConfig, config_kind, register_kind
from spaces.regnet import PUBLISHED, RegNetParams
from spaces.space import AnyNetSpace, RegNetSpace


class _Constraints(TypedDict, total=False):
    """The AnyNetSpace constraints of one step A-E of the AnyNet paper."""

    shared_bottleneck: bool
    shared_group_width: bool
    increasing_widths: bool
    increasing_depths: bool


_ANYNET_STEPS: list[tuple[str, _Constraints, float, str]] = [
    # suffix, constraints, paper size (Table 1), one-line description
    ("a", {}, 1.8e18, "unconstrained: per-stage depth, width, bottleneck ratio and group width"),
    ("b", {"shared_bottleneck": True}, 6.8e16, "A with one bottleneck ratio shared by all stages"),
    (
        "c",
        {"shared_bottleneck": True, "shared_group_width": True},
        3.2e14,
        "B with one group width shared by all stages",
    ),
    (
        "d",
        {"shared_bottleneck": True, "shared_group_width": True, "increasing_widths": True},
        1.3e13,
        "C with non-decreasing widths over stages",
    ),
    (
        "e",
        {
            "shared_bottleneck": True,
            "shared_group_width": True,
            "increasing_widths": True,
            "increasing_depths": True,
        },
        5.5e11,
        "D with non-decreasing depths over stages",
    ),
]


def _builtin_spaces() -> dict[str, DesignSpace]:
    spaces: dict[str, DesignSpace] = {}
    for letter, block, se in (("x", "X", None), ("y", "X", 0.25)):
        for suffix, constraints, paper_size, text in _ANYNET_STEPS:
            name = f"anynet{letter}_{suffix}"
            kind = "X blocks" if se is None else "Y blocks (X + SE 1/4)"
            spaces[name] = AnyNetSpace(
                name=name,
                description=f"AnyNet{letter.upper()}_{suffix.upper()}, {kind}: {text}",
                block=block,
                se_ratio=se,
                paper_size=paper_size,
                **constraints,
            )
    spaces["regnetx"] = RegNetSpace(
        "regnetx", "RegNetX: quantized-linear widths (d, w0, wa, wm, g, b=1), 4 stages, X blocks"
    )
    spaces["regnety"] = RegNetSpace("regnety", "RegNetY: RegNetX with SE 1/4", se_ratio=0.25)
    return spaces


SPACES: dict[str, DesignSpace] = _builtin_spaces()
MODELS: dict[str, Callable[[], NetworkConfig]] = {
    name: params.to_anynet for name, params in PUBLISHED.items()
}


def register_space(space: DesignSpace) -> None:
    """Add a user-defined space (e.g. an AnyNetSpace with other ranges) under its name."""
    SPACES[space.name] = space


def register_model(
    name: str, factory: Callable[[], NetworkConfig], overwrite: bool = False
) -> None:
    """Name a config factory; names are case-insensitive (`get_config("MyNet")` finds "mynet").

    A name that is taken is refused unless `overwrite=True`, so a zoo model is never replaced by
    accident.
    """
    key = name.lower()
    if key in MODELS and not overwrite:
        raise ValueError(
            f"model name {name!r} is already registered; pick another name or pass overwrite=True"
        )
    MODELS[key] = factory


def get_space(name: str) -> DesignSpace:
    if name not in SPACES:
        raise UnknownNameError(_unknown("design space", name, SPACES))
    return SPACES[name]


def get_config(name_or_path: str | Path | Mapping[str, Any] | Any) -> NetworkConfig:
    """A named model, a config file (JSON or YAML), a dict, a config as JSON text, or a row of `nas
    export` (a dict or pandas Series whose `config` holds the config as JSON): the config it
    describes."""
    row = _row_config(name_or_path)
    if row is not None:
        return config_from_dict(row)
    if isinstance(name_or_path, Mapping):
        return config_from_dict(name_or_path)
    if not isinstance(name_or_path, str | Path):
        raise ConfigError(
            f"cannot read a config from a {type(name_or_path).__name__}: give a model name, a "
            "config file, a dict, JSON text, or an exported row with a 'config' column"
        )
    key = str(name_or_path)
    if key.lower() in MODELS:
        return MODELS[key.lower()]()
    path = Path(key)
    if (
        path.suffix.lower() in (".json", ".jsonl", ".yaml", ".yml")
        or path.exists()
        or _jsonl_line(key)
    ):
        return load_config(path)
    raise UnknownNameError(
        _unknown("model", key, MODELS, see="`nas zoo`", extra="or give a config file (.json/.yaml)")
    )


def _row_config(value: Any) -> Mapping[str, Any] | None:
    """The config dict of JSON text or of an exported row (its `config` column); None for anything
    else."""
    if isinstance(value, str):
        return _json_object(value) if value.lstrip().startswith("{") else None
    if isinstance(value, Path) or not hasattr(value, "get"):
        return None
    inner = value.get("config")
    if inner is None and not isinstance(value, Mapping):
        raise ConfigError(
            "the row has no 'config' column: export the study again with `nas export`"
        )
    if inner is None or isinstance(inner, Mapping):
        return inner
    if isinstance(inner, str):
        return _json_object(inner)
    raise ConfigError(
        f"the row's 'config' is {inner!r}, not a config as JSON text (a trial without a config?)"
    )


def _json_object(text: str) -> Mapping[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"the config is not valid JSON: {e}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"a config must be a JSON object, got {type(data).__name__}")
    return data


def _jsonl_line(text: str) -> tuple[Path, int] | None:
    """`FILE.jsonl:N`, line N (from 1) of a JSONL file, as (FILE.jsonl, N); None for anything
    else."""
    head, colon, tail = text.rpartition(":")
    if colon and tail.isdigit() and head.lower().endswith(".jsonl"):
        return Path(head), int(tail)
    return None


def load_config(path: str | Path) -> NetworkConfig:
    """Read a config file: JSON, YAML, or a JSONL file of one line (`nas sample --dry-run -n 1`);
    line N of a longer JSONL file is `FILE.jsonl:N` (from 1)."""
    line = _jsonl_line(str(path))
    path = line[0] if line else Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(
            f"cannot read config file {path}: {e.strerror if isinstance(e, OSError) else e}"
        ) from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif path.suffix.lower() == ".jsonl":
            data = json.loads(_one_line(path, text, line[1] if line else None))
        else:
            data = json.loads(text)
    except (ValueError, StopIteration) as e:
        raise ConfigError(
            f"{path}: not valid {path.suffix.lstrip('.').upper() or 'JSON'}: {e}"
        ) from None
    except Exception as e:  # yaml's errors do not subclass ValueError
        raise ConfigError(f"{path}: cannot parse: {e}".splitlines()[0]) from None
    try:
        return config_from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def config_from_dict(data: Mapping[str, Any]) -> NetworkConfig:
    """A config dict of any kind ("kind" names it; none means AnyNet: a dict with "stages", or
    RegNet parameters {"d"|"depth", "w0", "wa", "wm", ...})."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a config must be a JSON object, got {type(data).__name__}")
    kind = config_kind(data)
    if kind != "anynet":
        return CONFIG_KINDS[kind](data)
    if "stages" not in data and {"w0", "wa", "wm"} <= set(data):
        return regnet_from_dict(data)
    return AnyNetConfig.from_dict(data)


register_kind("anynet", AnyNetConfig.from_dict)


def regnet_from_dict(data: Mapping[str, Any]) -> AnyNetConfig:
    # fmt: off
    allowed = {"d", "depth", "w0", "wa", "wm", "group_width", "g", "bottleneck", "b", "se_ratio",
               "q", "stem_width", "in_channels", "num_classes", "stem"}
    # fmt: on
    unknown = set(data) - allowed
    if unknown:
        raise ConfigError(f"unknown RegNet key(s) {sorted(unknown)}; valid: {sorted(allowed)}")
    try:
        params = RegNetParams(
            depth=int(data.get("d", data.get("depth", 0))),
            w0=int(data["w0"]),
            wa=float(data["wa"]),
            wm=float(data["wm"]),
            group_width=int(data.get("group_width", data.get("g", 8))),
            bottleneck=int(data.get("bottleneck", data.get("b", 1))),
            se_ratio=data.get("se_ratio"),
            q=int(data.get("q", 8)),
        )
    except (TypeError, ValueError) as e:
        raise ConfigError(f"RegNet parameters must be numbers: {e}") from None
    body = {k: data[k] for k in ("stem_width", "in_channels", "num_classes", "stem") if k in data}
    return params.to_anynet(**body)


def _one_line(path: Path, text: str, number: int | None) -> str:
    """The JSONL line to read: the only one, or line `number` (from 1); several lines without a
    number, or a number past the end, are refused rather than silently reading the first."""
    lines = text.splitlines()
    filled = [i for i, t in enumerate(lines, 1) if t.strip()]
    if number is None:
        if len(filled) > 1:
            raise ConfigError(
                f"{path} holds {len(filled)} configs, one a line; name one as {path}:N, e.g. "
                f"{path}:{filled[0]} for its first line"
            )
        number = filled[0] if filled else 0
    if not 1 <= number <= len(lines) or not lines[number - 1].strip():
        raise ConfigError(
            f"{path}:{number}: no config on that line; its configs are on lines "
            f"{filled[0]}..{filled[-1]}"
            if filled
            else f"{path} is empty"
        )
    return lines[number - 1]


def _unknown(what: str, name: str, table: Mapping[str, Any], extra: str = "", see: str = "") -> str:
    """One short line: the closest names, then all names when they are few, else where to find
    them."""
    close = difflib.get_close_matches(name.lower(), list(table), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    listing = (
        f"Valid: {', '.join(table)}"
        if len(table) <= 30 or not see
        else f"{len(table)} named {what}s: see {see}"
    )
    return f"unknown {what} {name!r}.{hint} {listing}" + (f"; {extra}" if extra else "")
