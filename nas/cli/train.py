"""`nas train`: proxy-train one named model or config file and report its error, speed and
complexity."""

from __future__ import annotations

import argparse
import json
import sys

from nas.cli.common import CliError, add_training_args, schedule_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add `train` to the `nas` parser."""
    p = sub.add_parser(
        "train",
        help="proxy-train one model and print the result",
        description="Train one named model or config file with the proxy trainer (the same "
        "schedule `nas sample` uses) and report top-1 error on the test split, training loss, "
        "time, images/s and inference latency. The model is adapted to the dataset: its "
        "channels and classes, and the small-image stem below 64 px.",
    )
    p.add_argument("model", metavar="NAME_OR_CONFIG_FILE")
    add_training_args(p)
    p.add_argument("--seed", type=int, default=0, help="seed of init, data order and augmentation")
    p.add_argument(
        "--save",
        default=None,
        metavar="FILE.pt",
        help="keep the trained model: its weights, the adapted config, the schedule and the error "
        "(load it with nas.export.load_trained; export it with `nas export-model FILE.pt`)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from nas.datasets import DatasetError, data_dir_note, load_dataset, size_notes
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
        for note in filter(
            None,
            [
                data_dir_note(dataset, args.data_dir),
                *size_notes(dataset, schedule.train_size, schedule.test_size),
            ],
        ):
            print(f"nas train: note: {note}", file=sys.stderr)
        with Progress(0, f"training {args.model}", unit="step", every_items=0, quiet_for=5) as bar:

            def report(step: int, total: int, loss: float) -> None:
                bar.set_total(total)
                bar.update(step, extra=f"loss {loss:.4f}")

            captured = Captured()
            result = train(
                cfg,
                dataset,
                schedule,
                seed=args.seed,
                device=args.device,
                progress=report,
                on_model=captured.keep,
            )
    except (DatasetError, ValueError) as e:
        raise CliError(str(e)) from None
    except TrainingFailed as e:
        raise CliError(f"training failed ({e.reason}): {e}") from None
    out = {
        "model": args.model,
        "dataset": dataset.name,
        "seed": args.seed,
        **result.to_dict(),
        "schedule": schedule.to_dict(),
        "config": adapt_config(cfg, dataset).to_dict(),
    }
    if args.save:
        save_trained(
            args.save,
            adapt_config(cfg, dataset),
            captured.model,
            dataset,
            schedule,
            result,
            seed=args.seed,
        )
        out["saved"] = args.save
        print(f"nas train: kept the trained model in {args.save}", file=sys.stderr)
    if args.json:
        print(json.dumps(out))
        return 0
    print(
        f"{args.model} on {dataset.name} ({result.device}, {schedule.epochs} epoch(s), "
        f"{result.steps} steps of {schedule.batch_size}):"
    )
    print(f"  top-1 error {result.error:.4f}   train loss {result.train_loss:.4f}")
    print(
        f"  {result.train_seconds:.1f} s training, {result.images_per_second:,.0f} images/s; "
        f"latency {result.latency_ms_b1:.2f} ms (batch 1), "
        f"{result.latency_ms_b64:.2f} ms (batch 64)"
    )
    print(
        f"  at {dataset.resolution} px: params {result.params:,}, flops "
        f"{result.flops:,}, acts {result.acts:,}"
    )
    return 0
