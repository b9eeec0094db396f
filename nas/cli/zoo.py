"""`nas zoo`: every named model with reference figures, its exact analytic complexity beside them
(the table itself: nas.zoo)."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add `zoo` to the `nas` parser."""
    p = sub.add_parser(
        "zoo",
        help="the named models with reference figures: analytic params / flops / acts vs reference",
        description="List every named model that has reference figures (the paper's or the "
        "shipping library's params and flops): its exact analytic params, flops (multiply-adds) "
        "and acts at its native resolution, the reference figures, the relative differences and "
        "the documented deviations.",
    )
    p.add_argument("--family", default=None, help="only this family (e.g. resnet, regnet)")
    out = p.add_mutually_exclusive_group()
    out.add_argument(
        "--markdown", action="store_true", help="print a Markdown table (for the README)"
    )
    out.add_argument("--json", action="store_true", help="print a JSON list, one object per model")
    p.set_defaults(func=cmd_zoo)


def cmd_zoo(args: argparse.Namespace) -> int:
    from nas.zoo import render_markdown, render_text, zoo_rows

    rows = zoo_rows(args.family)
    if args.json:
        print(json.dumps(rows))
    elif args.markdown:
        print(render_markdown(rows))
    else:
        print(render_text(rows))
    return 0
