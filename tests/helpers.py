"""What several test files share: the repository root, the tiny training setup of the sweep tests,
and a stand-in trainer.

Test modules import it as a top-level module, like tests/pg_server.py and tests/model_counts.py
(`from helpers import DATA, fake_train`): pytest's default (prepend) import mode puts tests/ on
sys.path, since tests/ is no package. conftest.py holds the fixtures (pg_url, storage_url); modules
never import conftest.py itself.

The setup: 1 epoch over 256 synthetic training images of 28 px (of 512 drawn), tested on 128, models
under 30 MF at 224 px: a few seconds a model with the real trainer. A file that needs another value
(a bigger band, other sizes) keeps its own constant and says why.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from nas.trainer import Schedule, TrainResult, adapt_config
from spaces import Band, complexity

ROOT = Path(__file__).resolve().parents[1]  # the repository
SPACE = "anynetx_e"
DATA = "synthetic:512"
SCHEDULE = Schedule(epochs=1, batch_size=64, train_size=256, test_size=128)
BANDS = [Band("flops", None, 30e6)]
# the same setup as flags of `nas sample` / `nas search`
TRAIN_FLAGS = [
    "--dataset",
    DATA,
    "--train-size",
    "256",
    "--test-size",
    "128",
    "--batch-size",
    "64",
    "--device",
    "cpu",
    "--threads",
    "1",
]


def stand_in_result(cfg, dataset, error: float, steps: int = 4) -> TrainResult:
    """What the trainer would return for `cfg` on `dataset`, with the given error: its complexity at
    the training resolution and fixed figures for everything measured."""
    cx = complexity(adapt_config(cfg, dataset), dataset.resolution)
    return TrainResult(
        error=error,
        train_loss=1.0,
        train_seconds=0.01,
        images_per_second=1e4,
        latency_ms_b1=0.1,
        latency_ms_b64=1.0,
        epochs=1,
        steps=steps,
        device="cpu",
        precision="fp32",
        params=cx.params,
        flops=cx.flops,
        acts=cx.acts,
        history=[1.0],
    )


def fake_train(cfg, dataset, schedule, seed=0, device="cpu", threads=None):
    """A stand-in for the trainer where only the bookkeeping is under test: the complexity of the
    config at the training resolution, and an error that grows with the last stage's width
    (0.5 + width / 10,000).

    A module-level function of an importable module, so it pickles into the spawned workers of
    a sweep."""
    return stand_in_result(cfg, dataset, 0.5 + cfg.stages[-1].width / 1e4)


def ranked_train(cfg, dataset, schedule, seed=0, device="cpu", threads=None):
    """A stand-in whose error falls with the last stage's width (0.9 - width / 2,000): a known
    ranking for the analysis (`nas analyze`, `nas best`, `nas fit-regnet`) to find."""
    return stand_in_result(cfg, dataset, 0.9 - cfg.stages[-1].width / 2000, steps=1)


def storage_trials(storage, study=f"{SPACE}-s0"):
    """The trials of `study` in `storage` (a journal path or an RDB URL, as the commands
    take it)."""
    import optuna

    from nas.storage import open_storage

    return optuna.load_study(
        study_name=study, storage=open_storage(storage, create=False)
    ).get_trials()


def storage_snapshot(storage):
    """Everything a storage holds, to check that it was left untouched: a journal's bytes, or every
    row of every table of an RDB (SQLite, PostgreSQL)."""
    from nas.storage import parse_storage

    kind, target = parse_storage(storage)
    if kind == "journal":
        return Path(target).read_bytes()
    import sqlalchemy as sa

    if target.startswith(
        "postgresql://"
    ):  # SQLAlchemy 2.1 defaults to psycopg 3; this project installs psycopg2
        target = "postgresql+psycopg2://" + target[len("postgresql://") :]
    engine = sa.create_engine(target)
    try:
        with engine.connect() as conn:
            return {
                table: sorted(map(repr, conn.execute(sa.text(f'SELECT * FROM "{table}"')).all()))
                for table in sorted(sa.inspect(conn).get_table_names())
            }
    finally:
        engine.dispose()


def bench_module(name: str) -> ModuleType:
    """A script of bench/ imported as a module (bench/ is no package)."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """One JSON line per row, as the bench scripts write their run files."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
