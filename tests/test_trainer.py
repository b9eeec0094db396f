"""The proxy trainer on real components and tiny data."""

from __future__ import annotations

import math

import pytest
import torch

from nas.datasets import load_dataset
from nas.trainer import (
    DeviceData,
    Schedule,
    TrainingFailed,
    adapt_config,
    is_out_of_memory,
    train,
)
from spaces import complexity, get_config

TINY = Schedule(epochs=4, batch_size=64, lr=0.2, train_size=512, test_size=256)
SMALL_NET = {
    "block": "X",
    "stem_width": 16,
    "stages": [
        {"depth": 1, "width": 16, "stride": 1, "bottleneck": 1, "group_width": 8},
        {"depth": 1, "width": 32, "stride": 2, "bottleneck": 1, "group_width": 8},
    ],
}


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic:1024")


def test_learns_and_reports_every_field(synthetic):
    result = train(get_config(SMALL_NET), synthetic, TINY, seed=0, device="cpu")
    assert result.error < 0.6  # chance is 0.9
    assert result.history[-1] < result.history[0]
    assert result.steps == 4 * (512 // 64) and result.epochs == 4
    assert result.train_seconds > 0 and result.images_per_second > 0
    # measured times: no order between them asserted
    assert result.latency_ms_b1 > 0 and result.latency_ms_b64 > 0
    cx = complexity(adapt_config(get_config(SMALL_NET), synthetic), 28)
    assert (result.params, result.flops, result.acts) == (cx.params, cx.flops, cx.acts)
    assert result.device == "cpu"


def test_same_seed_same_result(synthetic):
    a = train(get_config(SMALL_NET), synthetic, TINY, seed=3, device="cpu", measure_latency=False)
    b = train(get_config(SMALL_NET), synthetic, TINY, seed=3, device="cpu", measure_latency=False)
    c = train(get_config(SMALL_NET), synthetic, TINY, seed=4, device="cpu", measure_latency=False)
    assert (a.error, a.history) == (b.error, b.history)
    assert a.history != c.history


def test_divergence_is_reported(synthetic):
    with pytest.raises(TrainingFailed) as err:
        train(
            get_config(SMALL_NET),
            synthetic,
            Schedule(epochs=1, batch_size=64, lr=1e8, train_size=256, test_size=64),
            device="cpu",
            measure_latency=False,
        )
    assert err.value.reason == "diverged" and "lower --lr" in str(err.value)


@pytest.mark.parametrize(
    ("error", "oom"),
    [
        (MemoryError(), True),
        (torch.OutOfMemoryError("CUDA out of memory"), True),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate"), True),
        (RuntimeError("std::bad_alloc"), True),
        (RuntimeError("could not create a primitive"), True),
        (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), False),
        (ValueError("can't allocate memory"), False),
    ],
)
def test_every_form_of_allocation_failure_is_out_of_memory(error, oom):
    """Where memory runs out decides which exception a process meets; each is an "oom" result,
    and nothing else is."""
    assert is_out_of_memory(error) is oom


def test_a_bare_memory_error_in_training_is_an_oom_result(synthetic, monkeypatch):
    """Python's MemoryError() carries no message; the run is still an "oom" result."""
    import nas.trainer

    def out_of_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(nas.trainer, "_fit", out_of_memory)
    with pytest.raises(TrainingFailed) as err:
        train(get_config(SMALL_NET), synthetic, TINY, device="cpu", measure_latency=False)
    assert err.value.reason == "oom" and "MemoryError" in str(err.value)


def test_adapted_config_uses_small_stem_and_dataset_shape(synthetic):
    cfg = adapt_config(get_config("regnetx_200mf"), synthetic)
    assert (cfg.stem, cfg.in_channels, cfg.num_classes) == ("small", 1, 10)


def test_on_device_crops_are_shifted_windows_and_flips_mirror():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.uint8).view(2, 1, 6, 6)
    data = DeviceData(
        x, torch.zeros(2, dtype=torch.long), (0.5,), (0.5,), torch.device("cpu"), pad=2
    )
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        crops = data.crop_flip(torch.tensor([0, 1]), flip=True, gen=gen)
        for i in range(2):
            windows = [data.x[i, :, oy : oy + 6, ox : ox + 6] for oy in range(5) for ox in range(5)]
            assert any(
                torch.equal(crops[i], w) or torch.equal(crops[i], w.flip(2)) for w in windows
            )


def test_bad_schedule_values():
    for kwargs, message in (
        ({"epochs": 0}, "epochs"),
        ({"lr": -1}, "lr"),
        ({"train_size": 0}, "train_size"),
    ):
        with pytest.raises(ValueError, match=message):
            Schedule(**kwargs)
    assert math.isclose(Schedule(batch_size=256, lr=0.05).scaled_lr, 0.1)


def test_nas_train_json(capsys, tmp_path):
    import json

    from nas.cli import main

    cfg = tmp_path / "net.json"
    cfg.write_text(json.dumps(SMALL_NET))
    code = main(
        [
            "train",
            str(cfg),
            "--dataset",
            "synthetic:512",
            "--epochs",
            "1",
            "--batch-size",
            "64",
            "--train-size",
            "256",
            "--test-size",
            "64",
            "--device",
            "cpu",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    for key in ("error", "params", "flops", "train_seconds", "images_per_second", "latency_ms_b1"):
        assert key in out
    assert out["config"]["stem"] == "small" and out["config"]["in_channels"] == 1


def test_nas_train_errors_are_one_line(capsys):
    from nas.cli import main

    assert main(["train", "regnetx_200mf", "--dataset", "imagenet22k"]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset" in err and len(err.strip().splitlines()) == 1
    assert main(["train", "regnetx_200mf", "--dataset", "synthetic", "--device", "cuda:7"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
