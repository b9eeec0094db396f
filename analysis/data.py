"""Sweep results as DataFrames: loading, checking, failed trials, and sampled records in `nas export` layout."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError

FAILED_POLICIES = ("exclude", "as_error")
UNFINISHED_STATES = frozenset({"RUNNING", "WAITING"})   # not failed, just not done: always left out


@dataclass(frozen=True)
class Cleaned:
    """A frame of usable models and how many rows were failed (and how they were treated) or unfinished."""

    frame: pd.DataFrame
    failed: int
    unfinished: int
    policy: str

    def to_dict(self) -> dict[str, Any]:
        return {"failed": self.failed, "failed_policy": self.policy, "unfinished": self.unfinished}


def load_frame(path: str | Path) -> pd.DataFrame:
    """A CSV or Parquet file as written by `nas export`."""
    p = Path(path)
    if not p.is_file():
        raise AnalysisError(f"no such file: {p}")
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(p)
        return pd.read_csv(p)
    except Exception as e:  # pandas and pyarrow raise many unrelated types for a bad file
        raise AnalysisError(f"cannot read {p} as {'Parquet' if p.suffix.lower() in ('.parquet', '.pq') else 'CSV'}: "
                            f"{type(e).__name__}: {e}") from None


def check_columns(frame: pd.DataFrame, required: Iterable[str], label: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise AnalysisError(f"{label} lacks column(s) {', '.join(missing)}; it has: "
                            f"{', '.join(map(str, frame.columns[:20]))}{', ...' if len(frame.columns) > 20 else ''}")


def clean(frame: pd.DataFrame, failed: str = "exclude", label: str = "input") -> Cleaned:
    """Split off failed trials (state FAIL/PRUNED/..., or no finite error) and unfinished ones.

    failed="exclude" drops them; failed="as_error" keeps them with error 1.0 (errors must then be
    fractions in [0, 1], else 1.0 would not be the worst error).
    """
    if failed not in FAILED_POLICIES:
        raise AnalysisError(f"failed must be one of {', '.join(FAILED_POLICIES)}, got {failed!r}")
    check_columns(frame, ["error"], label)
    err = pd.to_numeric(frame["error"], errors="coerce").to_numpy(float)
    state = frame["state"].astype(str).str.upper().to_numpy() if "state" in frame.columns else None
    unfinished = np.isin(state, list(UNFINISHED_STATES)) if state is not None else np.zeros(len(frame), bool)
    bad = ~np.isfinite(err) | ((state != "COMPLETE") if state is not None else False)
    bad &= ~unfinished
    out = frame.loc[~unfinished].copy()
    out["error"] = err[~unfinished]
    if failed == "exclude":
        out = out.loc[~bad[~unfinished]]
    else:
        good = out["error"].to_numpy(float)[~bad[~unfinished]]
        if len(good) and (good.min() < 0 or good.max() > 1):
            raise AnalysisError(f"{label}: errors range over [{good.min():.4g}, {good.max():.4g}], not fractions "
                                "in [0, 1], so error 1.0 for failed trials would be wrong; use failed=exclude")
        out.loc[bad[~unfinished], "error"] = 1.0
    return Cleaned(out.reset_index(drop=True), int(bad.sum()), int(unfinished.sum()), failed)


def records_to_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Sampled records (spaces.sample(...).records, `nas sample --dry-run` lines) in the `nas export`
    column layout: params, flops, acts, depth_i, width_i, bottleneck_i, group_width_i, d, w0, wa, wm."""
    rows = []
    for r in records:
        row = {k: r[k] for k in ("space", "params", "flops", "acts") if k in r}
        for i, s in enumerate(r.get("stages", []), 1):
            for key in ("depth", "width", "bottleneck", "group_width"):
                row[f"{key}_{i}"] = s[key]
        row.update({k: v for k, v in (r.get("regnet") or {}).items() if k in ("d", "w0", "wa", "wm")})
        rows.append(row)
    return pd.DataFrame(rows)
