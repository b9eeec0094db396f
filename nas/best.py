"""`nas best`: the best configs of a stored study, with their figures and a compact description of
each.

Ranked by error (lower is better) over the complete trials; a training-free study (user attr
``training_free``) trained nothing, so it is ranked by its zero-cost score (its ``objective``, e.g.
``score_naswot``; higher is better) and says so. The rows come from `nas.tables.export_study`, so a
row's ``config`` is the same JSON as `nas export` writes and `spaces.get_config` reads.
"""

from __future__ import annotations

import json
import math
from typing import Any

from analysis.units import si
from nas.storage import describe_storage, open_storage
from nas.tables import export_study
from spaces import get_config
from spaces.errors import ConfigError

FIGURES = ("params", "flops", "acts")


def study_attrs(study: str, storage: str | None = None) -> dict[str, Any]:
    """The user attrs of a stored study (what it is: kind, space, n, training_free, objective,
    ...)."""
    for s in open_storage(storage, create=False).get_all_studies():
        if s.study_name == study:
            return dict(s.user_attrs)
    return {}


def best_configs(study: str, storage: str | None = None, top: int = 10) -> dict[str, Any]:
    """The `top` best complete trials of `study`: {study, storage, metric, higher_is_better,
    training_free, complete, rows}; each row has rank, trial, the metric, error, params/flops/acts
    (the study's reference setting), config (a dict) and description (the config's compact text)."""
    frame = export_study(study, storage)
    attrs = study_attrs(study, storage)
    free = bool(attrs.get("training_free", False))
    scores = [
        c
        for c in frame.columns
        if str(c).startswith("score_") and c not in ("score_batch", "score_seconds")
    ]
    metric = (attrs.get("objective") or (scores[0] if scores else "score")) if free else "error"
    done = frame[frame["state"] == "COMPLETE"] if len(frame) else frame
    if metric in done.columns:
        values = done[metric].astype(float)
        done = done[values.map(math.isfinite)]
        done = done.sort_values([metric, "trial"], ascending=[not free, True], kind="stable")
    else:
        done = done.iloc[0:0]
    rows = []
    for rank, (_, row) in enumerate(done.head(top).iterrows(), 1):
        config = json.loads(row["config"]) if isinstance(row.get("config"), str) else None
        rows.append(
            {
                "rank": rank,
                "trial": int(row["trial"]),
                metric: float(row[metric]),
                "error": _number(row.get("error")),
                **{k: _number(row.get(k)) for k in FIGURES},
                "config": config,
                "description": describe(row),
            }
        )
    return {
        "study": study,
        "storage": describe_storage(storage),
        "metric": metric,
        "higher_is_better": free,
        "training_free": free,
        "complete": len(done),
        "rows": rows,
    }


def describe(row: Any) -> str:
    """The compact description of an exported row's config (its JSON when it cannot be read as a
    config)."""
    try:
        return get_config(row).describe()
    except ConfigError:
        return str(row.get("config"))


def _number(value: Any) -> int | float | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    as_float = float(value)
    return int(as_float) if as_float.is_integer() else as_float


def format_best(best: dict[str, Any]) -> str:
    """`nas best` as text: a header that says what the ranking is, then one line a config."""
    metric, rows = best["metric"], best["rows"]
    if best["training_free"]:
        how = (
            f"TRAINING-FREE study: ranked by {metric}, a zero-cost score at init (higher is "
            "better; no model was trained, so these are scores, not errors)"
        )
    else:
        how = "ranked by error (lower is better)"
    head = (
        f"best {len(rows)} of {best['complete']} complete trials of {best['study']} in "
        f"{best['storage']}, {how}; params/flops/acts at the study's reference setting"
    )
    if not rows:
        return f"{best['study']} in {best['storage']}: no complete trial yet"
    label = "score" if best["training_free"] else "error"
    lines = [
        head,
        f"{'rank':>4} {'trial':>6} {label:>10} {'params':>8} {'flops':>8} {'acts':>8}  config",
    ]
    for r in rows:
        value = f"{r[metric]:.4g}" if best["training_free"] else f"{r[metric]:.4f}"
        lines.append(
            f"{r['rank']:>4} {r['trial']:>6} {value:>10} {si(r['params'], 3):>8} "
            f"{si(r['flops'], 3):>8} {si(r['acts'], 3):>8}  {r['description']}"
        )
    return "\n".join(lines)
