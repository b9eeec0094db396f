"""`nas sample`: seeded sampling of N configs of a design space, written out (--dry-run), trained as
the trials of a stored study (by this process, --workers processes or --launcher worker jobs), or
ranked by a training-free score (--score)."""

from __future__ import annotations

import argparse
import json
import sys

from nas.cli.argtypes import positive_int
from nas.cli.common import (
    CliError,
    add_band_args,
    add_launcher_args,
    add_study_args,
    add_training_args,
    bands_from_args,
    stored_errors,
    stored_options,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add `sample` to the `nas` parser."""
    p = sub.add_parser(
        "sample",
        help="sample configs from a design space and train them",
        description="Seeded rejection sampling of N distinct configs from a design space "
        "whose complexity at the reference setting (224x224 RGB, ImageNet stem, 1000 classes) "
        "lies in the bands. With --dry-run, writes one JSON object per config (JSONL). Without "
        "it, trains each config once as a trial of an Optuna study (default name SPACE-sSEED, "
        "default storage results/nas.journal): running the same command again resumes it and "
        "trains only the missing configs; several commands or --workers share it safely.",
    )
    p.add_argument("--space", required=True, help="design space name (see `nas spaces`)")
    p.add_argument("-n", type=positive_int, default=500, help="number of configs (default 500)")
    p.add_argument(
        "--seed", type=int, default=0, help="random seed: the same seed gives the same configs"
    )
    add_band_args(p)
    p.add_argument(
        "--max-candidates",
        type=positive_int,
        default=None,
        help="give up after this many candidates (default 20M)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="write the sampled configs without training"
    )
    p.add_argument(
        "--out",
        "-o",
        default=None,
        help="with --dry-run: write the JSONL to this file instead of stdout",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the run summary as JSON (on stderr with --dry-run, else on stdout)",
    )
    add_study_args(p)
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="training processes sharing the study (default 1); on CPU each gets its share "
        "of the cores",
    )
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="train again the configs whose trials failed (diverged, oom, error)",
    )
    p.add_argument(
        "--no-scores",
        action="store_true",
        help="do not record the training-free scores with each trained trial (saves ~1 s a model)",
    )
    p.add_argument(
        "--score",
        default=None,
        metavar="NAME[,NAME...]",
        help="training-free: train nothing, rank the configs by this zero-cost score of the model "
        "at init (naswot, synflow, snip, grad_norm, jacob_cov; higher is better), recording any "
        "others listed; study SPACE-sSEED-trainfree-NAME. Without it every trained trial "
        "records all of them",
    )
    add_launcher_args(p)
    add_training_args(p)
    p.set_defaults(func=cmd_sample)


def cmd_sample(args: argparse.Namespace) -> int:
    from nas.outputs import output_file, write_failed
    from nas.progress import Progress
    from spaces import get_space, sample
    from spaces.sampling import DEFAULT_MAX_CANDIDATES

    if not args.dry_run:
        return _sweep(args)
    if args.score is not None:
        raise CliError(
            "--score ranks the configs in a stored study without training; --dry-run only writes "
            "the configs: drop one of them"
        )
    space = get_space(args.space)
    bands = bands_from_args(args, space)
    # before sampling: an impossible path fails at once
    out = output_file(args.out) if args.out else None
    with Progress(
        args.n, f"sampling {space.name}", unit="config", every_items=0, quiet_for=5
    ) as bar:
        result = sample(
            space,
            args.n,
            seed=args.seed,
            bands=bands,
            max_candidates=args.max_candidates or DEFAULT_MAX_CANDIDATES,
            progress=lambda k: bar.update(bar.done + k),
        )
    lines = "".join(json.dumps(r) + "\n" for r in result.records)
    if out is not None:
        try:
            out.write_text(lines)
        except OSError as e:
            raise write_failed(out, e) from None
    else:
        sys.stdout.write(lines)
    summary = {
        "space": space.name,
        "n": len(result.records),
        "seed": args.seed,
        "bands": [str(b) for b in result.bands],
        "candidates_tried": result.candidates_tried,
        "in_band": result.in_band,
        "duplicates": result.duplicates,
        "seconds": round(result.seconds, 4),
        "candidates_per_second": round(result.candidates_per_second),
        "out": args.out,
    }
    if args.json:
        print(json.dumps(summary), file=sys.stderr)
    else:
        print(
            f"sampled {summary['n']} configs of {space.name} "
            f"({'; '.join(summary['bands']) or 'no band'}) in {result.seconds:.2f} s: "
            f"{result.candidates_tried:,} candidates ({result.candidates_per_second:,.0f}/s), "
            f"{result.in_band:,} in band, "
            f"{result.duplicates} duplicates dropped" + (f"; wrote {args.out}" if args.out else ""),
            file=sys.stderr,
        )
    return 0


def _sweep(args: argparse.Namespace) -> int:
    """`nas sample` without --dry-run: train the N sampled configs as the trials of a stored
    study."""
    import signal
    import threading

    from spaces import get_space

    if args.out:
        raise CliError(
            "--out writes the configs of --dry-run; a sweep is stored in its study: write its "
            "results with `nas export --study NAME -o FILE.csv`"
        )
    free = args.score is not None
    space = get_space(args.space)
    bands = bands_from_args(args, space)
    with stored_errors():
        from nas.sweep import run_sweep

        options = stored_options(args)
        launcher = _launcher(args)
        main_thread = threading.current_thread() is threading.main_thread()
        # a scheduler's stop
        previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
        try:
            workers = (args.jobs or 1) if launcher else args.workers
            summary = run_sweep(
                space,
                args.n,
                seed=args.seed,
                bands=bands,
                workers=workers,
                launcher=launcher,
                retry_failed=args.retry_failed,
                max_candidates=args.max_candidates,
                training_free=free,
                scores=args.score.split(",") if free else (() if args.no_scores else None),
                **options,
            )
        except KeyboardInterrupt:
            print(
                "nas sample: interrupted; the running trials were marked FAIL (interrupted) and "
                "queued again: run the same command to finish the sweep",
                file=sys.stderr,
            )
            return 130
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, previous)
    out = summary.to_dict()
    if args.json:
        print(json.dumps(out))
    elif summary.jobs and not summary.worker_exit_codes:  # submitted to Slurm, not waited for
        print(
            f"study {summary.study} in {summary.storage}: {summary.complete}/{summary.n} complete, "
            f"{summary.failed} failed; {len(summary.jobs)} worker jobs submitted "
            f"({', '.join(summary.jobs)})"
        )
    elif summary.training_free:
        best = (
            f"best {summary.score} {summary.best_score:.4g} (trial {summary.best_trial}; "
            "higher is better)"
            if summary.best_score is not None
            else "no complete trial"
        )
        print(
            f"TRAINING-FREE study {summary.study} in {summary.storage}: "
            f"{summary.complete}/{summary.n} ranked by the zero-cost score {summary.score} (no "
            f"model trained: these are scores, not errors), {summary.failed} failed, {best}; "
            f"scored {summary.trained} in {summary.seconds:.1f} s. Analyze with "
            f"`nas analyze {summary.study} --metric score_{summary.score}`"
        )
    else:
        best = (
            f"best error {summary.best_error:.4f} (trial {summary.best_trial})"
            if summary.best_error is not None
            else "no complete trial"
        )
        print(
            f"study {summary.study} in {summary.storage}: {summary.complete}/{summary.n} complete, "
            f"{summary.failed} failed, {best}; trained {summary.trained} in {summary.seconds:.1f} s"
        )
    # submitted, not waited for
    if summary.missing and summary.jobs and not summary.worker_exit_codes:
        return 0
    if summary.missing:
        crashed = [c for c in summary.worker_exit_codes if c not in (0, 130)]
        why = f" (worker exit codes {crashed})" if crashed else ""
        print(
            f"nas sample: {summary.missing} of {summary.n} configs are not finished{why}; run the "
            "same command again to finish them",
            file=sys.stderr,
        )
        return 1
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _launcher(args: argparse.Namespace):
    """The submitit launcher that --launcher asks for (None: this process and --workers)."""
    launcher_flags = {
        "--jobs": args.jobs,
        "--partition": args.partition,
        "--time": args.time,
        "--cpus-per-job": args.cpus_per_job,
        "--mem-gb": args.mem_gb,
        "--slurm-arg": args.slurm_arg,
        "--wait": args.wait,
        "--gpus-per-job": args.gpus_per_job or None,
    }
    if args.launcher is None:
        given = [flag for flag, value in launcher_flags.items() if value is not None]
        if given:
            raise CliError(
                f"{given[0]} configures worker jobs: add --launcher slurm or --launcher local"
            )
        return None
    if args.workers != 1:
        raise CliError(
            "--workers runs processes of this command; with --launcher, give the number of worker "
            "jobs with --jobs"
        )
    from nas.cluster import Launcher, launch_options_from

    options = launch_options_from(
        {
            "launcher": args.launcher,
            "jobs": args.jobs or 1,
            "partition": args.partition,
            "gpus_per_job": args.gpus_per_job,
            "cpus_per_job": args.cpus_per_job,
            "mem_gb": args.mem_gb,
            "time": args.time,
            "slurm_arg": args.slurm_arg,
            "job_dir": args.job_dir,
            "wait": args.wait,
        }
    )
    return Launcher(options)
