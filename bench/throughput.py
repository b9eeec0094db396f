"""Benchmark: proxy-trainer throughput against a plain PyTorch training loop, side by side.

    .venv/bin/python bench/throughput.py [--model regnetx_400mf] [--steps 20] [--device auto]

Both train the same model (a published RegNet adapted to Fashion-MNIST: 1x28x28, 10 classes, small
stem) on the same data at batch 128 with the same optimizer and augmentation (random crop, padding
4, flip):
- plain: NCHW float32, a torch Dataset doing per-sample crop/flip, DataLoader(shuffle=True), the
  usual `for x, y in loader` loop;
- ours: `nas.trainer.train` (uint8 data resident on the device, batched on-device augmentation,
  channels_last, no DataLoader), once in float32 and once with bf16 autocast (`--precision`; `auto`
  takes bf16 on CUDA and on CPUs with bf16 units).
Also prints the achieved training GFLOP/s (3 x forward multiply-adds x 2 per image) against this
machine's float32 and bf16 matrix-multiply peaks, measured in the same run.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from nas.datasets import load_dataset
from nas.trainer import Schedule, adapt_config, cpu_description, resolve_device, train
from spaces import complexity, get_config
from spaces.anynet import AnyNet


class PlainDataset(TorchDataset):
    """The textbook way: float32 NCHW images, per-sample random crop and flip in __getitem__."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, mean: float, std: float) -> None:
        self.x = (x.float() / 255 - mean) / std
        self.y = y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        img = F.pad(self.x[i], (4, 4, 4, 4))
        oy, ox = torch.randint(0, 9, (2,)).tolist()
        img = img[:, oy : oy + 28, ox : ox + 28]
        if torch.rand(()) < 0.5:
            img = img.flip(2)
        return img, self.y[i]


def plain_loop(cfg, dataset, steps: int, warmup: int, device: torch.device) -> float:
    torch.manual_seed(0)
    model = AnyNet(cfg, zero_init_last=True).to(device)
    data = PlainDataset(dataset.train_x, dataset.train_y, dataset.mean[0], dataset.std[0])
    loader = DataLoader(data, batch_size=128, shuffle=True, drop_last=True)
    opt = torch.optim.SGD(
        model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-5
    )
    model.train()
    it = iter(loader)
    for step in range(warmup + steps):
        if step == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        x, y = next(it)
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * 128 / (time.perf_counter() - start)


def ours(cfg, dataset, steps: int, warmup: int, device: torch.device, precision: str) -> float:
    # warm-up: kernels, caches
    train(
        cfg,
        dataset,
        Schedule(epochs=1, train_size=128 * warmup, test_size=100, precision=precision),
        device=str(device),
        measure_latency=False,
    )
    result = train(
        cfg,
        dataset,
        Schedule(epochs=1, train_size=128 * steps, test_size=100, precision=precision),
        device=str(device),
        measure_latency=False,
    )
    return result.images_per_second


def matmul_peak(
    device: torch.device, dtype: torch.dtype = torch.float32, n: int = 2048, repeats: int = 10
) -> float:
    a, b = (
        torch.randn(n, n, device=device, dtype=dtype),
        torch.randn(n, n, device=device, dtype=dtype),
    )
    for _ in range(2):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="regnetx_400mf")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternate plain/ours this many times"
    )
    args = parser.parse_args()
    device = resolve_device(args.device)
    dataset = load_dataset(args.dataset)
    cfg = adapt_config(get_config(args.model), dataset)
    fwd_macs = complexity(cfg, dataset.resolution).flops
    print(
        f"{args.model} at {dataset.resolution}px ({fwd_macs / 1e6:.1f} M multiply-adds forward), "
        f"batch 128, {device}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"CPU {cpu_description()}"
    )
    plain: list[float] = []
    fast: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(args.rounds):  # interleaved, so a noisy neighbour hurts all alike
        plain.append(plain_loop(cfg, dataset, args.steps, args.warmup, device))
        for precision, values in fast.items():
            values.append(ours(cfg, dataset, args.steps, args.warmup, device, precision))
    p = max(plain)
    peaks = {"fp32": matmul_peak(device), "bf16": matmul_peak(device, torch.bfloat16)}
    print(
        f"plain PyTorch loop (NCHW fp32, DataLoader): {p:,.0f} images/s  (rounds: "
        f"{', '.join(f'{v:,.0f}' for v in plain)})"
    )
    for precision, values in fast.items():
        f = max(values)
        achieved = 3 * 2 * fwd_macs * f
        print(
            f"nas proxy trainer, {precision}:  {f:,.0f} images/s  (rounds: "
            f"{', '.join(f'{v:,.0f}' for v in values)})"
            f"; speed-up {f / p:.2f}x; {achieved / 1e9:.1f} GFLOP/s training = "
            f"{100 * achieved / peaks[precision]:.0f}% of the {precision} matmul peak"
        )
    print(
        f"matmul peaks: fp32 {peaks['fp32'] / 1e9:.1f} GFLOP/s, "
        f"bf16 {peaks['bf16'] / 1e9:.1f} GFLOP/s"
    )
    f = max(fast["bf16"])
    assert math.isfinite(f)


if __name__ == "__main__":
    main()
