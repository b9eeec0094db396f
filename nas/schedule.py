"""The proxy training schedule: plain data, importable without torch (the CLI builds its flags from
it)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class Schedule:
    """The proxy protocol; defaults follow the RegNet paper (SGD, Nesterov, half-period cosine)."""

    epochs: int = 1
    batch_size: int = 128
    lr: float = 0.2  # for batch 128, scaled linearly with the batch size (README: proxy fidelity)
    momentum: float = 0.9
    weight_decay: float = 5e-5
    # images drawn (class-balanced, seeded) from the training split; 20,000: the cheapest proxy
    # whose ranking of trained models reaches Spearman 0.8 (README: proxy fidelity; 5,000 before)
    train_size: int | None = 20_000
    test_size: int | None = None  # the whole test split (10,000 for Fashion-MNIST and CIFAR)
    augment: bool = True  # random crop (padding 4) + horizontal flip where the dataset allows
    # fp32 | bf16 (autocast) | auto: bf16 on CUDA and on CPUs with bf16 units
    precision: str = "auto"
    channels_last: bool = True
    # fraction of the steps with the lr rising linearly from lr/10 (pycls' warm-up)
    warmup: float = 0.0
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup is a fraction of the steps in [0, 1), got {self.warmup}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        for name in ("train_size", "test_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(
                    f"{name} must be at least 1 (or None for the whole split), got {value}"
                )

    @property
    def scaled_lr(self) -> float:
        return self.lr * self.batch_size / 128

    def lr_at(self, step: int, total: int) -> float:
        """The learning rate of one step: linear warm-up from lr/10, then half-period cosine to
        zero."""
        warm = int(self.warmup * total)
        if step < warm:
            return self.scaled_lr * (0.1 + 0.9 * step / warm)
        return 0.5 * self.scaled_lr * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        """A schedule from `to_dict` output, including ones stored before `precision` replaced
        `bf16`."""
        data = dict(data)
        if "bf16" in data:
            legacy = data.pop("bf16")
            data.setdefault(
                "precision", "auto" if legacy is None else ("bf16" if legacy else "fp32")
            )
        return cls(**data)
