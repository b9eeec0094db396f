"""`nas export`: a study's trials as a flat DataFrame, and writing tables as CSV or Parquet.

`export_study` reads every trial of a `nas sample` / `nas search` study (on PostgreSQL and SQLite
with two plain SQL queries instead of the ORM: `read_trials`) and flattens each with the record
schema (spaces.records: stage columns, RegNet parameters, the config as JSON) beside its results,
scores and fail reason. `write_table` writes any DataFrame by the file's suffix.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optuna.trial import TrialState

from nas.storage import RetryingStorage, StorageError
from nas.study import StudyHandle, SweepError, load_study
from spaces.records import (
    METRIC_COLUMNS,
    REGNET_FIELDS,
    config_json,
    flatten_record,
    stage_fields_of,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TrialRow", "export_study", "read_trials", "write_table"]


def export_study(study_name: str, storage: str | None = None) -> pd.DataFrame:
    """One row per trial of a `nas sample` or `nas search` study, with flat columns: trial, state,
    error, params/flops/acts (224 px reference), train_params/flops/acts (training resolution),
    depth_i, width_i, stride_i, bottleneck_i, group_width_i, block, se_ratio, RegNet d/w0/wa/wm
    where they apply, the measured metrics, the zero-cost scores at init (score_<name>, higher is
    better; nas.scores), fail_reason, and the study's space, seed, dataset and training_free (True
    for a sweep ranked by a score without training: its error column is empty), and the trial's
    config as JSON (`config`: `spaces.get_config(row)` reads a row)."""
    import pandas as pd

    st = load_study(storage, study_name)
    attrs = st.study.user_attrs
    trials = read_trials(st)
    retry_reason = {
        t.user_attrs["retry_of"]: t.user_attrs.get("retry_reason")
        for t in trials
        if "retry_of" in t.user_attrs
    }
    records = [t.user_attrs.get("record") or {} for t in trials]
    num_stages = max((len(r.get("stages") or []) for r in records), default=0)
    regnet = any("regnet" in r for r in records)
    is_sample = attrs.get("kind") == "sample"
    columns = (
        ["trial"]
        + (["index"] if is_sample else [])
        + ["state", "error", "params", "flops", "acts", "train_params", "train_flops", "train_acts"]
    )
    stage_fields = stage_fields_of(records)
    columns += [f"{f}_{i}" for f in stage_fields for i in range(1, num_stages + 1)]
    columns += ["block", "se_ratio", "stem_width"] + (list(REGNET_FIELDS) if regnet else [])
    score_columns = sorted({k for t in trials for k in t.user_attrs if k.startswith("score_")})
    columns += [
        *METRIC_COLUMNS,
        *score_columns,
        "fail_reason",
        "fail_message",
        "space",
        "seed",
        "dataset",
    ]
    columns += ([] if is_sample else ["sampler"]) + [
        "training_free",
        "datetime_start",
        "datetime_complete",
        "config",
    ]
    rows = []
    for t, rec in zip(trials, records, strict=True):
        ua = t.user_attrs
        row: dict[str, Any] = {
            "trial": t.number,
            "index": ua.get("index"),
            "state": t.state.name,
            "error": ua.get("error"),
        }
        row.update(flatten_record(rec, stage_fields, num_stages))
        for key in ("params", "flops", "acts"):
            row[key] = rec.get(key, ua.get(key))
        for key in ("train_params", "train_flops", "train_acts", *METRIC_COLUMNS, *score_columns):
            row[key] = ua.get(key)
        if t.state != TrialState.COMPLETE:
            row["fail_reason"] = (
                ua.get("fail_reason")
                or retry_reason.get(t.number)
                or ("abandoned" if t.state == TrialState.FAIL else None)
            )  # failed as stale; its retry says why
            row["fail_message"] = ua.get("fail_message")
        for key in ("space", "seed", "dataset", "sampler"):
            row[key] = attrs.get(key)
        row["training_free"] = bool(attrs.get("training_free", False))
        row["datetime_start"] = (
            t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else None
        )
        row["datetime_complete"] = (
            t.datetime_complete.isoformat(timespec="seconds") if t.datetime_complete else None
        )
        row["config"] = config_json(rec)
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


@dataclass
class TrialRow:
    """What export needs of a trial (a FrozenTrial, or a row read straight from an RDB)."""

    number: int
    state: TrialState
    user_attrs: dict[str, Any]
    datetime_start: Any
    datetime_complete: Any


def read_trials(st: StudyHandle) -> list[Any]:
    """The study's trials. On an RDB storage of Optuna 5's schema, two plain SQL queries (trials,
    and all their user attrs) instead of the ORM, which builds every attribute object: 10,000 trials
    on PostgreSQL in about a second instead of twenty. Anything unexpected falls back to the storage
    API."""
    from optuna.storages import RDBStorage

    inner = st.storage.inner if isinstance(st.storage, RetryingStorage) else st.storage
    rdb = getattr(inner, "_backend", inner)
    if isinstance(rdb, RDBStorage):
        import sqlalchemy as sa
        from optuna.storages._rdb import models

        if hasattr(models.TrialModel, "_datetime_start_utc"):  # Optuna 5: naive UTC datetimes
            try:
                return (
                    st.storage.call(_read_rdb_rows, rdb, st.study_id)
                    if isinstance(st.storage, RetryingStorage)
                    else _read_rdb_rows(rdb, st.study_id)
                )
            except StorageError:
                raise
            except (sa.exc.ProgrammingError, sa.exc.OperationalError, KeyError, ValueError) as e:
                # a schema this code does not know (a missing table or column, an unknown state):
                # the ORM path
                print(
                    f"nas: reading the trials with plain SQL failed ({type(e).__name__}: "
                    f"{str(e).splitlines()[0]}); reading them through Optuna instead (slower)",
                    file=sys.stderr,
                )
    return st.trials()


def _read_rdb_rows(rdb: Any, study_id: int) -> list[TrialRow]:
    from datetime import UTC, datetime

    import sqlalchemy as sa

    def local(value: Any) -> Any:
        # SQLite keeps datetimes as text, which a plain query returns as it is
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return (
            value.replace(tzinfo=UTC).astimezone().replace(tzinfo=None)
            if value is not None
            else None
        )

    with rdb.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT trial_id, number, state, datetime_start, datetime_complete FROM trials "
                "WHERE study_id = :s ORDER BY trial_id"
            ),
            {"s": study_id},
        ).all()
        attrs: dict[int, dict[str, Any]] = {r[0]: {} for r in rows}
        for trial_id, key, value in conn.execute(
            sa.text(
                "SELECT a.trial_id, a.key, a.value_json FROM trial_user_attributes a JOIN trials t "
                "ON t.trial_id = a.trial_id WHERE t.study_id = :s"
            ),
            {"s": study_id},
        ):
            if trial_id in attrs:
                attrs[trial_id][key] = json.loads(value)
    return [
        TrialRow(
            number,
            TrialState[state] if isinstance(state, str) else TrialState(state),
            attrs[trial_id],
            local(start),
            local(complete),
        )
        for trial_id, number, state, start, complete in rows
    ]


def write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write `df` as CSV or Parquet, by the file's suffix."""
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise SweepError(f"cannot write {out}: give a .csv or .parquet file")
    from nas.outputs import output_file, write_failed

    output_file(out)  # OutputError (one line) for a path that cannot be a file
    try:
        if suffix == ".csv":
            df.to_csv(out, index=False)
        else:
            df.to_parquet(out, index=False)
    except OSError as e:
        raise write_failed(out, e) from None
    return out
