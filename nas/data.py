"""In-memory datasets for the proxy trainer.

Every dataset is decoded once into uint8 image tensors of shape ``(N, C, H, W)`` plus int64 label tensors
and kept in memory (the trainer later moves them to the GPU in one go).  :func:`load_dataset` understands
these specs:

``fashion-mnist``
    The four IDX files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``
    and ``t10k-labels-idx1-ubyte`` (plain or ``.gz``).  Searched, in order, in ``data_dir`` (itself, then its
    ``fashion-mnist/`` subfolder), ``$NAS_DATA`` (its ``fashion-mnist/`` subfolder, then itself), the user
    cache ``$XDG_CACHE_HOME/nas/fashion-mnist`` (default ``~/.cache/nas/fashion-mnist``) and the folder of the
    Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``).
``cifar10`` / ``cifar100``
    The python-pickle releases, either extracted (``cifar-10-batches-py/``, ``cifar-100-python/``) or as the
    official archive (``cifar-10-python.tar.gz``, ``cifar-100-python.tar.gz``) that is extracted on first
    use (next to the archive, or into the user cache when that folder is read-only).  Same search order as
    above with the subfolder names ``cifar10`` / ``cifar100``.  CIFAR-100 uses the 100 fine labels.
``imagefolder:PATH`` or ``imagefolder:PATH@SIZE``
    ``PATH/train/<class>/*`` and ``PATH/test/<class>/*`` (``val/`` is accepted for ``test/``), or a single
    folder of class subfolders that is split deterministically 80/20 per class.  Images are decoded with
    Pillow and resized to ``SIZE x SIZE`` when a size is given; otherwise all images must have the size of the
    first one.  Grayscale-only folders give one channel, anything else three (RGB, alpha dropped).
``synthetic`` or ``synthetic:N``
    A procedural, deterministic 10-class set of 1x28x28 images (``N`` training images, default 2048, and
    ``N // 4`` test images) for tests and smoke runs; see :func:`make_synthetic`.

When the Fashion-MNIST or CIFAR files are missing and ``download=True`` they are downloaded into the user
cache from the official mirrors and verified against the published MD5 checksums (:data:`CHECKSUMS`).

Decoded datasets are cached in-process (keyed on the resolved files with their size and modification
time), so loading the same dataset twice is free.  The cached tensors are shared between callers: treat
them as read-only.  Every user-facing problem raises :class:`DatasetError` with a one-line message that
names the file or folder concerned and the fix.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import logging
import math
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spaces.errors import NasError

__all__ = [
    "CHECKSUMS",
    "CIFAR_URLS",
    "FASHION_MNIST_MIRRORS",
    "SPEC_HELP",
    "SYSTEM_DIRS",
    "Dataset",
    "DatasetError",
    "channel_stats",
    "clear_cache",
    "download_file",
    "load_dataset",
    "make_synthetic",
    "read_idx",
    "user_cache_dir",
]

log = logging.getLogger(__name__)

SPEC_HELP = (
    "dataset: fashion-mnist | cifar10 | cifar100 | imagefolder:PATH[@SIZE] | synthetic[:N] "
    "(files are searched in --data-dir, $NAS_DATA, ~/.cache/nas and /usr/share/datasets)"
)

#: Mirrors tried in order for the Fashion-MNIST ``.gz`` files (the file name is appended).
FASHION_MNIST_MIRRORS: tuple[str, ...] = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)

#: Download URL of each CIFAR archive.
CIFAR_URLS: dict[str, str] = {
    "cifar-10-python.tar.gz": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "cifar-100-python.tar.gz": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
}

#: Published checksums of the downloadable files, ``"md5:<hex>"`` or ``"sha256:<hex>"`` by file name.
#: Only downloads are verified: local copies (e.g. the Debian package, whose ``.gz`` files were
#: recompressed and so have other checksums) are validated structurally instead.
CHECKSUMS: dict[str, str] = {
    "cifar-10-python.tar.gz": "md5:c58f30108f718f92721af3b95e74349a",
    "cifar-100-python.tar.gz": "md5:eb9058c3a382ffc7106e4002c42a8d85",
    "train-images-idx3-ubyte.gz": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "md5:25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "md5:bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "md5:bb300cfdad3c16e7a12a480ee83cd310",
}

#: System-wide folders searched last, per dataset (the Debian package ``dataset-fashion-mnist``).
SYSTEM_DIRS: dict[str, tuple[Path, ...]] = {
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),
}

FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)
SYNTHETIC_DEFAULT_SIZE = 2048
_CACHE_SIZE = 4


class DatasetError(NasError):
    """A dataset could not be found, downloaded or decoded; the message says which file and how to fix it."""


class _DownloadError(DatasetError):
    """A download failed for a network reason (the caller turns it into an 'offline' message)."""


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
        hflip: whether random horizontal flips are a label-preserving augmentation for this data.  True
            for Fashion-MNIST (clothing is roughly left-right symmetric and flips are the usual
            augmentation), CIFAR and image folders (natural photos); False for the synthetic set, where a
            flip mirrors a bar's orientation into another class.  Use ``dataclasses.replace(ds, hflip=...)``
            to override it.
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
        for split, x, y in (("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)):
            if x.dtype != torch.uint8 or x.ndim != 4 or not x.is_contiguous():
                raise ValueError(
                    f"{split}_x must be a contiguous uint8 (N, C, H, W) tensor, got {x.dtype} "
                    f"{tuple(x.shape)}"
                )
            if y.dtype != torch.int64 or y.shape != (x.shape[0],):
                raise ValueError(
                    f"{split}_y must be int64 of shape ({x.shape[0]},), got {y.dtype} {tuple(y.shape)}"
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
            f"Dataset({self.name!r}, train={tuple(self.train_x.shape)}, test={tuple(self.test_x.shape)}, "
            f"num_classes={self.num_classes}, hflip={self.hflip})"
        )

    def subset(self, train_size: int | None = None, test_size: int | None = None, seed: int = 0) -> Dataset:
        """Return a seeded, class-stratified subset (``None`` keeps a split whole).

        Classes are kept as balanced as the data allows: samples are drawn round-robin over the classes in a
        seeded random order, so e.g. 1000 of Fashion-MNIST's training images are 100 per class.  Selected
        samples keep their original relative order.  ``mean``/``std`` are recomputed for the new
        ``train_x``; ``name`` and ``hflip`` are kept.
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


def _stratified_indices(labels: torch.Tensor, size: int | None, seed: int, what: str) -> torch.Tensor | None:
    n = int(labels.shape[0])
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size > n:
        raise DatasetError(
            f"subset {what}={size!r} is invalid: it must be an integer between 1 and {n} (or None for all)"
        )
    if size == n:
        return None
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    y = labels.numpy()[perm]
    # rank of each (permuted) sample within its class: 0 for the first sample of its class, 1 for the next...
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
    """Exact per-channel mean and population std of ``x / 255`` for a uint8 ``(N, C, H, W)`` tensor."""
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


def _make_dataset(
    name: str,
    train_x: np.ndarray | torch.Tensor,
    train_y: Any,
    test_x: np.ndarray | torch.Tensor,
    test_y: Any,
    num_classes: int,
    hflip: bool,
    classes: Sequence[str] = (),
    source: str = "",
) -> Dataset:
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
    if not (x.flags.writeable and x.flags.c_contiguous):  # e.g. a view of immutable decompressed bytes
        x = np.array(x, order="C", copy=True)
    return torch.from_numpy(x)


# ----------------------------------------------------------------------------------------------------------
# public entry point


def load_dataset(spec: str, data_dir: str | os.PathLike[str] | None = None, download: bool = True) -> Dataset:
    """Load (decoding once per process) the dataset described by ``spec``; see the module docstring.

    Args:
        spec: ``fashion-mnist``, ``cifar10``, ``cifar100``, ``imagefolder:PATH[@SIZE]`` or ``synthetic[:N]``.
        data_dir: folder searched first for the dataset files (``--data-dir`` in the CLI).
        download: download missing Fashion-MNIST/CIFAR files into the user cache.

    Raises:
        DatasetError: unknown spec, missing files (with the searched folders and how to get them), failed
            download or checksum, or corrupt files (naming the file).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise DatasetError(f"empty dataset spec {spec!r}; expected {SPEC_HELP}")
    spec = spec.strip()
    kind, sep, arg = spec.partition(":")
    key = kind.lower().replace("_", "-")
    if key in ("imagefolder", "image-folder", "folder"):
        if not sep or not arg:
            raise DatasetError(
                f"dataset spec {spec!r} needs a folder: imagefolder:PATH or imagefolder:PATH@SIZE"
            )
        return _load_imagefolder_spec(arg, data_dir)
    if key == "synthetic":
        return _load_synthetic_spec(spec, arg if sep else None)
    _check_data_dir(data_dir)
    if sep:
        raise DatasetError(f"dataset {kind!r} takes no ':' argument (got {spec!r}); expected {SPEC_HELP}")
    if key in ("fashion-mnist", "fashionmnist", "fmnist"):
        return _load_fashion_mnist(data_dir, download)
    if key in ("cifar10", "cifar-10"):
        return _load_cifar("cifar10", data_dir, download)
    if key in ("cifar100", "cifar-100"):
        return _load_cifar("cifar100", data_dir, download)
    raise DatasetError(f"unknown dataset {spec!r}; expected {SPEC_HELP}")


def _check_data_dir(data_dir: str | os.PathLike[str] | None) -> None:
    """A --data-dir that is not a folder is a mistake: refuse it rather than read another folder's files."""
    if data_dir is None or str(data_dir) == "":
        return
    d = Path(data_dir).expanduser()
    if not d.is_dir():
        what = "is a file, not a folder" if d.exists() else "does not exist"
        raise DatasetError(f"data folder {d} {what}; give the folder that holds the dataset files, or leave "
                           "--data-dir out to search $NAS_DATA, ~/.cache/nas and /usr/share/datasets")


def data_dir_note(dataset: Dataset, data_dir: str | os.PathLike[str] | None) -> str | None:
    """One line when `data_dir` was given but the files were read from another folder (it lacks them)."""
    if data_dir is None or str(data_dir) == "" or not dataset.source:
        return None
    given, source = Path(data_dir).expanduser().resolve(), Path(dataset.source).resolve()
    if source == given or given in source.parents:
        return None
    return (f"{data_dir} does not hold the {dataset.name} files; read them from {dataset.source} "
            "(the next folder searched)")


def size_notes(dataset: Dataset, train_size: int | None, test_size: int | None) -> list[str]:
    """Lines for a --train-size / --test-size beyond the split, which then uses the whole split."""
    notes = []
    for flag, asked, split in (("--train-size", train_size, dataset.train_y), ("--test-size", test_size,
                                                                             dataset.test_y)):
        if asked is not None and asked > len(split):
            notes.append(f"{flag} {asked:,} is more than the {len(split):,} images of {dataset.name}'s "
                         f"{flag[2:-5]} split; using all {len(split):,}")
    return notes


def clear_cache() -> None:
    """Forget all decoded datasets of this process."""
    _decode_fashion_mnist.cache_clear()
    _decode_cifar.cache_clear()
    _decode_imagefolder.cache_clear()
    make_synthetic.cache_clear()


def user_cache_dir(name: str | None = None) -> Path:
    """``$XDG_CACHE_HOME/nas`` (default ``~/.cache/nas``), or its ``name`` subfolder."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    root = base / "nas"
    return root / name if name else root


def _search_dirs(name: str, data_dir: str | os.PathLike[str] | None) -> list[Path]:
    """Folders searched for dataset ``name``, in order, without duplicates."""
    dirs: list[Path] = []
    if data_dir is not None and str(data_dir) != "":
        d = Path(data_dir).expanduser()
        dirs += [d, d / name]
    env = os.environ.get("NAS_DATA", "")
    if env:
        e = Path(env).expanduser()
        dirs += [e / name, e]
    dirs.append(user_cache_dir(name))
    dirs += list(SYSTEM_DIRS.get(name, ()))
    seen: set[str] = set()
    out = []
    for d in dirs:
        k = os.path.abspath(d)
        if k not in seen:
            seen.add(k)
            out.append(d)
    return out


def _file_key(paths: Iterable[Path]) -> tuple[tuple[str, int, int], ...]:
    """Cache key: resolved path, size and mtime of each file (so a replaced file is decoded again)."""
    key = []
    for p in paths:
        st = p.stat()
        key.append((str(p.resolve()), st.st_size, st.st_mtime_ns))
    return tuple(key)


def _fmt_dirs(dirs: Sequence[Path], notes: dict[Path, str] | None = None) -> str:
    parts = []
    for d in dirs:
        note = (notes or {}).get(d) or ("" if d.is_dir() else "does not exist")
        parts.append(f"{d} ({note})" if note else str(d))
    return ", ".join(parts)


# ----------------------------------------------------------------------------------------------------------
# downloads


def _parse_checksum(spec: str) -> tuple[str, str]:
    algo, sep, digest = spec.partition(":")
    if not sep:  # bare hex digest: infer the algorithm from its length
        algo, digest = ("md5" if len(spec) == 32 else "sha256"), spec
    algo = algo.lower()
    if algo not in ("md5", "sha256"):
        raise ValueError(f"unsupported checksum algorithm {algo!r} (use md5: or sha256:)")
    return algo, digest.lower()


def download_file(
    url: str, dest: str | os.PathLike[str], checksum: str | None = None, timeout: float = 60.0
) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying ``checksum`` (``"md5:<hex>"``/``"sha256:<hex>"``).

    The data is streamed into a temporary file next to ``dest`` that is renamed onto ``dest`` only after the
    checksum matched; on any failure the temporary file is deleted.  Works with ``file://`` URLs.

    Raises:
        DatasetError: checksum mismatch or an unwritable destination; a network failure raises a subclass
            whose message contains the reason.
    """
    dest = Path(dest)
    algo, expected = _parse_checksum(checksum) if checksum else ("sha256", None)
    hasher = hashlib.new(algo)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as exc:
        raise DatasetError(
            f"cannot write to {dest.parent} to download {url}: {exc.strerror or exc}; make it "
            f"writable or set XDG_CACHE_HOME / --data-dir"
        ) from exc
    tmp = Path(tmp_name)
    try:
        log.info("downloading %s -> %s", url, dest)
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=timeout)
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
                raise _DownloadError(
                    f"download of {url} failed: {getattr(exc, 'reason', None) or exc}"
                ) from exc
            with response:
                while True:
                    try:
                        chunk = response.read(1 << 20)
                    except (http.client.HTTPException, OSError) as exc:
                        raise _DownloadError(f"download of {url} failed: {exc}") from exc
                    if not chunk:
                        break
                    hasher.update(chunk)
                    out.write(chunk)
        actual = hasher.hexdigest()
        if expected is not None and actual != expected:
            raise DatasetError(
                f"checksum mismatch for {dest.name} downloaded from {url}: expected {algo} "
                f"{expected}, got {actual}; the partial file was deleted, retry or download it "
                f"by hand into {dest.parent}"
            )
        os.replace(tmp, dest)
    except OSError as exc:  # writing the file failed (disk full, permissions)
        tmp.unlink(missing_ok=True)
        raise DatasetError(f"cannot write {dest} while downloading {url}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


# ----------------------------------------------------------------------------------------------------------
# Fashion-MNIST (IDX files)


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
    """Decode an IDX file of unsigned bytes (plain or gzip) into a uint8 array, validating header and size."""
    path = Path(path)
    data = _read_maybe_gzip(path)
    fix = "delete it and download it again"
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DatasetError(f"{path} is not an IDX file (bad magic number {data[:4].hex() or 'empty'}); {fix}")
    if data[2] != 0x08:
        raise DatasetError(
            f"{path} holds IDX data type 0x{data[2]:02x}, expected 0x08 (unsigned byte); {fix}"
        )
    nd = data[3]
    if ndim is not None and nd != ndim:
        raise DatasetError(
            f"{path} has {nd} dimensions, expected {ndim} (images 3, labels 1); wrong or swapped file? {fix}"
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


def _load_fashion_mnist(data_dir: str | os.PathLike[str] | None, download: bool) -> Dataset:
    dirs = _search_dirs("fashion-mnist", data_dir)
    notes: dict[Path, str] = {}
    for d in dirs:
        if not d.is_dir():
            continue
        found = [_find_idx(d, stem) for stem in FASHION_MNIST_FILES]
        if all(found):
            return _decode_fashion_mnist(_file_key(found))  # type: ignore[arg-type]
        missing = [s for s, f in zip(FASHION_MNIST_FILES, found, strict=True) if f is None]
        if len(missing) < len(FASHION_MNIST_FILES):
            notes[d] = "missing " + ", ".join(f"{m}[.gz]" for m in missing)
        else:
            notes[d] = "no Fashion-MNIST files"

    searched = _fmt_dirs(dirs, notes)  # before a download attempt creates the cache folder
    cache = user_cache_dir("fashion-mnist")
    missing = [s for s in FASHION_MNIST_FILES if not (cache.is_dir() and _find_idx(cache, s))]
    problem = "downloads disabled"
    if download:
        try:
            for stem in missing:
                _download_from_mirrors(stem + ".gz", FASHION_MNIST_MIRRORS, cache / (stem + ".gz"))
        except _DownloadError as exc:
            problem = str(exc)
        else:
            downloaded = [_find_idx(cache, s) for s in FASHION_MNIST_FILES]
            return _decode_fashion_mnist(_file_key(p for p in downloaded if p is not None))
    urls = " ".join(FASHION_MNIST_MIRRORS[0] + m + ".gz" for m in missing)
    raise DatasetError(
        f"Fashion-MNIST file {missing[0]}[.gz] not found (missing: {', '.join(missing)}); searched: "
        f"{searched}; {problem}. Fix: `apt-get install dataset-fashion-mnist` (installs "
        f"/usr/share/datasets/fashion-mnist), or download {urls} into {cache} (or a folder given as "
        f"--data-dir / $NAS_DATA)"
    )


def _download_from_mirrors(filename: str, mirrors: Sequence[str], dest: Path) -> None:
    errors = []
    for base in mirrors:
        try:
            download_file(base + filename, dest, CHECKSUMS.get(filename))
            return
        except _DownloadError as exc:
            errors.append(str(exc))
    raise _DownloadError("; ".join(errors) or f"no mirror configured for {filename}")


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _decode_fashion_mnist(key: tuple[tuple[str, int, int], ...]) -> Dataset:
    tr_img, tr_lab, te_img, te_lab = (Path(k[0]) for k in key)
    train_x, test_x = read_idx(tr_img, 3), read_idx(te_img, 3)
    train_y, test_y = read_idx(tr_lab, 1), read_idx(te_lab, 1)
    for imgs, labs, ip, lp in ((train_x, train_y, tr_img, tr_lab), (test_x, test_y, te_img, te_lab)):
        if imgs.shape[0] != labs.shape[0]:
            raise DatasetError(
                f"{ip} has {imgs.shape[0]} images but {lp} has {labs.shape[0]} labels; one of "
                f"them is from another dataset or corrupt, download them again"
            )
        if labs.size and int(labs.max()) >= 10:
            raise DatasetError(
                f"{lp} has label {int(labs.max())}, expected 0..9; the file is corrupt, download it again"
            )
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DatasetError(
            f"{tr_img} has {train_x.shape[1:]} images but {te_img} has {test_x.shape[1:]}; "
            f"they are from different datasets"
        )
    return _make_dataset(
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


# ----------------------------------------------------------------------------------------------------------
# CIFAR (python pickle batches)


@dataclass(frozen=True)
class _CifarLayout:
    name: str
    folder: str
    archive: str
    train: tuple[str, ...]
    test: str
    meta: str
    label_key: str
    meta_key: str
    num_classes: int


_CIFAR = {
    "cifar10": _CifarLayout(
        "cifar10",
        "cifar-10-batches-py",
        "cifar-10-python.tar.gz",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test_batch",
        "batches.meta",
        "labels",
        "label_names",
        10,
    ),
    "cifar100": _CifarLayout(
        "cifar100",
        "cifar-100-python",
        "cifar-100-python.tar.gz",
        ("train",),
        "test",
        "meta",
        "fine_labels",
        "fine_label_names",
        100,
    ),
}


def _cifar_complete(folder: Path, layout: _CifarLayout) -> bool:
    return all((folder / f).is_file() for f in (*layout.train, layout.test))


def _load_cifar(name: str, data_dir: str | os.PathLike[str] | None, download: bool) -> Dataset:
    layout = _CIFAR[name]
    dirs = _search_dirs(name, data_dir)
    cache = user_cache_dir(name)
    notes: dict[Path, str] = {}
    for d in dirs:
        if not d.is_dir():
            continue
        for folder in (d / layout.folder, d):
            if _cifar_complete(folder, layout):
                return _decode_cifar(name, _file_key(_cifar_batches(folder, layout)))
        archive = d / layout.archive
        if archive.is_file():
            return _decode_cifar(
                name, _file_key(_cifar_batches(_extract_cifar(archive, layout, cache), layout))
            )
        if (d / layout.folder).is_dir():
            lacking = [p.name for p in _cifar_batches(d / layout.folder, layout) if not p.is_file()]
            notes[d] = f"{layout.folder}/ lacks {', '.join(lacking)}"
        else:
            notes[d] = f"no {layout.folder}/ or {layout.archive}"

    searched = _fmt_dirs(dirs, notes)  # before a download attempt creates the cache folder
    problem = "downloads disabled"
    if download:
        archive = cache / layout.archive
        try:
            download_file(CIFAR_URLS[layout.archive], archive, CHECKSUMS.get(layout.archive))
        except _DownloadError as exc:
            problem = str(exc)
        else:
            return _decode_cifar(
                name, _file_key(_cifar_batches(_extract_cifar(archive, layout, cache), layout))
            )
    raise DatasetError(
        f"{name} not found: no complete {layout.folder}/ folder or {layout.archive} archive; "
        f"searched: {searched}; {problem}. Fix: download {CIFAR_URLS[layout.archive]} into "
        f"{cache} (or a folder given as --data-dir / $NAS_DATA); it is extracted on first use"
    )


def _cifar_batches(folder: Path, layout: _CifarLayout) -> list[Path]:
    return [folder / f for f in (*layout.train, layout.test)]


def _extract_cifar(archive: Path, layout: _CifarLayout, cache: Path) -> Path:
    """Extract ``archive`` next to itself (or into ``cache`` if that fails) and return the batches folder."""
    targets = [archive.parent]
    if os.path.abspath(cache) != os.path.abspath(archive.parent):
        targets.append(cache)
    for target in targets:
        final = target / layout.folder
        if _cifar_complete(final, layout):
            return final
    last_error: OSError | None = None
    for target in targets:
        final = target / layout.folder
        if final.exists():
            raise DatasetError(
                f"{final} exists but is incomplete (needs {', '.join((*layout.train, layout.test))}); "
                f"delete it so that {archive} can be extracted again"
            )
        try:
            target.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{layout.folder}.", suffix=".part", dir=target))
        except OSError as exc:
            last_error = exc
            continue
        try:
            log.info("extracting %s -> %s", archive, final)
            _safe_extract(archive, layout.folder, tmp)
            if not _cifar_complete(tmp / layout.folder, layout):
                raise DatasetError(
                    f"{archive} does not contain the {layout.folder}/ batches "
                    f"({', '.join((*layout.train, layout.test))}); it is not the official "
                    f"archive or is corrupt, delete it and download it again"
                )
            try:
                os.rename(tmp / layout.folder, final)
            except OSError:
                if not _cifar_complete(final, layout):  # not a concurrent extraction that won the race
                    raise
            return final
        except OSError as exc:
            last_error = exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    raise DatasetError(
        f"cannot extract {archive} into {' or '.join(map(str, targets))}: {last_error}; make one of "
        f"them writable or extract it by hand"
    )


def _safe_extract(archive: Path, folder: str, dest: Path) -> None:
    """Extract only the regular files under ``folder/`` (no links, no absolute or '..' paths)."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                parts = Path(member.name).parts
                if (
                    not member.isfile()
                    or not parts
                    or parts[0] != folder
                    or ".." in parts
                    or Path(member.name).is_absolute()
                ):
                    continue
                out = dest.joinpath(*parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                if src is None:
                    continue
                with src, open(out, "wb") as f:
                    shutil.copyfileobj(src, f, 1 << 20)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DatasetError(
            f"corrupt or truncated archive {archive} ({exc}); delete it and download it again"
        ) from exc


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays (CIFAR batches need nothing else): no code execution."""

    _ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")
        if module.startswith("numpy") and module.endswith("multiarray"):
            try:
                from numpy._core import multiarray  # numpy >= 2
            except ImportError:  # pragma: no cover - numpy 1.x
                from numpy.core import multiarray  # type: ignore[no-redef]
            return getattr(multiarray, name)
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict[str, Any]:
    fix = "the file is corrupt or not a CIFAR batch, delete it and download/extract it again"
    try:
        with open(path, "rb") as f:
            obj = _CifarUnpickler(f, encoding="latin1").load()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except Exception as exc:  # pickle raises many types (UnpicklingError, EOFError, ValueError, ...)
        raise DatasetError(f"cannot unpickle {path} ({type(exc).__name__}: {exc}); {fix}") from exc
    if not isinstance(obj, dict):
        raise DatasetError(f"{path} holds a {type(obj).__name__}, expected a dict; {fix}")
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}


def _read_cifar_batch(path: Path, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    fix = "the file is corrupt or not a CIFAR batch, delete it and download/extract it again"
    if "data" not in batch or label_key not in batch:
        raise DatasetError(f"{path} lacks the 'data' or '{label_key}' entry (has {sorted(batch)}); {fix}")
    data, labels = batch["data"], batch[label_key]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise DatasetError(
            f"{path}: 'data' is {type(data).__name__} {getattr(data, 'dtype', '')} {shape}, "
            f"expected uint8 (N, 3072); {fix}"
        )
    try:
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{path}: '{label_key}' is not a list of integers; {fix}") from exc
    if labels.shape[0] != data.shape[0]:
        raise DatasetError(f"{path} has {data.shape[0]} images but {labels.shape[0]} labels; {fix}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetError(f"{path} has labels outside 0..{num_classes - 1}; {fix}")
    return data.reshape(-1, 3, 32, 32), labels


def _cifar_class_names(folder: Path, layout: _CifarLayout) -> tuple[str, ...]:
    path = folder / layout.meta
    if not path.is_file():
        return ()
    try:
        names = _unpickle(path).get(layout.meta_key, ())
        names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    except (DatasetError, TypeError, UnicodeDecodeError):
        return ()  # class names are cosmetic: a damaged meta file is not worth failing for
    return names if len(names) == layout.num_classes else ()


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _decode_cifar(name: str, key: tuple[tuple[str, int, int], ...]) -> Dataset:
    layout = _CIFAR[name]
    paths = [Path(k[0]) for k in key]
    train = [_read_cifar_batch(p, layout.label_key, layout.num_classes) for p in paths[:-1]]
    test_x, test_y = _read_cifar_batch(paths[-1], layout.label_key, layout.num_classes)
    train_x = np.concatenate([b[0] for b in train]) if len(train) > 1 else train[0][0]
    train_y = np.concatenate([b[1] for b in train])
    classes = _cifar_class_names(paths[-1].parent, layout)
    return _make_dataset(
        name, train_x, train_y, test_x, test_y, layout.num_classes, hflip=True, classes=classes,
        source=str(paths[-1].parent),
    )


# ----------------------------------------------------------------------------------------------------------
# image folders


def _load_imagefolder_spec(arg: str, data_dir: str | os.PathLike[str] | None) -> Dataset:
    path_str, size = arg, None
    head, at, tail = arg.rpartition("@")
    if at and head and (tail.isdigit() or not Path(arg).expanduser().exists()):
        if not tail.isdigit() or int(tail) < 1:
            raise DatasetError(
                f"imagefolder size suffix '@{tail}' must be a positive integer, e.g. imagefolder:{head}@32"
            )
        path_str, size = head, int(tail)
    root = Path(path_str).expanduser()
    if not root.is_absolute() and data_dir is not None and not root.exists():
        root = Path(data_dir).expanduser() / root
    if not root.is_dir():
        raise DatasetError(
            f"image folder {root} does not exist or is not a folder; expected "
            f"PATH/train/<class>/*.png and PATH/test/<class>/*.png or PATH/<class>/*.png"
        )
    root = root.resolve()
    splits = _scan_imagefolder(root)
    key = tuple(
        (str(p), p.stat().st_size, p.stat().st_mtime_ns, lab, split)
        for split, items in (("train", splits[0]), ("test", splits[1]))
        for p, lab in items
    )
    return _decode_imagefolder(str(root), size, splits[2], key)


def _list_images(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _scan_imagefolder(root: Path) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]], tuple[str, ...]]:
    """Return (train items, test items, class names) with items = (file, label)."""
    train_dir = root / "train"
    test_dir = next((root / n for n in ("test", "val", "valid") if (root / n).is_dir()), None)
    if train_dir.is_dir():
        if test_dir is None:
            raise DatasetError(
                f"{root} has a train/ folder but no test/ (or val/) folder; add one, or put the "
                f"class folders directly in {root} for an automatic 80/20 split"
            )
        classes = [d.name for d in _class_dirs(train_dir)]
        if not classes:
            raise DatasetError(f"{train_dir} has no class subfolders; expected {train_dir}/<class>/*.png")
        index = {c: i for i, c in enumerate(classes)}
        train = [(p, index[d.name]) for d in _class_dirs(train_dir) for p in _list_images(d)]
        test = []
        for d in _class_dirs(test_dir):
            if d.name not in index:
                raise DatasetError(
                    f"test class folder {d} has no counterpart in {train_dir}; rename or remove it"
                )
            test += [(p, index[d.name]) for p in _list_images(d)]
        if not train:
            raise DatasetError(f"no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) found under {train_dir}")
        if not test:
            raise DatasetError(f"no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) found under {test_dir}")
        return train, test, tuple(classes)

    class_dirs = _class_dirs(root)
    if not class_dirs:
        raise DatasetError(
            f"{root} has no class subfolders; expected {root}/<class>/*.png or "
            f"{root}/train/<class>/*.png and {root}/test/<class>/*.png"
        )
    train, test = [], []
    for label, d in enumerate(class_dirs):
        files = _list_images(d)
        # deterministic per-class split, independent of the other classes
        order = np.random.default_rng(zlib.crc32(d.name.encode())).permutation(len(files))
        n_test = round(0.2 * len(files)) if len(files) >= 2 else 0
        n_test = max(n_test, 1) if len(files) >= 2 else 0
        test_set = set(order[:n_test].tolist())
        for i, p in enumerate(files):
            (test if i in test_set else train).append((p, label))
    if not train or not test:
        raise DatasetError(
            f"too few images under {root} for an 80/20 split (need at least 2 per class); add "
            f"images or use {root}/train and {root}/test folders"
        )
    return train, test, tuple(d.name for d in class_dirs)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _decode_imagefolder(
    root: str, size: int | None, classes: tuple[str, ...], key: tuple[tuple[str, int, int, int, str], ...]
) -> Dataset:
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - Pillow is installed with matplotlib
        raise DatasetError("imagefolder datasets need Pillow: pip install pillow") from exc

    arrays: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    labels: dict[str, list[int]] = {"train": [], "test": []}
    expected: tuple[int, int] | None = (size, size) if size else None
    first = ""
    for path_str, _, _, label, split in key:
        try:
            with Image.open(path_str) as img:
                img.load()
                gray = img.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F") or (
                    img.mode == "P" and _palette_is_gray(img)
                )
                img = img.convert("L" if gray else "RGB")
                if size:
                    img = img.resize((size, size), Image.Resampling.BILINEAR)
                elif expected is None:
                    expected, first = (img.height, img.width), path_str
                elif (img.height, img.width) != expected:
                    raise DatasetError(
                        f"{path_str} is {img.width}x{img.height} but {first} is {expected[1]}x"
                        f"{expected[0]}; all images must have the same size, or give one: "
                        f"imagefolder:{root}@{expected[0]}"
                    )
                arr = np.asarray(img, dtype=np.uint8)
        except DatasetError:
            raise
        except Exception as exc:  # Pillow raises many types for damaged files (OSError, SyntaxError, ...)
            raise DatasetError(
                f"cannot decode image {path_str} ({type(exc).__name__}: {exc}); delete or replace it"
            ) from exc
        arrays[split].append(arr)
        labels[split].append(label)

    channels = 3 if any(a.ndim == 3 for s in arrays.values() for a in s) else 1

    def stack(items: list[np.ndarray]) -> np.ndarray:
        out = np.empty((len(items), channels, *items[0].shape[:2]), dtype=np.uint8)
        for i, a in enumerate(items):
            out[i] = a.transpose(2, 0, 1) if a.ndim == 3 else a[None]
        return out

    name = f"imagefolder:{root}" + (f"@{size}" if size else "")
    return _make_dataset(
        name,
        stack(arrays["train"]),
        labels["train"],
        stack(arrays["test"]),
        labels["test"],
        len(classes),
        hflip=True,
        classes=classes,
    )


def _palette_is_gray(img: Any) -> bool:
    pal = img.getpalette() or []
    return all(pal[i] == pal[i + 1] == pal[i + 2] for i in range(0, len(pal) - 2, 3))


# ----------------------------------------------------------------------------------------------------------
# synthetic data


def _load_synthetic_spec(spec: str, arg: str | None) -> Dataset:
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


@functools.lru_cache(maxsize=_CACHE_SIZE)
def make_synthetic(train_size: int = SYNTHETIC_DEFAULT_SIZE, test_size: int | None = None) -> Dataset:
    """Deterministic, learnable 10-class 1x28x28 dataset (``test_size`` default: ``max(1, train_size // 4)``).

    Each image is one bar (classes 0-4) or a pair of parallel bars (classes 5-9) at one of five orientations
    (0, 36, 72, 108, 144 degrees), with random jitter in angle, position, width and contrast plus Gaussian
    pixel noise.  A tiny CNN separates the classes within a few epochs.  Horizontal flips turn 36 into 144
    degrees (another class), hence ``hflip=False``.  Always generated from the same fixed seed.
    """
    if test_size is None:
        test_size = max(1, train_size // 4)
    train_x, train_y = _synthetic_images(train_size, np.random.default_rng([0x5EED, 0, train_size]))
    test_x, test_y = _synthetic_images(test_size, np.random.default_rng([0x5EED, 1, test_size]))
    return _make_dataset(
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
        d = (xx - cx[sl, None, None]) * sin - (yy - cy[sl, None, None]) * cos - offset[sl, None, None]
        d = np.where(double[sl, None, None], np.abs(d) - 3.5, d)
        img = contrast[sl, None, None] * np.exp(-((d / width[sl, None, None]) ** 2))
        img += noise_rng.normal(0.0, 0.12, img.shape)
        out[sl, 0] = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    return out, labels.astype(np.int64)
