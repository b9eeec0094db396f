"""Benchmark: the cost of the training-free (zero-cost) scores, per score and per model, and of a
training-free sweep.

    .venv/bin/python bench/scores.py [--spaces anynetx_e] [--per-space 20] [--threads 1]
                                     [--batch-size 64] [--out scores.jsonl]
                                     [--sweep 500 --workers 1] [--json]

For the first `--per-space` configs of each space's seed-0 sample (what `nas sample --space S`
trains: the RegNet paper's 360-400 MF band at 224 px), adapted to Fashion-MNIST as the trainer
adapts them: the time to build and initialise the model as the trainer does, then each score of
nas.scores alone on that model, and all of them together (nas.scores.score_config: build + one
shared forward pass + synflow), as wall and CPU seconds on `--threads` torch threads. CPU seconds
are what the process itself used: on a machine shared with other jobs they stay close to the
uncontended cost while wall seconds grow.

--out writes one JSON line per model (space, index, params, flops, score_<name>,
score_<name>_seconds, build_seconds): the `scores.jsonl` that bench/proxy_fidelity.py compares with
the ground truth. --sweep N times `nas sample --space SPACE -n N --score naswot --workers K` (a
fresh study in a temporary journal), the whole command as a subprocess (torch import included) and
the sweep as it reports itself.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def score_models(spaces: list[str], per_space: int, dataset: str, batch_size: int) -> list[dict]:
    import torch

    from nas.datasets import load_dataset
    from nas.scores import SCORES, score_batch, score_config, score_model, scored_model
    from spaces import get_config, get_space, sample

    data = load_dataset(dataset)
    x, y = score_batch(data, batch_size, seed=0)
    x = x.contiguous(memory_format=torch.channels_last)
    rows = []
    for space in spaces:
        for index, record in enumerate(sample(get_space(space), per_space, seed=0).records):
            cfg = get_config(record)
            row = {
                "space": space,
                "index": index,
                "params": record["params"],
                "flops": record["flops"],
            }
            model, row["build_seconds"], row["build_cpu"] = timed(
                lambda cfg=cfg: scored_model(cfg, data, seed=0).to(
                    memory_format=torch.channels_last
                )
            )
            for name in SCORES:
                value, wall, cpu = timed(
                    lambda name=name, model=model: score_model(model, x, y, [name])[name]
                )
                row.update(
                    {
                        f"score_{name}": value,
                        f"score_{name}_seconds": wall,
                        f"score_{name}_cpu": cpu,
                    }
                )
            together, row["all_seconds"], row["all_cpu"] = timed(
                lambda cfg=cfg: score_config(cfg, data, seed=0, batch_size=batch_size, device="cpu")
            )
            assert all(
                together[k] == row[f"score_{k}"]
                or abs(together[k] - row[f"score_{k}"]) <= 1e-6 * abs(together[k])
                for k in SCORES
            ), (together, row)
            rows.append(row)
            print(
                f"{space} #{index}: "
                + ", ".join(f"{k} {row[f'score_{k}']:.4g}" for k in SCORES)
                + f"; all {row['all_seconds']:.2f} s",
                file=sys.stderr,
                flush=True,
            )
    return rows


def summarize(rows: list[dict]) -> dict:
    from nas.scores import SCORES

    out = {}
    for label, key in (
        [("build", "build")] + [(n, f"score_{n}") for n in SCORES] + [("all (with build)", "all")]
    ):
        wall = [r[f"{key}_seconds"] for r in rows]
        cpu = [r[f"{key}_cpu"] for r in rows]
        out[label] = {
            "median_ms": 1000 * statistics.median(wall),
            "mean_ms": 1000 * statistics.mean(wall),
            "max_ms": 1000 * max(wall),
            "median_cpu_ms": 1000 * statistics.median(cpu),
            "max_cpu_ms": 1000 * max(cpu),
        }
    return out


def time_sweep(space: str, n: int, workers: int, threads: int | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            str(Path(sys.executable).parent / "nas"),
            "sample",
            "--space",
            space,
            "-n",
            str(n),
            "--score",
            "naswot",
            "--workers",
            str(workers),
            "--storage",
            str(Path(tmp) / "free.journal"),
            "--device",
            "cpu",
            "--json",
        ] + (["--threads", str(threads)] if threads else [])
        start, used = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # the command and its workers
        cpu = after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime
        if proc.returncode != 0:
            raise SystemExit(f"`{' '.join(cmd)}` failed: {proc.stderr.strip()}")
        summary = json.loads(proc.stdout)
    return {
        "command": " ".join(["nas", *cmd[1:]]),
        "n": n,
        "workers": workers,
        "command_seconds": wall,
        "command_cpu_seconds": cpu,
        "sweep_seconds": summary["seconds"],
        "complete": summary["complete"],
        "best_naswot": summary["best_score"],
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spaces", default="anynetx_e")
    p.add_argument("--per-space", type=int, default=20)
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--out", default=None, help="write the per-model rows as JSON lines")
    p.add_argument(
        "--sweep",
        type=int,
        default=0,
        metavar="N",
        help="also time a training-free sweep of N models",
    )
    p.add_argument("--workers", type=int, default=1, help="workers of that sweep (default 1)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    rows = (
        score_models(args.spaces.split(","), args.per_space, args.dataset, args.batch_size)
        if args.per_space
        else []
    )
    result: dict = {
        "threads": args.threads,
        "batch_size": args.batch_size,
        "models": len(rows),
        "cpus": os.cpu_count(),
        "load_average": load_before,
    }
    if rows:
        result["per_model"] = summarize(rows)
    if args.out:
        keep = [
            {k: v for k, v in r.items() if not k.endswith("_cpu") and k not in ("all_seconds",)}
            for r in rows
        ]
        Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in keep))
    if args.sweep:
        result["sweep"] = time_sweep(
            args.spaces.split(",")[0],
            args.sweep,
            args.workers,
            args.threads if args.workers == 1 else None,
        )
    result["load_average_after"] = os.getloadavg()
    from nas.trainer import cpu_description

    result["cpu"] = cpu_description()
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{len(rows)} models, {args.threads} thread(s), batch {args.batch_size}, "
        f"CPU {result['cpu']}, load average {result['load_average'][0]:.1f} before / "
        f"{result['load_average_after'][0]:.1f} after"
    )
    for label, s in result.get("per_model", {}).items():
        print(
            f"  {label:<17} median {s['median_ms']:6.0f} ms  mean {s['mean_ms']:6.0f} ms  "
            f"max {s['max_ms']:6.0f} ms"
            f"   (CPU: median {s['median_cpu_ms']:6.0f} ms, max {s['max_cpu_ms']:6.0f} ms)"
        )
    if "sweep" in result:
        s = result["sweep"]
        print(
            f"  `{s['command']}`: {s['complete']}/{s['n']} ranked; "
            f"the sweep {s['sweep_seconds']:.1f} s, the whole command "
            f"{s['command_seconds']:.1f} s ({s['command_cpu_seconds']:.1f} CPU seconds)"
        )


if __name__ == "__main__":
    main()
