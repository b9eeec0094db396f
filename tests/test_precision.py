"""The schedule's precision, warm-up and label smoothing; bf16 on CPU against float32."""

from __future__ import annotations

import math
import statistics

import pytest
import torch

from nas.datasets import load_dataset
from nas.schedule import Schedule
from nas.trainer import cpu_bf16_is_faster, cpu_has_bf16, train, use_bf16
from spaces import get_config

SMALL_NET = {
    "block": "X",
    "stem_width": 16,
    "stages": [
        {"depth": 1, "width": 16, "stride": 1, "bottleneck": 1, "group_width": 8},
        {"depth": 1, "width": 32, "stride": 2, "bottleneck": 1, "group_width": 8},
    ],
}


def test_lr_warms_up_linearly_then_follows_the_cosine():
    s = Schedule(lr=0.4, batch_size=128, warmup=0.1)
    total = 100
    assert s.lr_at(0, total) == pytest.approx(0.04)  # lr/10 at the first step
    assert s.lr_at(5, total) == pytest.approx(0.04 + 0.36 * 0.5)
    assert s.lr_at(10, total) == pytest.approx(0.4)  # the peak when the warm-up ends
    assert s.lr_at(55, total) == pytest.approx(0.2)  # half-way through the cosine
    plain = Schedule(lr=0.4)
    for step in (0, 17, 99):
        assert plain.lr_at(step, total) == pytest.approx(
            0.2 * (1 + math.cos(math.pi * step / total))
        )


def test_schedule_validates_and_reads_the_legacy_bf16_key():
    for bad in ({"precision": "fp16"}, {"warmup": 1.0}, {"label_smoothing": -0.1}):
        with pytest.raises(ValueError):
            Schedule(**bad)
    assert Schedule.from_dict({"bf16": None}).precision == "auto"
    assert Schedule.from_dict({"bf16": True}).precision == "bf16"
    assert Schedule.from_dict({"bf16": False}).precision == "fp32"
    assert Schedule.from_dict(Schedule(warmup=0.05).to_dict()) == Schedule(warmup=0.05)


def test_auto_precision_follows_the_cpu_flags():
    with open("/proc/cpuinfo") as f:
        flags = next((line for line in f if line.startswith("flags")), "")
    assert cpu_has_bf16() == ("avx512_bf16" in flags.split() or "amx_bf16" in flags.split())
    cpu = torch.device("cpu")
    assert use_bf16("auto", cpu) == (cpu_has_bf16() and cpu_bf16_is_faster())
    assert use_bf16("bf16", cpu) and not use_bf16("fp32", cpu)


def test_the_probe_decides_auto_on_a_cpu_with_bf16_units(monkeypatch):
    import nas.trainer as trainer

    cpu = torch.device("cpu")
    monkeypatch.setattr(trainer, "cpu_has_bf16", lambda: True)
    monkeypatch.setitem(trainer._PROBES, torch.get_num_threads(), (1.0, 0.5))  # bf16 twice as fast
    assert use_bf16("auto", cpu)
    # within the 10% margin
    monkeypatch.setitem(trainer._PROBES, torch.get_num_threads(), (1.0, 0.95))
    assert not use_bf16("auto", cpu)
    monkeypatch.setattr(trainer, "cpu_has_bf16", lambda: False)
    monkeypatch.setitem(trainer._PROBES, torch.get_num_threads(), (1.0, 0.5))
    assert not use_bf16("auto", cpu)  # no bf16 units: never, whatever a probe says
    trainer._PROBES.pop(torch.get_num_threads())
    fp32, bf16 = trainer._PROBES.get(torch.get_num_threads(), (None, None))
    assert fp32 is None  # the real probe runs once and is kept
    trainer.cpu_bf16_is_faster()
    fp32, bf16 = trainer._PROBES[torch.get_num_threads()]
    assert 0 < fp32 < 10 and 0 < bf16 < 10


@pytest.fixture(scope="module")
def fashion():
    return load_dataset("fashion-mnist")


def test_bf16_and_fp32_errors_agree_within_seed_noise(fashion):
    """Three seeds each of one small network, 2 epochs of 1,200 Fashion-MNIST images, bf16 and
    float32: the difference of the mean errors is within the seed noise (3 standard errors, at least
    0.01), and each run records the precision it used."""
    schedule = Schedule(
        epochs=2, batch_size=64, train_size=1200, test_size=1000, lr=0.2, augment=False, warmup=0.05
    )
    errors: dict[str, list[float]] = {"bf16": [], "fp32": []}
    for precision in errors:
        for seed in range(3):
            result = train(
                get_config(SMALL_NET),
                fashion,
                Schedule.from_dict({**schedule.to_dict(), "precision": precision}),
                seed=seed,
                device="cpu",
                measure_latency=False,
            )
            assert result.precision == precision
            errors[precision].append(result.error)
    assert max(errors["fp32"] + errors["bf16"]) < 0.8  # it learned (chance is 0.9)
    noise = statistics.stdev(errors["fp32"] + errors["bf16"]) / math.sqrt(3)
    diff = abs(statistics.mean(errors["bf16"]) - statistics.mean(errors["fp32"]))
    assert diff <= max(3 * noise, 0.01), errors


def test_label_smoothing_changes_the_loss(fashion):
    base = Schedule(
        epochs=1, train_size=512, test_size=256, lr=0.2, augment=False, precision="fp32"
    )
    a = train(get_config(SMALL_NET), fashion, base, seed=0, device="cpu", measure_latency=False)
    b = train(
        get_config(SMALL_NET),
        fashion,
        Schedule.from_dict({**base.to_dict(), "label_smoothing": 0.3}),
        seed=0,
        device="cpu",
        measure_latency=False,
    )
    assert b.train_loss > a.train_loss  # smoothed targets cannot be fit to zero loss
