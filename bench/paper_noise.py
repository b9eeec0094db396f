"""The paper study's run-to-run noise, and whether its runs reproduce (results/paper/).

    # the runs (resumable, one file; results/paper/README.md gives their measured cost)
    P="--spaces anynetx_a,anynetx_b,anynetx_c,anynetx_d,anynetx_e,regnetx,regnety --repeat 0 \\
       --train-size 5000 --lr 0.2 --warmup 0 --augment --precision bf16 --workers 2 --threads 1 \\
       --out results/paper/noise.jsonl"
    .venv/bin/python bench/ground_truth.py $P --per-space 10 --first-seed 1   # seed 1: the noise
    .venv/bin/python bench/ground_truth.py $P --per-space 2                   # seed 0: reproduction
    # the table (writes results/paper/noise.csv)
    .venv/bin/python bench/paper_noise.py [--dir results/paper] [--json]

The study trained every model once, at training seed 0, with `nas sample` (one torch thread a
worker). `bench/ground_truth.py` trains the first models of each space again with the same proxy
schedule through the same trainer: at seed 1 (the noise: how far one run of the same model moves),
and at seed 0 (the reproduction: a reader's rerun of the committed commands on this machine). For
each space, `analysis.repeatability` compares the seed-1 errors with the committed seed-0 ones: one
run's noise standard deviation, the Spearman correlation between the runs, and the reliability of a
run (the share of the space's spread of errors that belongs to the models, not to the run).

It also measures the fidelity of the study's own runs: the committed errors of the models that are
also in results/ground_truth/ (the first 16 of anynetx_a, anynetx_e and regnetx: the same configs)
against their true errors, as bench/proxy_fidelity.py does for its proxy files. That fidelity was
measured on runs of an earlier version of the trainer; this is the version the study ran.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from analysis.fidelity import Fidelity, fidelity, mean_over_seeds, read_runs
from analysis.repeatability import repeatability

STUDY_SEED = 0  # the training seed of every trial of the study (`nas sample --seed 0`)
NOISE_SEED = 1  # the seed the noise runs train the study's models at again
TRUTH = Path("results/ground_truth/ground_truth.jsonl")
TRUTH_SEEDS = 2  # the truth of a model: its mean error over training seeds 0 and 1
POOLED = "all (pooled)"  # every space's pairs; its spread includes the spaces' differences
STATISTICS = ("noise_sd", "spearman", "reliability", "mean_shift", "sweep_sd")  # noise.csv's order


def load_runs(folder: Path) -> pd.DataFrame:
    """noise.jsonl's runs, failed ones included (their `failed` says why)."""
    path = folder / "noise.jsonl"
    if not path.exists():
        sys.exit(f"paper_noise: {path} does not exist; the runs are in this script's docstring")
    return read_runs(path)


def committed(folder: Path) -> dict[str, pd.Series]:
    """Each space's committed errors by index (finished trials only)."""
    out = {}
    for p in sorted(folder.glob("*.parquet")):
        f = pd.read_parquet(p, columns=["index", "state", "error"])
        f = f[f["state"] == "COMPLETE"]
        out[p.stem] = f.set_index("index")["error"]
    return out


def reproduction(runs: pd.DataFrame, study: dict[str, pd.Series]) -> pd.DataFrame:
    """One row per rerun at the study's seed: its error (NaN when it failed), the committed one
    (NaN when the study has no finished trial of that model) and their difference."""
    again = runs[runs["seed"] == STUDY_SEED]
    out = pd.DataFrame(
        {
            "space": again["space"].to_numpy(),
            "index": again["index"].to_numpy(),
            "committed": [
                study[s].get(i, float("nan")) if s in study else float("nan")
                for s, i in zip(again["space"], again["index"], strict=True)
            ],
            "rerun": again["error"].where(again["failed"].isna()).to_numpy(),
        }
    )
    out["difference"] = out["rerun"] - out["committed"]
    return out


def tables(folder: Path, n_boot: int = 2000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(noise: one row per space with at least 4 models run at both seeds, and a pooled row;
    reproduction: one row per rerun at the study's seed)."""
    runs = load_runs(folder)
    study = committed(folder)
    repro = reproduction(runs, study)
    other = runs[(runs["seed"] == NOISE_SEED) & runs["failed"].isna() & runs["space"].isin(study)]
    rows = []
    pairs_all: list[tuple[float, float]] = []
    used: list[str] = []
    for space, group in other.groupby("space", sort=True):
        pairs = [
            (study[space][i], e)
            for i, e in zip(group["index"], group["error"], strict=True)
            if i in study[space].index
        ]
        if len(pairs) < 4:  # a file still growing, or failures: no statistic yet
            continue
        pairs_all += pairs
        used.append(space)
        rows.append(_row(space, pairs, study[space].tolist(), n_boot))
    if len(rows) > 1:
        sweep = [e for space in used for e in study[space]]
        rows.append(_row(POOLED, pairs_all, sweep, n_boot))
    columns = ["space", "models", "sweep_models"] + [
        f"{name}{end}" for name in STATISTICS for end in ("", "_low", "_high")
    ]
    return pd.DataFrame(rows, columns=columns), repro


def study_fidelity(folder: Path, truth: Path = TRUTH) -> Fidelity:
    """The study's committed errors against the ground truth, on the models both hold."""
    true = mean_over_seeds(read_runs(truth), range(TRUTH_SEEDS))["error"]
    study = committed(folder)
    pairs = [
        (space, e, study[space][i])
        for (space, i), e in true.items()
        if space in study and i in study[space].index
    ]
    spaces, t, p = zip(*pairs, strict=True) if pairs else ((), (), ())
    return fidelity(t, p, spaces)


def _row(space: str, pairs: list[tuple[float, float]], sweep: list[float], n_boot: int) -> dict:
    first, second = zip(*pairs, strict=True)  # tables() passes 4 pairs or more
    r = repeatability(first, second, sweep, n_boot=n_boot)
    row: dict = {"space": space, "models": r.n, "sweep_models": r.sweep_n}
    for name in STATISTICS:
        iv = getattr(r, name)
        row.update({name: iv.estimate, f"{name}_low": iv.low, f"{name}_high": iv.high})
    return row


def markdown(noise: pd.DataFrame, repro: pd.DataFrame, truth: Fidelity | None = None) -> str:
    def iv(row: pd.Series, name: str, fmt: str) -> str:
        lo, hi = row[f"{name}_low"], row[f"{name}_high"]
        return f"{row[name]:{fmt}} ({lo:{fmt}} to {hi:{fmt}})"

    lines = [
        "| space | models run twice | one run's noise sd | Spearman, run 1 vs 2 | "
        "space's error sd | reliability of one run | mean shift |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, r in noise.iterrows():
        lines.append(
            f"| {r['space']} | {r['models']} | {iv(r, 'noise_sd', '.4f')} | "
            f"{iv(r, 'spearman', '.2f')} | {r['sweep_sd']:.4f} ({r['sweep_models']} models) | "
            f"{iv(r, 'reliability', '.2f')} | {iv(r, 'mean_shift', '+.4f')} |"
        )
    if (noise["space"] == POOLED).any():
        lines += [
            "",
            f"{POOLED}: every space's pairs together, against all their errors: that spread "
            "includes the differences between the spaces, so its reliability is not one space's.",
        ]
    if len(repro):
        done = repro.dropna()
        same = int((done["difference"] == 0).sum())
        failed = int(repro["rerun"].isna().sum())
        lines += [
            "",
            f"Reruns at the study's seed: {same} of {len(done)} errors identical to the committed "
            f"ones; largest difference {done['difference'].abs().max():.4f}"
            + (f"; {failed} rerun(s) failed" if failed else "")
            + ".",
        ]
    if truth is not None:
        rho, tau = truth.spearman, truth.kendall
        lines += [
            "",
            f"The study's own runs against the ground truth ({truth.n} models in both): Spearman "
            f"{rho.estimate:.2f} ({rho.low:.2f} to {rho.high:.2f}), Kendall {tau.estimate:.2f} "
            f"({tau.low:.2f} to {tau.high:.2f}), best quarter {truth.top_overlap:.2f}, spaces' "
            f"means {'in' if truth.space_order else 'not in'} the truth's order.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dir", default="results/paper", help="the study's folder")
    p.add_argument("--truth", default=str(TRUTH), help="the ground truth (bench/ground_truth.py)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    folder = Path(args.dir)
    noise, repro = tables(folder)
    truth = study_fidelity(folder, Path(args.truth)) if Path(args.truth).exists() else None
    noise.to_csv(folder / "noise.csv", index=False, float_format="%.6g")
    if args.json:
        print(
            json.dumps(
                {
                    "noise": noise.to_dict("records"),
                    "reproduction": repro.to_dict("records"),
                    "truth": truth.to_dict() if truth else None,
                },
                indent=2,
            )
        )
    else:
        print(markdown(noise, repro, truth), end="")


if __name__ == "__main__":
    main()
