"""Benchmark: rejection sampling with analytic complexity vs counting built models with fvcore.

    .venv/bin/python bench/sampling.py [--runs 5] [--fvcore-models 20]

Prints (1) the whole `nas sample --space anynetx_a -n 500 --dry-run` command, start-up included;
(2) candidates counted per second by the vectorized analytic counter, batched and one config at
    a time;
(3) candidates per second when each candidate is built and counted with fvcore at 224x224, and
    the ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from spaces import complexity, create_model, get_space
from spaces.measure import measure

NAS = str(Path(sys.executable).parent / "nas")


def whole_command(runs: int) -> dict:
    times, summary = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            start = time.perf_counter()
            proc = subprocess.run(
                [
                    NAS,
                    "sample",
                    "--space",
                    "anynetx_a",
                    "-n",
                    "500",
                    "--dry-run",
                    "--json",
                    "--out",
                    f"{tmp}/s.jsonl",
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            times.append(time.perf_counter() - start)
            summary = json.loads(proc.stderr.strip().splitlines()[-1])
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        **summary,
    }


def analytic_rates() -> dict:
    space = get_space("anynetx_a")
    batch = space.draw(np.random.default_rng(0), 200_000)
    start = time.perf_counter()
    batch.cost()
    batched = len(batch) / (time.perf_counter() - start)
    configs = [batch.config(i) for i in range(2000)]
    start = time.perf_counter()
    for cfg in configs:
        complexity(cfg)
    single = len(configs) / (time.perf_counter() - start)
    return {"batched_per_s": batched, "one_config_per_s": single}


def fvcore_rate(models: int) -> dict:
    batch = get_space("anynetx_a").draw(np.random.default_rng(0), models)
    start = time.perf_counter()
    for i in range(models):
        cfg = batch.config(i)
        assert measure(create_model(cfg), 224) == complexity(cfg)
    seconds = time.perf_counter() - start
    return {"models": models, "seconds": seconds, "per_s": models / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--fvcore-models", type=int, default=20)
    args = parser.parse_args()
    import torch

    print(f"machine: {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    cmd = whole_command(args.runs)
    print(
        f"nas sample --space anynetx_a -n 500 --dry-run: median {cmd['median_s']:.2f} s "
        f"(min {cmd['min_s']:.2f}, max {cmd['max_s']:.2f}, {args.runs} runs, start-up included); "
        f"sampler {cmd['seconds']:.3f} s for {cmd['candidates_tried']:,} candidates "
        f"({cmd['candidates_per_second']:,.0f}/s), {cmd['in_band']} in band"
    )
    rates = analytic_rates()
    print(
        f"analytic counting: {rates['batched_per_s']:,.0f} candidates/s batched, "
        f"{rates['one_config_per_s']:,.0f} configs/s one at a time"
    )
    fv = fvcore_rate(args.fvcore_models)
    print(
        f"fvcore on built models (224x224, build + trace): {fv['per_s']:.2f} candidates/s "
        f"({fv['models']} models in {fv['seconds']:.1f} s)"
    )
    print(
        f"ratio analytic/fvcore: {rates['batched_per_s'] / fv['per_s']:,.0f}x batched, "
        f"{rates['one_config_per_s'] / fv['per_s']:,.0f}x one at a time"
    )


if __name__ == "__main__":
    main()
