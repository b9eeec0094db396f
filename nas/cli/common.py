"""What the `nas` commands share: the usage error, the argument groups (bands, stored study, worker
jobs, training), and the translation of the library's errors into one-line CLI errors."""

from __future__ import annotations

import argparse
from typing import Any, Literal

from nas.cli.argtypes import band, device, positive_int, size
from spaces.errors import NasError, SpacesError

__all__ = [
    "CliError",
    "add_band_args",
    "add_launcher_args",
    "add_study_and_storage",
    "add_study_args",
    "add_training_args",
    "bands_from_args",
    "default_storage",
    "schedule_from_args",
    "stored_errors",
    "stored_options",
]


class CliError(NasError):
    """A usage problem; printed as one line, exit status 2."""


# --- argument groups ------------------------------------------------------------------------------
def add_band_args(p: argparse.ArgumentParser) -> None:
    """--flops, --params, --acts: the complexity bands of the sampled or searched configs."""
    p.add_argument(
        "--flops",
        type=band,
        default=None,
        metavar="LO:HI",
        help="flops band, e.g. 360M:400M, 1G:, or none (default: the space's, 360M:400M)",
    )
    p.add_argument(
        "--params", type=band, default=None, metavar="LO:HI", help="params band, e.g. :5M"
    )
    p.add_argument("--acts", type=band, default=None, metavar="LO:HI", help="acts band")


def bands_from_args(args: argparse.Namespace, space) -> list:
    """The spaces.Band list of --flops/--params/--acts (the space's default flops band without
    --flops)."""
    from spaces import Band
    from spaces.sampling import default_bands

    bands = default_bands(space) if args.flops is None else []
    for metric, limits in (("flops", args.flops), ("params", args.params), ("acts", args.acts)):
        if limits and limits != (None, None):
            bands.append(Band(metric, *limits))
    return bands


def add_study_args(p: argparse.ArgumentParser) -> None:
    """The "stored study" group of the commands that train into a study: name, storage, heartbeats,
    threads."""
    g = p.add_argument_group("stored study")
    g.add_argument(
        "--study", default=None, help="Optuna study name (default derived from space and seed)"
    )
    g.add_argument(
        "--storage",
        default=None,
        help="journal file (PATH.journal, journal:PATH), SQLite file "
        "(PATH.db) or Optuna URL (sqlite:///F.db, postgresql://..., redis://...); default "
        "results/nas.journal or $NAS_STORAGE",
    )
    g.add_argument(
        "--heartbeat-interval",
        type=float,
        default=None,
        metavar="S",
        help="seconds between heartbeats of a training trial (default 10)",
    )
    g.add_argument(
        "--grace-period",
        type=float,
        default=None,
        metavar="S",
        help="a running trial without a heartbeat for this long is retried (default: 60, or 4 "
        "heartbeat intervals when that is longer)",
    )
    g.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch threads per training process on CPU (default: the cores / the workers)",
    )
    g.add_argument(
        "--storage-retry",
        type=float,
        default=None,
        metavar="S",
        help="how long a worker retries a storage that stops answering (a database restart), with "
        "exponential back-off, before it gives up (default 300, or $NAS_STORAGE_RETRY)",
    )


def add_study_and_storage(p: argparse.ArgumentParser, study: bool = True) -> None:
    """--study (required) and --storage, for the commands that read a stored study."""
    if study:
        p.add_argument(
            "--study", required=True, help="study name (an unknown name lists the studies)"
        )
    p.add_argument(
        "--storage", default=None, help="storage URL or journal file (default results/nas.journal)"
    )


def add_launcher_args(p: argparse.ArgumentParser) -> None:
    """The "worker jobs" group: --launcher slurm/local and the job resources."""
    g = p.add_argument_group("worker jobs (several machines)")
    g.add_argument(
        "--launcher",
        choices=["local", "slurm"],
        default=None,
        help="run the workers as jobs through submitit: slurm submits a job array of --jobs tasks "
        "(from a login node; the storage must be reachable from the nodes, e.g. postgresql://...), "
        "local runs them as local processes. Default: this process and --workers",
    )
    g.add_argument(
        "--jobs", type=positive_int, default=None, help="worker jobs to launch (default 1)"
    )
    g.add_argument("--partition", default=None, help="Slurm partition")
    g.add_argument(
        "--gpus-per-job",
        type=int,
        default=0,
        metavar="G",
        help="GPUs per job; a job with G GPUs runs G workers, one per GPU (default 0)",
    )
    g.add_argument(
        "--cpus-per-job", type=positive_int, default=None, metavar="C", help="CPUs per worker"
    )
    g.add_argument("--mem-gb", type=float, default=None, help="memory per job in GB")
    g.add_argument(
        "--time",
        default=None,
        metavar="T",
        help="time limit per job: MINUTES, HH:MM:SS, D-HH:MM:SS, 90m, 4h (default 4h on Slurm)",
    )
    g.add_argument(
        "--slurm-arg",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="another #SBATCH flag, e.g. account=myproject or qos=high (repeatable)",
    )
    g.add_argument(
        "--job-dir",
        default="results/jobs",
        help="submitit's folder for job files and logs, "
        "per study (on Slurm: a folder the nodes share; default results/jobs)",
    )
    g.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="wait for the jobs and show progress (default: yes for local, no for slurm: follow "
        "a Slurm sweep with `nas status`)",
    )


def add_training_args(p: argparse.ArgumentParser) -> None:
    """Dataset, device and schedule flags shared by the commands that train."""
    from nas.schedule import Schedule

    d = Schedule()
    g = p.add_argument_group("training (proxy schedule)")
    g.add_argument(
        "--dataset",
        default="fashion-mnist",
        help="fashion-mnist (default), cifar10, cifar100, imagefolder:PATH[@SIZE], synthetic[:N]",
    )
    g.add_argument(
        "--data-dir",
        default=None,
        help="folder holding the dataset files (else $NAS_DATA, the "
        "user cache, /usr/share/datasets)",
    )
    g.add_argument(
        "--device",
        type=device,
        default="auto",
        help="auto (CUDA when present), cpu, cuda, cuda:N, mps",
    )
    g.add_argument("--epochs", type=positive_int, default=d.epochs, help=f"default {d.epochs}")
    g.add_argument(
        "--batch-size", type=positive_int, default=d.batch_size, help=f"default {d.batch_size}"
    )
    g.add_argument(
        "--lr",
        type=float,
        default=d.lr,
        help=f"learning rate at batch 128, scaled linearly with the batch size (default {d.lr})",
    )
    g.add_argument(
        "--weight-decay", type=float, default=d.weight_decay, help=f"default {d.weight_decay}"
    )
    g.add_argument(
        "--train-size",
        type=size,
        default=d.train_size,
        help=f"training images, class-balanced (default {d.train_size}; 'all' for the whole split)",
    )
    g.add_argument(
        "--test-size",
        type=size,
        default=d.test_size,
        help=f"test images (default {d.test_size or 'all: the whole split'}; 'all' "
        "for the whole split)",
    )
    g.add_argument("--no-augment", action="store_true", help="no random crop / flip")
    g.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default=d.precision,
        help="bf16 autocast or float32; auto (default): bf16 on CUDA and on CPUs with bf16 units "
        "(AVX-512 BF16 / AMX), where it is faster",
    )
    g.add_argument(
        "--warmup",
        type=float,
        default=d.warmup,
        help=f"fraction of the steps with a linear lr warm-up from lr/10 (default {d.warmup})",
    )
    g.add_argument(
        "--label-smoothing",
        type=float,
        default=d.label_smoothing,
        help=f"default {d.label_smoothing}",
    )


def schedule_from_args(args: argparse.Namespace):
    """The nas.schedule.Schedule of the training flags; an impossible one is a CliError."""
    from nas.schedule import Schedule

    try:
        return Schedule(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            weight_decay=args.weight_decay,
            train_size=args.train_size,
            test_size=args.test_size,
            augment=not args.no_augment,
            precision=args.precision,
            warmup=args.warmup,
            label_smoothing=args.label_smoothing,
        )
    except ValueError as e:
        raise CliError(str(e)) from None


# --- stored studies -------------------------------------------------------------------------------
class stored_errors:
    """Turn the errors of sweeps, storages, datasets and training into one-line CLI errors."""

    def __enter__(self) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)

    def __exit__(self, kind, error, tb) -> Literal[False]:
        if error is None or isinstance(error, CliError | SpacesError | KeyboardInterrupt):
            return False
        from nas.datasets import DatasetError
        from nas.storage import StorageError
        from nas.study import SweepError
        from nas.trainer import TrainingFailed

        if isinstance(error, TrainingFailed):
            raise CliError(f"training failed ({error.reason}): {error}") from None
        if isinstance(error, SweepError | StorageError | DatasetError):
            raise CliError(str(error)) from None
        return False


def stored_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of run_sweep / run_search that the stored-study and training flags
    give."""
    from nas.heartbeat import HEARTBEAT_INTERVAL, grace_period_for

    interval = (
        args.heartbeat_interval if args.heartbeat_interval is not None else HEARTBEAT_INTERVAL
    )
    grace = args.grace_period if args.grace_period is not None else grace_period_for(interval)
    if interval <= 0 or grace <= interval:
        raise CliError(
            f"--grace-period ({grace:g} s) must exceed --heartbeat-interval ({interval:g} s), "
            "which must be positive"
        )
    if args.storage_retry is not None and args.storage_retry < 0:
        raise CliError(f"--storage-retry must be 0 or more seconds, got {args.storage_retry:g}")
    return {
        "study": args.study,
        "storage": args.storage,
        "heartbeat_interval": interval,
        "grace_period": grace,
        "dataset": args.dataset,
        "data_dir": args.data_dir,
        "device": args.device,
        "threads": args.threads,
        "schedule": schedule_from_args(args),
        "storage_retry": args.storage_retry,
    }


def default_storage() -> str:
    """The storage a command without --storage uses (results/nas.journal or $NAS_STORAGE)."""
    from nas.storage import default_storage as storage_default

    return storage_default()
