"""`analyze`: compare design spaces from their sweep results and write plots, summary.json and
report.md."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import plots
from analysis.data import Cleaned, check_columns, clean
from analysis.edf import Normalization, error_grid, normalize_auto
from analysis.errors import AnalysisError
from analysis.findings import design_columns, evaluate_findings, findings_markdown
from analysis.pareto import plot_pareto
from analysis.regnet_fit import add_efit_column, population_trend, stage_columns
from analysis.stats import (
    BestRange,
    BootstrapEDF,
    best_parameter_bootstrap,
    bootstrap_edf,
    ks_test,
    random_search_curve,
)
from analysis.units import si

NORMALIZE = ("flops", "params", "none")
STAGE_PARAMS = ("depth", "width", "bottleneck", "group_width")
GLOBAL_PARAMS = (
    "d", "w0", "wa", "wm", "e_fit", "total_depth", "width_ratio", "bottleneck", "group_width",
    "flops", "params", "acts",
)  # fmt: skip
# the best configs listed per space (frames with the `config` column of `nas export`)
TOP_CONFIGS = 5


def analyze(
    frames: Mapping[str, pd.DataFrame],
    out_dir: str | Path,
    normalize: str = "flops",
    bins: int | None = None,
    value_range: tuple[float, float] | None = None,
    log_bins: bool = False,
    failed: str = "exclude",
    n_boot: int = 1000,
    n_perm: int = 1000,
    n_best: int = 10_000,
    efit: bool = True,
    seed: int = 0,
    marks: Sequence[Mapping[str, Any]] | None = None,
    findings: bool = False,
) -> dict[str, Any]:
    """Compare spaces (label -> DataFrame with at least "error" and "flops") and write the report to
    out_dir.

    normalize: complexity column for the NDS-normalized EDFs ("none" skips them); bins default to
    analysis.edf.auto_bins(smallest space in range); the range defaults to the overlap of the
    spaces' ranges.
    failed: "exclude" or "as_error" (error 1.0). n_boot / n_perm / n_best: bootstrap resamples for
    bands, permutations for KS p-values, repeats of the best-parameter bootstrap. efit adds each
    model's RegNet e_fit (needs depth_i / width_i columns). marks (see `model_marks`): named models
    drawn on the error-vs-complexity plots. findings: also test the RegNet paper's findings
    (analysis.findings: verdicts by fixed rules, failed trials always left out), written to
    findings.md and the summary. Returns the summary also written to summary.json.
    """
    if normalize not in NORMALIZE:
        raise AnalysisError(f"normalize must be one of {', '.join(NORMALIZE)}, got {normalize!r}")
    if not frames:
        raise AnalysisError("no inputs to analyze")
    cleaned = _prepare(frames, normalize, failed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = {k: c.frame for k, c in cleaned.items()}
    if efit:
        data = {k: add_efit_column(f) if stage_columns(f) else f for k, f in data.items()}
    data = {k: design_columns(f) for k, f in data.items()}

    spaces = {k: _space_summary(f, cleaned[k]) for k, f in data.items()}
    for k, f in data.items():
        if "config" in f.columns:
            spaces[k]["top_configs"] = top_configs(f)
    plain = {
        k: bootstrap_edf(
            f["error"], error_grid(*[g["error"] for g in data.values()]), n_boot=n_boot, seed=seed
        )
        for k, f in data.items()
    }
    for k, c in plain.items():
        spaces[k]["intervals"] = {s: i.to_dict() for s, i in c.intervals.items()}
    files = [plots.plot_edfs(plain, out / "edf.png", "error EDF")]
    ks = [_ks(data, a, b, None, n_perm, seed) for a, b in combinations(data, 2)]

    normed = None
    if normalize != "none":
        normed = _normalized(data, normalize, bins, value_range, log_bins, n_boot, seed, spaces)
        files.append(
            plots.plot_edfs(
                normed[1], out / "edf_normalized.png", f"{normalize}-normalized error EDF"
            )
        )
        ks += [_ks(data, a, b, normed[0], n_perm, seed) for a, b in combinations(data, 2)]

    curves = {k: random_search_curve(f["error"]) for k, f in data.items()}
    for k, (ms, best) in curves.items():
        spaces[k]["random_search"] = {"m": ms.tolist(), "expected_min_error": best.tolist()}
    files.append(plots.plot_random_search(curves, out / "random_search.png"))
    with_flops = {k: f for k, f in data.items() if "flops" in f and f["flops"].notna().any()}
    if with_flops:  # error against complexity, each space's non-dominated models joined
        files.append(plot_pareto(with_flops, "flops", "error", out / "pareto_error_flops.png"))
    marks = list(marks or [])
    files += _parameter_plots(data, out, spaces, n_best, seed, marks)

    found = None
    if findings:
        found = evaluate_findings(frames, n_boot=n_boot, n_perm=n_perm, n_best=n_best, seed=seed)
        (out / "findings.md").write_text(findings_markdown(found))
    summary = {
        "spaces": spaces,
        "ks": ks,
        "findings": [f.to_dict() for f in found] if found is not None else None,
        "normalize": normalize,
        "failed_policy": failed,
        "bins": _bins_dict(normed[0]) if normed else None,
        "settings": {"n_boot": n_boot, "n_perm": n_perm, "n_best": n_best, "seed": seed},
        "marks": [dict(m) for m in marks],
        "files": [p.name for p in files]
        + (["findings.md"] if found is not None else [])
        + ["summary.json", "report.md"],
    }
    summary = _jsonable(summary)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "report.md").write_text(render_markdown(summary))
    return summary


# --- steps ----------------------------------------------------------------------------------------
def _prepare(frames: Mapping[str, pd.DataFrame], norm: str, failed: str) -> dict[str, Cleaned]:
    required = ["error", "flops"] + (["params"] if norm == "params" else [])
    out = {}
    for label, f in frames.items():
        if not isinstance(f, pd.DataFrame):
            raise AnalysisError(f"{label}: expected a DataFrame, got {type(f).__name__}")
        check_columns(f, required, label)
        c = clean(f, failed, label)
        if len(c.frame) < 2:
            raise AnalysisError(
                f"{label} has {len(c.frame)} usable model(s) ({c.failed} failed, "
                f"{c.unfinished} unfinished); an error distribution needs at least 2"
            )
        out[label] = c
    return out


def _space_summary(f: pd.DataFrame, c: Cleaned) -> dict[str, Any]:
    e = f["error"].to_numpy(float)
    return {
        "n": len(e),
        "min_error": float(e.min()),
        "mean_error": float(e.mean()),
        "median_error": float(np.median(e)),
        **c.to_dict(),
    }


def top_configs(f: pd.DataFrame, k: int = TOP_CONFIGS) -> list[dict[str, Any]]:
    """The `k` lowest-error rows of a frame with a `config` column: trial, error, flops, params, the
    config's compact description (spaces.get_config reads the row)."""
    from spaces import get_config
    from spaces.errors import ConfigError

    out = []
    for _, row in f.sort_values("error", kind="stable").head(k).iterrows():
        try:
            text = get_config(row).describe()
        except ConfigError:
            text = str(row["config"])
        out.append(
            {
                "trial": row.get("trial"),
                "error": float(row["error"]),
                "flops": row.get("flops"),
                "params": row.get("params"),
                "config": text,
            }
        )
    return out


def _normalized(
    data, norm, bins, value_range, log_bins, n_boot, seed, spaces
) -> tuple[Normalization, dict[str, BootstrapEDF]]:
    values = {k: pd.to_numeric(f[norm], errors="coerce").to_numpy(float) for k, f in data.items()}
    for k, v in values.items():
        if not np.isfinite(v).all():
            raise AnalysisError(
                f"{k}: {(~np.isfinite(v)).sum()} models have no {norm}; cannot normalize by it"
            )
    nz = normalize_auto(values, bins, value_range, log_bins, norm)
    inside = {k: f[nz.inside[k]] for k, f in data.items()}
    grid = error_grid(*[f["error"] for f in inside.values()])
    curves = {
        k: bootstrap_edf(f["error"], grid, f[norm], nz.bins, n_boot, seed=seed)
        for k, f in inside.items()
    }
    for k, c in curves.items():
        spaces[k]["left_out"] = nz.left_out[k]
        spaces[k]["normalized"] = {
            "n_in_range": c.n,
            "mean_error": c.intervals["mean"].estimate,
            "median_error": c.intervals["median"].estimate,
            "intervals": {s: i.to_dict() for s, i in c.intervals.items()},
            "bootstrap_rejected": c.rejected,
        }
    return nz, curves


def _ks(data, a: str, b: str, nz: Normalization | None, n_perm: int, seed: int) -> dict[str, Any]:
    if nz is None:
        r = ks_test(data[a]["error"], data[b]["error"], n_perm=n_perm, seed=seed)
    else:
        fa, fb = data[a][nz.inside[a]], data[b][nz.inside[b]]
        r = ks_test(fa["error"], fb["error"], fa[nz.metric], fb[nz.metric], nz.bins, n_perm, seed)
    return {
        "a": a,
        "b": b,
        "D": r.D,
        "p_value": r.p_value,
        "normalized": r.normalized,
        "n_perm": r.n_perm,
        "rejected": r.rejected,
    }


def parameter_columns(frames: Mapping[str, pd.DataFrame]) -> tuple[list[str], list[str]]:
    """(per-stage columns, global columns) present and varying in at least one frame, in a fixed
    order."""
    cols = {c for f in frames.values() for c in f.columns if _varies(f, c)}
    stages = sorted({int(m.group(1)) for c in cols if (m := re.match(r"^[a-z_]+_(\d+)$", str(c)))})
    stage_cols = [f"{p}_{i}" for p in STAGE_PARAMS for i in stages if f"{p}_{i}" in cols]
    return stage_cols, [c for c in GLOBAL_PARAMS if c in cols]


def _varies(f: pd.DataFrame, c: str) -> bool:
    if not pd.api.types.is_numeric_dtype(f[c]):
        return False
    v = f[c].to_numpy(float)
    return len(np.unique(v[np.isfinite(v)])) >= 2


def model_marks(
    names: Sequence[str], errors: Mapping[str, float] | None = None
) -> list[dict[str, Any]]:
    """Named models to draw on the plots: params / flops / acts at the reference setting (the one a
    study's params / flops / acts columns use: 224x224 RGB, 1000 classes, ImageNet stem; other
    families their native resolution), and the error where `errors` (model -> error,
    `nas train --json`) has one. Models in `errors` are marked too."""
    from spaces import get_config, reference_complexity

    out = []
    for name in dict.fromkeys([*names, *(errors or {})]):
        cx = reference_complexity(get_config(name))
        mark = {
            "model": name,
            "params": cx.params,
            "flops": cx.flops,
            "acts": cx.acts,
            "resolution": cx.resolution,
        }
        if errors and name in errors:
            mark["error"] = errors[name]
        out.append(mark)
    return out


def _parameter_plots(
    data, out: Path, spaces, n_best: int, seed: int, marks: Sequence[Mapping[str, Any]] = ()
) -> list[Path]:
    stage_cols, global_cols = parameter_columns(data)
    if marks:  # the complexity panels the marks go on, even where a column does not vary
        present = [c for c in plots.MARK_COLUMNS if any(c in f.columns for f in data.values())]
        global_cols = [c for c in GLOBAL_PARAMS if c in global_cols or c in present]
    files = []
    if stage_cols:
        n_stages = len({c.rsplit("_", 1)[1] for c in stage_cols})
        files.append(
            plots.plot_error_vs(data, stage_cols, out / "error_vs_stage_params.png", ncols=n_stages)
        )
    if global_cols:
        files.append(
            plots.plot_error_vs(data, global_cols, out / "error_vs_params.png", marks=marks)
        )
    ranges: dict[str, dict[str, BestRange]] = {}
    for k, f in data.items():
        ranges[k] = {
            c: best_parameter_bootstrap(f[c], f["error"], n_boot=n_best, seed=seed)
            for c in stage_cols + global_cols
            if c in f.columns and f[c].notna().any()
        }
        spaces[k]["best_ranges"] = {c: r.to_dict() for c, r in ranges[k].items()}
        if stage_columns(f):
            spaces[k]["trend"] = population_trend(f, min(20, len(f))).to_dict()
        if "e_fit" in f.columns:
            spaces[k]["median_e_fit"] = float(f["e_fit"].median())
    if any(ranges.values()):
        files.append(plots.plot_best_ranges(ranges, out / "best_ranges.png"))
    if any(stage_columns(f) for f in data.values()):
        files.append(
            plots.plot_width_profiles(
                {k: f for k, f in data.items() if stage_columns(f)}, out / "width_profiles.png"
            )
        )
    return files


def _bins_dict(nz: Normalization) -> dict[str, Any]:
    return {
        "metric": nz.metric,
        "count": nz.bins.count,
        "low": nz.bins.low,
        "high": nz.bins.high,
        "log": nz.bins.log,
    }


def _jsonable(x: Any) -> Any:
    """Plain JSON types; NaN and inf become null."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


# --- markdown -------------------------------------------------------------------------------------
def _f(x: Any) -> str:
    return si(x)


def _ci(i: dict | None) -> str:
    return "-" if not i else f"{_f(i['estimate'])} [{_f(i['low'])}, {_f(i['high'])}]"


def render_markdown(summary: Mapping[str, Any]) -> str:
    """A readable report: the spaces' statistics, the KS comparisons, and every plot."""
    lines = [
        "# Design-space analysis",
        "",
        f"Failed trials: {summary['failed_policy']}. Intervals are bootstrap 95% "
        f"({summary['settings']['n_boot']} resamples); KS p-values from "
        f"{summary['settings']['n_perm']} permutations.",
        "",
    ]
    b = summary.get("bins")
    if b:
        lines += [
            f"Normalized by {b['metric']}: {b['count']} {'log ' if b['log'] else ''}bins over "
            f"[{_f(b['low'])}, {_f(b['high'])}].",
            "",
        ]
    lines += [
        "| space | n | min error | mean error | median error | failed | unfinished | left out | "
        "normalized mean |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for k, s in summary["spaces"].items():
        iv = s.get("intervals", {})
        nm = _ci(s["normalized"]["intervals"]["mean"]) if "normalized" in s else "-"
        lines.append(
            f"| {k} | {s['n']} | {_ci(iv.get('min'))} | {_ci(iv.get('mean'))} | "
            f"{_ci(iv.get('median'))} | {s['failed']} | {s['unfinished']} | "
            f"{s.get('left_out', '-')} | {nm} |"
        )
    if summary["ks"]:
        lines += [
            "",
            "## Kolmogorov-Smirnov",
            "",
            "| a | b | normalized | D | p-value |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['a']} | {r['b']} | {'yes' if r['normalized'] else 'no'} | {r['D']:.4f} | "
            f"{r['p_value']:.4g} |"
            for r in summary["ks"]
        ]
    if summary.get("findings"):
        lines += ["", "## The RegNet paper's findings", ""]
        lines += [
            "| finding | spaces | verdict | statistic |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {f['text']} | {' → '.join(f['spaces'])} | **{f['verdict']}** | {f['statistic']} |"
            for f in summary["findings"]
        ]
    trends = {k: s["trend"] for k, s in summary["spaces"].items() if "trend" in s}
    if trends:
        lines += [
            "",
            "## Width trend of the best models",
            "",
            "| space | top k | u_j = w0 + wa·j | R² |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {k} | {t['k']} | {t['w0']:.1f} + {t['wa']:.1f}·j | {t['r2']:.3f} |"
            for k, t in trends.items()
        ]
    ranges = {k: s["best_ranges"] for k, s in summary["spaces"].items() if s.get("best_ranges")}
    if ranges:
        lines += [
            "",
            "## Best parameter values (bootstrap median [95% interval])",
            "",
            "| parameter | " + " | ".join(ranges) + " |",
            "|---|" + "---|" * len(ranges),
        ]
        for col in dict.fromkeys(c for r in ranges.values() for c in r):
            cells = [
                f"{_f(r[col]['median'])} [{_f(r[col]['low'])}, {_f(r[col]['high'])}]"
                if col in r
                else "-"
                for r in ranges.values()
            ]
            lines.append(f"| {col} | " + " | ".join(cells) + " |")
    tops = {k: s["top_configs"] for k, s in summary["spaces"].items() if s.get("top_configs")}
    if tops:
        lines += [
            "",
            "## Best configs",
            "",
            "| space | trial | error | flops | params | config |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {k} | {t['trial']} | {_f(t['error'])} | {_f(t['flops'])} | {_f(t['params'])} | "
            f"{t['config']} |"
            for k, rows in tops.items()
            for t in rows
        ]
    if summary.get("marks"):
        lines += [
            "",
            "## Marked models (reference setting)",
            "",
            "| model | params | flops | acts | error |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {m['model']} | {m['params']:,} | {m['flops']:,} | {m['acts']:,} | "
            f"{_f(m.get('error'))} |"
            for m in summary["marks"]
        ]
    lines += ["", "## Plots", ""]
    lines += [f"![{Path(f).stem}]({f})" for f in summary["files"] if f.endswith(".png")]
    return "\n".join(lines) + "\n"
