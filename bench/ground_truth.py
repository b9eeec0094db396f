"""Ground truth of trained models: band models trained close to convergence, for judging proxies.

    # the committed ground truth (results/ground_truth/README.md gives its measured cost)
    .venv/bin/python bench/ground_truth.py --workers 2
    # the same 48 models under a proxy schedule, into a file of its own
    .venv/bin/python bench/ground_truth.py --workers 2 --train-size 5000 --lr 0.2 --augment \\
        --repeat 0 --out results/ground_truth/proxy_5k.jsonl

Draws `--per-space` models (sampling seed `--sample-seed`, each space's default band: the RegNet
paper's 360-400 MF at 224 px) from each of `--spaces`, exactly the first configs that
`nas sample --space S -n N --seed 0` would train, adapts them to the dataset as `nas sample` does,
trains each at training seeds 0..`--seeds`-1 (default 1: seed 0; the truth is the mean error over
them), and the first `--repeat` models of each space again at the next `--seeds` seeds (the
reproducibility of that mean; with one seed: seed 1). Every finished model is appended to `--out` as
one JSON line (config, reference complexity, schedule, error, times), so the command is resumable:
kill it, run it again with the same arguments, and it trains only what is missing; nothing finished
is repeated or lost. A line cut short by a kill is set aside in `OUT.torn` and reported. Rows record
their schedule, so one file never mixes schedules silently: a run whose schedule differs from the
file's refuses to start.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

from nas.schedule import Schedule
from spaces import get_space, sample

GROUND_TRUTH = Schedule(
    epochs=1, train_size=None, test_size=None, lr=0.5, augment=False, warmup=0.05, precision="bf16"
)
DEFAULT_OUT = "results/ground_truth/ground_truth.jsonl"


@dataclasses.dataclass(frozen=True)
class Task:
    space: str
    index: int  # position in the space's seeded sample
    seed: int  # training seed
    record: dict[str, Any]


def tasks(
    spaces: list[str],
    per_space: int,
    sample_seed: int,
    repeat: int,
    seeds: int = 1,
    first_seed: int = 0,
) -> list[Task]:
    """All runs: every model at training seeds 0..seeds-1 (the truth is their mean error), and the
    first `repeat` models of each space also at seeds seeds..2*seeds-1 (the reproducibility of that
    mean). Ordered so that a partial file is balanced over spaces and holds the seed-0 runs and
    the seed-1 repeats first (the one-seed study): a file of one seed grows into one of two.
    `first_seed` shifts every training seed (1: other seeds for the models a study trained at 0)."""
    records = {s: sample(get_space(s), per_space, seed=sample_seed).records for s in spaces}
    order: list[Task] = []
    for i in range(per_space):
        order += [Task(s, i, 0, records[s][i]) for s in spaces]
        if i == min(repeat, per_space) - 1:
            order += [Task(s, j, 1, records[s][j]) for j in range(repeat) for s in spaces]
    for seed in range(2 * seeds):  # then the truth's other seeds, then the repeats' seeds
        for i in range(per_space if seed < seeds else min(repeat, per_space)):
            order += [Task(s, i, seed, records[s][i]) for s in spaces]
    unique: dict[tuple[str, int, int], Task] = {}
    for t in order:
        unique.setdefault(
            (t.space, t.index, first_seed + t.seed),
            dataclasses.replace(t, seed=first_seed + t.seed),
        )
    return list(unique.values())


def load_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of an existing file; a last line cut short by a kill is moved to PATH.torn."""
    if not path.exists():
        return []
    data = path.read_bytes()
    cut = data.rfind(b"\n") + 1
    if cut < len(data):
        torn = path.with_name(path.name + ".torn")
        with open(torn, "ab") as f:
            f.write(data[cut:] + b"\n")
        with open(path, "r+b") as f:
            f.truncate(cut)
        print(
            f"ground_truth: the last line of {path} was cut short ({len(data) - cut} bytes); "
            f"set aside in {torn}",
            file=sys.stderr,
        )
    rows = []
    for n, line in enumerate(data[:cut].splitlines(), 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            sys.exit(f"ground_truth: {path} line {n} is damaged ({e}); repair or move the file")
    return rows


_DATA: dict[str, Any] = {}


def _init(dataset: str, threads: int) -> None:
    import torch

    from nas.datasets import load_dataset

    torch.set_num_threads(threads)
    _DATA["dataset"] = load_dataset(dataset)


def _run(args: tuple[Task, dict[str, Any], str]) -> dict[str, Any]:
    from nas.trainer import TrainingFailed, train
    from spaces import get_config

    task, schedule, device = args
    start = time.perf_counter()
    row: dict[str, Any] = {
        "space": task.space,
        "index": task.index,
        "seed": task.seed,
        "params": task.record["params"],
        "flops": task.record["flops"],
        "acts": task.record["acts"],
    }
    try:
        result = train(
            get_config(task.record),
            _DATA["dataset"],
            Schedule.from_dict(schedule),
            seed=task.seed,
            device=device,
            measure_latency=False,
        )
        row.update(
            error=result.error,
            train_loss=result.train_loss,
            train_seconds=round(result.train_seconds, 2),
            steps=result.steps,
            precision=result.precision,
            failed=None,
        )
    except TrainingFailed as e:
        row.update(error=1.0, failed=e.reason)
    row["seconds"] = round(time.perf_counter() - start, 2)
    row["schedule"] = schedule
    row["config"] = {
        k: v for k, v in task.record.items() if k not in ("index", "params", "flops", "acts")
    }
    row["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    return row


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", default=DEFAULT_OUT)
    p.add_argument("--spaces", default="anynetx_a,anynetx_e,regnetx")
    p.add_argument("--per-space", type=int, default=16)
    p.add_argument("--sample-seed", type=int, default=0)
    p.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="the first training seed (default 0); every run's seed is shifted by it",
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="training seeds per model; the truth is their mean (default 1)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=4,
        help="models per space trained again at the next --seeds seeds (default 4)",
    )
    p.add_argument(
        "--workers", type=int, default=2, help="processes (default 2), one thread each by default"
    )
    p.add_argument(
        "--threads", type=int, default=None, help="threads per process (default: cores / workers)"
    )
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--device", default="cpu")
    g = GROUND_TRUTH
    p.add_argument("--epochs", type=int, default=g.epochs)
    p.add_argument("--train-size", type=int, default=g.train_size, help="default: the whole split")
    p.add_argument("--batch-size", type=int, default=g.batch_size)
    p.add_argument("--lr", type=float, default=g.lr, help="at batch 128, scaled with the batch")
    p.add_argument("--warmup", type=float, default=g.warmup)
    p.add_argument("--label-smoothing", type=float, default=g.label_smoothing)
    p.add_argument("--augment", action="store_true", help="random crop + flip (default off)")
    p.add_argument("--precision", default=g.precision)
    args = p.parse_args(argv)

    schedule = dataclasses.replace(
        GROUND_TRUTH,
        epochs=args.epochs,
        train_size=args.train_size,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup=args.warmup,
        label_smoothing=args.label_smoothing,
        augment=args.augment,
        precision=args.precision,
    ).to_dict()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = load_rows(out)
    for row in rows:
        if row["schedule"] != schedule:
            sys.exit(
                f"ground_truth: {out} holds rows of another schedule ({row['schedule']}); "
                f"use another --out for {schedule}"
            )
    done = {(r["space"], r["index"], r["seed"]) for r in rows}
    todo = [
        t
        for t in tasks(
            args.spaces.split(","),
            args.per_space,
            args.sample_seed,
            args.repeat,
            args.seeds,
            args.first_seed,
        )
        if (t.space, t.index, t.seed) not in done
    ]
    total = len(done) + len(todo)
    print(
        f"ground_truth: {len(done)} of {total} runs in {out}; {len(todo)} to go with "
        f"{args.workers} worker(s)",
        flush=True,
    )
    if not todo:
        return
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.workers)
    start = time.perf_counter()
    ctx = mp.get_context("spawn")
    with (
        ctx.Pool(args.workers, initializer=_init, initargs=(args.dataset, threads)) as pool,
        open(out, "a") as f,
    ):
        for k, row in enumerate(
            pool.imap_unordered(_run, [(t, schedule, args.device) for t in todo]), 1
        ):
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
            elapsed = time.perf_counter() - start
            eta = elapsed / k * (len(todo) - k)
            print(
                f"[{len(done) + k}/{total}] {row['space']} #{row['index']} seed {row['seed']}: "
                f"error {row['error']:.4f} ({row['seconds']:.0f} s; about {eta / 60:.0f} min left)",
                flush=True,
            )


if __name__ == "__main__":
    main()
