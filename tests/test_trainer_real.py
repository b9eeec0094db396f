"""The trainer's parts, each tested so that removing or breaking it fails a test.

Mutations guarded against (checked by breaking the code on purpose):
- precise_bn replaced by a no-op, or leaving BN momentum at a constant: test_precise_bn_*
- crop_flip replaced by "centre crop, never flip": test_crop_flip_*
- the lr not following warm-up + cosine per step (e.g. stuck at its peak, or at zero): test_lr_*,
  and test_learns_on_real_data (a stuck-at-zero lr cannot learn)
- weight decay on BN parameters and biases: test_weight_decay_*
- labels out of step with images: test_learns_on_real_data
- the OOM path: a real allocation failure under a memory limit (test_out_of_memory_*)
- the divergence check, on CPU in bf16 and fp32: test_divergence_*
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap

import pytest
import torch
from helpers import ROOT
from torch import nn

import nas.trainer as trainer
from nas.datasets import load_dataset
from nas.schedule import Schedule
from nas.trainer import DeviceData, TrainingFailed, parameter_groups, precise_bn, train
from spaces import build_model, get_config

NET = {
    "block": "R",
    "stem_width": 16,
    "stages": [
        {"depth": 1, "width": 32, "stride": 2, "bottleneck": 1, "group_width": 32},
        {"depth": 1, "width": 64, "stride": 2, "bottleneck": 1, "group_width": 64},
    ],
}


def test_precise_bn_is_the_plain_average_of_batch_statistics_and_restores_momentum():
    torch.manual_seed(0)
    x = torch.randint(0, 256, (64, 1, 6, 6), dtype=torch.uint8)
    data = DeviceData(x, torch.zeros(64, dtype=torch.long), (0.5,), (0.25,), torch.device("cpu"))
    bn = nn.BatchNorm2d(1, momentum=0.3)
    bn.running_mean.fill_(7.0)
    precise_bn(
        nn.Sequential(bn),
        data,
        batch_size=16,
        bf16=False,
        memory_format=torch.contiguous_format,
        batches=3,
    )
    # the first 3 batches, plain average
    batches = [data.normalize(x[i * 16 : (i + 1) * 16]) for i in range(3)]
    assert bn.running_mean.item() == pytest.approx(
        sum(b.mean().item() for b in batches) / 3, rel=1e-5
    )
    assert bn.running_var.item() == pytest.approx(
        sum(b.var().item() for b in batches) / 3, rel=1e-4
    )
    assert bn.momentum == 0.3  # restored, not reset to a constant


def test_crop_flip_crops_at_every_offset_and_flips_half():
    torch.manual_seed(1)
    n, size, pad = 2000, 8, 4
    x = torch.randint(1, 256, (n, 1, size, size), dtype=torch.uint8)
    data = DeviceData(
        x, torch.zeros(n, dtype=torch.long), (0.5,), (0.25,), torch.device("cpu"), pad=pad
    )
    idx = torch.arange(n)
    out = data.crop_flip(idx, flip=True, gen=torch.Generator().manual_seed(0))
    padded = nn.functional.pad(x, (pad,) * 4)
    seen, flips = set(), 0
    for i in range(n):
        match = [
            (oy, ox, f)
            for oy in range(2 * pad + 1)
            for ox in range(2 * pad + 1)
            for f in (False, True)
            if torch.equal(out[i], crop(padded[i], oy, ox, size, f))
        ]
        assert match, "an output that is no crop (or flipped crop) of its padded image"
        seen.add(match[0][:2])
        flips += match[0][2]
    assert len(seen) == (2 * pad + 1) ** 2  # every offset occurs (81 of them, 2,000 draws)
    assert 0.45 < flips / n < 0.55
    plain = data.crop_flip(idx, flip=False, gen=torch.Generator().manual_seed(0))
    for i in range(200):  # without flips, every output is an unflipped crop
        assert any(
            torch.equal(plain[i], crop(padded[i], oy, ox, size, False))
            for oy in range(2 * pad + 1)
            for ox in range(2 * pad + 1)
        )


def crop(img: torch.Tensor, oy: int, ox: int, size: int, flip: bool) -> torch.Tensor:
    c = img[:, oy : oy + size, ox : ox + size]
    return c.flip(2) if flip else c


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic:512")


def test_lr_follows_warm_up_and_cosine_at_every_step(synthetic, monkeypatch):
    seen: list[float] = []
    original = torch.optim.SGD.step

    def step(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        assert all(g["lr"] == self.param_groups[0]["lr"] for g in self.param_groups)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", step)
    schedule = Schedule(epochs=2, batch_size=32, train_size=320, test_size=64, lr=0.4, warmup=0.25)
    result = train(get_config(NET), synthetic, schedule, device="cpu", measure_latency=False)
    total = result.steps
    assert total == 20 and len(seen) == total
    assert seen == pytest.approx([schedule.lr_at(i, total) for i in range(total)])
    # lr/10 -> peak (0.4 * 32/128)
    assert seen[0] == pytest.approx(0.01) and max(seen) == pytest.approx(0.1)


def test_weight_decay_only_on_conv_and_linear_weights(synthetic, monkeypatch):
    model = build_model(get_config(NET).for_input(1, 10, small=True))
    decay, no_decay = parameter_groups(model, 5e-5)
    assert decay["weight_decay"] == 5e-5 and no_decay["weight_decay"] == 0.0
    bn_and_bias = {
        id(p)
        for m in model.modules()
        if isinstance(m, nn.BatchNorm2d | nn.Linear | nn.Conv2d)
        for name, p in m.named_parameters(recurse=False)
        if isinstance(m, nn.BatchNorm2d) or name == "bias"
    }
    assert {id(p) for p in no_decay["params"]} == bn_and_bias
    assert all(p.ndim >= 2 for p in decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    used = []
    monkeypatch.setattr(
        trainer, "parameter_groups", lambda m, wd: used.append(wd) or parameter_groups(m, wd)
    )
    train(
        get_config(NET),
        synthetic,
        Schedule(epochs=1, batch_size=32, train_size=64, test_size=32, weight_decay=1e-3),
        device="cpu",
        measure_latency=False,
    )
    assert used == [1e-3]  # the trainer's optimizer is built from these groups


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_divergence_is_caught_on_cpu(synthetic, precision):
    schedule = Schedule(
        epochs=1, batch_size=32, train_size=256, test_size=32, lr=1e8, precision=precision
    )
    with pytest.raises(TrainingFailed) as e:
        train(get_config(NET), synthetic, schedule, device="cpu", measure_latency=False)
    assert e.value.reason == "diverged"


def test_out_of_memory_is_a_result_not_a_crash():
    """A real allocation failure: the address space limited to what the process already uses
    + 200 MB, then a batch of 2048 through RegNetX-200MF (it needs 1.2-1.8 GB more; a batch of 512
    needed 250-300 MB, too close to the limit to fail the same way everywhere)."""
    script = textwrap.dedent("""
        import resource
        import torch
        torch.set_num_threads(1)
        from nas.datasets import load_dataset
        from nas.schedule import Schedule
        from nas.trainer import TrainingFailed, train
        from spaces import get_config
        ds = load_dataset("synthetic:2048")
        cfg = get_config("regnetx_200mf")
        small = Schedule(epochs=1, batch_size=8, train_size=16, test_size=16, precision="fp32")
        train(cfg, ds, small, device="cpu", measure_latency=False)
        size = next(int(l.split()[1]) for l in open("/proc/self/status") \
if l.startswith("VmSize")) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size + 200 * 2**20, resource.RLIM_INFINITY))
        try:
            big = Schedule(epochs=1, batch_size=2048, train_size=2048, test_size=16,
                           precision="fp32")
            train(cfg, ds, big, device="cpu", measure_latency=False)
            print("NO-OOM")
        except TrainingFailed as e:
            print("FAILED", e.reason)
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    lines = out.stdout.strip().splitlines()
    assert lines and lines[-1] == "FAILED oom", (
        f"exit {out.returncode}\n{out.stdout}\n{out.stderr[-3000:]}"
    )


@pytest.fixture(scope="module")
def fashion():
    return load_dataset("fashion-mnist")


def test_learns_on_real_data_where_broken_trainers_cannot(fashion, monkeypatch):
    """Two epochs of 2,000 Fashion-MNIST images: the trainer gets far below chance (0.9); with the
    lr stuck at zero, or with the labels shuffled against the images, it cannot."""
    schedule = Schedule(
        epochs=2,
        batch_size=64,
        train_size=2000,
        test_size=2000,
        lr=0.4,
        augment=False,
        precision="fp32",
    )
    good = train(get_config(NET), fashion, schedule, device="cpu", measure_latency=False)
    assert good.error < 0.6 and good.history[-1] < good.history[0] - 0.3
    monkeypatch.setattr(Schedule, "lr_at", lambda self, step, total: 0.0)
    stuck = train(get_config(NET), fashion, schedule, device="cpu", measure_latency=False)
    monkeypatch.undo()
    assert stuck.error > 0.75
    gen = torch.Generator().manual_seed(0)
    part = fashion.subset(2000, 2000, seed=0)
    shuffled = dataclasses.replace(
        part, train_y=part.train_y[torch.randperm(len(part.train_y), generator=gen)]
    )
    bad = train(get_config(NET), shuffled, schedule, device="cpu", measure_latency=False)
    assert bad.error > 0.75


def test_progress_is_reported_about_twenty_times_and_at_the_end(synthetic):
    seen: list[tuple[int, int, float]] = []
    schedule = Schedule(epochs=2, batch_size=8, train_size=400, test_size=32)
    result = train(
        get_config(NET),
        synthetic,
        schedule,
        device="cpu",
        measure_latency=False,
        progress=lambda *a: seen.append(a),
    )
    assert result.steps == 100 and [s for s, _, _ in seen] == list(range(5, 101, 5))
    assert all(total == 100 and loss > 0 for _, total, loss in seen)
