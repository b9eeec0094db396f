"""The proxy trainer: a short, seeded, fast training run that ranks models.

Speed comes from what is *not* done per batch: the whole dataset lives on the device as uint8, the
epoch permutation, the random crops (padding 4) and flips are done on the device for a whole batch
with tensor ops, the model runs channels_last (and in bf16 autocast on GPU), and there is no
DataLoader, no worker process and no host sync per step (the divergence check is one reduced flag
every few steps on GPU).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from nas.datasets import Dataset
from nas.schedule import Schedule
from spaces import NetworkConfig, build_model, complexity
from spaces.errors import NasError

Progress = Callable[[int, int, float], None]  # (step, total steps, mean loss of the epoch so far)
ModuleT = TypeVar("ModuleT", bound=nn.Module)


class TrainingFailed(NasError, RuntimeError):
    """A run that could not finish: diverged (NaN/inf loss) or out of memory. `reason` says
    which."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class TrainResult:
    error: float  # top-1 error on the held-out test images
    train_loss: float  # mean loss over the last epoch
    train_seconds: float
    images_per_second: float  # training images per second
    latency_ms_b1: float  # inference latency, batch 1 (median)
    latency_ms_b64: float  # inference latency, batch 64 (median)
    epochs: int
    steps: int
    device: str
    precision: str  # what the run used: fp32 or bf16 (autocast)
    params: int
    flops: int  # at the training resolution and stem
    acts: int
    history: list[float] = field(default_factory=list)  # mean loss per epoch

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} asked for, but CUDA is not available here; use --device cpu"
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(
            f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} GPU(s)"
        )
    return dev


def cpu_info() -> tuple[str, frozenset[str]]:
    """This CPU's model name and flags (Linux /proc/cpuinfo; ("unknown", {}) elsewhere)."""
    name, flags = "unknown", frozenset[str]()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and name == "unknown":
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = frozenset(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return name, flags


BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 arithmetic units (AVX-512 BF16 or AMX-BF16; Linux CPU flags)."""
    return bool(cpu_info()[1] & set(BF16_FLAGS))


def cpu_description() -> str:
    """The CPU's model and its bf16 units, e.g. "AMD EPYC (avx512_bf16)", for benchmark output:
    which precision is faster differs between CPUs with the same flags."""
    name, flags = cpu_info()
    units = [f for f in BF16_FLAGS if f in flags]
    return f"{name} ({', '.join(units) or 'no bf16 units'}), {os.cpu_count()} cores"


def use_bf16(precision: str, dev: torch.device) -> bool:
    """bf16 autocast or not. `auto`: on CUDA; on a CPU only when it has bf16 units and a
    once-per-process probe (`cpu_bf16_is_faster`) finds bf16 training steps at least 10% faster;
    elsewhere float32."""
    if precision == "auto":
        return dev.type == "cuda" or (dev.type == "cpu" and cpu_has_bf16() and cpu_bf16_is_faster())
    return precision == "bf16"


def resolve_precision(precision: str, device: str, threads: int) -> str:
    """ "fp32" or "bf16": what `precision` ("auto", "fp32", "bf16") means on `device` for a process
    of `threads` torch threads. A command with several worker processes decides "auto" once with
    this (the probe is a timing: each process deciding alone could mix precisions within one
    sweep)."""
    if precision != "auto":
        return precision
    dev = resolve_device(device)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return "bf16" if use_bf16("auto", dev) else "fp32"
    finally:
        torch.set_num_threads(before)


_PROBES: dict[int, tuple[float, float]] = {}  # torch threads -> (fp32, bf16) seconds of the probe


def cpu_bf16_is_faster(margin: float = 0.9) -> bool:
    """Time a few training steps of RegNetX-400MF at 28 px (the main job's band; batch 64,
    channels_last) in float32 and in bf16 autocast, interleaved, once per process and thread count
    (about 2 s), and say whether bf16 took less than `margin` of the float32 time. CPUs with the
    same flags differ (README, "Training throughput"): on an Intel CPU with AMX the trainer measured
    no gain (295 vs 296 images/s at one thread), on an AMD EPYC with AVX-512 BF16 1.37x (704 vs
    513)."""
    threads = torch.get_num_threads()
    if threads not in _PROBES:
        from spaces import get_config

        torch.manual_seed(0)
        model = build_model(get_config("regnetx_400mf").for_input(1, 10, small=True))
        model = to_memory_format(model, torch.channels_last).train()
        x = torch.randn(64, 1, 28, 28).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (64,))
        times: dict[bool, list[float]] = {False: [], True: []}
        for rep in range(3):
            for bf16 in (False, True):
                start = time.perf_counter()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    loss = F.cross_entropy(model(x), y)
                loss.backward()
                model.zero_grad(set_to_none=True)
                if rep:  # the first of each warms up kernels
                    times[bf16].append(time.perf_counter() - start)
        _PROBES[threads] = (min(times[False]), min(times[True]))
    fp32_seconds, bf16_seconds = _PROBES[threads]
    return bf16_seconds < margin * fp32_seconds


def to_memory_format(model: ModuleT, memory_format: torch.memory_format) -> ModuleT:
    """``model.to(memory_format=memory_format)`` (in place, returns `model`). Torch accepts the
    keyword, but the overloads of ``Module.to`` in its type annotations leave it out, so the call
    goes through a reference typed by its result only."""
    move: Callable[..., ModuleT] = model.to
    return move(memory_format=memory_format)


def adapt_config(config: NetworkConfig, dataset: Dataset) -> NetworkConfig:
    """The same body for the dataset's channels and classes; the small-image stem below 64 px."""
    return config.for_input(dataset.in_channels, dataset.num_classes, small=dataset.resolution < 64)


class DeviceData:
    """A dataset split resident on the device, with batched on-device augmentation."""

    def __init__(
        self, x: torch.Tensor, y: torch.Tensor, mean, std, device: torch.device, pad: int = 0
    ) -> None:
        self.x = x.to(device, non_blocking=True)
        if pad:
            self.x = F.pad(self.x, (pad, pad, pad, pad))  # zero padding in uint8, once
        self.y = y.to(device, non_blocking=True)
        self.pad = pad
        self.size = x.shape[-1]
        shape = (1, -1, 1, 1)
        self.mean = torch.tensor(mean, device=device).view(shape) * 255
        self.std = torch.tensor(std, device=device).view(shape) * 255

    def __len__(self) -> int:
        return len(self.y)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() - self.mean) / self.std

    def crop_flip(self, idx: torch.Tensor, flip: bool, gen: torch.Generator) -> torch.Tensor:
        """Random crops of the padded images and random horizontal flips, for a whole batch at
        once."""
        n, s, dev = len(idx), self.size, self.x.device
        if not self.pad:
            x = self.x[idx]
        else:
            oy = torch.randint(0, 2 * self.pad + 1, (n, 1, 1), device=dev, generator=gen)
            ox = torch.randint(0, 2 * self.pad + 1, (n, 1, 1), device=dev, generator=gen)
            ar = torch.arange(s, device=dev)
            rows = (oy + ar.view(1, s, 1)).expand(n, s, s)
            cols = (ox + ar.view(1, 1, s)).expand(n, s, s)
            x = self.x[
                idx.view(n, 1, 1, 1),
                torch.arange(self.x.shape[1], device=dev).view(1, -1, 1, 1),
                rows.unsqueeze(1),
                cols.unsqueeze(1),
            ]
        if flip:
            mask = torch.rand(n, device=dev, generator=gen) < 0.5
            x = torch.where(mask.view(n, 1, 1, 1), x.flip(3), x)
        return x


def train(
    config: NetworkConfig,
    dataset: Dataset,
    schedule: Schedule | None = None,
    seed: int = 0,
    device: str = "auto",
    threads: int | None = None,
    measure_latency: bool = True,
    progress: Progress | None = None,
    on_model: Callable[[nn.Module], None] | None = None,
) -> TrainResult:
    """Train `config` (adapted to the dataset) with the proxy schedule and evaluate it.

    `on_model(model)` receives the trained module (after precise BN and testing), e.g. to keep its
    weights. `progress(step, total, mean_loss)` is called about 20 times over the run (and at its
    end), for a progress bar or log lines. Raises TrainingFailed on NaN/inf loss or out-of-memory.
    """
    schedule = schedule or Schedule()
    dev = resolve_device(device)
    if dev.type == "cpu" and threads:
        torch.set_num_threads(threads)
    cfg = adapt_config(config, dataset)
    data = dataset.subset(
        schedule.train_size and min(schedule.train_size, len(dataset.train_y)),
        schedule.test_size and min(schedule.test_size, len(dataset.test_y)),
        seed=seed,
    )
    torch.manual_seed(seed)
    gen = torch.Generator(device=dev).manual_seed(seed)
    # Residual branches (AnyNet, ResNet, MBConv) start at zero (zero-init of their last BN): stable
    # at the paper's lr; families without residual branches get the same pycls init without it.
    model = build_model(cfg, zero_init_last=True).to(dev)
    memory_format = torch.channels_last if schedule.channels_last else torch.contiguous_format
    model = to_memory_format(model, memory_format)
    bf16 = use_bf16(schedule.precision, dev)
    pad = 4 if schedule.augment else 0
    train_data = DeviceData(data.train_x, data.train_y, data.mean, data.std, dev, pad)
    test_data = DeviceData(data.test_x, data.test_y, data.mean, data.std, dev)
    flip = schedule.augment and dataset.hflip
    try:
        history, steps, seconds = _fit(
            model, train_data, schedule, gen, flip, bf16, memory_format, progress
        )
        precise_bn(model, train_data, schedule.batch_size, bf16, memory_format)
        error = evaluate(model, test_data, bf16, memory_format)
        if on_model is not None:
            on_model(model)
        latency = (
            measure_latencies(model, cfg, dataset.resolution, dev, memory_format)
            if measure_latency
            else (float("nan"), float("nan"))
        )
    except (torch.OutOfMemoryError, RuntimeError, MemoryError) as e:
        if not is_out_of_memory(e):
            raise
        first = (str(e).splitlines() or [type(e).__name__])[0]  # MemoryError() has no text
        raise TrainingFailed("oom", f"out of memory on {dev}: {first}") from None
    cx = complexity(cfg, dataset.resolution)
    images = steps * schedule.batch_size
    return TrainResult(
        error=error,
        train_loss=history[-1],
        train_seconds=seconds,
        images_per_second=images / max(seconds, 1e-9),
        latency_ms_b1=latency[0],
        latency_ms_b64=latency[1],
        epochs=schedule.epochs,
        steps=steps,
        device=str(dev),
        precision="bf16" if bf16 else "fp32",
        params=cx.params,
        flops=cx.flops,
        acts=cx.acts,
        history=history,
    )


def is_out_of_memory(e: BaseException) -> bool:
    """An allocation failure: torch.OutOfMemoryError (CUDA), Python's MemoryError (an allocation
    in Python code or one torch translates), or the CPU allocator's RuntimeError
    ("DefaultCPUAllocator: can't allocate memory", "std::bad_alloc"), which torch does not type,
    or oneDNN's "could not create a primitive" (a convolution that cannot allocate its workspace;
    seen when the address space ran out). Which of them a process meets depends on where its
    memory runs out; the recorded message keeps the original text."""
    if isinstance(e, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(e)
    return isinstance(e, RuntimeError) and any(
        m in text
        for m in (
            "can't allocate memory",
            "not enough memory",
            "bad_alloc",
            "could not create a primitive",
        )
    )


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """SGD parameter groups: weight decay on conv and linear weights, none on BN parameters and
    biases."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _fit(
    model: nn.Module,
    data: DeviceData,
    schedule: Schedule,
    gen: torch.Generator,
    flip: bool,
    bf16: bool,
    memory_format: torch.memory_format,
    progress: Progress | None = None,
) -> tuple[list[float], int, float]:
    n, bs = len(data), schedule.batch_size
    steps_per_epoch = max(1, n // bs)  # drop the last partial batch: fixed shapes, steady kernels
    total = steps_per_epoch * schedule.epochs
    optimizer = torch.optim.SGD(
        parameter_groups(model, schedule.weight_decay),
        lr=schedule.scaled_lr,
        momentum=schedule.momentum,
        nesterov=True,
    )
    dev = data.x.device
    check_every = 1 if dev.type == "cpu" else 25
    report_every = max(1, total // 20)
    history: list[float] = []
    model.train()
    step = 0
    start = time.perf_counter()
    for _ in range(schedule.epochs):
        perm = torch.randperm(n, device=dev, generator=gen)
        loss_sum = torch.zeros((), device=dev)
        for i in range(steps_per_epoch):
            lr = schedule.lr_at(step, total)  # warm-up, then half-period cosine, per step
            for group in optimizer.param_groups:
                group["lr"] = lr
            idx = perm[i * bs : (i + 1) * bs]
            x = data.normalize(data.crop_flip(idx, flip, gen)).contiguous(
                memory_format=memory_format
            )
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(
                    model(x), data.y[idx], label_smoothing=schedule.label_smoothing
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()
            step += 1
            if progress and (step % report_every == 0 or step == total):
                progress(step, total, loss_sum.item() / (i + 1))
            if step % check_every == 0 and not torch.isfinite(loss_sum):
                raise TrainingFailed(
                    "diverged",
                    f"loss became {loss_sum.item()} at step {step} of {total}; try a lower --lr",
                )
        epoch_loss = loss_sum.item() / steps_per_epoch
        if not math.isfinite(epoch_loss):
            raise TrainingFailed(
                "diverged",
                f"loss became {epoch_loss} in epoch {len(history) + 1}; try a lower --lr",
            )
        history.append(epoch_loss)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return history, step, time.perf_counter() - start


@torch.no_grad()
def precise_bn(
    model: nn.Module,
    data: DeviceData,
    batch_size: int,
    bf16: bool,
    memory_format: torch.memory_format,
    batches: int = 8,
) -> None:
    """Recompute BN running statistics as a plain average over a few training batches (pycls'
    precise BN): after a short proxy run the momentum estimates still remember the random init and
    evaluation would mostly measure that."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average
    model.train()
    n = len(data)
    for i in range(min(batches, max(1, n // batch_size))):
        x = data.normalize(
            data.x[
                i * batch_size : (i + 1) * batch_size,
                :,
                data.pad : data.pad + data.size,
                data.pad : data.pad + data.size,
            ]
        )
        with torch.autocast(data.x.device.type, dtype=torch.bfloat16, enabled=bf16):
            model(x.contiguous(memory_format=memory_format))
    for bn, momentum in zip(norms, momenta, strict=True):
        bn.momentum = momentum


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: DeviceData,
    bf16: bool,
    memory_format: torch.memory_format,
    batch_size: int = 1000,
) -> float:
    model.eval()
    wrong = torch.zeros((), dtype=torch.long, device=data.x.device)
    for i in range(0, len(data), batch_size):
        x = data.normalize(data.x[i : i + batch_size]).contiguous(memory_format=memory_format)
        with torch.autocast(data.x.device.type, dtype=torch.bfloat16, enabled=bf16):
            pred = model(x).argmax(1)
        wrong += (pred != data.y[i : i + batch_size]).sum()
    return wrong.item() / len(data)


@torch.no_grad()
def measure_latencies(
    model: nn.Module,
    cfg: NetworkConfig,
    resolution: int,
    dev: torch.device,
    memory_format: torch.memory_format,
    repeats: int = 5,
) -> tuple[float, float]:
    """Median inference latency in ms at batch 1 and batch 64 (float32, eval mode)."""
    model.eval()
    out = []
    for batch in (1, 64):
        x = torch.randn(batch, cfg.in_channels, resolution, resolution, device=dev)
        x = x.contiguous(memory_format=memory_format)
        times = []
        for i in range(repeats + 1):
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t = time.perf_counter()
            model(x)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            if i:  # the first call warms up kernels and caches
                times.append((time.perf_counter() - t) * 1000)
        out.append(sorted(times)[len(times) // 2])
    return out[0], out[1]


def default_threads(workers: int = 1) -> int:
    """Each of `workers` CPU processes gets its share of the cores."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))
