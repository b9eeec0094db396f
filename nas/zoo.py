"""The table of `nas zoo`: every named model that has reference figures, its exact analytic
complexity beside them, as rows (zoo_rows), text (render_text) or Markdown (render_markdown). The
command: nas/cli/zoo.py.

It iterates the registries (`spaces.MODELS`, `spaces.zoo.FAMILIES` / `REFERENCES`), so each family
that registers models and references shows up without changes here.
"""

from __future__ import annotations

from typing import Any

from spaces.errors import SpacesError, UnknownNameError


def zoo_rows(family: str | None = None) -> list[dict[str, Any]]:
    """One dict per registered named model with a reference, family by family in registration
    order."""
    from spaces import MODELS, complexity, get_config
    from spaces.zoo import FAMILIES, REFERENCES

    if family is not None and family not in FAMILIES:
        raise UnknownNameError(f"unknown family {family!r}; valid: {', '.join(FAMILIES)}")
    rows = []
    for fam in [family] if family else list(FAMILIES):
        for name in FAMILIES[fam]:
            if name not in MODELS or name not in REFERENCES:
                continue
            ref = REFERENCES[name]
            row: dict[str, Any] = {"family": fam, "model": name}
            try:
                cfg = get_config(name)
                cx = complexity(cfg)
                at_ref = (
                    cx
                    if ref.resolution in (None, cx.resolution)
                    else complexity(cfg, ref.resolution)
                )
            except SpacesError as e:  # one broken family must not hide the others
                rows.append(
                    {
                        **row,
                        "error": str(e),
                        "ref_params": ref.params,
                        "ref_flops": ref.flops,
                        "source": ref.source,
                        "note": ref.note,
                    }
                )
                continue
            row.update(
                {
                    "resolution": cx.resolution,
                    "params": cx.params,
                    "flops": cx.flops,
                    "acts": cx.acts,
                    "ref_params": ref.params,
                    "ref_flops": ref.flops,
                    "ref_resolution": ref.resolution,
                    "params_diff": _rel(cx.params, ref.params),
                    "flops_diff": _rel(at_ref.flops, ref.flops),
                    "source": ref.source,
                    "note": ref.note,
                }
            )
            rows.append(row)
    return rows


def _rel(value: int, ref: float | None) -> float | None:
    return None if not ref else (value - ref) / ref


COLUMNS = (
    "family",
    "model",
    "res",
    "params",
    "ref params",
    "diff",
    "flops",
    "ref flops",
    "diff",
    "acts",
    "note",
)


def _cells(r: dict[str, Any]) -> list[str]:
    if "error" in r:
        return [
            r["family"],
            r["model"],
            "-",
            "-",
            _count(r["ref_params"]),
            "-",
            "-",
            _si(r["ref_flops"]),
            "-",
            "-",
            f"error: {r['error']}",
        ]
    res = (
        r["resolution"] if isinstance(r["resolution"], int) else "x".join(map(str, r["resolution"]))
    )
    ref_flops = _si(r["ref_flops"]) + (
        f" @{r['ref_resolution']}"
        if r["ref_flops"] and r["ref_resolution"] not in (None, r["resolution"])
        else ""
    )
    return [
        r["family"],
        r["model"],
        str(res),
        _count(r["params"]),
        _count(r["ref_params"]),
        _pct(r["params_diff"]),
        _si(r["flops"]),
        ref_flops,
        _pct(r["flops_diff"]),
        _si(r["acts"]),
        r["note"] or "",
    ]


def render_text(rows: list[dict[str, Any]]) -> str:
    table = [list(COLUMNS)] + [_cells(r) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS) - 1)]
    left = {0, 1}
    lines = [
        "  ".join(
            (c.ljust(w) if i in left else c.rjust(w))
            for i, (c, w) in enumerate(zip(row, widths, strict=False))
        )
        + "  "
        + row[-1]
        for row in table
    ]
    lines.append(
        f"\n{len(rows)} models. params: exact count; flops: multiply-adds of conv and linear "
        "layers at the model's native resolution (res); acts: their output elements; diff: "
        "relative to the reference."
    )
    return "\n".join(line.rstrip() for line in lines)


def render_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def _count(x: int | None) -> str:
    return "-" if x is None else f"{x:,}"


def _si(x: float | None) -> str:
    if x is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3f}{unit}"
    return f"{x:g}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:+.2f}%"
