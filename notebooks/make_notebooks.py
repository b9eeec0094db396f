"""Write the notebooks of this folder from their cell sources, executed so they show their outputs:

    .venv/bin/python notebooks/make_notebooks.py

Keeping the cells here makes diffs readable; CI executes the written .ipynb files end to end again.
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

COMPARE = [
    new_markdown_cell("""# Is AnyNetX_E better than AnyNetX_A?

The RegNet paper's first question, asked of real proxy-trained sweeps committed under `results/`:
32 models of each space in the 360-400 MF band (at 224 px), trained on Fashion-MNIST with a short \
proxy
schedule. The commands that made them (see `results/README.md`):

```bash
nas sample --space anynetx_a -n 32 --lr 0.05 --train-size 4000 --test-size 2000 --workers 2 \\
    --storage results/example.journal
nas sample --space anynetx_e -n 32 --lr 0.05 --train-size 4000 --test-size 2000 --workers 2 \\
    --storage results/example.journal
nas export --study anynetx_a-s0 --storage results/example.journal -o results/example_anynetx_a.csv
nas export --study anynetx_e-s0 --storage results/example.journal -o results/example_anynetx_e.csv
```

With only 32 models per space the bands are wide: this notebook shows the method; a real comparison
uses n = 100-1000 (NDS). These two sweeps were drawn with this project's earlier sampling rule
(round(exp(U)/q)·q, before the samplers followed pycls' ceil rule, `results/README.md`): today the \
same
commands draw other configs."""),
    new_code_cell("""from pathlib import Path

import matplotlib.pyplot as plt

import analysis
from analysis.data import clean, load_frame

ROOT = Path.cwd() if (Path.cwd() / "results").exists() else Path.cwd().parent
frames = {name: clean(load_frame(ROOT / f"results/example_{name}.csv"), label=name).frame
          for name in ("anynetx_a", "anynetx_e")}
{k: (len(v), round(v.error.min(), 4), round(v.error.mean(), 4)) for k, v in frames.items()}"""),
    new_markdown_cell("## Error EDFs with 95% bootstrap bands"),
    new_code_cell("""def style(ax):
    ax.set_xlabel("error")
    ax.set_ylabel("cumulative prob.")
    ax.legend()
    ax.grid(alpha=0.3)


grid = analysis.error_grid(*(f.error.to_numpy() for f in frames.values()))
fig, ax = plt.subplots(figsize=(6, 4))
for name, f in frames.items():
    e = f.error.to_numpy()
    b = analysis.bootstrap_edf(e, grid, n_boot=500, seed=0)
    ax.plot(grid, b.edf, label=f"{name} (n={len(e)}, min={e.min():.3f}, mean={e.mean():.3f})")
    ax.fill_between(grid, b.lower, b.upper, alpha=0.2)
style(ax)
ks = analysis.ks_test(frames["anynetx_a"].error.to_numpy(), frames["anynetx_e"].error.to_numpy(), \
n_perm=500)
print(f"KS D = {ks.D:.3f}, permutation p = {ks.p_value:.3f}")"""),
    new_markdown_cell("""## Complexity-normalized comparison (NDS)

Weights that give both spaces the same flops distribution over the overlap of their ranges."""),
    new_code_cell("""flops = {k: f.flops.to_numpy() for k, f in frames.items()}
norm = analysis.normalize(flops, bins=4, metric="flops")
print("bins:", norm.bins.edges.round(-5), "left out:", norm.left_out)
a = frames["anynetx_a"][norm.inside["anynetx_a"]]
e = frames["anynetx_e"][norm.inside["anynetx_e"]]
ks_n = analysis.ks_test(a.error.to_numpy(), e.error.to_numpy(), \
a.flops.to_numpy(), e.flops.to_numpy(),
                        bins=norm.bins, n_perm=500)
print(f"normalized KS D = {ks_n.D:.3f}, p = {ks_n.p_value:.3f}")
fig, ax = plt.subplots(figsize=(6, 4))
for name, f in frames.items():
    kept = f[norm.inside[name]]
    ax.plot(grid, analysis.edf(kept.error.to_numpy(), grid, norm.weights[name]), \
label=f"{name} (normalized)")
style(ax)"""),
    new_markdown_cell("## Good parameter ranges and RegNet fits"),
    new_code_cell("""\
best = analysis.best_parameter_bootstrap(frames["anynetx_e"].width_4.to_numpy(),
                                        frames["anynetx_e"].error.to_numpy(), n_boot=2000, seed=0)
print("best final-stage width (bootstrap median, 95% interval):", best)
trend = analysis.population_trend(frames["anynetx_e"], top_k=8)
print(f"width trend of the 8 best AnyNetX_E models: u_j = {trend.w0:.1f} + {trend.wa:.1f} j \
(R2 {trend.r2:.2f})")
top = frames["anynetx_e"].nsmallest(1, "error").iloc[0]
widths = [int(top[f"width_{i}"]) for i in range(1, 5)]
depths = [int(top[f"depth_{i}"]) for i in range(1, 5)]
fit = analysis.fit_regnet(widths, depths)
print("best model (depth, width) per stage:", list(zip(depths, widths, strict=True)))
print(f"RegNet fit: d={fit.d} w0={fit.w0} wa={fit.wa:.2f} wm={fit.wm:.3f} \
e_fit={fit.e_fit:.3f}")"""),
    new_markdown_cell("## The full report (`nas analyze`)"),
    new_code_cell("""import json
import tempfile

out = Path(tempfile.mkdtemp())
summary = analysis.analyze(frames, out, bins=4, n_boot=300, n_perm=300, n_best=2000)
print(json.dumps(summary["spaces"], indent=1)[:800])
sorted(p.name for p in out.iterdir())"""),
]


PAPER = [
    new_markdown_cell("""# The RegNet paper's design-space progression, at proxy scale

Radosavovic et al. (2020) refine the AnyNetX design space step by step (A: free stages; B: shared \
bottleneck
ratio; C: shared group width; D: widths increase over stages; E: depths increase too) and then to \
RegNetX
(quantized linear widths) and RegNetY (+ squeeze-and-excitation), comparing each step's error \
distribution.
This notebook redraws those figures from the sweeps committed under `results/paper/` (150 models a \
space in
the 360-400 MF band at 224 px, each trained by this toolkit's default proxy on Fashion-MNIST; the \
commands and
their wall times are in `results/paper/README.md`) and tests each finding by the fixed rules of
`analysis/findings.py`. The proxy ranks models like a full epoch over all 60,000 images only in part
(Spearman in `results/ground_truth/`), so every statement here is about the proxy's errors: a \
finding that
does not reproduce is a result at this scale, not a refutation of the paper."""),
    new_code_cell("""from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import analysis
from analysis.data import clean, load_frame
from analysis.findings import design_columns, evaluate_findings, findings_markdown

ROOT = Path.cwd() if (Path.cwd() / "results").exists() else Path.cwd().parent
SPACES = ["anynetx_a", "anynetx_b", "anynetx_c", "anynetx_d", "anynetx_e", "regnetx", "regnety"]
raw = {s: load_frame(p) for s in SPACES if (p := ROOT / f"results/paper/{s}.parquet").exists()}
frames = {s: design_columns(clean(f, label=s).frame) for s, f in raw.items()}
pd.DataFrame({s: {"n": len(f), "mean error": round(f.error.mean(), 4),
                  "median error": round(f.error.median(), 4), "min error": round(f.error.min(), 4)}
              for s, f in frames.items()}).T"""),
    new_markdown_cell("""## 1. Error EDFs of AnyNetX A to E

The share of models (y) with error below x, each space with its 95% bootstrap band. A curve to the \
left and
above is a better space. Where two bands overlap over the whole range, this sample cannot tell the \
two apart;
the findings table (section 5) says which differences are significant."""),
    new_code_cell("""def edfs(names, title, ax):
    names = [s for s in names if s in frames]
    grid = analysis.error_grid(*(frames[s].error.to_numpy() for s in names))
    for s in names:
        e = frames[s].error.to_numpy()
        b = analysis.bootstrap_edf(e, grid, n_boot=1000, seed=0)
        mean = b.intervals["mean"]
        ax.plot(grid, b.edf, label=f"{s} (n={len(e)}, mean {mean.estimate:.3f} "
                                     f"[{mean.low:.3f}, {mean.high:.3f}])")
        ax.fill_between(grid, b.lower, b.upper, alpha=0.15)
        print(f"{s}: mean error {mean.estimate:.4f} (95% {mean.low:.4f}-{mean.high:.4f})")
    ax.set(xlabel="error", ylabel="cumulative prob.", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


fig, ax = plt.subplots(figsize=(7, 4.5))
edfs(SPACES[:5], "AnyNetX A-E: error EDFs with 95% bootstrap bands", ax)"""),
    new_markdown_cell("""## 2. AnyNetX_E against RegNetX and RegNetY

The paper finds RegNetX at least as good as AnyNetX_E with far fewer degrees of freedom, and \
RegNetY
(squeeze-and-excitation) better than RegNetX. Same reading as above."""),
    new_code_cell("""fig, ax = plt.subplots(figsize=(7, 4.5))
edfs(["anynetx_e", "regnetx", "regnety"], "AnyNetX_E, RegNetX, RegNetY", ax)"""),
    new_markdown_cell("""## 3. Error against each design parameter

Every model of AnyNetX_E and RegNetX (grey) with the best quarter (colour), against the parameters \
the paper
reads its rules from: the shared bottleneck ratio b and group width g, the width ratio between \
stages
(w_last / w_first)^(1/(stages-1)), and the total depth. The dashed lines are the paper's values \
(b = 1,
g > 1, ratio 2.5, 20 blocks). The printed ranges are the best-parameter bootstrap (the best of a \
quarter of
the models, resampled 10,000 times): a range that covers most of what was sampled says the \
parameter's
best value is not determined by this sample."""),
    new_code_cell("""PARAMS = {"bottleneck": 1, "group_width": 1, "width_ratio": 2.5,
          "total_depth": 20}
shown = [s for s in ("anynetx_e", "regnetx") if s in frames]
fig, axes = plt.subplots(len(shown), 4, figsize=(13, 3.2 * len(shown)), squeeze=False)
for row, s in zip(axes, shown, strict=True):
    f = frames[s]
    top = f.error <= f.error.quantile(0.25)
    for ax, (col, paper) in zip(row, PARAMS.items(), strict=True):
        if col not in f or f[col].nunique() < 2:
            ax.set_title(f"{s}: {col} fixed")
            ax.axis("off")
            continue
        ax.scatter(f[col][~top], f.error[~top], s=6, color="0.7", label="all")
        ax.scatter(f[col][top], f.error[top], s=8, color="tab:blue", label="best quarter")
        ax.axvline(paper, ls="--", color="tab:red", lw=1)
        if col in ("bottleneck", "group_width", "width_ratio"):
            ax.set_xscale("log", base=2)
        ax.set(xlabel=col, ylabel="error", title=s)
        ax.grid(alpha=0.3)
        r = analysis.best_parameter_bootstrap(f[col], f.error, n_boot=10_000, seed=0)
        print(f"{s} {col}: best {r.median:.3g} (95% range {r.low:.3g}-{r.high:.3g})")
    next(ax for ax in row if ax.get_legend_handles_labels()[0]).legend(fontsize=7)
fig.tight_layout()"""),
    new_markdown_cell("""## 4. Width profiles of the top models and the RegNet line

Per-block widths w_j of the 10 best AnyNetX_E models (thin lines), the least-squares line \
u_j = w0 + wa·j
through them (black), the paper's w_j ≈ 48·(j+1) (red, dashed), and the quantized-linear RegNet \
fit of the
best model (its d, w0, wa, wm and e_fit, the fit's mean log-ratio error, are printed). The paper's \
top models
lie close to a line; how tight the line is here (R²) says how far that carries over to the \
proxy."""),
    new_code_cell("""from analysis.regnet_fit import frame_block_widths

if "anynetx_e" in frames:
    f = frames["anynetx_e"]
    best = f.nsmallest(10, "error")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for w in frame_block_widths(best):
        ax.step(np.arange(len(w)), w, where="post", alpha=0.5)
    trend = analysis.population_trend(f, top_k=10)
    j = np.arange(int(best.total_depth.max()))
    ax.plot(j, trend.w0 + trend.wa * j, "k-", lw=2,
            label=f"fit u_j = {trend.w0:.0f} + {trend.wa:.1f} j (R² {trend.r2:.2f})")
    ax.plot(j, 48 * (j + 1), "r--", label="paper: 48 (j+1)")
    ax.set(yscale="log", xlabel="block index j", ylabel="width",
           title="AnyNetX_E: block widths of the 10 best models")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    top = best.iloc[0]
    fit = analysis.fit_regnet([int(top[f"width_{i}"]) for i in range(1, 5)],
                              [int(top[f"depth_{i}"]) for i in range(1, 5)])
    print(f"best model: RegNet fit d={fit.d} w0={fit.w0} wa={fit.wa:.1f} wm={fit.wm:.2f} "
          f"e_fit={fit.e_fit:.3f}")
    print(f"width trend of the 10 best: u_j = {trend.w0:.1f} + {trend.wa:.1f} j, "
          f"R2 {trend.r2:.2f}")"""),
    new_markdown_cell("""## 5. The findings, decided by fixed rules

`analysis.findings.evaluate_findings` applies the rules written down before these sweeps ran \
(module
docstring of `analysis/findings.py`) with the same settings as `nas analyze --findings` \
(1,000 bootstrap
resamples and permutations, 10,000 for the best-parameter ranges, seed 0), so this table is the \
one in
`results/paper/FINDINGS.md`."""),
    new_code_cell("""found = evaluate_findings(raw)
print(findings_markdown(found))
pd.DataFrame([{"finding": f.claim.text, "verdict": f.verdict} for f in found])"""),
    new_markdown_cell("""## 6. How far one proxy run moves: the same models trained again

Every error above is one run of one model at training seed 0. The first 10 models of each space \
were trained
again at seed 1 (`bench/paper_noise.py` gives the commands): each point is one model, its \
committed error (x)
against the second run's (y); on the diagonal the run would not matter. The table, from \
`results/paper/noise.csv`,
gives one run's noise standard deviation, the Spearman correlation between the runs, and the \
reliability of a
run: the share of the space's spread of errors that belongs to the models rather than to the run \
(95% bootstrap
intervals over models). Where the reliability is low, a ranking within that space, and so its \
best-parameter
ranges, is mostly noise; differences between spaces' means average the noise out over the \
models."""),
    new_code_cell("""from analysis.fidelity import read_runs

noise_runs = ROOT / "results/paper/noise.jsonl"
noise_table = ROOT / "results/paper/noise.csv"
if noise_runs.exists() and noise_table.exists():
    runs = read_runs(noise_runs)
    runs = runs[runs.failed.isna() & (runs.seed == 1)]  # bench/paper_noise.py's NOISE_SEED
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for s, g in runs.groupby("space"):
        done = raw[s][raw[s].state == "COMPLETE"].set_index("index").error
        first = done.reindex(g["index"]).to_numpy()
        ax.scatter(first, g.error, s=14, label=s)
    lims = [runs.error.min() - 0.02, runs.error.max() + 0.02]
    ax.plot(lims, lims, "k--", lw=1)
    ax.set(xlabel="committed error (seed 0)", ylabel="error trained again (seed 1)",
           title="one proxy run against another, same models")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    table = pd.read_csv(noise_table)
    for name in ("noise_sd", "spearman", "reliability"):
        table[name] = [f"{v:.3f} ({lo:.3f}-{hi:.3f})" for v, lo, hi in
                       zip(table[name], table[f"{name}_low"], table[f"{name}_high"], strict=True)]
    print(table[["space", "models", "noise_sd", "spearman", "reliability", "sweep_sd"]]
          .round(4).to_string(index=False))"""),
]


def main() -> None:
    from nbclient import NotebookClient

    for name, cells in (("compare_design_spaces", COMPARE), ("paper_findings", PAPER)):
        nb = new_notebook(
            cells=cells,
            metadata={
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
            },
        )
        NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
        ).execute()
        nbformat.write(nb, HERE / f"{name}.ipynb")


if __name__ == "__main__":
    main()
