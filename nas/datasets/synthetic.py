"""The synthetic dataset: a procedural, deterministic, learnable 10-class set of 1x28x28 images.

``synthetic`` or ``synthetic:N`` gives ``N`` training images (default
:data:`SYNTHETIC_DEFAULT_SIZE`) and ``N // 4`` test images, for tests and smoke runs; see
:func:`make_synthetic`.
"""

from __future__ import annotations

import functools

import numpy as np

from nas.datasets.dataset import CACHE_SIZE, Dataset, DatasetError, make_dataset

SYNTHETIC_DEFAULT_SIZE = 2048


def load_synthetic(spec: str, arg: str | None) -> Dataset:
    """The synthetic dataset of ``spec`` whose ``N`` (the part after ``synthetic:``) is ``arg``,
    None for the default size."""
    if arg is None:
        n = SYNTHETIC_DEFAULT_SIZE
    else:
        try:
            n = int(arg)
        except ValueError:
            n = 0
        if n < 1:
            raise DatasetError(
                f"bad dataset spec {spec!r}: synthetic:N needs a positive number of training "
                f"images, e.g. synthetic:2048"
            )
    return make_synthetic(n)


@functools.lru_cache(maxsize=CACHE_SIZE)
def make_synthetic(
    train_size: int = SYNTHETIC_DEFAULT_SIZE, test_size: int | None = None
) -> Dataset:
    """Deterministic, learnable 10-class 1x28x28 dataset (``test_size`` default:
    ``max(1, train_size // 4)``).

    Each image is one bar (classes 0-4) or a pair of parallel bars (classes 5-9) at one of five
    orientations (0, 36, 72, 108, 144 degrees), with random jitter in angle, position, width and
    contrast plus Gaussian pixel noise.  A tiny CNN separates the classes within a few epochs.
    Horizontal flips turn 36 into 144 degrees (another class), hence ``hflip=False``.  Always
    generated from the same fixed seed.
    """
    if test_size is None:
        test_size = max(1, train_size // 4)
    train_x, train_y = _synthetic_images(train_size, np.random.default_rng([0x5EED, 0, train_size]))
    test_x, test_y = _synthetic_images(test_size, np.random.default_rng([0x5EED, 1, test_size]))
    return make_dataset(
        f"synthetic:{train_size}",
        train_x,
        train_y,
        test_x,
        test_y,
        10,
        hflip=False,
        classes=tuple(f"{'double' if k >= 5 else 'single'}-{36 * (k % 5)}deg" for k in range(10)),
    )


def _synthetic_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.permutation(np.arange(n) % 10)
    angle = (labels % 5) * (np.pi / 5) + rng.uniform(-0.12, 0.12, n)
    double = labels >= 5
    offset = rng.uniform(-3.0, 3.0, n)
    width = rng.uniform(1.0, 1.8, n)
    contrast = rng.uniform(0.6, 1.0, n)
    cx, cy = rng.uniform(-2, 2, (2, n)) + 13.5
    noise_seed = int(rng.integers(2**63))
    yy, xx = np.mgrid[0:28, 0:28].astype(np.float32)
    out = np.empty((n, 1, 28, 28), dtype=np.uint8)
    noise_rng = np.random.default_rng(noise_seed)
    for s in range(0, n, 4096):
        sl = slice(s, min(n, s + 4096))
        sin, cos = np.sin(angle[sl])[:, None, None], np.cos(angle[sl])[:, None, None]
        d = (
            (xx - cx[sl, None, None]) * sin
            - (yy - cy[sl, None, None]) * cos
            - offset[sl, None, None]
        )
        d = np.where(double[sl, None, None], np.abs(d) - 3.5, d)
        img = contrast[sl, None, None] * np.exp(-((d / width[sl, None, None]) ** 2))
        img += noise_rng.normal(0.0, 0.12, img.shape)
        out[sl, 0] = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    return out, labels.astype(np.int64)
