"""Fashion-MNIST: the four IDX files of unsigned bytes (plain or ``.gz``), found, downloaded and
decoded.

:func:`read_idx` decodes one IDX file (the MNIST family's format) with its header and size checked;
:func:`load_fashion_mnist` finds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` in the searched folders
(:mod:`nas.datasets.locations`), downloads the missing ones from :data:`FASHION_MNIST_MIRRORS` into
the user cache when allowed, and decodes them once per process (:func:`decode_fashion_mnist`).
"""

from __future__ import annotations

import functools
import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from nas.datasets.dataset import CACHE_SIZE, Dataset, DatasetError, make_dataset
from nas.datasets.downloads import DownloadError, download_from_mirrors
from nas.datasets.locations import file_key, format_dirs, search_dirs, user_cache_dir

#: Mirrors tried in order for the Fashion-MNIST ``.gz`` files (the file name is appended).
FASHION_MNIST_MIRRORS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)

FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def _read_maybe_gzip(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(
            f"corrupt or truncated gzip file {path} ({exc}); delete it and download it again"
        ) from exc


def read_idx(path: str | os.PathLike[str], ndim: int | None = None) -> np.ndarray:
    """Decode an IDX file of unsigned bytes (plain or gzip) into a uint8 array, validating header
    and size."""
    path = Path(path)
    data = _read_maybe_gzip(path)
    fix = "delete it and download it again"
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DatasetError(
            f"{path} is not an IDX file (bad magic number {data[:4].hex() or 'empty'}); {fix}"
        )
    if data[2] != 0x08:
        raise DatasetError(
            f"{path} holds IDX data type 0x{data[2]:02x}, expected 0x08 (unsigned byte); {fix}"
        )
    nd = data[3]
    if ndim is not None and nd != ndim:
        raise DatasetError(
            f"{path} has {nd} dimensions, expected {ndim} (images 3, labels 1); wrong or swapped "
            f"file? {fix}"
        )
    header = 4 + 4 * nd
    if len(data) < header:
        raise DatasetError(f"{path} is truncated inside its IDX header; {fix}")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(nd))
    expected = header + math.prod(dims)
    if len(data) != expected:
        raise DatasetError(
            f"{path} has the wrong size: {len(data)} bytes (decompressed), expected {expected} for "
            f"shape {dims}; the file is truncated or corrupt, {fix}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):  # the plain file decodes faster
        p = folder / name
        if p.is_file():
            return p
    return None


def load_fashion_mnist(data_dir: str | os.PathLike[str] | None, download: bool) -> Dataset:
    """Fashion-MNIST from the first searched folder that holds all four files, else downloaded into
    the user cache (when ``download``); :class:`DatasetError` naming every folder searched and the
    fix otherwise."""
    dirs = search_dirs("fashion-mnist", data_dir)
    notes: dict[Path, str] = {}
    for d in dirs:
        if not d.is_dir():
            continue
        found = [_find_idx(d, stem) for stem in FASHION_MNIST_FILES]
        present = [f for f in found if f is not None]
        if len(present) == len(found):
            return decode_fashion_mnist(file_key(present))
        missing = [s for s, f in zip(FASHION_MNIST_FILES, found, strict=True) if f is None]
        if len(missing) < len(FASHION_MNIST_FILES):
            notes[d] = "missing " + ", ".join(f"{m}[.gz]" for m in missing)
        else:
            notes[d] = "no Fashion-MNIST files"

    searched = format_dirs(dirs, notes)  # before a download attempt creates the cache folder
    cache = user_cache_dir("fashion-mnist")
    missing = [s for s in FASHION_MNIST_FILES if not (cache.is_dir() and _find_idx(cache, s))]
    problem = "downloads disabled"
    if download:
        try:
            for stem in missing:
                download_from_mirrors(stem + ".gz", FASHION_MNIST_MIRRORS, cache / (stem + ".gz"))
        except DownloadError as exc:
            problem = str(exc)
        else:
            downloaded = [_find_idx(cache, s) for s in FASHION_MNIST_FILES]
            return decode_fashion_mnist(file_key(p for p in downloaded if p is not None))
    urls = " ".join(FASHION_MNIST_MIRRORS[0] + m + ".gz" for m in missing)
    raise DatasetError(
        f"Fashion-MNIST file {missing[0]}[.gz] not found (missing: {', '.join(missing)}); "
        f"searched: {searched}; {problem}. Fix: `apt-get install dataset-fashion-mnist` (installs "
        f"/usr/share/datasets/fashion-mnist), or download {urls} into {cache} (or a folder given "
        "as --data-dir / $NAS_DATA)"
    )


@functools.lru_cache(maxsize=CACHE_SIZE)
def decode_fashion_mnist(key: tuple[tuple[str, int, int], ...]) -> Dataset:
    """Decode (once per ``key``, see :func:`~nas.datasets.locations.file_key`) the train images,
    train labels, test images and test labels files, in that order."""
    tr_img, tr_lab, te_img, te_lab = (Path(k[0]) for k in key)
    train_x, test_x = read_idx(tr_img, 3), read_idx(te_img, 3)
    train_y, test_y = read_idx(tr_lab, 1), read_idx(te_lab, 1)
    for imgs, labs, ip, lp in (
        (train_x, train_y, tr_img, tr_lab),
        (test_x, test_y, te_img, te_lab),
    ):
        if imgs.shape[0] != labs.shape[0]:
            raise DatasetError(
                f"{ip} has {imgs.shape[0]} images but {lp} has {labs.shape[0]} labels; one of "
                f"them is from another dataset or corrupt, download them again"
            )
        if labs.size and int(labs.max()) >= 10:
            raise DatasetError(
                f"{lp} has label {int(labs.max())}, expected 0..9; the file is corrupt, download "
                "it again"
            )
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DatasetError(
            f"{tr_img} has {train_x.shape[1:]} images but {te_img} has {test_x.shape[1:]}; "
            f"they are from different datasets"
        )
    return make_dataset(
        "fashion-mnist",
        train_x[:, None],
        train_y,
        test_x[:, None],
        test_y,
        10,
        hflip=True,
        classes=FASHION_MNIST_CLASSES,
        source=str(tr_img.parent),
    )
