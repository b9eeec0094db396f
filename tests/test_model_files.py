"""Kept models (`nas train --save`, nas.export.load_trained) and `nas export-model` to TorchScript
and ONNX."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
import torch
from helpers import DATA

from nas.cli import main
from nas.datasets import load_dataset
from nas.export import export_model, load_trained, read_trained
from nas.trainer import DeviceData, adapt_config, evaluate
from spaces import build_model, get_config

SMALL_NET = {
    "block": "X",
    "stem_width": 16,
    "stages": [
        {"depth": 1, "width": 16, "stride": 1, "bottleneck": 1, "group_width": 8},
        {"depth": 1, "width": 32, "stride": 2, "bottleneck": 1, "group_width": 8},
    ],
}
# not helpers.TRAIN_FLAGS: fp32 and a fixed seed, and 64 test images, which
# test_a_kept_model_reproduces_its_error draws again to reproduce the kept model's error
# fmt: off
TRAIN = ["--dataset", DATA, "--epochs", "1", "--batch-size", "64", "--train-size", "256",
         "--test-size", "64", "--device", "cpu", "--precision", "fp32", "--seed", "3"]
# fmt: on


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """A small net trained by `nas train --save`: (its file, what `nas train --json` printed)."""
    folder = tmp_path_factory.mktemp("kept")
    cfg = folder / "net.json"
    cfg.write_text(json.dumps(SMALL_NET))
    pt = folder / "sub" / "net.pt"  # its folder is made
    buffer = io.StringIO()  # capsys is per test; this fixture is per module
    with contextlib.redirect_stdout(buffer):
        assert main(["train", str(cfg), *TRAIN, "--save", str(pt), "--json"]) == 0
    return pt, json.loads(buffer.getvalue())


def test_a_kept_model_reproduces_its_error(kept):
    pt, out = kept
    data = read_trained(pt)
    dataset = load_dataset(DATA)
    want = adapt_config(get_config(SMALL_NET), dataset)
    assert data["config"] == want.to_dict() == out["config"] and data["error"] == out["error"]
    assert data["schedule"] == out["schedule"] and out["saved"] == str(pt)
    config, model = load_trained(pt)
    assert config == want and not model.training
    # the test images the trainer scored, normalised as the file says
    test = dataset.subset(256, 64, seed=3)
    error = evaluate(
        model,
        DeviceData(test.test_x, test.test_y, data["mean"], data["std"], torch.device("cpu")),
        bf16=False,
        memory_format=torch.contiguous_format,
    )
    assert error == out["error"]
    untrained = build_model(config).eval()
    assert not all(
        torch.equal(a, b)
        for a, b in zip(untrained.state_dict().values(), data["state_dict"].values(), strict=True)
    )


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_torchscript_export_of_a_kept_model_matches_it(kept, tmp_path, capsys):
    pt, _ = kept
    out = tmp_path / "net.ts"
    assert main(["export-model", str(pt), "--format", "torchscript", "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["weights"] == "trained" and summary["input_shape"] == [1, 1, 28, 28]
    assert summary["output_shape"] == [1, 10]
    _, model = load_trained(pt)
    x = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(str(out))(x), model(x), atol=1e-5)


def test_onnx_export_of_a_config(tmp_path, capsys):
    onnx = pytest.importorskip("onnx")  # in the dev extra
    cfg = get_config("regnetx_200mf").for_input(1, 10, small=True)
    out = tmp_path / "net.onnx"
    assert (
        main(
            [
                "export-model",
                "regnetx_200mf",
                "--format",
                "onnx",
                "--resolution",
                "28",
                "--in-channels",
                "1",
                "--num-classes",
                "10",
                "--stem",
                "small",
                "-o",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["weights"] == "random init" and summary["output_shape"] == [1, 10]
    graph = onnx.load(str(out))
    onnx.checker.check_model(graph)
    dims = [
        [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in (graph.graph.input[0], graph.graph.output[0])
    ]
    assert dims == [["batch", 1, 28, 28], ["batch", 10]]
    model = build_model(
        cfg
    ).eval()  # its own weights, exported and compared through onnxruntime where installed
    x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    mine = tmp_path / "mine.onnx"
    export_model(model, x[:1], mine, "onnx")
    try:
        import onnxruntime
    except ImportError:
        onnx.checker.check_model(onnx.load(str(mine)))
        return
    session = onnxruntime.InferenceSession(str(mine), providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"input": x.numpy()})
    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(got), model(x), atol=1e-5)


def test_export_model_mistakes_are_one_line(kept, tmp_path, capsys):
    pt, _ = kept
    assert main(["export-model", str(pt), "--in-channels", "3", "-o", str(tmp_path / "a.ts")]) == 2
    assert "--in-channels changes the network, but the weights of" in capsys.readouterr().err
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    assert main(["export-model", str(other), "-o", str(tmp_path / "a.ts")]) == 2
    err = capsys.readouterr().err
    assert "is not a model kept by `nas train --save`" in err and err.count("\n") == 1
    assert main(["export-model", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "a.ts")]) == 2
    assert "no model file" in capsys.readouterr().err
