"""The proxy training schedule: plain data, importable without torch (the CLI builds its flags from it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Schedule:
    """The proxy protocol; defaults follow the RegNet paper (SGD, Nesterov, half-period cosine)."""

    epochs: int = 1
    batch_size: int = 128
    lr: float = 0.2                  # for batch 128, scaled linearly with the batch size (README: proxy fidelity)
    momentum: float = 0.9
    weight_decay: float = 5e-5
    train_size: int | None = 5_000   # images drawn (class-balanced, seeded) from the training split
    test_size: int | None = None     # the whole test split (10,000 for Fashion-MNIST and CIFAR)
    augment: bool = True             # random crop (padding 4) + horizontal flip where the dataset allows
    bf16: bool | None = None         # None: on for CUDA, off for CPU (measured slower there, see README)
    channels_last: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        for name in ("train_size", "test_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (or None for the whole split), got {value}")

    @property
    def scaled_lr(self) -> float:
        return self.lr * self.batch_size / 128

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
