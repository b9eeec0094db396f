"""The `nas` command line. Heavy imports (torch) happen inside the commands that need them."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from analysis import add_analysis_parsers
from nas.argtypes import band, device, positive_int, resolution, size
from nas.scale import add_parsers as add_scale_parsers
from nas.zoo import add_parsers as add_zoo_parsers
from spaces.errors import NasError, SpacesError

DESCRIPTION = """\
Network design spaces: sample, count, train, scale and search networks (AnyNet/RegNet, MBConv, the zoo).
Run `nas COMMAND --help` for the options of a command."""
BAND_FLAGS = ("--flops", "--params", "--acts")


class Parser(argparse.ArgumentParser):
    """argparse whose usage mistakes are one line (the problem and where the help is) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


class CliError(NasError):
    """A usage problem; printed as one line, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(attach_band_values(sys.argv[1:] if argv is None else list(argv)))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except NasError as e:  # CliError, SpacesError, OutputError, ... : every error of ours is one line
        print(f"nas {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `nas sample ... | head`
        return 0
    except KeyboardInterrupt:
        print(f"nas {args.command}: interrupted", file=sys.stderr)
        return 130


def attach_band_values(argv: list[str]) -> list[str]:
    """`--flops -5M:1G` would read as two options; write it `--flops=-5M:1G` so the band check names the
    problem (a negative bound) instead of argparse saying "expected one argument"."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in BAND_FLAGS and i + 1 < len(argv) and argv[i + 1].startswith("-") and ":" in argv[i + 1]:
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

    p = sub.add_parser("spaces", help="list design spaces", description="List the registered design "
                       "spaces: free dimensions, size on the sampling grid, the paper's Table 1 size.")
    p.add_argument("--json", action="store_true", help="print a JSON list with each space's distributions")
    p.set_defaults(func=cmd_spaces)

    p = sub.add_parser("complexity", help="params, flops, acts of a model or config",
                       description="Exact analytic complexity of a named model (e.g. regnetx_400mf) or a "
                       "config file (JSON/YAML, or a line of `nas sample --dry-run`), computed from the "
                       "config without building the network. flops = multiply-adds of conv and linear "
                       "layers; acts = their output elements.")
    p.add_argument("model", metavar="NAME_OR_CONFIG_FILE")
    p.add_argument("--resolution", type=resolution, default=None,
                   help="input size R or HxW (default: the model's native resolution, 224 for AnyNet/RegNet)")
    p.add_argument("--in-channels", type=positive_int, default=None, help="input channels (default: config's)")
    p.add_argument("--num-classes", type=positive_int, default=None, help="classes (default: config's)")
    p.add_argument("--stem", choices=["imagenet", "small"], default=None,
                   help="imagenet: the family's ImageNet stem; small: its 28-32 px stem (default: config's)")
    p.add_argument("--verify", action="store_true",
                   help="also build the model and count it with fvcore and forward hooks; exit 1 on a mismatch")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_complexity)

    p = sub.add_parser("train", help="proxy-train one model and print the result",
                       description="Train one named model or config file with the proxy trainer (the same "
                       "schedule `nas sample` uses) and report top-1 error on the test split, training loss, "
                       "time, images/s and inference latency. The model is adapted to the dataset: its "
                       "channels and classes, and the small-image stem below 64 px.")
    p.add_argument("model", metavar="NAME_OR_CONFIG_FILE")
    add_training_args(p)
    p.add_argument("--seed", type=int, default=0, help="seed of init, data order and augmentation")
    p.add_argument("--save", default=None, metavar="FILE.pt",
                   help="keep the trained model: its weights, the adapted config, the schedule and the error "
                   "(load it with nas.export.load_trained; export it with `nas export-model FILE.pt`)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="sample configs from a design space and train them",
                       description="Seeded rejection sampling of N distinct configs from a design space "
                       "whose complexity at the reference setting (224x224 RGB, ImageNet stem, 1000 classes) "
                       "lies in the bands. With --dry-run, writes one JSON object per config (JSONL). Without "
                       "it, trains each config once as a trial of an Optuna study (default name SPACE-sSEED, "
                       "default storage results/nas.journal): running the same command again resumes it and "
                       "trains only the missing configs; several commands or --workers share it safely.")
    p.add_argument("--space", required=True, help="design space name (see `nas spaces`)")
    p.add_argument("-n", type=positive_int, default=500, help="number of configs (default 500)")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same configs")
    _add_band_args(p)
    p.add_argument("--max-candidates", type=positive_int, default=None,
                   help="give up after this many candidates (default 20M)")
    p.add_argument("--dry-run", action="store_true", help="write the sampled configs without training")
    p.add_argument("--out", "-o", default=None, help="with --dry-run: write the JSONL to this file instead of stdout")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON (on stderr with --dry-run, "
                   "else on stdout)")
    _add_study_args(p)
    p.add_argument("--workers", type=positive_int, default=1,
                   help="training processes sharing the study (default 1); on CPU each gets its share of the cores")
    p.add_argument("--retry-failed", action="store_true",
                   help="train again the configs whose trials failed (diverged, oom, error)")
    p.add_argument("--no-scores", action="store_true",
                   help="do not record the training-free scores with each trained trial (saves ~1 s a model)")
    p.add_argument("--score", default=None, metavar="NAME[,NAME...]",
                   help="training-free: train nothing, rank the configs by this zero-cost score of the model at "
                   "init (naswot, synflow, snip, grad_norm, jacob_cov; higher is better), recording any others "
                   "listed; study SPACE-sSEED-trainfree-NAME. Without it every trained trial records all of them")
    _add_launcher_args(p)
    add_training_args(p)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("search", help="search a design space with an Optuna sampler",
                       description="Define-by-run search of a design space: the sampler proposes per-stage depth, "
                       "width, bottleneck and group width (AnyNet; ordering constraints kept by construction) or "
                       "d, w0, wa, wm, group width (RegNet); proposals outside the complexity bands, RegNet "
                       "settings without 4 stages and configs already trained are pruned without training. Each "
                       "other proposal is proxy-trained; the study stops at N trained trials (re-run to go on, "
                       "or raise -n). Prints the best trial, or the Pareto front for several objectives.")
    p.add_argument("--space", required=True, help="design space name (see `nas spaces`)")
    p.add_argument("--sampler", choices=["tpe", "nsga2", "random"], default="tpe", help="default tpe")
    p.add_argument("-n", type=positive_int, default=100, help="trained trials in the study (default 100)")
    p.add_argument("--objectives", default="error", help="comma-separated, e.g. error,flops (default error); "
                   "valid: error, params, flops, acts (224 px), train_params, train_flops, train_acts, "
                   "latency_ms_b1, latency_ms_b64, train_seconds, images_per_second (maximized)")
    p.add_argument("--seed", type=int, default=0, help="sampler and training seed")
    p.add_argument("--population-size", type=positive_int, default=None,
                   help="NSGA-II population (default n/4, between 4 and 50)")
    p.add_argument("--max-rejected", type=positive_int, default=None,
                   help="stop after this many pruned proposals in a row (default: 200 + 50 n, more for spaces "
                        "whose band holds few of their configs)")
    _add_band_args(p)
    p.add_argument("--json", action="store_true", help="print the summary and the front as one JSON object")
    p.add_argument("--plot", default=None, metavar="FILE.png",
                   help="with two objectives: every trained trial and the Pareto front as a PNG")
    _add_study_args(p)
    add_training_args(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("export", help="write a study's trials as CSV or Parquet",
                       description="One row per trial of a `nas sample` or `nas search` study: trial, state, error, "
                       "params/flops/acts at 224 px and at the training resolution (train_*), per-stage depth_i, "
                       "width_i, stride_i, bottleneck_i, group_width_i, block, se_ratio, RegNet d/w0/wa/wm, the "
                       "measured metrics, fail_reason, space, seed, dataset.")
    _add_study_and_storage(p)
    p.add_argument("-o", "--out", default=None, help="FILE.csv or FILE.parquet (default: CSV on stdout)")
    p.add_argument("--json", action="store_true", help="print a JSON summary (rows, columns, file)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("status", help="counts, throughput and time left of a stored study",
                       description="Read a study without changing it: trials complete, running, waiting, failed "
                       "(and why), retried and duplicate copies; for a `nas sample` study the configs done out of "
                       "N, trials per minute over the recent window and the time left at that rate; the hosts of "
                       "the running trials and their oldest heartbeat. Works while workers run.")
    _add_study_and_storage(p)
    p.add_argument("--window", type=float, default=10.0, metavar="MIN",
                   help="minutes of recent trials the throughput is measured over (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("studies", help="list the studies of a storage with their progress",
                       description="Read a storage without changing it: each study's kind (sample, search, "
                       "scale-grid, training-free), design space, N, trials complete / failed / running / waiting, "
                       "and the configs done out of N.")
    _add_study_and_storage(p, study=False)
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=cmd_studies)

    p = sub.add_parser("best", help="the best configs of a study",
                       description="The best complete trials of a stored study, ranked by error (lower is better), "
                       "with params / flops / acts at the study's reference setting and each config described; a "
                       "training-free study is ranked by its zero-cost score (higher is better) and says so. "
                       "`spaces.get_config(row)` reads a config of `--json` or of `nas export` back.")
    _add_study_and_storage(p)
    p.add_argument("--top", type=positive_int, default=10, help="how many configs (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_best)

    p = sub.add_parser("export-model", help="write a model as TorchScript or ONNX",
                       description="Export a model kept by `nas train --save FILE.pt` (with its trained weights, "
                       "at its training resolution) or any named model or config file (randomly initialised) to "
                       "TorchScript (torch.jit.trace) or ONNX (batch dimension dynamic; ONNX needs the onnx "
                       "package). A kept model expects the trainer's normalised input: (x / 255 - mean) / std, "
                       "mean and std stored in the .pt file.")
    p.add_argument("model", metavar="NAME_CONFIG_OR_PT")
    p.add_argument("--format", choices=["torchscript", "onnx"], default="torchscript", help="default torchscript")
    p.add_argument("-o", "--out", required=True, help="the file to write (e.g. model.ts or model.onnx)")
    p.add_argument("--resolution", type=resolution, default=None,
                   help="input size R or HxW (default: a kept model's training resolution, else the native one)")
    p.add_argument("--in-channels", type=positive_int, default=None, help="input channels (a config only)")
    p.add_argument("--num-classes", type=positive_int, default=None, help="classes (a config only)")
    p.add_argument("--stem", choices=["imagenet", "small"], default=None,
                   help="imagenet: the family's ImageNet stem; small: its 28-32 px stem (a config only)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_export_model)
    add_analysis_parsers(sub)
    add_scale_parsers(sub)
    add_zoo_parsers(sub)
    return parser


def _add_band_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--flops", type=band, default=None, metavar="LO:HI",
                   help="flops band, e.g. 360M:400M, 1G:, or none (default: the space's, 360M:400M)")
    p.add_argument("--params", type=band, default=None, metavar="LO:HI", help="params band, e.g. :5M")
    p.add_argument("--acts", type=band, default=None, metavar="LO:HI", help="acts band")


def _add_study_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("stored study")
    g.add_argument("--study", default=None, help="Optuna study name (default derived from space and seed)")
    g.add_argument("--storage", default=None, help="journal file (PATH.journal, journal:PATH), SQLite file "
                   "(PATH.db) or Optuna URL (sqlite:///F.db, postgresql://..., redis://...); default "
                   "results/nas.journal or $NAS_STORAGE")
    g.add_argument("--heartbeat-interval", type=float, default=None, metavar="S",
                   help="seconds between heartbeats of a training trial (default 10)")
    g.add_argument("--grace-period", type=float, default=None, metavar="S",
                   help="a running trial without a heartbeat for this long is retried (default 60)")
    g.add_argument("--threads", type=positive_int, default=None,
                   help="torch threads per training process on CPU (default: the cores / the workers)")
    g.add_argument("--storage-retry", type=float, default=None, metavar="S",
                   help="how long a worker retries a storage that stops answering (a database restart), with "
                   "exponential back-off, before it gives up (default 300, or $NAS_STORAGE_RETRY)")


def _add_launcher_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("worker jobs (several machines)")
    g.add_argument("--launcher", choices=["local", "slurm"], default=None,
                   help="run the workers as jobs through submitit: slurm submits a job array of --jobs tasks "
                   "(from a login node; the storage must be reachable from the nodes, e.g. postgresql://...), "
                   "local runs them as local processes. Default: this process and --workers")
    g.add_argument("--jobs", type=positive_int, default=None, help="worker jobs to launch (default 1)")
    g.add_argument("--partition", default=None, help="Slurm partition")
    g.add_argument("--gpus-per-job", type=int, default=0, metavar="G",
                   help="GPUs per job; a job with G GPUs runs G workers, one per GPU (default 0)")
    g.add_argument("--cpus-per-job", type=positive_int, default=None, metavar="C", help="CPUs per worker")
    g.add_argument("--mem-gb", type=float, default=None, help="memory per job in GB")
    g.add_argument("--time", default=None, metavar="T", help="time limit per job: MINUTES, HH:MM:SS, D-HH:MM:SS, "
                   "90m, 4h (default 4h on Slurm)")
    g.add_argument("--slurm-arg", action="append", default=None, metavar="KEY=VALUE",
                   help="another #SBATCH flag, e.g. account=myproject or qos=high (repeatable)")
    g.add_argument("--job-dir", default="results/jobs", help="submitit's folder for job files and logs, "
                   "per study (on Slurm: a folder the nodes share; default results/jobs)")
    g.add_argument("--wait", action=argparse.BooleanOptionalAction, default=None,
                   help="wait for the jobs and show progress (default: yes for local, no for slurm: follow "
                   "a Slurm sweep with `nas status`)")


# --- commands ---------------------------------------------------------------------------------------
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
        print(f"{r['name']:<{width}} {r['dims']:>4} {r['size']:>9.2e} {paper:>8}  {r['description']}")
    print("\nsize: distinct settings on the sampling grid; paper: Table 1 of the RegNet paper, which counts "
          "ordered\nspaces (D, E) as 1/4! of the unordered ones and RegNet on a coarser grid.")
    return 0


def cmd_complexity(args: argparse.Namespace) -> int:
    from spaces import complexity, get_config

    cfg = get_config(args.model)
    if args.stem is not None:  # the family's ImageNet stem, or its reduced one for 28-32 px inputs
        cfg = cfg.for_input(cfg.in_channels, cfg.num_classes, small=args.stem == "small")
    overrides = {"in_channels": args.in_channels, "num_classes": args.num_classes}
    cfg = cfg.replace(**{k: v for k, v in overrides.items() if v is not None})
    cx = complexity(cfg, args.resolution)
    out: dict[str, Any] = {"model": args.model, **cx.to_dict(), "in_channels": cfg.in_channels,
                           "num_classes": cfg.num_classes, "stem": getattr(cfg, "stem", args.stem),
                           "config": cfg.to_dict()}
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
        print(f"  built model: params {m['params']:,}, fvcore conv+linear flops {m['flops']:,}, "
              f"acts {m['acts']:,}: {verdict}")
    return 1 if mismatch else 0


def _add_study_and_storage(p: argparse.ArgumentParser, study: bool = True) -> None:
    """--study (required) and --storage, for the commands that read a stored study."""
    if study:
        p.add_argument("--study", required=True, help="study name (an unknown name lists the studies)")
    p.add_argument("--storage", default=None, help="storage URL or journal file (default results/nas.journal)")


def add_training_args(p: argparse.ArgumentParser) -> None:
    """Dataset, device and schedule flags shared by the commands that train."""
    from nas.schedule import Schedule

    d = Schedule()
    g = p.add_argument_group("training (proxy schedule)")
    g.add_argument("--dataset", default="fashion-mnist",
                   help="fashion-mnist (default), cifar10, cifar100, imagefolder:PATH[@SIZE], synthetic[:N]")
    g.add_argument("--data-dir", default=None, help="folder holding the dataset files (else $NAS_DATA, the "
                   "user cache, /usr/share/datasets)")
    g.add_argument("--device", type=device, default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N, mps")
    g.add_argument("--epochs", type=positive_int, default=d.epochs, help=f"default {d.epochs}")
    g.add_argument("--batch-size", type=positive_int, default=d.batch_size, help=f"default {d.batch_size}")
    g.add_argument("--lr", type=float, default=d.lr, help=f"learning rate at batch 128, scaled linearly with the "
                   f"batch size (default {d.lr})")
    g.add_argument("--weight-decay", type=float, default=d.weight_decay, help=f"default {d.weight_decay}")
    g.add_argument("--train-size", type=size, default=d.train_size,
                   help=f"training images, class-balanced (default {d.train_size}; 'all' for the whole split)")
    g.add_argument("--test-size", type=size, default=d.test_size,
                   help=f"test images (default {d.test_size or 'all: the whole split'}; 'all' for the whole split)")
    g.add_argument("--no-augment", action="store_true", help="no random crop / flip")
    g.add_argument("--precision", choices=("auto", "fp32", "bf16"), default=d.precision,
                   help="bf16 autocast or float32; auto (default): bf16 on CUDA and on CPUs with bf16 units "
                   "(AVX-512 BF16 / AMX), where it is faster")
    g.add_argument("--warmup", type=float, default=d.warmup,
                   help=f"fraction of the steps with a linear lr warm-up from lr/10 (default {d.warmup})")
    g.add_argument("--label-smoothing", type=float, default=d.label_smoothing,
                   help=f"default {d.label_smoothing}")


def schedule_from_args(args: argparse.Namespace):
    from nas.schedule import Schedule

    try:
        return Schedule(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                        weight_decay=args.weight_decay, train_size=args.train_size, test_size=args.test_size,
                        augment=not args.no_augment, precision=args.precision, warmup=args.warmup,
                        label_smoothing=args.label_smoothing)
    except ValueError as e:
        raise CliError(str(e)) from None


def cmd_train(args: argparse.Namespace) -> int:
    from nas.data import DatasetError, data_dir_note, load_dataset, size_notes
    from nas.export import Captured, save_trained
    from nas.outputs import output_file
    from nas.progress import Progress
    from nas.trainer import TrainingFailed, adapt_config, train
    from spaces import get_config

    cfg = get_config(args.model)
    schedule = schedule_from_args(args)
    if args.save:
        output_file(args.save)  # an impossible path fails now, not after the training
    try:
        dataset = load_dataset(args.dataset, args.data_dir)
        for note in filter(None, [data_dir_note(dataset, args.data_dir),
                                  *size_notes(dataset, schedule.train_size, schedule.test_size)]):
            print(f"nas train: note: {note}", file=sys.stderr)
        with Progress(0, f"training {args.model}", unit="step", every_items=0, quiet_for=5) as bar:
            def report(step: int, total: int, loss: float) -> None:
                bar.set_total(total)
                bar.update(step, extra=f"loss {loss:.4f}")

            captured = Captured()
            result = train(cfg, dataset, schedule, seed=args.seed, device=args.device, progress=report,
                           on_model=captured.keep)
    except (DatasetError, ValueError) as e:
        raise CliError(str(e)) from None
    except TrainingFailed as e:
        raise CliError(f"training failed ({e.reason}): {e}") from None
    out = {"model": args.model, "dataset": dataset.name, "seed": args.seed, **result.to_dict(),
           "schedule": schedule.to_dict(), "config": adapt_config(cfg, dataset).to_dict()}
    if args.save:
        save_trained(args.save, adapt_config(cfg, dataset), captured.model, dataset, schedule, result,
                     seed=args.seed)
        out["saved"] = args.save
        print(f"nas train: kept the trained model in {args.save}", file=sys.stderr)
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{args.model} on {dataset.name} ({result.device}, {schedule.epochs} epoch(s), "
          f"{result.steps} steps of {schedule.batch_size}):")
    print(f"  top-1 error {result.error:.4f}   train loss {result.train_loss:.4f}")
    print(f"  {result.train_seconds:.1f} s training, {result.images_per_second:,.0f} images/s; "
          f"latency {result.latency_ms_b1:.2f} ms (batch 1), {result.latency_ms_b64:.2f} ms (batch 64)")
    print(f"  at {dataset.resolution} px: params {result.params:,}, flops {result.flops:,}, acts {result.acts:,}")
    return 0


def _bands_from_args(args: argparse.Namespace, space) -> list:
    from spaces import Band
    from spaces.sampling import default_bands

    bands = default_bands(space) if args.flops is None else []
    for metric, limits in (("flops", args.flops), ("params", args.params), ("acts", args.acts)):
        if limits and limits != (None, None):
            bands.append(Band(metric, *limits))
    return bands


def cmd_sample(args: argparse.Namespace) -> int:
    from nas.outputs import output_file, write_failed
    from nas.progress import Progress
    from spaces import get_space, sample
    from spaces.sampling import DEFAULT_MAX_CANDIDATES

    if not args.dry_run:
        return _sweep(args)
    if args.score is not None:
        raise CliError("--score ranks the configs in a stored study without training; --dry-run only writes the "
                       "configs: drop one of them")
    space = get_space(args.space)
    bands = _bands_from_args(args, space)
    out = output_file(args.out) if args.out else None  # before sampling: an impossible path fails at once
    with Progress(args.n, f"sampling {space.name}", unit="config", every_items=0, quiet_for=5) as bar:
        result = sample(space, args.n, seed=args.seed, bands=bands,
                        max_candidates=args.max_candidates or DEFAULT_MAX_CANDIDATES,
                        progress=lambda k: bar.update(bar.done + k))
    lines = "".join(json.dumps(r) + "\n" for r in result.records)
    if out is not None:
        try:
            out.write_text(lines)
        except OSError as e:
            raise write_failed(out, e) from None
    else:
        sys.stdout.write(lines)
    summary = {"space": space.name, "n": len(result.records), "seed": args.seed,
               "bands": [str(b) for b in result.bands], "candidates_tried": result.candidates_tried,
               "in_band": result.in_band, "duplicates": result.duplicates,
               "seconds": round(result.seconds, 4),
               "candidates_per_second": round(result.candidates_per_second), "out": args.out}
    if args.json:
        print(json.dumps(summary), file=sys.stderr)
    else:
        print(f"sampled {summary['n']} configs of {space.name} ({'; '.join(summary['bands']) or 'no band'}) "
              f"in {result.seconds:.2f} s: {result.candidates_tried:,} candidates "
              f"({result.candidates_per_second:,.0f}/s), {result.in_band:,} in band, "
              f"{result.duplicates} duplicates dropped" + (f"; wrote {args.out}" if args.out else ""),
              file=sys.stderr)
    return 0


class _stored_errors:
    """Turn the errors of sweeps, storages, datasets and training into one-line CLI errors."""

    def __enter__(self) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)

    def __exit__(self, kind, error, tb) -> bool:
        if error is None or isinstance(error, CliError | SpacesError | KeyboardInterrupt):
            return False
        from nas.data import DatasetError
        from nas.storage import StorageError
        from nas.sweep import SweepError
        from nas.trainer import TrainingFailed

        if isinstance(error, TrainingFailed):
            raise CliError(f"training failed ({error.reason}): {error}") from None
        if isinstance(error, SweepError | StorageError | DatasetError):
            raise CliError(str(error)) from None
        return False


def _stored_options(args: argparse.Namespace) -> dict[str, Any]:
    from nas.sweep import GRACE_PERIOD, HEARTBEAT_INTERVAL

    interval = args.heartbeat_interval if args.heartbeat_interval is not None else HEARTBEAT_INTERVAL
    grace = args.grace_period if args.grace_period is not None else max(GRACE_PERIOD, 4 * interval)
    if interval <= 0 or grace <= interval:
        raise CliError(f"--grace-period ({grace:g} s) must exceed --heartbeat-interval ({interval:g} s), "
                       "which must be positive")
    if args.storage_retry is not None and args.storage_retry < 0:
        raise CliError(f"--storage-retry must be 0 or more seconds, got {args.storage_retry:g}")
    return {"study": args.study, "storage": args.storage, "heartbeat_interval": interval, "grace_period": grace,
            "dataset": args.dataset, "data_dir": args.data_dir, "device": args.device, "threads": args.threads,
            "schedule": schedule_from_args(args), "storage_retry": args.storage_retry}


def _sweep(args: argparse.Namespace) -> int:
    """`nas sample` without --dry-run: train the N sampled configs as the trials of a stored study."""
    import signal
    import threading

    from spaces import get_space

    if args.out:
        raise CliError("--out writes the configs of --dry-run; a sweep is stored in its study: write its "
                       "results with `nas export --study NAME -o FILE.csv`")
    free = args.score is not None
    space = get_space(args.space)
    bands = _bands_from_args(args, space)
    with _stored_errors():
        from nas.sweep import run_sweep

        options = _stored_options(args)
        launcher = _launcher(args)
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None  # a scheduler's stop
        try:
            workers = (args.jobs or 1) if launcher else args.workers
            summary = run_sweep(space, args.n, seed=args.seed, bands=bands, workers=workers, launcher=launcher,
                                retry_failed=args.retry_failed, max_candidates=args.max_candidates,
                                training_free=free, scores=args.score.split(",") if free else
                                (() if args.no_scores else None), **options)
        except KeyboardInterrupt:
            print("nas sample: interrupted; the running trials were marked FAIL (interrupted) and queued again: "
                  "run the same command to finish the sweep", file=sys.stderr)
            return 130
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, previous)
    out = summary.to_dict()
    if args.json:
        print(json.dumps(out))
    elif summary.jobs and not summary.worker_exit_codes:  # submitted to Slurm, not waited for
        print(f"study {summary.study} in {summary.storage}: {summary.complete}/{summary.n} complete, "
              f"{summary.failed} failed; {len(summary.jobs)} worker jobs submitted ({', '.join(summary.jobs)})")
    elif summary.training_free:
        best = (f"best {summary.score} {summary.best_score:.4g} (trial {summary.best_trial}; higher is better)"
                if summary.best_score is not None else "no complete trial")
        print(f"TRAINING-FREE study {summary.study} in {summary.storage}: {summary.complete}/{summary.n} ranked by "
              f"the zero-cost score {summary.score} (no model trained: these are scores, not errors), "
              f"{summary.failed} failed, {best}; scored {summary.trained} in {summary.seconds:.1f} s. "
              f"Analyze with `nas analyze {summary.study} --metric score_{summary.score}`")
    else:
        best = (f"best error {summary.best_error:.4f} (trial {summary.best_trial})"
                if summary.best_error is not None else "no complete trial")
        print(f"study {summary.study} in {summary.storage}: {summary.complete}/{summary.n} complete, "
              f"{summary.failed} failed, {best}; trained {summary.trained} in {summary.seconds:.1f} s")
    if summary.missing and summary.jobs and not summary.worker_exit_codes:  # submitted, not waited for
        return 0
    if summary.missing:
        crashed = [c for c in summary.worker_exit_codes if c not in (0, 130)]
        why = f" (worker exit codes {crashed})" if crashed else ""
        print(f"nas sample: {summary.missing} of {summary.n} configs are not finished{why}; run the same command "
              "again to finish them", file=sys.stderr)
        return 1
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _launcher(args: argparse.Namespace):
    """The submitit launcher that --launcher asks for (None: this process and --workers)."""
    launcher_flags = {"--jobs": args.jobs, "--partition": args.partition, "--time": args.time,
                      "--cpus-per-job": args.cpus_per_job, "--mem-gb": args.mem_gb, "--slurm-arg": args.slurm_arg,
                      "--wait": args.wait, "--gpus-per-job": args.gpus_per_job or None}
    if args.launcher is None:
        given = [flag for flag, value in launcher_flags.items() if value is not None]
        if given:
            raise CliError(f"{given[0]} configures worker jobs: add --launcher slurm or --launcher local")
        return None
    if args.workers != 1:
        raise CliError("--workers runs processes of this command; with --launcher, give the number of worker "
                       "jobs with --jobs")
    from nas.cluster import Launcher, launch_options_from

    options = launch_options_from({"launcher": args.launcher, "jobs": args.jobs or 1, "partition": args.partition,
                                   "gpus_per_job": args.gpus_per_job, "cpus_per_job": args.cpus_per_job,
                                   "mem_gb": args.mem_gb, "time": args.time, "slurm_arg": args.slurm_arg,
                                   "job_dir": args.job_dir, "wait": args.wait})
    return Launcher(options)


def cmd_status(args: argparse.Namespace) -> int:
    with _stored_errors():
        from nas.cluster import format_status, study_status

        if args.window <= 0:
            raise CliError(f"--window must be a positive number of minutes, got {args.window:g}")
        status = study_status(args.study, args.storage, window_minutes=args.window)
    print(json.dumps(status) if args.json else format_status(status))
    return 0


def cmd_studies(args: argparse.Namespace) -> int:
    with _stored_errors():
        from nas.studies import format_studies, list_studies

        rows = list_studies(args.storage)
    print(json.dumps(rows) if args.json else format_studies(rows, args.storage))
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    with _stored_errors():
        from nas.best import best_configs, format_best

        best = best_configs(args.study, args.storage, args.top)
    print(json.dumps(best) if args.json else format_best(best))
    return 0


def cmd_export_model(args: argparse.Namespace) -> int:
    from nas.export import export_file

    result = export_file(args.model, args.format, args.out, args.resolution, args.in_channels, args.num_classes,
                         args.stem)
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(f"wrote {result.out} ({result.format}, {result.bytes:,} bytes): {result.source} with {result.weights} "
          f"weights, input {'x'.join(map(str, result.input_shape))}"
          f"{' (batch dynamic)' if result.format == 'onnx' else ''}, output "
          f"{'x'.join(map(str, result.output_shape))}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from spaces import get_space

    space = get_space(args.space)
    bands = _bands_from_args(args, space)
    with _stored_errors():
        from nas.sweep import parse_objectives, run_search

        objectives = parse_objectives(args.objectives)
        options = _stored_options(args)
        try:
            summary = run_search(space, args.n, sampler=args.sampler, objectives=objectives, seed=args.seed,
                                 bands=bands, population_size=args.population_size,
                                 max_rejected=args.max_rejected, **options)
        except KeyboardInterrupt:
            print("nas search: interrupted; the running trial was marked FAIL (interrupted): run the same "
                  "command to go on", file=sys.stderr)
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
    print(f"{title} of {summary.study} ({', '.join(f'{o} ({_direction(o)})' for o in objectives)}): "
          f"{len(front)} of {summary.complete} complete trials")
    columns = list(dict.fromkeys(["trial", *objectives, "error", "flops", "params"]))
    anynet = all("depths" in row for row in front)
    header = "  ".join(f"{c:>12}" for c in columns) + ("  depths / widths / b / g" if anynet else "  config")
    print(header)
    for row in front:
        cells = "  ".join(f"{_cell(row.get(c)):>12}" for c in columns)
        body = (f"{row['depths']} / {row['widths']} / {row['bottlenecks']} / {row['group_widths']}" if anynet
                else json.dumps(row.get("config"), separators=(",", ":")))
        print(f"{cells}  {body}")
    print(f"study {summary.study} in {summary.storage}: {summary.complete} complete, {summary.failed} failed, "
          f"{summary.pruned} pruned; trained {summary.trained} in {summary.seconds:.1f} s")
    return 0


def _plot_search_front(study: str, storage: str | None, objectives: list[str], path: str) -> Path:
    """All complete trials of a two-objective search and their front (analysis.pareto), as a PNG."""
    from analysis.pareto import plot_pareto
    from nas.outputs import output_file
    from nas.sweep import OBJECTIVES, export_study

    if len(objectives) != 2:
        raise CliError(f"--plot draws two objectives; this search has {len(objectives)} ({', '.join(objectives)})")
    frame = export_study(study, storage)
    frame = frame[frame["state"] == "COMPLETE"]
    x, y = objectives[1], objectives[0]  # complexity across, error up
    return plot_pareto({study: frame}, x, y, output_file(path), OBJECTIVES[x] == "maximize",
                       OBJECTIVES[y] == "maximize")


def _direction(objective: str) -> str:
    from nas.sweep import OBJECTIVES

    return "max" if OBJECTIVES[objective] == "maximize" else "min"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4f}" if abs(value) < 100 else f"{value:,.1f}"
    return f"{int(value):,}" if isinstance(value, int | float) else str(value)


def cmd_export(args: argparse.Namespace) -> int:
    with _stored_errors():
        from nas.sweep import export_study, write_table

        df = export_study(args.study, args.storage)
        if args.out:
            write_table(df, args.out)
        else:
            df.to_csv(sys.stdout, index=False)
    summary = {"study": args.study, "storage": args.storage or _default_storage(), "rows": len(df),
               "columns": list(df.columns), "out": args.out}
    if args.json:
        print(json.dumps(summary), file=sys.stdout if args.out else sys.stderr)
    elif args.out:
        print(f"wrote {len(df)} trials of {args.study} ({len(df.columns)} columns) to {args.out}", file=sys.stderr)
    return 0


def _default_storage() -> str:
    from nas.storage import default_storage

    return default_storage()


def _help_formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=20)


if __name__ == "__main__":
    sys.exit(main())
