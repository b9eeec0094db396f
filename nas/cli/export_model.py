"""`nas export-model`: write a kept (trained) model, a named model or a config file as TorchScript
or ONNX."""

from __future__ import annotations

import argparse
import json

from nas.cli.argtypes import positive_int, resolution


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add `export-model` to the `nas` parser."""
    p = sub.add_parser(
        "export-model",
        help="write a model as TorchScript or ONNX",
        description="Export a model kept by `nas train --save FILE.pt` (with its trained weights, "
        "at its training resolution) or any named model or config file (randomly initialised) to "
        "TorchScript (torch.jit.trace) or ONNX (batch dimension dynamic; ONNX needs the onnx "
        "package). A kept model expects the trainer's normalised input: (x / 255 - mean) / std, "
        "mean and std stored in the .pt file.",
    )
    p.add_argument("model", metavar="NAME_CONFIG_OR_PT")
    p.add_argument(
        "--format",
        choices=["torchscript", "onnx"],
        default="torchscript",
        help="default torchscript",
    )
    p.add_argument(
        "-o", "--out", required=True, help="the file to write (e.g. model.ts or model.onnx)"
    )
    p.add_argument(
        "--resolution",
        type=resolution,
        default=None,
        help="input size R or HxW (default: a kept model's training resolution, else "
        "the native one)",
    )
    p.add_argument(
        "--in-channels", type=positive_int, default=None, help="input channels (a config only)"
    )
    p.add_argument("--num-classes", type=positive_int, default=None, help="classes (a config only)")
    p.add_argument(
        "--stem",
        choices=["imagenet", "small"],
        default=None,
        help="imagenet: the family's ImageNet stem; small: its 28-32 px stem (a config only)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_export_model)


def cmd_export_model(args: argparse.Namespace) -> int:
    from nas.export import export_file

    result = export_file(
        args.model,
        args.format,
        args.out,
        args.resolution,
        args.in_channels,
        args.num_classes,
        args.stem,
    )
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(
        f"wrote {result.out} ({result.format}, {result.bytes:,} bytes): {result.source} with "
        f"{result.weights} weights, input {'x'.join(map(str, result.input_shape))}"
        f"{' (batch dynamic)' if result.format == 'onnx' else ''}, output "
        f"{'x'.join(map(str, result.output_shape))}"
    )
    return 0
