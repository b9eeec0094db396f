"""The `nas` command line: the parser of every command, and `main`, which runs one and turns the
errors of ours into one line and an exit status. Each command is a module of this package with its
arguments (`add_parser`) and its run function; they import the library (spaces, nas, analysis),
never the reverse. Heavy imports (torch, optuna, pandas) happen inside the commands that need
them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from nas.cli.analyze import add_parser as add_analyze_parsers
from nas.cli.common import CliError
from nas.cli.complexity import add_parser as add_complexity_parsers
from nas.cli.export_model import add_parser as add_export_model_parser
from nas.cli.sample import add_parser as add_sample_parser
from nas.cli.scale import add_parser as add_scale_parser
from nas.cli.search import add_parser as add_search_parser
from nas.cli.studies import add_parser as add_studies_parsers
from nas.cli.train import add_parser as add_train_parser
from nas.cli.zoo import add_parser as add_zoo_parser
from spaces.errors import NasError

__all__ = ["CliError", "build_parser", "main", "version"]

DESCRIPTION = (
    "Network design spaces: sample, count, train, scale and search networks "
    "(AnyNet/RegNet, MBConv, the zoo).\n"
    "Run `nas COMMAND --help` for the options of a command."
)
BAND_FLAGS = ("--flops", "--params", "--acts")
# in the order of `nas --help`: spaces, complexity; train; sample; search; export, status, studies,
# best; export-model; analyze, fit-regnet; scale; zoo
ADD_PARSERS = (
    add_complexity_parsers,
    add_train_parser,
    add_sample_parser,
    add_search_parser,
    add_studies_parsers,
    add_export_model_parser,
    add_analyze_parsers,
    add_scale_parser,
    add_zoo_parser,
)


class Parser(argparse.ArgumentParser):
    """argparse whose usage mistakes are one line (the problem and where the help is) and exit
    status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(attach_band_values(sys.argv[1:] if argv is None else list(argv)))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except NasError as e:
        # CliError, SpacesError, OutputError, ... : every error of ours is one line
        print(f"nas {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `nas sample ... | head`
        return 0
    except KeyboardInterrupt:
        print(f"nas {args.command}: interrupted", file=sys.stderr)
        return 130


def attach_band_values(argv: list[str]) -> list[str]:
    """`--flops -5M:1G` would read as two options; write it `--flops=-5M:1G` so the band check names
    the problem (a negative bound) instead of argparse saying "expected one argument"."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if (
            argv[i] in BAND_FLAGS
            and i + 1 < len(argv)
            and argv[i + 1].startswith("-")
            and ":" in argv[i + 1]
        ):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("nas-design-spaces")
    except PackageNotFoundError:  # a checkout that was not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="nas", description=DESCRIPTION, formatter_class=_help_formatter)
    parser.add_argument("--version", action="version", version=f"nas {version()}")
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for add_parser in ADD_PARSERS:
        add_parser(sub)
    return parser


def _help_formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=20)
