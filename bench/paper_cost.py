"""What the paper study (results/paper/) cost on this machine, and an estimate for one GPU.

    .venv/bin/python bench/paper_cost.py [--dir results/paper] [--json]

Measured: each space's wall time (the sum of its rounds in runs.tsv, `bench/paper_runs.sh`), its
models, and the seconds a model spent training (`train_seconds`, one worker). Estimated: the study's
arithmetic from each model's analytic multiply-adds at the training resolution (`train_flops`): per
model 3 x train_flops x training images (forward and backward) + train_flops x test images, as FLOPs
(2 per multiply-add); and the time on one GPU at two assumed rates, labelled as estimates: the
arithmetic alone at an H200's dense bf16 peak (a floor no run reaches), and a launch-bound step time
(tiny 28 px models run far below any peak: one kernel launch per layer and pass dominates).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pandas as pd

H200_BF16_PEAK = 989e12  # dense bf16 FLOP/s, NVIDIA's data sheet (an assumption, not measured)
LAUNCH_STEP_S = 0.015  # assumed seconds a training step of these models takes when launch-bound
MODEL_OVERHEAD_S = 2.0  # assumed seconds a model spends outside the steps (build, scores, test)


def space_costs(folder: Path) -> pd.DataFrame:
    """One row per space of the study: models, wall seconds, training seconds, arithmetic."""
    walls: dict[str, float] = {}
    timed: dict[str, int] = {}  # models the finished rounds trained (a stopped round is not timed)
    runs = folder / "runs.tsv"
    if runs.exists():
        with runs.open(newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                walls[row["space"]] = walls.get(row["space"], 0.0) + float(row["seconds"])
                timed[row["space"]] = max(timed.get(row["space"], 0), int(row["n"]))
    rows = []
    for p in sorted(folder.glob("*.parquet")):
        f = pd.read_parquet(p)
        f = f[f["state"] == "COMPLETE"]
        if f.empty:
            continue
        train_images = f["steps"] * 128  # batch 128: the schedule's training images a model
        flops = 2 * f["train_flops"] * (3 * train_images + 10_000)  # + the 10,000 test images
        rows.append(
            {
                "space": p.stem,
                "models": len(f),
                "wall_s": walls.get(p.stem),
                "wall_s_per_model": walls[p.stem] / timed[p.stem] if p.stem in walls else None,
                "train_s_median": float(f["train_seconds"].median()),
                "steps_median": float(f["steps"].median()),
                "tflop_per_model": float(flops.mean() / 1e12),
                "tflop": float(flops.sum() / 1e12),
            }
        )
    return pd.DataFrame(rows)


def gpu_estimate(costs: pd.DataFrame) -> dict[str, float]:
    """Seconds for the whole study on one GPU, at the two assumed rates (module docstring)."""
    models = float(costs["models"].sum())
    steps = float((costs["models"] * costs["steps_median"]).sum())
    return {
        "floor_s_at_bf16_peak": float(costs["tflop"].sum() * 1e12 / H200_BF16_PEAK),
        "launch_bound_s": steps * LAUNCH_STEP_S + models * MODEL_OVERHEAD_S,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dir", default="results/paper")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    costs = space_costs(Path(args.dir))
    if costs.empty:
        raise SystemExit(f"no finished models in {args.dir}/*.parquet")
    est = gpu_estimate(costs)
    if args.json:
        print(json.dumps({"spaces": costs.to_dict("records"), "gpu_estimate": est}))
        return
    print(costs.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    wall = costs["wall_s"].sum()
    print(
        f"\n{int(costs['models'].sum())} models, {wall / 3600:.2f} h of wall time here, "
        f"{costs['tflop'].sum():.0f} TFLOP of training and testing arithmetic"
    )
    print(
        f"ESTIMATE for one H200 (not measured): {est['floor_s_at_bf16_peak']:.1f} s at the dense "
        f"bf16 peak (a floor), about {est['launch_bound_s'] / 60:.0f} min launch-bound "
        f"({LAUNCH_STEP_S * 1e3:.0f} ms a step, {MODEL_OVERHEAD_S:.0f} s a model besides)"
    )


if __name__ == "__main__":
    main()
