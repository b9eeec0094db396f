"""Benchmark: sweeps past one machine — worker scaling, storage overhead, and the largest study.

    .venv/bin/python bench/cluster.py [--n 8] [--bookkeeping 100] [--large 10000]
                                      [--storages journal,postgres] [--postgres URL]
                                      [--sections scaling,overhead,large] [--json]

Prints (1) throughput with 1 and 2 workers on this machine (`nas sample --workers K --threads 1`:
real proxy training on a tiny schedule, one torch thread per worker so that K counts processes;
trials per minute, and each trial's training seconds next to its storage seconds); (2) storage
overhead per trial with an instant stand-in trainer: everything a trial costs besides training, and
the storage operations and seconds per trial (queueing, claiming, checks, heartbeats, the
result); (3) the largest study: LARGE complete trials written through the storage API with the user
attrs a real sweep records, then the wall time of `nas export` (Parquet) and `nas analyze --no-efit`
on it (goal: 10,000 trials in under 30 s together), and of the default `nas analyze`, which also
fits RegNet parameters to every model.

PostgreSQL: --postgres URL uses an existing database; otherwise a throw-away server is started on
loopback (tests/pg_server.py, Debian's binaries) and stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # pg_server

import optuna  # noqa: E402
from optuna.distributions import IntDistribution  # noqa: E402
from optuna.trial import FrozenTrial, TrialState  # noqa: E402

from nas.storage import RetryingStorage, open_storage  # noqa: E402
from nas.study import bands_json, configs_digest  # noqa: E402
from nas.sweep import run_sweep  # noqa: E402
from nas.trainer import Schedule, TrainResult, adapt_config  # noqa: E402
from spaces import Band, complexity, get_space, sample  # noqa: E402

NAS = str(Path(sys.executable).parent / "nas")
SPACE = "anynetx_e"
TINY = Schedule(epochs=1, batch_size=128, train_size=1024, test_size=512)
TINY_BANDS = [Band("flops", None, 100e6)]


def dataset_name() -> str:
    return (
        "fashion-mnist" if Path("/usr/share/datasets/fashion-mnist").exists() else "synthetic:2048"
    )


@contextlib.contextmanager
def postgres(url: str | None):
    """Yields a function that makes a fresh database URL (on `url`'s server, or on a
    throw-away one)."""
    if url:
        base = url.rsplit("/", 1)[0]

        def fresh() -> str:
            import psycopg2

            name = f"nas_bench_{random.getrandbits(40):x}"
            with contextlib.closing(psycopg2.connect(url)) as conn:
                conn.autocommit = True
                conn.cursor().execute(f'CREATE DATABASE "{name}"')
            return f"{base}/{name}"

        yield fresh
        return
    from pg_server import PostgresServer

    with PostgresServer() as server:
        yield server.create_database


def storage_url(kind: str, tmp: Path, fresh_pg) -> str:
    return (
        fresh_pg()
        if kind == "postgres"
        else str(tmp / f"{kind}-{random.getrandbits(32):x}.journal")
    )


def trial_span(storage: str, study: str) -> tuple[list[FrozenTrial], float]:
    st = open_storage(storage)
    trials = st.get_all_trials(st.get_study_id_from_name(study))
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    start = min(t.datetime_start.timestamp() for t in done)
    end = max(t.datetime_complete.timestamp() for t in done)
    return done, end - start


# --- (1) scaling ----------------------------------------------------------------------------------
def scaling(n: int, storages: list[str], tmp: Path, fresh_pg) -> list[dict]:
    rows = []
    for kind in storages:
        for workers in (1, 2):
            url = storage_url(kind, tmp, fresh_pg)
            start = time.perf_counter()
            summary = run_sweep(
                SPACE,
                n,
                bands=TINY_BANDS,
                dataset=dataset_name(),
                schedule=TINY,
                storage=url,
                workers=workers,
                device="cpu",
                threads=1,
                progress=False,
                heartbeat_interval=2.0,
                grace_period=60.0,
            )
            wall = time.perf_counter() - start
            done, span = trial_span(url, summary.study)
            rows.append(
                {
                    "storage": kind,
                    "workers": workers,
                    "trials": len(done),
                    "wall_s": round(wall, 1),
                    "span_s": round(span, 1),
                    "trials_per_min": round(len(done) / span * 60, 2),
                    "trials_per_min_end_to_end": round(len(done) / wall * 60, 2),
                    "train_s_median": round(
                        statistics.median(t.user_attrs["train_seconds"] for t in done), 2
                    ),
                    "storage_s_median": round(
                        statistics.median(t.user_attrs["storage_seconds"] for t in done), 4
                    ),
                    "trial_s_median": round(
                        statistics.median(
                            (t.datetime_complete - t.datetime_start).total_seconds() for t in done
                        ),
                        2,
                    ),
                }
            )
            print(
                f"  {kind:<9} workers {workers}: {rows[-1]['trials_per_min']:6.2f} trials/min "
                f"({len(done)} trials in {span:.1f} s of work, {wall:.1f} s with start-up)",
                flush=True,
            )
    return rows


# --- (2) overhead ---------------------------------------------------------------------------------
def instant_train(cfg, dataset, schedule, seed=0, device="cpu", threads=None):
    cx = complexity(adapt_config(cfg, dataset), dataset.resolution)
    return TrainResult(
        error=random.random(),
        train_loss=1.0,
        train_seconds=0.0,
        images_per_second=1e4,
        latency_ms_b1=0.1,
        latency_ms_b64=1.0,
        epochs=1,
        steps=8,
        device="cpu",
        precision="fp32",
        params=cx.params,
        flops=cx.flops,
        acts=cx.acts,
        history=[2.3, 2.0, 1.8, 1.7, 1.6, 1.5, 1.45, 1.4],
    )


def bookkeeping(n: int, storages: list[str], tmp: Path, fresh_pg) -> list[dict]:
    """One worker in this process, an instant trainer: everything a trial costs besides training,
    and all the storage operations of the sweep (queueing, claiming, checks, heartbeats, the result)
    per trial."""
    rows = []
    for kind in storages:
        url = storage_url(kind, tmp, fresh_pg)
        calls0, seconds0 = RetryingStorage.totals()
        start = time.perf_counter()
        summary = run_sweep(
            SPACE,
            n,
            bands=TINY_BANDS,
            dataset="synthetic:256",
            schedule=TINY,
            storage=url,
            workers=1,
            device="cpu",
            progress=False,
            train_fn=instant_train,
            heartbeat_interval=2.0,
            grace_period=60.0,
        )
        wall = time.perf_counter() - start
        calls1, seconds1 = RetryingStorage.totals()
        done, span = trial_span(url, summary.study)
        per_trial = [t.user_attrs["storage_seconds"] for t in done]
        rows.append(
            {
                "storage": kind,
                "trials": len(done),
                "wall_s": round(wall, 2),
                "trial_s_mean": round(span / len(done), 4),
                "storage_calls_per_trial": round((calls1 - calls0) / len(done), 1),
                "storage_s_per_trial": round((seconds1 - seconds0) / len(done), 4),
                "storage_s_before_result_median": round(statistics.median(per_trial), 4),
            }
        )
        print(
            f"  {kind:<9} {len(done)} trials with an instant trainer: "
            f"{span / len(done) * 1000:.0f} ms per trial, "
            f"of which {(seconds1 - seconds0) / len(done) * 1000:.0f} ms in "
            f"{(calls1 - calls0) / len(done):.0f} storage operations",
            flush=True,
        )
    return rows


# --- (3) the largest study ------------------------------------------------------------------------
def make_large_study(url: str, n: int, seed: int = 0) -> tuple[str, float]:
    """A `nas sample` study of `n` complete trials written through the storage API, each with the
    user attrs and param a real sweep records (config record, complexity, training metrics, history,
    worker, ...)."""
    space = get_space(SPACE)
    bands = [Band("flops", 360e6, 400e6)]
    records = sample(space, n, seed=seed, bands=bands).records
    name = f"{SPACE}-s{seed}"
    storage = open_storage(url)
    study = optuna.create_study(storage=storage, study_name=name, direction="minimize")
    spec = {
        "kind": "sample",
        "space": SPACE,
        "seed": seed,
        "n": n,
        "bands": bands_json(bands),
        "dataset": "fashion-mnist",
        "schedule": Schedule().to_dict(),
        "configs": configs_digest(records),
        "ready": True,
    }
    for key, value in spec.items():
        study.set_user_attr(key, value)
    rng = random.Random(seed)
    dist = IntDistribution(0, n - 1)
    start = time.perf_counter()
    t0 = time.time() - 3600
    for i, rec in enumerate(records):
        begin = t0 + i * 0.3
        error = min(0.95, max(0.05, rng.gauss(0.3, 0.08)))
        attrs = {
            "index": i,
            "record": rec,
            "params": rec["params"],
            "flops": rec["flops"],
            "acts": rec["acts"],
            "worker": f"node-{i % 8}:4026531836:{1000 + i % 8}",
            "heartbeat": begin + 9.5,
            "train_params": int(rec["params"] * 0.1),
            "train_flops": int(rec["flops"] * 0.02),
            "train_acts": int(rec["acts"] * 0.02),
            "train_resolution": 28,
            "error": error,
            "train_loss": error * 2.5,
            "train_seconds": 9.0 + rng.random(),
            "images_per_second": 1100.0,
            "latency_ms_b1": 3.1,
            "latency_ms_b64": 41.0,
            "epochs": 1,
            "steps": 78,
            "device": "cuda:0",
            "history": [round(2.3 - 0.015 * s + rng.random() * 0.05, 4) for s in range(0, 78, 4)],
            "storage_seconds": 0.02,
        }
        from datetime import datetime

        trial = FrozenTrial(
            number=i,
            state=TrialState.COMPLETE,
            value=error,
            values=None,
            datetime_start=datetime.fromtimestamp(begin),
            datetime_complete=datetime.fromtimestamp(begin + 10),
            params={"index": i},
            distributions={"index": dist},
            user_attrs=attrs,
            system_attrs={},
            intermediate_values={},
            trial_id=i,
        )
        storage.create_new_trial(study._study_id, template_trial=trial)
        if (i + 1) % 2000 == 0:
            print(f"    wrote {i + 1:,} trials ({time.perf_counter() - start:.0f} s)", flush=True)
    return name, time.perf_counter() - start


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        argv, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.strip()[-500:]}")
    return time.perf_counter() - start


def large(n: int, storages: list[str], tmp: Path, fresh_pg, efit: bool) -> list[dict]:
    """Whole commands, start-up included: nas export to Parquet, nas analyze --no-efit of that file
    and straight from the storage, and (efit) the default nas analyze, which also fits RegNet
    parameters to every model."""
    rows = []
    for kind in storages:
        url = storage_url(kind, tmp, fresh_pg)
        study, write_s = make_large_study(url, n)
        out = tmp / f"{kind}.parquet"
        export_s = timed([NAS, "export", "--study", study, "--storage", url, "-o", str(out)])
        analyze_s = timed(
            [NAS, "analyze", f"{SPACE}={out}", "--no-efit", "--out", str(tmp / f"a-{kind}")]
        )
        analyze_study_s = timed(
            [
                NAS,
                "analyze",
                study,
                "--storage",
                url,
                "--no-efit",
                "--out",
                str(tmp / f"a-{kind}-study"),
            ]
        )
        row = {
            "storage": kind,
            "trials": n,
            "write_s": round(write_s, 1),
            "export_s": round(export_s, 2),
            "analyze_no_efit_s": round(analyze_s, 2),
            "analyze_study_no_efit_s": round(analyze_study_s, 2),
            "export_plus_analyze_s": round(export_s + analyze_s, 2),
            "journal_mb": round(Path(url).stat().st_size / 1e6, 1) if kind != "postgres" else None,
        }
        print(
            f"  {kind:<9} {n:,} trials: written in {write_s:.0f} s; nas export {export_s:.1f} s; "
            f"nas analyze --no-efit {analyze_s:.1f} s of the Parquet file, "
            f"{analyze_study_s:.1f} s straight from the storage",
            flush=True,
        )
        if efit and kind == storages[0]:
            row["analyze_default_s"] = round(
                timed([NAS, "analyze", f"{SPACE}={out}", "--out", str(tmp / f"a-{kind}-efit")]), 1
            )
            print(
                f"  {'':<9} nas analyze with the per-model RegNet fit (default): "
                f"{row['analyze_default_s']:.0f} s",
                flush=True,
            )
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=8, help="trials per scaling run (default 8)")
    parser.add_argument(
        "--bookkeeping", type=int, default=100, help="trials of the instant-trainer run"
    )
    parser.add_argument(
        "--large", type=int, default=10_000, help="trials of the largest study (default 10,000)"
    )
    parser.add_argument("--storages", default="journal,postgres")
    parser.add_argument(
        "--postgres", default=None, help="an existing PostgreSQL URL (default: a throw-away server)"
    )
    parser.add_argument("--sections", default="scaling,overhead,large")
    parser.add_argument(
        "--no-efit-run", action="store_true", help="skip the default (e_fit) nas analyze run"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # clean up (the throw-away server) when stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    storages = [s for s in args.storages.split(",") if s]
    sections = set(args.sections.split(","))
    results: dict[str, object] = {
        "cpus": os.cpu_count(),
        "dataset": dataset_name(),
        "schedule": TINY.to_dict(),
    }
    with tempfile.TemporaryDirectory() as tmp_dir, postgres(args.postgres) as fresh_pg:
        tmp = Path(tmp_dir)
        if "scaling" in sections:
            print(
                f"(1) throughput, {args.n} {SPACE} models under 100 MF, 1 epoch x "
                f"{TINY.train_size} images of {dataset_name()}:",
                flush=True,
            )
            results["scaling"] = scaling(args.n, storages, tmp, fresh_pg)
        if "overhead" in sections:
            print(
                f"(2) bookkeeping per trial, {args.bookkeeping} trials, one worker, "
                "instant trainer:",
                flush=True,
            )
            results["overhead"] = bookkeeping(args.bookkeeping, storages, tmp, fresh_pg)
        if "large" in sections:
            print(f"(3) largest study, {args.large:,} complete trials:", flush=True)
            results["large"] = large(args.large, storages, tmp, fresh_pg, not args.no_efit_run)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
