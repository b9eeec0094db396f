"""The proxy's fidelity against the ground truth: table and plot from the committed files.

    .venv/bin/python bench/proxy_fidelity.py [--dir results/ground_truth]
                                             [--png results/proxy_fidelity.png]

Reads `ground_truth.jsonl` (bench/ground_truth.py: the trained models; the mean over training
seeds 0..`--truth-seeds`-1 is the truth, the repeats at the next seeds give its own
reproducibility), every `proxy_*.jsonl` in the same folder (the same models under a cheaper
schedule, written by bench/ground_truth.py --out) and `scores.jsonl` if present (training-free
scores of the same models). For each proxy: Spearman and Kendall against the truth with 95%
bootstrap intervals over models, the overlap of the best quarters, whether it orders the spaces'
mean true errors correctly, and its cost per model. Writes `fidelity.csv` beside the inputs and the
plot.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from analysis.errors import AnalysisError
from analysis.fidelity import KEY, fidelity, mean_over_seeds, read_runs


def schedule_label(schedule: dict) -> str:
    images = schedule.get("train_size") or 60_000
    parts = [f"{schedule['epochs']}x{images / 1000:g}k", f"lr {schedule['lr']:g}"]
    parts.append("aug" if schedule.get("augment") else "no aug")
    if schedule.get("batch_size", 128) != 128:
        parts.append(f"batch {schedule['batch_size']}")
    if schedule.get("label_smoothing"):
        parts.append(f"smoothing {schedule['label_smoothing']:g}")
    return ", ".join(parts)


def proxy_runs(runs: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """A proxy file's values per model: seed 0 alone, or, when every model of the file was trained
    at seeds 0..k-1 (k > 1), the mean over those seeds (its cost the summed seconds)."""
    seeds = sorted(int(s) for s in runs.seed.unique())
    k = len(seeds)
    models = runs.groupby(KEY).seed.nunique()
    if k > 1 and seeds == list(range(k)) and bool((models == k).all()):
        return f", mean of {k} seeds", mean_over_seeds(runs, range(k))
    return "", mean_over_seeds(runs, range(1))


def table(folder: Path, truth_seeds: int = 1) -> tuple[pd.DataFrame, dict]:
    """The fidelity table; the truth of a model is its mean error over training seeds
    0..truth_seeds-1, its reproducibility the Spearman of that against the mean over the next
    truth_seeds seeds (on the models that have them)."""
    gt = read_runs(folder / "ground_truth.jsonl")
    truth = mean_over_seeds(gt, range(truth_seeds))
    summary: dict = {
        "truth_seeds": truth_seeds,
        "models": len(truth),
        "median_error": float(truth.error.median()),
        "seconds_per_model": float(truth.seconds.mean()),
    }
    repeats = mean_over_seeds(gt, range(truth_seeds, 2 * truth_seeds))
    common = truth.index.intersection(repeats.index)
    if len(common) >= 4:
        f = fidelity(
            truth.loc[common, "error"], repeats.loc[common, "error"], [s for s, _ in common]
        )
        summary["seed_spearman"] = f.spearman.to_dict()
        summary["seed_models"] = len(common)
    rows = []
    proxies: list[tuple[str, pd.Series, float, float]] = []
    for path in sorted(folder.glob("proxy_*.jsonl")):
        runs = read_runs(path)
        suffix, df = proxy_runs(runs)
        if df.empty:  # no run at seed 0 yet
            continue
        schedule = runs.schedule.iloc[0]
        label = schedule_label(schedule) + suffix
        seeds = int(df.runs.iloc[0])
        images = (schedule.get("train_size") or 60_000) * schedule["epochs"] * seeds
        proxies.append((label, df.error, float(df.seconds.mean()), float(images)))
    scores_path = folder / "scores.jsonl"
    if scores_path.exists():
        sc = read_runs(scores_path).set_index(KEY)
        for col in [c for c in sc.columns if c.startswith("score_") and not c.endswith("_seconds")]:
            # scores are "higher is better": negate so that lower predicts a lower error
            seconds = float(sc[f"{col}_seconds"].mean()) if f"{col}_seconds" in sc else float("nan")
            proxies.append((f"{col[6:]} (training-free)", -sc[col], seconds, 0.0))
        for col in ("params", "flops"):
            if col in sc:
                proxies.append((f"{col}, more is better (baseline)", -sc[col], 0.0, 0.0))
    for label, values, seconds, images in proxies:
        idx = truth.index.intersection(values.index)
        if len(idx) < 4:
            continue
        try:
            f = fidelity(truth.loc[idx, "error"], values.loc[idx], [s for s, _ in idx])
        except AnalysisError as e:
            print(f"{label}: skipped ({e})")
            continue
        rows.append(
            {
                "proxy": label,
                "n": f.n,
                "seconds_per_model": seconds,
                "images_per_model": images,
                "spearman": f.spearman.estimate,
                "spearman_low": f.spearman.low,
                "spearman_high": f.spearman.high,
                "kendall": f.kendall.estimate,
                "kendall_low": f.kendall.low,
                "kendall_high": f.kendall.high,
                "top_quarter_overlap": f.top_overlap,
                "orders_spaces": f.space_order,
            }
        )
    summary["space_means"] = {
        s: float(v) for s, v in truth.groupby(level="space").error.mean().items()
    }
    return pd.DataFrame(rows), summary


def pick_default(df: pd.DataFrame, target: float = 0.8) -> tuple[pd.Series, bool]:
    """The rule for the default proxy, fixed before the schedules were run (issue 12): the cheapest
    trained schedule (training images seen per model, seeds included) whose Spearman against the
    truth is at least `target`; if none is, the one with the highest Spearman. (row, target met)."""
    trained = df[df.images_per_model > 0]
    if trained.empty:
        raise AnalysisError("no trained proxy in the table")
    good = trained[trained.spearman >= target]
    if not good.empty:
        return good.sort_values(["images_per_model", "spearman"], ascending=[True, False]).iloc[
            0
        ], True
    return trained.sort_values("spearman", ascending=False).iloc[0], False


def plot(df: pd.DataFrame, path: Path) -> None:
    """Left: every proxy and score against its measured seconds a model (log); right: the trained
    proxies against the training images a model (the cost that does not depend on the load), with
    the bar of 0.8."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, right) = plt.subplots(1, 2, figsize=(12.0, 4.6), width_ratios=[1, 1.25])
    for trained, marker in ((True, "o"), (False, "s")):
        part = df[df.proxy.str.contains("training-free|baseline") != trained]
        if part.empty:
            continue
        x = part.seconds_per_model.clip(lower=1e-3)
        yerr = [part.spearman - part.spearman_low, part.spearman_high - part.spearman]
        label = "trained proxy" if trained else "training-free / baseline"
        ax.errorbar(x, part.spearman, yerr=yerr, fmt=marker, capsize=3, label=label)
        if not trained:
            for xi, yi, name in zip(x, part.spearman, part.proxy, strict=True):
                ax.annotate(name.split(" (")[0].split(",")[0], (xi, yi), textcoords="offset points",
                            xytext=(4, 4), fontsize=7)  # fmt: skip
            continue
        # trained proxies: their labels on the right panel, spread apart vertically
        right.errorbar(part.images_per_model, part.spearman, yerr=yerr, fmt=marker, capsize=3)
        order = part.sort_values("spearman")
        placed: list[float] = []
        for _, row in order.iterrows():
            y = max([row.spearman, *[p + 0.06 for p in placed]])
            placed.append(y)
            right.annotate(row.proxy.replace("1x", ""), (row.images_per_model, row.spearman),
                           xytext=(row.images_per_model * 1.15, y), fontsize=7,
                           arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "grey"})  # fmt: skip
    for a in (ax, right):
        a.set_xscale("log")
        a.axhline(0.8, color="grey", lw=0.8, ls="--")
        a.set_ylabel("Spearman vs ground truth (95% CI)")
    ax.set_xlabel("cost per model (s of one CPU thread, as measured)")
    ax.legend(loc="lower right", fontsize=8)
    right.set_xlabel("training images a model (seeds included)")
    right.set_xlim(right=right.get_xlim()[1] * 6)
    right.set_title("trained proxies", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dir", default="results/ground_truth")
    p.add_argument("--png", default="results/proxy_fidelity.png")
    p.add_argument(
        "--truth-seeds",
        type=int,
        default=2,
        help="the truth is the mean error over this many training seeds (default 2, as committed)",
    )
    args = p.parse_args(argv)
    folder = Path(args.dir)
    df, summary = table(folder, args.truth_seeds)
    print(json.dumps(summary, indent=1))
    if df.empty:
        print("no proxy or score file with at least 4 of the ground truth's models yet")
        return
    df.to_csv(folder / "fidelity.csv", index=False)
    print(
        df.to_markdown(index=False, floatfmt=".3f")
        if _has_tabulate()
        else df.to_string(index=False)
    )
    plot(df, Path(args.png))
    row, met = pick_default(df)
    print(
        f"default by the rule: {row.proxy} (Spearman {row.spearman:.2f}, "
        f"{row.spearman_low:.2f}-{row.spearman_high:.2f}; "
        + ("the cheapest at or above 0.8)" if met else "none reaches 0.8: the best)")
    )


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
