"""Model files: keep a trained model (`nas train --save`), load it back, and export any config or
kept model to TorchScript or ONNX (`nas export-model`). (`nas export` of a study's trials is
nas.tables.export_study.)

A kept model is one `torch.save` dict: ``config`` (the adapted config's to_dict(): the network
exactly as trained, with the dataset's channels, classes and stem), ``state_dict`` (on the CPU),
``schedule``, ``error``, ``dataset``, ``resolution`` and the input normalisation ``mean`` / ``std``
the trainer applied (the model expects ``(x / 255 - mean) / std``; exported models too).
`load_trained` rebuilds the module from the config and loads the weights
(`torch.load(weights_only=True)`: nothing but tensors and plain data).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spaces import NetworkConfig, build_model, get_config
from spaces.errors import NasError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from nas.datasets import Dataset
    from nas.schedule import Schedule
    from nas.trainer import TrainResult

FORMATS = ("torchscript", "onnx")
MARK = "nas-trained-model"  # the `format` entry of a kept model's dict
VERSION = 1
WEIGHT_SUFFIXES = (".pt", ".pth")


class ModelFileError(NasError):
    """A model file that cannot be read or written, or an export that cannot be done; one line with
    the fix."""


# --- keeping a trained model ----------------------------------------------------------------------
@dataclass
class Captured:
    """The module a training run hands to `keep` (nas.trainer.train's `on_model`): the trained
    model."""

    modules: list[Any] = field(default_factory=list)

    def keep(self, module: nn.Module) -> None:
        self.modules.append(module)

    @property
    def model(self) -> nn.Module:
        if not self.modules:
            raise ModelFileError(
                "the trainer handed over no model, so there are no weights to keep"
            )
        return self.modules[-1]


def save_trained(
    path: str | Path,
    config: NetworkConfig,
    model: nn.Module,
    dataset: Dataset,
    schedule: Schedule,
    result: TrainResult,
    seed: int = 0,
) -> Path:
    """Write a trained model (see the module docstring); `config` is the adapted config the model
    was built from, `seed` the training seed (the trainer normalises with the mean / std of its
    seeded training subset)."""
    import torch

    from nas.outputs import output_file, write_failed

    out = output_file(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    # as nas.trainer.train
    train_size = schedule.train_size and min(schedule.train_size, len(dataset.train_y))
    stats = dataset.subset(train_size, None, seed=seed)
    data = {
        "format": MARK,
        "version": VERSION,
        "config": config.to_dict(),
        "state_dict": state,
        "schedule": schedule.to_dict(),
        "error": result.error,
        "dataset": dataset.name,
        "seed": seed,
        "resolution": dataset.resolution,
        "mean": _floats(stats.mean),
        "std": _floats(stats.std),
    }
    try:
        torch.save(data, out)
    except OSError as e:
        raise write_failed(out, e) from None
    return out


def _floats(values: Any) -> list[float]:
    import torch

    return [float(v) for v in torch.as_tensor(values).flatten().tolist()]


def read_trained(path: str | Path) -> dict[str, Any]:
    """The dict of a kept model file; ModelFileError for anything else."""
    import pickle

    import torch

    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"no model file {p}: keep one with `nas train NAME --save {p}`")
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ModelFileError(
            f"cannot read {p} as a kept model ({first}); write one with `nas train NAME --save "
            f"{p.name}`"
        ) from None
    if not isinstance(data, dict) or data.get("format") != MARK:
        raise ModelFileError(
            f"{p} is not a model kept by `nas train --save` (no {MARK!r} format entry); keep one "
            "with `nas train NAME --save FILE.pt`"
        )
    return data


def load_trained(path: str | Path) -> tuple[NetworkConfig, nn.Module]:
    """(config, module with the trained weights, in eval mode) of a file written by
    `nas train --save`."""
    data = read_trained(path)
    config = get_config(data["config"])
    model = build_model(config)
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise ModelFileError(
            f"{path}: its weights do not fit its config ({first}); was the file edited?"
        ) from None
    return config, model.eval()


# --- exporting ------------------------------------------------------------------------------------
@dataclass
class ExportResult:
    source: str
    format: str
    out: str
    weights: str  # "trained" (from a kept model) or "random init"
    input_shape: list[int]
    output_shape: list[int]
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def prepare(
    source: str,
    resolution: int | tuple[int, int] | None = None,
    in_channels: int | None = None,
    num_classes: int | None = None,
    stem: str | None = None,
) -> tuple[NetworkConfig, nn.Module, tuple, str]:
    """(config, module in eval mode, example input shape (1, C, H, W), weights) of a kept model file
    (.pt, with its weights and training resolution) or of any config or model name (random init, at
    its native resolution unless given; stem "small" / "imagenet", channels and classes as
    `nas complexity` takes them)."""
    if Path(source).suffix.lower() in WEIGHT_SUFFIXES:
        data = read_trained(source)
        given = [
            flag
            for flag, v in (
                ("--in-channels", in_channels),
                ("--num-classes", num_classes),
                ("--stem", stem),
            )
            if v is not None
        ]
        if given:
            raise ModelFileError(
                f"{given[0]} changes the network, but the weights of {source} fix it; drop "
                f"{given[0]} (or export the config instead)"
            )
        config, model = load_trained(source)
        res = resolution or data.get("resolution") or config.native_resolution
        weights = "trained"
    else:
        config = get_config(source)
        if stem is not None:
            config = config.for_input(config.in_channels, config.num_classes, small=stem == "small")
        changes = {"in_channels": in_channels, "num_classes": num_classes}
        config = config.replace(**{k: v for k, v in changes.items() if v is not None})
        model = build_model(config).eval()
        res = resolution or config.native_resolution
        weights = "random init"
    h, w = (res, res) if isinstance(res, int) else res
    return config, model, (1, config.in_channels, h, w), weights


def export_model(model: nn.Module, example: torch.Tensor, out: str | Path, fmt: str) -> Path:
    """Write `model` (eval mode, CPU) as TorchScript (torch.jit.trace) or ONNX (the
    TorchScript-based exporter, dynamo=False; the batch dimension is dynamic; input "input", output
    "logits")."""
    import torch

    from nas.outputs import output_file, write_failed

    if fmt not in FORMATS:
        raise ModelFileError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    path = output_file(out)
    model = model.eval().cpu()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # deprecation notices of torch.jit and of the legacy ONNX exporter
            warnings.simplefilter("ignore")
            if fmt == "torchscript":
                torch.jit.trace(model, example).save(str(path))
            else:
                try:
                    import onnx  # noqa: F401  (torch.onnx.export needs it)
                except ImportError:
                    raise ModelFileError(
                        "ONNX export needs the onnx package: pip install onnx (or install the "
                        "project's dev extra)"
                    ) from None
                torch.onnx.export(
                    model,
                    (example,),
                    str(path),
                    dynamo=False,
                    input_names=["input"],
                    output_names=["logits"],
                    dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                )
    except OSError as e:
        raise write_failed(path, e) from None
    return path


def export_file(
    source: str,
    fmt: str,
    out: str | Path,
    resolution: int | tuple[int, int] | None = None,
    in_channels: int | None = None,
    num_classes: int | None = None,
    stem: str | None = None,
) -> ExportResult:
    """`nas export-model`: export a kept model (.pt) or a config / model name to `out` in `fmt`."""
    import torch

    _, model, shape, weights = prepare(source, resolution, in_channels, num_classes, stem)
    example = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(example)
    path = export_model(model, example, out, fmt)
    return ExportResult(
        source=str(source),
        format=fmt,
        out=str(path),
        weights=weights,
        input_shape=list(shape),
        output_shape=list(logits.shape),
        bytes=path.stat().st_size,
    )
