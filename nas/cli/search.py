"""`nas search`: define-by-run search of a design space with an Optuna sampler (TPE, NSGA-II,
random); prints the best trial or the Pareto front, optionally plotted."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nas.cli.argtypes import positive_int
from nas.cli.common import (
    CliError,
    add_band_args,
    add_study_args,
    add_training_args,
    bands_from_args,
    stored_errors,
    stored_options,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add `search` to the `nas` parser."""
    p = sub.add_parser(
        "search",
        help="search a design space with an Optuna sampler",
        description="Define-by-run search of a design space: the sampler proposes per-stage depth, "
        "width, bottleneck and group width (AnyNet; ordering constraints kept by construction) or "
        "d, w0, wa, wm, group width (RegNet); proposals outside the complexity bands, RegNet "
        "settings without 4 stages and configs already trained are pruned without training. Each "
        "other proposal is proxy-trained; the study stops at N trained trials (re-run to go on, "
        "or raise -n). Prints the best trial, or the Pareto front for several objectives.",
    )
    p.add_argument("--space", required=True, help="design space name (see `nas spaces`)")
    p.add_argument(
        "--sampler", choices=["tpe", "nsga2", "random"], default="tpe", help="default tpe"
    )
    p.add_argument(
        "-n", type=positive_int, default=100, help="trained trials in the study (default 100)"
    )
    p.add_argument(
        "--objectives",
        default="error",
        help="comma-separated, e.g. error,flops (default error); "
        "valid: error, params, flops, acts (224 px), train_params, train_flops, train_acts, "
        "latency_ms_b1, latency_ms_b64, train_seconds, images_per_second (maximized)",
    )
    p.add_argument("--seed", type=int, default=0, help="sampler and training seed")
    p.add_argument(
        "--population-size",
        type=positive_int,
        default=None,
        help="NSGA-II population (default n/4, between 4 and 50)",
    )
    p.add_argument(
        "--max-rejected",
        type=positive_int,
        default=None,
        help="stop after this many pruned proposals in a row (default: 200 + 50 n, more for spaces "
        "whose band holds few of their configs)",
    )
    add_band_args(p)
    p.add_argument(
        "--json", action="store_true", help="print the summary and the front as one JSON object"
    )
    p.add_argument(
        "--plot",
        default=None,
        metavar="FILE.png",
        help="with two objectives: every trained trial and the Pareto front as a PNG",
    )
    add_study_args(p)
    add_training_args(p)
    p.set_defaults(func=cmd_search)


def cmd_search(args: argparse.Namespace) -> int:
    from spaces import get_space

    space = get_space(args.space)
    bands = bands_from_args(args, space)
    with stored_errors():
        from nas.search import parse_objectives, run_search

        objectives = parse_objectives(args.objectives)
        options = stored_options(args)
        try:
            summary = run_search(
                space,
                args.n,
                sampler=args.sampler,
                objectives=objectives,
                seed=args.seed,
                bands=bands,
                population_size=args.population_size,
                max_rejected=args.max_rejected,
                **options,
            )
        except KeyboardInterrupt:
            print(
                "nas search: interrupted; the running trial was marked FAIL (interrupted): run the "
                "same command to go on",
                file=sys.stderr,
            )
            return 130
    out = summary.to_dict()
    if args.plot:
        out["plot"] = str(_plot_search_front(summary.study, args.storage, objectives, args.plot))
    if args.json:
        print(json.dumps(out))
        return 0
    if args.plot:
        print(f"Pareto plot: {out['plot']}")
    front = summary.pareto
    title = "Pareto front" if len(objectives) > 1 else "best trial"
    print(
        f"{title} of {summary.study} ({', '.join(f'{o} ({_direction(o)})' for o in objectives)}): "
        f"{len(front)} of {summary.complete} complete trials"
    )
    columns = list(dict.fromkeys(["trial", *objectives, "error", "flops", "params"]))
    anynet = all("depths" in row for row in front)
    header = "  ".join(f"{c:>12}" for c in columns) + (
        "  depths / widths / b / g" if anynet else "  config"
    )
    print(header)
    for row in front:
        cells = "  ".join(f"{_cell(row.get(c)):>12}" for c in columns)
        body = (
            f"{row['depths']} / {row['widths']} / {row['bottlenecks']} / {row['group_widths']}"
            if anynet
            else json.dumps(row.get("config"), separators=(",", ":"))
        )
        print(f"{cells}  {body}")
    print(
        f"study {summary.study} in {summary.storage}: {summary.complete} complete, "
        f"{summary.failed} failed, {summary.pruned} pruned; trained {summary.trained} in "
        f"{summary.seconds:.1f} s"
    )
    return 0


def _plot_search_front(study: str, storage: str | None, objectives: list[str], path: str) -> Path:
    """All complete trials of a two-objective search and their front (analysis.pareto), as a PNG."""
    from analysis.pareto import plot_pareto
    from nas.outputs import output_file
    from nas.search import OBJECTIVES
    from nas.tables import export_study

    if len(objectives) != 2:
        raise CliError(
            f"--plot draws two objectives; this search has {len(objectives)} "
            f"({', '.join(objectives)})"
        )
    frame = export_study(study, storage)
    frame = frame[frame["state"] == "COMPLETE"]
    x, y = objectives[1], objectives[0]  # complexity across, error up
    return plot_pareto(
        {study: frame},
        x,
        y,
        output_file(path),
        OBJECTIVES[x] == "maximize",
        OBJECTIVES[y] == "maximize",
    )


def _direction(objective: str) -> str:
    from nas.search import OBJECTIVES

    return "max" if OBJECTIVES[objective] == "maximize" else "min"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4f}" if abs(value) < 100 else f"{value:,.1f}"
    return f"{int(value):,}" if isinstance(value, int | float) else str(value)
