"""The in-memory dataset type every loader returns, and the helpers that build and describe one.

A :class:`Dataset` holds uint8 image tensors ``(N, C, H, W)`` and int64 labels for a train and a
test split, with the per-channel statistics used for input normalisation.  :func:`make_dataset`
builds one from decoded arrays (each format's module calls it), :meth:`Dataset.subset` draws a
seeded class-stratified subset and :func:`size_notes` words a requested subset size that exceeds a
split.  :class:`DatasetError` is the one error of the dataset modules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from numpy.typing import ArrayLike

from spaces.errors import NasError

#: How many decoded datasets each format's loader keeps in its in-process cache.
CACHE_SIZE = 4


class DatasetError(NasError):
    """A dataset could not be found, downloaded or decoded; the message says which file and how to
    fix it."""


@dataclass(frozen=True)
class Dataset:
    """A decoded image-classification dataset held in memory.

    Attributes:
        name: canonical spec of the dataset (``"fashion-mnist"``, ``"synthetic:2048"``, ...).
        train_x: uint8 tensor ``(N, C, H, W)``, contiguous.
        train_y: int64 tensor ``(N,)`` with labels in ``[0, num_classes)``.
        test_x: uint8 tensor ``(M, C, H, W)``, contiguous.
        test_y: int64 tensor ``(M,)``.
        num_classes: number of classes.
        mean: per-channel mean of ``train_x / 255`` (for input normalisation).
        std: per-channel (population) standard deviation of ``train_x / 255``.
        hflip: whether random horizontal flips are a label-preserving augmentation for this data.
            True for Fashion-MNIST (clothing is roughly left-right symmetric and flips are the usual
            augmentation), CIFAR and image folders (natural photos); False for the synthetic set,
            where a flip mirrors a bar's orientation into another class.  Use
            ``dataclasses.replace(ds, hflip=...)`` to override it.
        classes: class names, index = label (may be empty when unknown).
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    hflip: bool
    classes: tuple[str, ...] = field(default=())
    source: str = ""  # the folder the files were read from ("" for generated data)

    def __post_init__(self) -> None:
        for split, x, y in (
            ("train", self.train_x, self.train_y),
            ("test", self.test_x, self.test_y),
        ):
            if x.dtype != torch.uint8 or x.ndim != 4 or not x.is_contiguous():
                raise ValueError(
                    f"{split}_x must be a contiguous uint8 (N, C, H, W) tensor, got {x.dtype} "
                    f"{tuple(x.shape)}"
                )
            if y.dtype != torch.int64 or y.shape != (x.shape[0],):
                raise ValueError(
                    f"{split}_y must be int64 of shape ({x.shape[0]},), got {y.dtype} "
                    f"{tuple(y.shape)}"
                )
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise ValueError(f"{split}_y has labels outside [0, {self.num_classes})")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise ValueError(
                f"train and test images differ in shape: {tuple(self.train_x.shape[1:])} vs "
                f"{tuple(self.test_x.shape[1:])}"
            )
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise ValueError("mean and std need one value per channel")

    @property
    def in_channels(self) -> int:
        """Number of image channels C."""
        return int(self.train_x.shape[1])

    @property
    def resolution(self) -> int:
        """Image height H (all built-in datasets are square)."""
        return int(self.train_x.shape[2])

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={tuple(self.train_x.shape)}, "
            f"test={tuple(self.test_x.shape)}, num_classes={self.num_classes}, hflip={self.hflip})"
        )

    def subset(
        self, train_size: int | None = None, test_size: int | None = None, seed: int = 0
    ) -> Dataset:
        """Return a seeded, class-stratified subset (``None`` keeps a split whole).

        Classes are kept as balanced as the data allows: samples are drawn round-robin over the
        classes in a seeded random order, so e.g. 1000 of Fashion-MNIST's training images are 100
        per class.  Selected samples keep their original relative order.  ``mean``/``std`` are
        recomputed for the new ``train_x``; ``name`` and ``hflip`` are kept.
        """
        train_idx = _stratified_indices(self.train_y, train_size, seed, "train_size")
        test_idx = _stratified_indices(self.test_y, test_size, seed + 1, "test_size")
        if train_idx is None and test_idx is None:
            return self
        train_x, train_y = self.train_x, self.train_y
        if train_idx is not None:
            train_x, train_y = train_x[train_idx].contiguous(), train_y[train_idx].contiguous()
        test_x, test_y = self.test_x, self.test_y
        if test_idx is not None:
            test_x, test_y = test_x[test_idx].contiguous(), test_y[test_idx].contiguous()
        mean, std = (self.mean, self.std) if train_idx is None else channel_stats(train_x)
        return replace(
            self, train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y, mean=mean, std=std
        )


def _stratified_indices(
    labels: torch.Tensor, size: int | None, seed: int, what: str
) -> torch.Tensor | None:
    n = int(labels.shape[0])
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size > n:
        raise DatasetError(
            f"subset {what}={size!r} is invalid: it must be an integer between 1 and {n} (or None "
            "for all)"
        )
    if size == n:
        return None
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    y = labels.numpy()[perm]
    # rank of each (permuted) sample within its class: 0 for the first sample of its class, 1 for
    # the next...
    order = np.argsort(y, kind="stable")
    sorted_y = y[order]
    starts = np.searchsorted(sorted_y, sorted_y, side="left")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts
    # round-robin over classes; within one round the classes come in a random (seeded) order
    class_key = rng.permutation(int(y.max()) + 1)[y]
    pick = np.lexsort((class_key, rank))[:size]
    return torch.from_numpy(np.sort(perm[pick]))


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and population std of ``x / 255`` for a uint8 ``(N, C, H, W)``
    tensor."""
    values = torch.arange(256, dtype=torch.float64) / 255.0
    means, stds = [], []
    for c in range(x.shape[1]):
        hist = torch.zeros(256, dtype=torch.float64)
        for chunk in torch.split(x[:, c], 16384):
            hist += torch.bincount(chunk.reshape(-1), minlength=256).to(torch.float64)
        total = float(hist.sum())
        if total == 0:
            means.append(0.0)
            stds.append(1.0)
            continue
        mean = float((hist * values).sum()) / total
        var = float((hist * (values - mean) ** 2).sum()) / total
        means.append(mean)
        stds.append(math.sqrt(var))
    return tuple(means), tuple(stds)


def make_dataset(
    name: str,
    train_x: np.ndarray | torch.Tensor,
    train_y: ArrayLike,
    test_x: np.ndarray | torch.Tensor,
    test_y: ArrayLike,
    num_classes: int,
    hflip: bool,
    classes: Sequence[str] = (),
    source: str = "",
) -> Dataset:
    """A :class:`Dataset` from decoded uint8 images ``(N, C, H, W)`` and integer labels, with
    ``mean``/``std`` computed from ``train_x`` (:func:`channel_stats`)."""
    tx, vx = _as_uint8_tensor(train_x), _as_uint8_tensor(test_x)
    ty = torch.from_numpy(np.array(train_y, dtype=np.int64))
    vy = torch.from_numpy(np.array(test_y, dtype=np.int64))
    mean, std = channel_stats(tx)
    return Dataset(
        name=name,
        train_x=tx,
        train_y=ty,
        test_x=vx,
        test_y=vy,
        num_classes=num_classes,
        mean=mean,
        std=std,
        hflip=hflip,
        classes=tuple(classes),
        source=source,
    )


def _as_uint8_tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.contiguous()
    # e.g. a view of immutable decompressed bytes
    if not (x.flags.writeable and x.flags.c_contiguous):
        x = np.array(x, order="C", copy=True)
    return torch.from_numpy(x)


def size_notes(dataset: Dataset, train_size: int | None, test_size: int | None) -> list[str]:
    """Lines for a --train-size / --test-size beyond the split, which then uses the whole split."""
    notes = []
    for flag, asked, split in (
        ("--train-size", train_size, dataset.train_y),
        ("--test-size", test_size, dataset.test_y),
    ):
        if asked is not None and asked > len(split):
            notes.append(
                f"{flag} {asked:,} is more than the {len(split):,} images of {dataset.name}'s "
                f"{flag[2:-5]} split; using all {len(split):,}"
            )
    return notes
