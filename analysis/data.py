"""Sweep results as DataFrames: loading, checking, failed trials, and sampled records in
`nas export` layout."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from spaces.records import REGNET_FIELDS, TRAINED_FAILURES, flatten_record, stage_fields_of

FAILED_POLICIES = ("exclude", "as_error")
UNFINISHED_STATES = frozenset({"RUNNING", "WAITING"})  # not failed, just not done: always left out


@dataclass(frozen=True)
class Cleaned:
    """A frame of usable models and how many rows were failed (and how they were treated),
    unfinished, pruned (never trained) or retried (copies that are not a config's final result)."""

    frame: pd.DataFrame
    failed: int
    unfinished: int
    policy: str
    pruned: int = 0
    retried: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "failed": self.failed,
            "failed_policy": self.policy,
            "unfinished": self.unfinished,
            "pruned": self.pruned,
            "retried": self.retried,
        }


def load_frame(path: str | Path) -> pd.DataFrame:
    """A CSV or Parquet file as written by `nas export`."""
    p = Path(path)
    if not p.is_file():
        raise AnalysisError(f"no such file: {p}")
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(p)
        _check_csv_rows(p)
        return pd.read_csv(p)
    except AnalysisError:
        raise
    except Exception as e:  # pandas and pyarrow raise many unrelated types for a bad file
        raise AnalysisError(
            f"cannot read {p} as "
            f"{'Parquet' if p.suffix.lower() in ('.parquet', '.pq') else 'CSV'}: "
            f"{type(e).__name__}: {e}"
        ) from None


def _check_csv_rows(p: Path) -> None:
    """Refuse a CSV that was cut off while written (pandas would pad the cut row with empty cells
    and analyse it as a model): every row must have the header's number of fields and the file must
    end with a newline."""
    with p.open(newline="", encoding="utf-8", errors="replace") as f:
        text = f.read()
    if not text.strip():
        return
    rows = csv.reader(io.StringIO(text))
    header = next(rows)
    for row in rows:
        if row and len(row) != len(header):
            raise AnalysisError(
                f"{p}: line {rows.line_num} has {len(row)} fields where the header has "
                f"{len(header)}: the file was cut off or edited; export it again (nas export)"
            )
    if not text.endswith(("\n", "\r")):
        raise AnalysisError(
            f"{p}: the last line (line {rows.line_num}) does not end with a newline, so it was cut "
            "off while written (a killed export?); export it again, or end the file with a "
            "newline if that line is complete"
        )


def check_columns(frame: pd.DataFrame, required: Iterable[str], label: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise AnalysisError(
            f"{label} lacks column(s) {', '.join(missing)}; it has: "
            f"{', '.join(map(str, frame.columns[:20]))}{', ...' if len(frame.columns) > 20 else ''}"
        )


def clean(frame: pd.DataFrame, failed: str = "exclude", label: str = "input") -> Cleaned:
    """Split a `nas export` frame into usable models and the rest; only trials that were trained
    count.

    * COMPLETE with a finite error: a model. FAIL with a fail_reason of a trained model
      (TRAINED_FAILURES: diverged, oom, error), or without any fail_reason (a frame from elsewhere),
      or COMPLETE without a finite error: failed.
    * PRUNED (a proposal rejected before training, a duplicate copy closed unstarted): pruned, never
      counted.
    * FAIL for another reason (interrupted, abandoned, worker died: queued again or given up before
      a result): retried, never counted. With an ``index`` column (a `nas sample` study), a config
      trained more than once counts once, by its final state: its first complete trial, else its
      last failed one; the others are retried too.
    * RUNNING or WAITING: unfinished. Without a ``state`` column, a row without a finite error is
      failed.

    failed="exclude" drops the failed ones; failed="as_error" keeps them with error 1.0 (errors must
    then be fractions in [0, 1], else 1.0 would not be the worst error).
    """
    if failed not in FAILED_POLICIES:
        raise AnalysisError(f"failed must be one of {', '.join(FAILED_POLICIES)}, got {failed!r}")
    check_columns(frame, ["error"], label)
    n = len(frame)
    err = pd.to_numeric(frame["error"], errors="coerce").to_numpy(float)
    finite = np.isfinite(err)
    none = np.zeros(n, bool)
    if "state" in frame.columns:
        state = frame["state"].astype(str).str.upper().to_numpy()
        unfinished = np.isin(state, list(UNFINISHED_STATES))
        pruned = state == "PRUNED"
        complete = state == "COMPLETE"
        other = ~(unfinished | pruned | complete)
        retried = other & _retried_reason(frame)
        bad = (other & ~retried) | (complete & ~finite)
    else:
        unfinished, pruned, retried, bad = none, none, none.copy(), ~finite
    good = ~(unfinished | pruned | retried | bad)
    superseded = _superseded(frame, good, bad)
    retried = retried | superseded
    good &= ~superseded
    bad &= ~superseded
    if failed == "exclude":
        out = frame.loc[good].copy()
        out["error"] = err[good]
    else:
        if good.any() and (err[good].min() < 0 or err[good].max() > 1):
            raise AnalysisError(
                f"{label}: errors range over [{err[good].min():.4g}, {err[good].max():.4g}], not "
                "fractions in [0, 1], so error 1.0 for failed trials would be wrong; use "
                "failed=exclude"
            )
        keep = good | bad
        out = frame.loc[keep].copy()
        out["error"] = np.where(bad, 1.0, err)[keep]
    return Cleaned(
        out.reset_index(drop=True),
        int(bad.sum()),
        int(unfinished.sum()),
        failed,
        int(pruned.sum()),
        int(retried.sum()),
    )


def _retried_reason(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose fail_reason says they were stopped before a result (not TRAINED_FAILURES)."""
    if "fail_reason" not in frame.columns:
        return np.zeros(len(frame), bool)
    reason = frame["fail_reason"]
    return (reason.notna() & ~reason.astype(str).str.lower().isin(TRAINED_FAILURES)).to_numpy()


def _superseded(frame: pd.DataFrame, good: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Result rows (good or bad) of a config index that are not its final result: the first good row
    of an index is final, else its last bad one (in trial order)."""
    out = np.zeros(len(frame), bool)
    if "index" not in frame.columns:
        return out
    index = pd.to_numeric(frame["index"], errors="coerce").to_numpy(float)
    rows = np.flatnonzero((good | bad) & np.isfinite(index))
    if len(rows) == 0:
        return out
    order = (
        pd.to_numeric(frame["trial"], errors="coerce").to_numpy(float)
        if "trial" in frame.columns
        else np.arange(len(frame), dtype=float)
    )[rows]
    order = np.nan_to_num(order, nan=np.inf)
    # good rows first (earliest first), then bad rows (latest first):
    # the first row of each index is final
    rank = np.where(good[rows], 0, 1)
    sort = np.lexsort((np.where(good[rows], order, -order), rank, index[rows]))
    ordered = rows[sort]
    first = np.r_[True, index[ordered][1:] != index[ordered][:-1]]
    out[ordered[~first]] = True
    return out


def records_to_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Sampled records (spaces.sample(...).records, `nas sample --dry-run` lines) in the
    `nas export` column layout (spaces.records.flatten_record): space, params, flops, acts, the
    stage columns (depth_i, width_i, stride_i, bottleneck_i, group_width_i, then other families'
    stage fields), block, se_ratio, stem_width, and RegNet's d, w0, wa, wm when any record has
    them."""
    records = list(records)
    fields = stage_fields_of(records)
    num_stages = max((len(r.get("stages") or []) for r in records), default=0)
    regnet = any("regnet" in r for r in records)
    rows = []
    for r in records:
        row = {"space": r.get("space"), **flatten_record(r, fields, num_stages)}
        if not regnet:
            for key in REGNET_FIELDS:
                row.pop(key)
        rows.append(row)
    return pd.DataFrame(rows)
