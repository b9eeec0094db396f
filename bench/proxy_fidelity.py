"""Benchmark: how well the proxy schedule ranks models (Spearman correlations), and what it costs.

    .venv/bin/python bench/proxy_fidelity.py [--space anynetx_e] [-n 32] [--epochs 1] [--train-size 10000]
                                             [--longer 4] [--csv results/proxy_fidelity.csv]
    # on 2 cores: two shards of one thread each (no thread oversubscription), then the summary
    bench/proxy_fidelity.py --lr 0.2 --threads 1 --shard 0/2 --csv a.csv & \
    bench/proxy_fidelity.py --lr 0.2 --threads 1 --shard 1/2 --csv b.csv; wait
    bench/proxy_fidelity.py --summarize a.csv b.csv

Draws n models (seeded, the space's default flops band), trains each with the proxy schedule at seed 0
and seed 1 and with a schedule `--longer` times longer (epochs x longer), and prints the Spearman rank
correlation between the default and the longer schedule, and between the two seeds, plus the time per
model and the projected time of `nas sample -n 500`. Per-model results go to the CSV after every model;
re-running with the same CSV skips the models it already holds (training is seeded, so they would repeat).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import pandas as pd
from scipy.stats import spearmanr

from nas.data import load_dataset
from nas.trainer import Schedule, TrainingFailed, train
from spaces import get_config, get_space, sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="anynetx_e")
    parser.add_argument("-n", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--epochs", type=int, default=Schedule.epochs)
    parser.add_argument("--train-size", type=int, default=Schedule.train_size)
    parser.add_argument("--test-size", type=int, default=Schedule.test_size)
    parser.add_argument("--lr", type=float, default=Schedule.lr)
    parser.add_argument("--longer", type=int, default=4)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    parser.add_argument("--csv", default=None)
    parser.add_argument("--shard", default="0/1", help="K/M: train models K, K+M, K+2M, ... (parallel runs)")
    parser.add_argument("--summarize", nargs="+", metavar="CSV", help="only print the figures of these CSVs")
    args = parser.parse_args()
    if args.summarize:
        frames = pd.concat([pd.read_csv(f) for f in args.summarize])
        summarize(frames.drop_duplicates("index").sort_values("index"), args.longer)
        return
    k, m = (int(x) for x in args.shard.split("/"))

    dataset = load_dataset(args.dataset)
    base = Schedule(epochs=args.epochs, train_size=args.train_size, test_size=args.test_size, lr=args.lr)
    long = dataclasses.replace(base, epochs=base.epochs * args.longer)
    records = sample(get_space(args.space), args.n, seed=args.seed).records
    rows = pd.read_csv(args.csv).to_dict("records") if args.csv and os.path.exists(args.csv) else []
    done = {int(r["index"]) for r in rows}
    for i, record in enumerate(records):
        if i % m != k or i in done:
            continue
        cfg = get_config(record)
        row = {"index": i, "flops": record["flops"], "params": record["params"]}
        for name, schedule, seed in (("base_s0", base, 0), ("base_s1", base, 1), ("long_s0", long, 0)):
            start = time.perf_counter()
            try:
                result = train(cfg, dataset, schedule, seed=seed, device=args.device,
                               threads=args.threads, measure_latency=False)
                row[name] = result.error
            except TrainingFailed as e:
                row[name] = 1.0
                row[f"{name}_failed"] = e.reason
            row[f"{name}_seconds"] = time.perf_counter() - start
        rows.append(row)
        if args.csv:  # after every model, so an interrupted run keeps what it measured
            pd.DataFrame(rows).to_csv(args.csv, index=False)
        print(f"[{i + 1}/{args.n}] errors base {row['base_s0']:.3f} / seed1 {row['base_s1']:.3f} / "
              f"{args.longer}x {row['long_s0']:.3f}  ({row['base_s0_seconds']:.1f} s base)", flush=True)
        if len(rows) >= 8 and len(rows) % 4 == 0:  # running figures, to stop a hopeless schedule early
            part = pd.DataFrame(rows)
            print(f"  so far: Spearman vs {args.longer}x {spearmanr(part['base_s0'], part['long_s0']).statistic:.3f}, "
                  f"seeds {spearmanr(part['base_s0'], part['base_s1']).statistic:.3f}", flush=True)
    print(f"schedule: {base.epochs} epoch(s) x {base.train_size} images, batch {base.batch_size}, lr {base.lr}; "
          f"{args.longer}x = {long.epochs} epochs; {args.space}, n={args.n}, {args.dataset}")
    summarize(pd.DataFrame(rows), args.longer)


def summarize(df: pd.DataFrame, longer: int) -> None:
    rho_long = spearmanr(df["base_s0"], df["long_s0"]).statistic
    rho_seed = spearmanr(df["base_s0"], df["base_s1"]).statistic
    per_model = df["base_s0_seconds"].median()
    print(f"models: {len(df)}")
    print(f"Spearman default vs {longer}x longer: {rho_long:.3f}")
    print(f"Spearman seed 0 vs seed 1: {rho_seed:.3f}")
    print(f"mean error {df['base_s0'].mean():.3f} (default), {df['long_s0'].mean():.3f} ({longer}x)")
    print(f"median time per model {per_model:.1f} s (as run) -> 500 models {500 * per_model / 3600:.2f} h")


if __name__ == "__main__":
    main()
