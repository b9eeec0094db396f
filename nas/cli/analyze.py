"""`nas analyze` (compare the error distributions of sweeps: EDFs, bands, KS tests, best ranges; the
`analysis` package) and `nas fit-regnet` (RegNet parameters of a model's widths), and how their
inputs are read: CSV/Parquet files of `nas export` or stored studies (nas.tables).

Handlers raise AnalysisError (a SpacesError) for user mistakes, which `nas` prints as one line with
exit status 2. Heavy imports (pandas, matplotlib, nas.tables) happen inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.errors import AnalysisError
from nas.cli.argtypes import positive_int, value_range

EFIT_AUTO_LIMIT = 2000  # models; the per-model RegNet fit takes ~17 ms each

if TYPE_CHECKING:
    import pandas as pd

FILE_SUFFIXES = (".csv", ".parquet", ".pq")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add `analyze` and `fit-regnet` to the `nas` parser (each sets `func` to its handler)."""
    p = subparsers.add_parser(
        "analyze",
        help="compare design spaces: EDFs, bands, KS tests, best ranges",
        description="Compare the error distributions of sweeps (CSV/Parquet files from "
        "`nas export`, or studies in the storage): plain and complexity-normalized EDFs with "
        "bootstrap bands, KS distances with permutation p-values, random-search efficiency, error "
        "against every parameter, width profiles and bootstrap best-parameter ranges. Writes PNG "
        "plots, summary.json and report.md to --out.",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="a CSV/Parquet file (label: its stem) or a study name; LABEL=INPUT sets the label",
    )
    p.add_argument(
        "--normalize",
        choices=["flops", "params", "none"],
        default="flops",
        help="complexity the normalized EDFs equalize (default flops; none: plain EDFs only)",
    )
    p.add_argument(
        "--bins",
        type=positive_int,
        default=None,
        help="equal-width complexity bins (default: about 25 models per bin, 5 to 40)",
    )
    p.add_argument("--log-bins", action="store_true", help="bins of equal width in log complexity")
    p.add_argument(
        "--range",
        type=value_range,
        default=None,
        metavar="LO:HI",
        help="complexity range of the bins (default: the overlap of the inputs' ranges)",
    )
    p.add_argument(
        "--failed",
        choices=["exclude", "as_error"],
        default="exclude",
        help="failed trials: leave them out (default) or count them as error 1.0",
    )
    p.add_argument(
        "--metric",
        default="error",
        metavar="COLUMN",
        help="the column analysed in place of error (default error): a zero-cost score such as "
        "score_naswot (of a training-free `nas sample --score` study, or recorded with every "
        "trained trial) is analysed negated, -score, since higher scores are better; other columns "
        "as they are (lower is better)",
    )
    p.add_argument(
        "--bootstrap",
        type=positive_int,
        default=1000,
        metavar="N",
        help="bootstrap resamples for bands and intervals, and KS permutations (default 1000)",
    )
    p.add_argument(
        "--efit",
        choices=["auto", "on", "off"],
        default="auto",
        help="fit RegNet parameters to every model for an e_fit column (~17 ms a model): auto = on "
        f"up to {EFIT_AUTO_LIMIT:,} models in all (default), on, off",
    )
    p.add_argument(
        "--no-efit", dest="efit", action="store_const", const="off", help="same as --efit off"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every resampling (default 0)")
    p.add_argument(
        "--out", "-o", default="results/analysis", help="output folder (default results/analysis)"
    )
    p.add_argument("--storage", default=None, help="study storage URL for study inputs")
    p.add_argument("--json", action="store_true", help="print summary.json's content")
    p.add_argument(
        "--mark",
        type=_names,
        default=[],
        metavar="NAME[,NAME...]",
        help="named models (e.g. resnet50,regnetx_400mf) drawn on the error-vs-complexity plots as "
        "labelled vertical lines at their params / flops / acts at the reference setting",
    )
    p.add_argument(
        "--mark-results",
        default=None,
        metavar="FILE.jsonl",
        help="`nas train --json` outputs, one per line ('model', 'error'): those models are marked "
        "as labelled points at their error",
    )
    p.add_argument(
        "--findings",
        action="store_true",
        help="also test the RegNet paper's findings (A to B and B to C lose nothing, C to D and D "
        "to E improve, RegNetX at least as good as AnyNetX_E, RegNetY better than RegNetX, the "
        "best models' bottleneck ratio, group width, width ratio and depth) on the inputs, by "
        "rules fixed in analysis/findings.py: each reproduced, contradicted, inconclusive or not "
        "run, with its statistic; writes findings.md. An input serves the space of its 'space' "
        "column (nas export), else its label",
    )
    p.set_defaults(func=cmd_analyze)

    p = subparsers.add_parser(
        "fit-regnet",
        help="fit RegNet parameters (w0, wa, wm) to a model's widths",
        description="Fit the RegNet quantized-linear rule to per-block widths: for depth d = "
        "number of blocks, find w0, wa, wm minimizing e_fit = mean |log(predicted / observed "
        "width)|, and show the stages the fit generates. The fit is exact, not a grid: the global "
        "optimum of e_fit (up to floating-point ties) over w0 = 8, 16, ..., wa >= 0 and wm >= "
        "--wm-min, by branch and bound over log(wm) with an exact sweep over wa (10-100 ms a "
        "model). With --study, fit the K best models and the linear width trend u_j = w0 + wa·j.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--widths",
        type=_numbers,
        metavar="W1,W2,...",
        help="per-block widths (or stage widths with --depths)",
    )
    src.add_argument(
        "--config", metavar="FILE", help="a config file or named model (its stage widths)"
    )
    src.add_argument(
        "--study", metavar="NAME", help="a study name or a CSV/Parquet file from `nas export`"
    )
    p.add_argument(
        "--depths",
        type=_numbers,
        metavar="D1,D2,...",
        help="stage depths: --widths are stage widths",
    )
    p.add_argument(
        "--top",
        type=positive_int,
        default=10,
        metavar="K",
        help="with --study: the K best (default 10)",
    )
    p.add_argument(
        "--wm-min",
        type=_wm_min,
        default=1.5,
        metavar="M",
        help="smallest wm searched (default 1.5, the RegNet paper's lower limit; any "
        "value above 1)",
    )
    p.add_argument("--storage", default=None, help="study storage URL")
    p.add_argument("--json", action="store_true", help="print JSON (one object for a single model)")
    p.set_defaults(func=cmd_fit_regnet)


# --- handlers -------------------------------------------------------------------------------------
def cmd_analyze(args: argparse.Namespace) -> int:
    from analysis.report import analyze, model_marks
    from nas.outputs import output_folder, write_failed

    output_folder(args.out)  # an impossible --out fails at once, before any work
    marks = model_marks(
        args.mark, load_mark_results(args.mark_results) if args.mark_results else None
    )
    frames = {}
    for text in args.inputs:
        label, frame = load_input(text, args.storage)
        if label in frames:
            raise AnalysisError(f"two inputs are labelled {label!r}; name them with LABEL=INPUT")
        frames[label] = metric_as_error(frame, args.metric, label)
    try:
        summary = analyze(
            frames,
            args.out,
            normalize=args.normalize,
            bins=args.bins,
            value_range=args.range,
            log_bins=args.log_bins,
            failed=args.failed,
            n_boot=args.bootstrap,
            n_perm=args.bootstrap,
            efit=want_efit(args.efit, frames),
            seed=args.seed,
            marks=marks,
            findings=args.findings,
        )
    except AnalysisError as e:
        hint = " (--bins N, --range LO:HI, or --normalize none)" if "fewer bins" in str(e) else ""
        raise AnalysisError(f"{e}{hint}") from None
    except OSError as e:  # a file of --out that cannot be written (no space left, permissions)
        raise write_failed(e.filename or args.out, e) from None
    if args.metric != "error":
        summary = _note_metric(summary, args.metric, Path(args.out))
    if args.json:
        print(json.dumps(summary))
        return 0
    if args.metric != "error":
        print(f"metric: {summary['metric']['analysed']} ({summary['metric']['note']})")
    for label, s in summary["spaces"].items():
        extra = f", {s['failed']} failed ({args.failed})" if s["failed"] else ""
        skipped = [f"{s[k]} {k}" for k in ("pruned", "retried", "unfinished") if s.get(k)]
        extra += f", {' and '.join(skipped)} not counted" if skipped else ""
        extra += (
            f", {s['left_out']} outside the {args.normalize} range" if s.get("left_out") else ""
        )
        print(
            f"{label}: n={s['n']}, min {s['min_error']:.4g}, mean {s['mean_error']:.4g}, "
            f"median {s['median_error']:.4g}{extra}"
        )
    for r in summary["ks"]:
        kind = "normalized" if r["normalized"] else "plain"
        print(f"KS {r['a']} vs {r['b']} ({kind}): D={r['D']:.4f}, p={r['p_value']:.4g}")
    for f in summary["findings"] or []:
        print(f"{f['verdict']:>12}: {f['text']} ({f['statistic']})")
    print(f"wrote {Path(args.out) / 'report.md'} and {len(summary['files']) - 1} more files")
    return 0


def cmd_fit_regnet(args: argparse.Namespace) -> int:
    from analysis.regnet_fit import expand_stages, fit_regnet

    if args.depths is not None and args.widths is None:
        raise AnalysisError("--depths goes with --widths (stage widths)")
    if args.study:
        return _fit_study(args)
    if args.config:
        from spaces import get_config

        cfg = get_config(args.config)
        stages = getattr(cfg, "stages", None)
        if not isinstance(stages, tuple | list) or not all(hasattr(s, "width") for s in stages):
            raise AnalysisError(
                f"{args.config}: fit-regnet fits the stage widths of an AnyNet config (RegNet, "
                f"ResNet, ...); a {type(cfg).__name__} has none"
            )
        widths = expand_stages([s.width for s in stages], [s.depth for s in stages])
    else:
        widths = expand_stages(args.widths, args.depths) if args.depths else args.widths
    fit = fit_regnet(widths, wm_min=args.wm_min)
    if args.json:
        print(json.dumps(fit.to_dict()))
        return 0
    _print_fit(fit)
    return 0


def _fit_study(args: argparse.Namespace) -> int:
    from analysis.data import clean
    from analysis.regnet_fit import fit_regnet, frame_block_widths, population_trend

    label, frame = load_input(args.study, args.storage)
    top = clean(frame, "exclude", label).frame.nsmallest(args.top, "error")
    fits = [fit_regnet(w, wm_min=args.wm_min) for w in frame_block_widths(top)]
    trend = population_trend(top, args.top)
    models = [{"error": float(e), **f.to_dict()} for e, f in zip(top["error"], fits, strict=True)]
    if "trial" in top.columns:
        for m, t in zip(models, top["trial"], strict=True):
            m["trial"] = t.item() if hasattr(t, "item") else t
    if args.json:
        print(
            json.dumps(
                {"study": label, "top": len(models), "models": models, "trend": trend.to_dict()}
            )
        )
        return 0
    print(f"{label}: the {len(models)} best models")
    for m, f in zip(models, fits, strict=True):
        print(f"  error {m['error']:.4g}: ", end="")
        _print_fit(f, indent="    ")
    print(
        f"width trend of these models: u_j = {trend.w0:.1f} + {trend.wa:.1f}·j (R² {trend.r2:.3f}, "
        f"{trend.blocks} blocks)"
    )
    return 0


def _wm_min(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 1 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"wm must be above 1, got {text}")
    return value


def _print_fit(fit: Any, indent: str = "  ") -> None:
    print(
        f"d={fit.d} w0={fit.w0} wa={fit.wa!r} wm={fit.wm!r} e_fit={fit.e_fit:.4f} "
        f"(the global optimum for wm >= {fit.wm_min:g})"
    )
    print(
        f"{indent}stages (depth, width): "
        + ", ".join(f"({d}, {w})" for d, w in zip(fit.stage_depths, fit.stage_widths, strict=True))
    )


# --- inputs ---------------------------------------------------------------------------------------
def load_input(text: str, storage: str | None = None) -> tuple[str, pd.DataFrame]:
    """(label, DataFrame) of `[LABEL=]PATH_OR_STUDY`: an existing or .csv/.parquet path is a file,
    anything else a study name in `storage`."""
    from analysis.data import load_frame

    label, _, source = (
        text.partition("=") if "=" in text and not Path(text).exists() else ("", "", text)
    )
    path = Path(source)
    if path.is_file() or path.suffix.lower() in FILE_SUFFIXES:
        return label or path.stem, load_frame(path)
    return label or source, load_study(source, storage)


def load_study(name: str, storage: str | None = None) -> pd.DataFrame:
    """The `nas export` DataFrame of a study, via nas.tables.export_study."""
    from nas.tables import export_study

    try:
        return export_study(name, storage)
    except AnalysisError:
        raise
    except Exception as e:
        # storage back-ends raise their own types (KeyError, SQLAlchemy errors, ...)
        where = f" in {storage}" if storage else ""
        # nas's own errors (SweepError, StorageError) already say what exists and what to do
        why = str(e) if type(e).__module__.startswith("nas.") else f"{type(e).__name__}: {e}"
        raise AnalysisError(
            f"{name!r} is not a CSV/Parquet file, and as a study{where}: {why}"
        ) from None


def metric_as_error(frame: pd.DataFrame, metric: str, label: str) -> pd.DataFrame:
    """The frame with `metric` in the error column (what the analysis reads): zero-cost scores
    (score_*, higher is better) negated. A training-free study has no error: asking for it names the
    score columns instead."""
    import pandas as pd

    scores = [
        c
        for c in frame.columns
        if str(c).startswith("score_") and c not in ("score_batch", "score_seconds")
    ]
    if metric == "error":
        free = (
            "training_free" in frame.columns
            and frame["training_free"].fillna(False).astype(bool).all()
        )
        if free and len(frame):
            raise AnalysisError(
                f"{label} is a training-free study: it holds zero-cost scores, not errors; analyze "
                f"one with --metric ({', '.join(scores) or 'score_NAME'})"
            )
        return frame
    if metric not in frame.columns:
        raise AnalysisError(
            f"{label} has no column {metric!r}"
            + (f"; its scores: {', '.join(scores)}" if scores else "")
        )
    out = frame.copy()
    values = pd.to_numeric(out[metric], errors="coerce")
    out["error"] = -values if metric.startswith("score_") else values
    return out


def _note_metric(summary: dict[str, Any], metric: str, out: Path) -> dict[str, Any]:
    """Say in summary.json and report.md what the "error" of this analysis is."""
    negated = metric.startswith("score_")
    note = (
        "a zero-cost score at init, negated since higher scores are better: every 'error' "
        "figure and plot of this analysis is of -" + metric + ", lower is better"
        if negated
        else "in place of error: every 'error' figure and plot of this analysis is of " + metric
    )
    summary = {
        **summary,
        "metric": {"column": metric, "analysed": f"-{metric}" if negated else metric, "note": note},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    report = out / "report.md"
    lines = report.read_text().splitlines(keepends=True)
    heading = f"**Metric: {summary['metric']['analysed']}** ({note}).\n"
    report.write_text("".join([*lines[:2], heading, "\n", *lines[2:]]))
    return summary


def load_mark_results(path: str | Path) -> dict[str, float]:
    """model -> error from a JSONL file of `nas train --json` outputs (the last line of a model
    wins)."""
    p = Path(path)
    if not p.is_file():
        raise AnalysisError(f"--mark-results: {p} is not a file")
    errors: dict[str, float] = {}
    for i, line in enumerate(p.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            errors[str(row["model"])] = float(row["error"])
        except (ValueError, KeyError, TypeError) as e:
            why = f"missing {e}" if isinstance(e, KeyError) else str(e)
            raise AnalysisError(
                f"--mark-results: {p} line {i}: not a `nas train --json` output ({why})"
            ) from None
    return errors


# --- argument types -------------------------------------------------------------------------------
def _names(text: str) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    if not names:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give comma-separated model names, e.g. resnet50,regnetx_400mf"
        )
    return names


def _numbers(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give comma-separated numbers, e.g. 24,56,56,152"
        ) from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive comma-separated numbers")
    return values


def want_efit(choice: str, frames: Mapping[str, Any]) -> bool:
    """e_fit costs a RegNet fit per model; past EFIT_AUTO_LIMIT models `auto` skips it (and says
    so)."""
    if choice != "auto":
        return choice == "on"
    total = sum(len(f) for f in frames.values())
    if total > EFIT_AUTO_LIMIT:
        print(
            f"nas analyze: {total:,} models: skipping the per-model RegNet fit (e_fit; about "
            f"{total * 0.017:.0f} s); pass --efit on to compute it",
            file=sys.stderr,
        )
        return False
    return True
