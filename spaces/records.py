"""The record schema: what a sampled or trained config's record holds, in one place.

A *config* is a network's frozen data (`config.to_dict()`). A *record* is a config dict plus
bookkeeping: the space it was drawn from, its complexity at the reference setting (params, flops,
acts; AnyNet's reference resolution), its index in a sample, RegNet's (d, w0, wa, wm) where it came
from that rule. `nas sample --dry-run` writes records; a stored trial keeps its record in the user
attr ``record``, the queue keys (QUEUE_KEYS) beside it, and the results of training (RESULT_FIELDS,
METRIC_COLUMNS) and its ``fail_reason`` when it has no result.

This module owns, for every package (spaces, nas, analysis):
* the keys: RECORD_KEYS (accepted and ignored when a record is read as a config), BOOKKEEPING_KEYS,
  STAGE_FIELDS (AnyNet's stage fields, in the order of the export's columns), REGNET_FIELDS,
  OPTION_DEFAULTS (AnyNet's block/stem/head options beyond the paper, and their defaults);
* which failures are results: TRAINED_FAILURES (the model itself diverged, ran out of memory, or its
  score/error is not finite; such configs count as done) as opposed to stops of the code or the
  user;
* building a record (`make_record`), for sampling and search alike;
* config identity: `config_body` (the config part of a record), `config_json`, `config_key` (a
  network's identity, the same for a record and for its config's dict);
* flattening a record into flat columns (`flatten_record`, `stage_fields_of`), as `nas export` and
  `analysis.records_to_frame` write them.

It imports nothing of the project, so that every module may import it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "BOOKKEEPING_KEYS",
    "METRIC_COLUMNS",
    "OPTION_DEFAULTS",
    "QUEUE_KEYS",
    "RECORD_KEYS",
    "REGNET_FIELDS",
    "RESULT_FIELDS",
    "STAGE_FIELDS",
    "TRAINED_FAILURES",
    "config_body",
    "config_json",
    "config_key",
    "flatten_record",
    "make_record",
    "stage_fields_of",
]

STAGE_FIELDS = ("depth", "width", "stride", "bottleneck", "group_width")
REGNET_FIELDS = ("d", "w0", "wa", "wm")
# Block and head options beyond the AnyNet paper's, with their defaults: a config with the defaults
# serializes exactly as before these options existed (stored studies hash config dicts).
OPTION_DEFAULTS: dict[str, Any] = {
    "stem_kind": "regnet",  # see spaces.config.STEM_KINDS
    # SE on the block output (after the last BN), width w_out // se_reduction (SENet)
    "se_reduction": None,
    "stride_1x1": False,  # X: stride on the first 1x1 conv instead of the 3x3 (Caffe / SE-ResNet)
    "expand_3x3": False,  # X: the 3x3 group conv widens w_b to the block width (SENet-154)
    "proj_kernel": 1,  # kernel of strided projection shortcuts (1 or 3); stride-1 ones stay 1x1
    "head_dropout": 0.0,  # dropout before the classifier (no effect on complexity)
}
# Keys of a record that describe it rather than the network: accepted and ignored when it is read as
# a config ("kind" names the family of graph configs, and is read by spaces.get_config to pick it).
RECORD_KEYS = frozenset(
    {"space", "params", "flops", "acts", "resolution", "regnet", "name", "index", "kind"}
)
# A record's bookkeeping, never part of its config (AnyNet's reference "resolution" too: see
# config_body).
BOOKKEEPING_KEYS = frozenset({"index", "space", "params", "flops", "acts"})
# What a queued trial carries in its user attrs (a retry copies them): every queue's, then a grid
# point's (nas scale --grid: its training seed and resolution, its number and coefficients).
QUEUE_KEYS = (
    "index",
    "record",
    "params",
    "flops",
    "acts",
    "seed",
    "train_resolution",
    "point",
    "alpha",
    "beta",
    "gamma",
)
# What training returns that a trial keeps (nas.trainer.TrainResult.to_dict()).
RESULT_FIELDS = (
    "error",
    "train_loss",
    "train_seconds",
    "images_per_second",
    "latency_ms_b1",
    "latency_ms_b64",
    "epochs",
    "steps",
    "device",
    "precision",
    "history",
)
# The measured columns of an export, after the config's.
METRIC_COLUMNS = (
    "train_loss",
    "train_seconds",
    "images_per_second",
    "latency_ms_b1",
    "latency_ms_b64",
    "epochs",
    "steps",
    "device",
    "precision",
    "storage_seconds",
    "worker",
)
# fail_reason of a trial whose model was trained (or scored) and failed: a result, counted as done,
# analysed as failed. Every other reason (crash, interrupted, duplicate, out of band, ...) is a
# stop, not a result.
TRAINED_FAILURES = frozenset({"diverged", "oom", "error"})


def make_record(
    space: str,
    config: Mapping[str, Any],
    params: int,
    flops: int,
    acts: int,
    resolution: int | tuple[int, int],
    index: int | None = None,
) -> dict[str, Any]:
    """The record of a config (its dict, `config.to_dict()`) drawn from or proposed in `space`, with
    its complexity and the resolution where that was counted: what `nas sample --dry-run` writes and
    what a trial keeps (``index`` first for a sample's records)."""
    head: dict[str, Any] = {} if index is None else {"index": index}
    return {
        **head,
        "space": space,
        "params": params,
        "flops": flops,
        "acts": acts,
        "resolution": resolution,
        **config,
    }


def config_body(record: Mapping[str, Any]) -> dict[str, Any]:
    """The config part of a record: without its bookkeeping, and for AnyNet records (no "kind")
    without the reference resolution, which AnyNet configs do not have (other kinds keep it:
    MBConv's is a field)."""
    skip = BOOKKEEPING_KEYS | ({"resolution"} if "kind" not in record else set())
    return {k: v for k, v in record.items() if k not in skip}


def config_json(record: Mapping[str, Any]) -> str | None:
    """The config of a record as compact JSON (the `config` column of an export; `spaces.get_config`
    reads it back, or the whole row); None for an empty record."""
    body = config_body(record)
    return json.dumps(body, separators=(",", ":")) if body else None


def config_key(record: Mapping[str, Any]) -> str:
    """The identity of the network a record (or a config's dict) describes: equal exactly when the
    configs are. Provenance that does not change the network is left out (RegNet's d, w0, wa, wm:
    two settings can give one network; a zoo name)."""
    body = {k: v for k, v in config_body(record).items() if k not in ("regnet", "name")}
    return hashlib.sha1(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()[:16]


def stage_fields_of(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """STAGE_FIELDS, then any other family's stage fields in order of appearance."""
    fields = list(STAGE_FIELDS)
    for r in records:
        for stage in r.get("stages") or []:
            fields += [k for k in stage if k not in fields]
    return fields


def flatten_record(
    record: Mapping[str, Any],
    stage_fields: Sequence[str] = STAGE_FIELDS,
    num_stages: int | None = None,
) -> dict[str, Any]:
    """A record as flat columns: params, flops, acts, ``{field}_{i}`` for each stage field and stage
    i (1-based; None past the record's stages, up to `num_stages`), block, se_ratio, stem_width, and
    RegNet's d, w0, wa, wm (None when the record has none)."""
    stages = record.get("stages") or []
    count = len(stages) if num_stages is None else num_stages
    row: dict[str, Any] = {key: record.get(key) for key in ("params", "flops", "acts")}
    for f in stage_fields:
        for i in range(count):
            row[f"{f}_{i + 1}"] = stages[i].get(f) if i < len(stages) else None
    for key in ("block", "se_ratio", "stem_width"):
        row[key] = record.get(key)
    regnet = record.get("regnet") or {}
    for key in REGNET_FIELDS:
        row[key] = regnet.get(key)
    return row
