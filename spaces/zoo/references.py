"""Reference figures of named models: what the paper or the library that ships the model reports."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    """params (exact count where a library ships the model), flops (multiply-adds) and where they
    come from."""

    family: str
    params: int | None = None
    flops: float | None = None
    resolution: int | None = None  # the input size the reference flops are for
    source: str = ""
    note: str = ""  # a documented deviation, if any


REFERENCES: dict[str, Reference] = {}
FAMILIES: dict[str, list[str]] = {}  # family -> model names, in registration order


def register_reference(
    name: str,
    family: str,
    params: int | None = None,
    flops: float | None = None,
    resolution: int | None = None,
    source: str = "",
    note: str = "",
) -> None:
    REFERENCES[name] = Reference(family, params, flops, resolution, source, note)
    FAMILIES.setdefault(family, [])
    if name not in FAMILIES[family]:
        FAMILIES[family].append(name)
