"""The commands that read stored studies without changing them: `nas export` (trials as
CSV/Parquet), `nas status` (progress and throughput), `nas studies` (the studies of a storage),
`nas best` (the best configs)."""

from __future__ import annotations

import argparse
import json
import sys

from nas.cli.argtypes import positive_int
from nas.cli.common import CliError, add_study_and_storage, default_storage, stored_errors


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add `export`, `status`, `studies` and `best` to the `nas` parser."""
    p = sub.add_parser(
        "export",
        help="write a study's trials as CSV or Parquet",
        description="One row per trial of a `nas sample` or `nas search` study: trial, state, "
        "error, params/flops/acts at 224 px and at the training resolution (train_*), per-stage "
        "depth_i, width_i, stride_i, bottleneck_i, group_width_i, block, se_ratio, RegNet "
        "d/w0/wa/wm, the measured metrics, fail_reason, space, seed, dataset.",
    )
    add_study_and_storage(p)
    p.add_argument(
        "-o", "--out", default=None, help="FILE.csv or FILE.parquet (default: CSV on stdout)"
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary (rows, columns, file)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "status",
        help="counts, throughput and time left of a stored study",
        description="Read a study without changing it: trials complete, running, waiting, failed "
        "(and why), retried and duplicate copies; for a `nas sample` study the configs done out of "
        "N, trials per minute over the recent window and the time left at that rate; the hosts of "
        "the running trials and their oldest heartbeat. Works while workers run.",
    )
    add_study_and_storage(p)
    p.add_argument(
        "--window",
        type=float,
        default=10.0,
        metavar="MIN",
        help="minutes of recent trials the throughput is measured over (default 10)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "studies",
        help="list the studies of a storage with their progress",
        description="Read a storage without changing it: each study's kind (sample, search, "
        "scale-grid, training-free), design space, N, trials complete / failed / running / "
        "waiting, and the configs done out of N.",
    )
    add_study_and_storage(p, study=False)
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=cmd_studies)

    p = sub.add_parser(
        "best",
        help="the best configs of a study",
        description="The best complete trials of a stored study, ranked by error (lower is "
        "better), with params / flops / acts at the study's reference setting and each config "
        "described; a training-free study is ranked by its zero-cost score (higher is better) and "
        "says so. `spaces.get_config(row)` reads a config of `--json` or of `nas export` back.",
    )
    add_study_and_storage(p)
    p.add_argument("--top", type=positive_int, default=10, help="how many configs (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_best)


def cmd_export(args: argparse.Namespace) -> int:
    with stored_errors():
        from nas.tables import export_study, write_table

        df = export_study(args.study, args.storage)
        if args.out:
            write_table(df, args.out)
        else:
            df.to_csv(sys.stdout, index=False)
    summary = {
        "study": args.study,
        "storage": args.storage or default_storage(),
        "rows": len(df),
        "columns": list(df.columns),
        "out": args.out,
    }
    if args.json:
        print(json.dumps(summary), file=sys.stdout if args.out else sys.stderr)
    elif args.out:
        print(
            f"wrote {len(df)} trials of {args.study} ({len(df.columns)} columns) to {args.out}",
            file=sys.stderr,
        )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with stored_errors():
        from nas.cluster import format_status, study_status

        if args.window <= 0:
            raise CliError(f"--window must be a positive number of minutes, got {args.window:g}")
        status = study_status(args.study, args.storage, window_minutes=args.window)
    print(json.dumps(status) if args.json else format_status(status))
    return 0


def cmd_studies(args: argparse.Namespace) -> int:
    with stored_errors():
        from nas.studies import format_studies, list_studies

        rows = list_studies(args.storage)
    print(json.dumps(rows) if args.json else format_studies(rows, args.storage))
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    with stored_errors():
        from nas.best import best_configs, format_best

        best = best_configs(args.study, args.storage, args.top)
    print(json.dumps(best) if args.json else format_best(best))
    return 0
