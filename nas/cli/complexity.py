"""`nas spaces` (the registered design spaces) and `nas complexity` (a model's exact analytic
params, flops and acts, optionally checked against the built model)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from nas.cli.argtypes import positive_int, resolution


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add `spaces` and `complexity` to the `nas` parser."""
    p = sub.add_parser(
        "spaces",
        help="list design spaces",
        description="List the registered design "
        "spaces: free dimensions, size on the sampling grid, the paper's Table 1 size.",
    )
    p.add_argument(
        "--json", action="store_true", help="print a JSON list with each space's distributions"
    )
    p.set_defaults(func=cmd_spaces)

    p = sub.add_parser(
        "complexity",
        help="params, flops, acts of a model or config",
        description="Exact analytic complexity of a named model (e.g. regnetx_400mf) or a "
        "config file (JSON/YAML, or a line of `nas sample --dry-run`), computed from the "
        "config without building the network. flops = multiply-adds of conv and linear "
        "layers; acts = their output elements.",
    )
    p.add_argument("model", metavar="NAME_OR_CONFIG_FILE")
    p.add_argument(
        "--resolution",
        type=resolution,
        default=None,
        help="input size R or HxW (default: the model's native resolution, 224 for AnyNet/RegNet)",
    )
    p.add_argument(
        "--in-channels", type=positive_int, default=None, help="input channels (default: config's)"
    )
    p.add_argument(
        "--num-classes", type=positive_int, default=None, help="classes (default: config's)"
    )
    p.add_argument(
        "--stem",
        choices=["imagenet", "small"],
        default=None,
        help="imagenet: the family's ImageNet stem; small: its 28-32 px stem (default: config's)",
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="also build the model and count it with fvcore and forward hooks; exit 1 "
        "on a mismatch",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_complexity)


def cmd_spaces(args: argparse.Namespace) -> int:
    from spaces import SPACES

    rows = [s.summary() for s in SPACES.values()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len("name"), *(len(r["name"]) for r in rows))
    print(f"{'name':<{width}} {'dims':>4} {'size':>9} {'paper':>8}  description")
    for r in rows:
        paper = f"{r['paper_size']:.1e}" if r["paper_size"] else "-"
        print(
            f"{r['name']:<{width}} {r['dims']:>4} {r['size']:>9.2e} {paper:>8}  {r['description']}"
        )
    print(
        "\nsize: distinct settings on the sampling grid; paper: Table 1 of the RegNet paper, which "
        "counts ordered\nspaces (D, E) as 1/4! of the unordered ones and RegNet on a coarser grid."
    )
    return 0


def cmd_complexity(args: argparse.Namespace) -> int:
    from spaces import complexity, get_config

    cfg = get_config(args.model)
    if args.stem is not None:  # the family's ImageNet stem, or its reduced one for 28-32 px inputs
        cfg = cfg.for_input(cfg.in_channels, cfg.num_classes, small=args.stem == "small")
    overrides = {"in_channels": args.in_channels, "num_classes": args.num_classes}
    cfg = cfg.replace(**{k: v for k, v in overrides.items() if v is not None})
    cx = complexity(cfg, args.resolution)
    out: dict[str, Any] = {
        "model": args.model,
        **cx.to_dict(),
        "in_channels": cfg.in_channels,
        "num_classes": cfg.num_classes,
        "stem": getattr(cfg, "stem", args.stem),
        "config": cfg.to_dict(),
    }
    mismatch = False
    if args.verify:
        from spaces import create_model
        from spaces.measure import measure

        measured = measure(create_model(cfg), cx.resolution, cfg.in_channels)
        out["measured"] = {k: v for k, v in measured.to_dict().items() if k != "resolution"}
        mismatch = measured != cx
    if args.json:
        print(json.dumps(out))
        return 1 if mismatch else 0
    h, w = (cx.resolution, cx.resolution) if isinstance(cx.resolution, int) else cx.resolution
    print(f"{args.model}: {cfg.describe()}")
    stem = f", {out['stem']} stem" if out["stem"] else ""
    print(f"  input {out['in_channels']}x{h}x{w}, {out['num_classes']} classes{stem}")
    print(f"  params {cx.params:>14,}  ({cx.params / 1e6:.2f} M)")
    print(f"  flops  {cx.flops:>14,}  ({cx.flops / 1e9:.3f} GF, multiply-adds)")
    print(f"  acts   {cx.acts:>14,}  ({cx.acts / 1e6:.2f} M)")
    if args.verify:
        m = out["measured"]
        verdict = "MISMATCH" if mismatch else "equal"
        print(
            f"  built model: params {m['params']:,}, fvcore conv+linear flops {m['flops']:,}, "
            f"acts {m['acts']:,}: {verdict}"
        )
    return 1 if mismatch else 0
