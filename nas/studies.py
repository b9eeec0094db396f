"""`nas studies`: the studies of a storage, one line each: kind, N, trial counts and progress (read
only).

Each study is read with `nas.cluster.study_status` (what `nas status` shows of one study); its kind
is the study's own (``sample``, ``search``, ``scale-grid``, ``optuna`` for a study made elsewhere),
or ``training-free`` for a sweep ranked by a zero-cost score without training.
"""

from __future__ import annotations

from typing import Any

from nas.cluster import study_status
from nas.storage import describe_storage, open_storage, study_names

COUNTS = ("complete", "failed", "running", "waiting")


def list_studies(storage: str | None = None) -> list[dict[str, Any]]:
    """One summary a study: study, kind, space, n, complete, failed, running, waiting, done,
    progress (done / n, None for a study without N)."""
    out = []
    for name in study_names(open_storage(storage, create=False)):
        s = study_status(name, storage)
        kind = "training-free" if s["training_free"] else s["kind"]
        progress = s["done"] / s["n"] if isinstance(s.get("n"), int) and s["n"] > 0 else None
        out.append(
            {
                "study": name,
                "kind": kind,
                "space": s.get("space"),
                "n": s.get("n"),
                **{k: s[k] for k in COUNTS},
                "done": s["done"],
                "progress": progress,
            }
        )
    return out


def format_studies(rows: list[dict[str, Any]], storage: str | None = None) -> str:
    """`nas studies` as a table."""
    where = describe_storage(storage)
    if not rows:
        return f"no studies in {where}"
    width = max(len("study"), *(len(r["study"]) for r in rows))
    space = max(len("space"), *(len(r["space"] or "-") for r in rows))
    lines = [
        f"{len(rows)} {'study' if len(rows) == 1 else 'studies'} in {where}",
        f"{'study':<{width}}  {'kind':<13} {'space':<{space}} {'n':>6} "
        + " ".join(f"{c:>8}" for c in COUNTS)
        + "  progress",
    ]
    for r in rows:
        n = "-" if r["n"] is None else str(r["n"])
        progress = (
            f"{r['done']}/{r['n']} ({100 * r['progress']:.1f}%)"
            if r["progress"] is not None
            else f"{r['done']} done"
        )
        lines.append(
            f"{r['study']:<{width}}  {r['kind']:<13} {r['space'] or '-':<{space}} {n:>6} "
            + " ".join(f"{r[c]:>8}" for c in COUNTS)
            + f"  {progress}"
        )
    return "\n".join(lines)
