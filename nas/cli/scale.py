"""`nas scale`: compound scaling of a base network, and EfficientNet's grid search over (alpha,
beta, gamma) (the library: spaces.scaling, nas.scale).

    nas scale --base efficientnet_b0 --phi 1 --alpha 1.2 --beta 1.1 --gamma 1.15 [--json]
    nas scale --base efficientnet_b0 --phi 1 --published [--json]       # EfficientNet-B1 exactly
    nas scale --base efficientnet_b0 --grid [--step 0.05] [--tolerance 0.1] [--dry-run]
              [training flags]

--phi applies the paper's rule (depth alpha^phi, width beta^phi, resolution gamma^phi); the
published B1-B7 used hand-picked multipliers instead, which --published applies
(spaces.scaling.PUBLISHED_EFFICIENTNET).

The grid search (step 1 of EfficientNet) proxy-trains every phi = 1 model of the grid as the trials
of one stored Optuna study (resumable: the same command trains only what is missing), at the
dataset's resolution times gamma with the base's widths and depths scaled by beta and alpha. The top
few rules are trained again with more seeds; the best mean error wins, and the family phi = 1..7 is
listed with its complexity.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.cli.argtypes import positive_int
from nas.cli.common import (
    CliError,
    add_study_args,
    add_training_args,
    stored_errors,
    stored_options,
)
from spaces.scaling import RULE

if TYPE_CHECKING:
    from spaces.netconfig import NetworkConfig
    from spaces.scaling import Scaled

DEFAULT_ALPHA, DEFAULT_BETA, DEFAULT_GAMMA = RULE  # the EfficientNet paper's rule


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add `scale` to the `nas` parser."""
    p = sub.add_parser(
        "scale",
        help="compound scaling of a network; the (alpha, beta, gamma) grid search",
        description="Compound scaling (EfficientNet): depth alpha^phi, width beta^phi, resolution "
        "gamma^phi, with the reference rounding (channels to multiples of 8, layers up). With "
        "--phi: print the scaled config and its complexity next to the ideal (alpha beta^2 "
        "gamma^2)^phi growth, say which coefficients were used and, for phi = 1..7, the published "
        "B<phi>'s. That rule (the paper's 1.2 / 1.1 / 1.15) does not give the published "
        "EfficientNet-B1..B7: their width / depth / resolution were picked by hand (B1 "
        "1.0/1.1/240, B2 1.1/1.2/260, B3 1.2/1.4/300, B4 1.4/1.8/380, B5 1.6/2.2/456, B6 "
        "1.8/2.6/528, B7 2.0/3.1/600); --published --phi N applies those and reproduces B<N> from "
        "efficientnet_b0 exactly. With --grid: step 1 of EfficientNet: proxy-train every phi = 1 "
        "model with alpha, beta, gamma >= 1 and |alpha beta^2 gamma^2 - 2| <= tolerance as the "
        "trials of one stored study, train the top few again with more seeds, report the best rule "
        "and its family phi = 1..7 (--dry-run: list the grid and its complexity only).",
    )
    p.add_argument(
        "--base",
        required=True,
        metavar="NAME_OR_CONFIG",
        help="a named model (efficientnet_b0, regnetx_400mf, ...) or a config file",
    )
    p.add_argument("--phi", type=float, default=None, help="compound coefficient (without --grid)")
    p.add_argument(
        "--alpha",
        type=float,
        default=DEFAULT_ALPHA,
        help=f"depth coefficient (default {DEFAULT_ALPHA})",
    )
    p.add_argument(
        "--beta",
        type=float,
        default=DEFAULT_BETA,
        help=f"width coefficient (default {DEFAULT_BETA})",
    )
    p.add_argument(
        "--gamma",
        type=float,
        default=DEFAULT_GAMMA,
        help=f"resolution coefficient (default {DEFAULT_GAMMA})",
    )
    p.add_argument(
        "--published",
        action="store_true",
        help="with --phi N (0..7): EfficientNet-B<N>'s published multipliers instead of alpha^N, "
        "beta^N, gamma^N (from efficientnet_b0: B<N> exactly)",
    )
    p.add_argument(
        "--resolution",
        type=int,
        default=None,
        help="base resolution (default: the base's native one, 224 for B0)",
    )
    p.add_argument(
        "--grid", action="store_true", help="grid search over (alpha, beta, gamma) at phi = 1"
    )
    p.add_argument("--step", type=float, default=0.05, help="grid step (default 0.05)")
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.1,
        help="|alpha beta^2 gamma^2 - 2| bound (default 0.1)",
    )
    p.add_argument(
        "--top", type=int, default=3, help="rules trained again with more seeds (default 3)"
    )
    p.add_argument(
        "--repeats", type=int, default=3, help="seeds per top rule (seed, seed+1, ...; default 3)"
    )
    p.add_argument("--seed", type=int, default=0, help="first training seed (default 0)")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="with --grid: list the grid points and their complexity",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_study_args(p)
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="with --grid: training processes sharing the study (default 1); on CPU each gets its "
        "share of the cores",
    )
    add_training_args(p)
    p.set_defaults(func=cmd_scale)


def _label(base: str) -> str:
    return Path(base).stem if Path(base).suffix else base


def cmd_scale(args: argparse.Namespace) -> int:
    from spaces import get_config

    cfg = get_config(args.base)
    if args.grid:
        if args.published:
            raise CliError(
                "--grid searches (alpha, beta, gamma); --published goes with --phi N instead"
            )
        return _cmd_grid(args, cfg)
    if args.phi is None:
        raise CliError(
            "give --phi P (with --alpha/--beta/--gamma, or --published) to scale, or --grid to "
            "search the coefficients"
        )
    from spaces.scaling import compound, published
    from spaces.scaling_limits import check_multipliers

    name = _label(args.base)
    if args.published:
        if (args.alpha, args.beta, args.gamma) != (DEFAULT_ALPHA, DEFAULT_BETA, DEFAULT_GAMMA):
            raise CliError(
                "--published uses EfficientNet-B<phi>'s own multipliers; leave out "
                "--alpha/--beta/--gamma"
            )
        if not float(args.phi).is_integer() or not 0 <= args.phi <= 7:
            raise CliError(
                f"--published: --phi must be one of 0..7 (EfficientNet-B0..B7), got {args.phi:g}"
            )
        s = published(cfg, int(args.phi), args.resolution, base_name=name)
        twin = None
    else:
        # a network no machine holds: refused
        check_multipliers(args.phi, args.alpha, args.beta, args.gamma)
        s = compound(
            cfg, args.phi, args.alpha, args.beta, args.gamma, args.resolution, base_name=name
        )
        twin = _published_twin(cfg, args.phi, args.resolution, name)
    model = _effnet(int(args.phi), name) if args.published else None
    out = {**s.to_dict(), "model": model, "note": _note(s), "published": twin}
    if args.json:
        print(json.dumps(out))
        return 0
    base_res = args.resolution or cfg.native_resolution
    if args.published:
        print(
            f"{args.base} -> {model} with the published multipliers (phi={args.phi:g}): depth "
            f"x{s.depth_mult:.3f}, width x{s.width_mult:.3f}, resolution "
            f"{base_res} -> {s.resolution}"
        )
    else:
        print(
            f"{args.base} scaled with phi={args.phi:g} (alpha {args.alpha:g}, beta {args.beta:g}, "
            f"gamma {args.gamma:g}): depth x{s.depth_mult:.3f}, width x{s.width_mult:.3f}, "
            f"resolution {base_res} -> {s.resolution}"
        )
    print(f"  coefficients: {out['note']}")
    if twin:
        print(
            f"  published B{twin['n']}{' (' + twin['model'] + ')' if twin['model'] else ''}: depth "
            f"x{twin['depth_mult']:g}, width x{twin['width_mult']:g}, resolution "
            f"{twin['resolution']}: {twin['params'] / 1e6:.2f} M params, {twin['flops'] / 1e9:.3f} "
            "GF (--published gives it)"
        )
    print(f"  {s.config.describe()}")
    print(
        f"  params {s.complexity.params:>14,}  ({s.complexity.params / 1e6:.2f} M; "
        f"base {s.base_complexity.params / 1e6:.2f} M)"
    )
    ideal = "the rule's ideal" if args.published else "ideal"
    print(
        f"  flops  {s.complexity.flops:>14,}  ({s.complexity.flops / 1e9:.3f} GF: "
        f"x{s.flops_growth:.3f} the base's; {ideal} (alpha beta^2 gamma^2)^phi = "
        f"x{s.ideal_growth:.3f})"
    )
    print(f"  acts   {s.complexity.acts:>14,}  ({s.complexity.acts / 1e6:.2f} M)")
    return 0


def _effnet(n: int, base_name: str) -> str:
    """What the published B<n> multipliers make of the base: B<n> itself from B0."""
    return (
        f"efficientnet_b{n}"
        if base_name == "efficientnet_b0"
        else f"{base_name} with B{n}'s multipliers"
    )


def _note(s: Scaled) -> str:
    """One line: which coefficients `s` used and how they relate to the published
    EfficientNet-B1..B7."""
    if s.coefficients == "published":
        as_rule = ", ".join(f"{v:g} ({k})" for k, v in s.rule_phi.items() if v is not None)
        return (
            f"EfficientNet-B{s.phi:g}'s published width / depth / resolution (the reference code's "
            f"table, picked by hand, not alpha^phi): the rule (alpha {s.alpha:g}, beta {s.beta:g}, "
            f"gamma {s.gamma:g}) gives these multipliers at phi = {as_rule}"
        )
    return (
        "the EfficientNet paper's rule: depth alpha^phi, width beta^phi, resolution gamma^phi "
        f"(alpha {s.alpha:g}, beta {s.beta:g}, gamma {s.gamma:g}); the published B1-B7 used "
        "hand-picked multipliers instead (--published)"
    )


def _published_twin(
    base: NetworkConfig, phi: float, resolution: int | None, name: str
) -> dict[str, Any] | None:
    """For an integer phi in 1..7: the published B<phi>'s multipliers applied to `base`, for
    comparison."""
    from spaces.scaling import published

    if not float(phi).is_integer() or not 1 <= phi <= 7:
        return None
    p = published(base, int(phi), resolution, base_name=name)
    return {
        "n": int(phi),
        "model": f"efficientnet_b{int(phi)}" if name == "efficientnet_b0" else None,
        "depth_mult": p.depth_mult,
        "width_mult": p.width_mult,
        "resolution": p.resolution,
        "params": p.complexity.params,
        "flops": p.complexity.flops,
        "rule_phi": p.rule_phi,
    }


def _cmd_grid(args: argparse.Namespace, cfg: NetworkConfig) -> int:
    if args.phi is not None:
        raise CliError(
            "--grid searches (alpha, beta, gamma) at phi = 1 and lists phi = 1..7; leave out --phi"
        )
    if args.dry_run:
        from nas.scale import grid_table

        rows = grid_table(cfg, args.step, args.tolerance, args.resolution)
        if not rows:
            raise CliError(
                f"the grid with step {args.step:g} and tolerance {args.tolerance:g} has no point; "
                "use a finer --step or a larger --tolerance"
            )
        if args.json:
            print(
                json.dumps(
                    {
                        "base": args.base,
                        "step": args.step,
                        "tolerance": args.tolerance,
                        "points": rows,
                    }
                )
            )
            return 0
        print(
            f"{len(rows)} grid points for {args.base} (step {args.step:g}, |alpha beta^2 gamma^2 - "
            f"2| <= {args.tolerance:g}); phi = 1 models at the base's setting:"
        )
        _print_table(
            rows,
            [
                "point",
                "alpha",
                "beta",
                "gamma",
                "product",
                "resolution",
                "depth",
                "params",
                "flops",
                "flops_growth",
            ],
        )
        return 0
    from nas.scale import run_grid

    with stored_errors():
        result = run_grid(
            cfg,
            _label(args.base),
            step=args.step,
            tolerance=args.tolerance,
            top=args.top,
            repeats=args.repeats,
            seed=args.seed,
            workers=args.workers,
            **stored_options(args),
            family_resolution=args.resolution,
            progress=None if not args.json else False,
            log=None if args.json else lambda text: print(text, file=sys.stderr),
        )
    if args.json:
        print(json.dumps({"base": args.base, **result.to_dict()}))
        return 0
    print(
        f"study {result.study} in {result.storage}: {result.points} grid points, trained "
        f"{result.trained} in {result.seconds:.1f} s"
    )
    rows = [
        {
            **r,
            "errors": " ".join(f"{e:.4f}" for e in r["errors"]),
            "std": "-" if r["std"] is None else f"{r['std']:.4f}",
            "mean_error": f"{r['mean_error']:.4f}",
        }
        for r in result.ranking
    ]
    _print_table(rows, ["point", "alpha", "beta", "gamma", "seeds", "mean_error", "std", "errors"])
    if result.best:
        b = result.best
        spread = (
            f" +- {b['std']:.4f} (std over {b['seeds']} seeds)"
            if b["std"] is not None
            else " (one seed)"
        )
        runner = next((r for r in result.ranking[1:] if r["seeds"] == b["seeds"]), None)
        margin = f"; next best {runner['mean_error']:.4f}" if runner else ""
        print(
            f"best: alpha {b['alpha']:g}, beta {b['beta']:g}, gamma {b['gamma']:g}: mean error "
            f"{b['mean_error']:.4f}{spread}{margin}"
        )
        print(f"family of {args.base} with these coefficients:")
        _print_table(
            result.family,
            [
                "phi",
                "depth_mult",
                "width_mult",
                "resolution",
                "layers",
                "params",
                "flops",
                "flops_growth",
                "ideal_growth",
            ],
        )
    return 0


def _print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    def cell(v: Any) -> str:
        if isinstance(v, bool) or v is None:
            return str(v)
        if isinstance(v, int):
            return f"{v:,}"
        if isinstance(v, float):
            return f"{v:g}"
        return str(v)

    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[k]) for row in cells]) for k, c in enumerate(columns)]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))
