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


def main() -> None:
    nb = new_notebook(
        cells=COMPARE,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    from nbclient import NotebookClient

    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
    ).execute()
    nbformat.write(nb, HERE / "compare_design_spaces.ipynb")


if __name__ == "__main__":
    main()
