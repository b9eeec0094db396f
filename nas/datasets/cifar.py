"""CIFAR-10 / CIFAR-100: the python-pickle batches, found, downloaded, extracted and decoded.

The batches are read either extracted (``cifar-10-batches-py/``, ``cifar-100-python/``) or from the
official archive (``cifar-10-python.tar.gz``, ``cifar-100-python.tar.gz``), which is extracted on
first use next to itself, or into the user cache when that folder is read-only, and downloaded from
:data:`CIFAR_URLS` when missing and allowed.  Only regular files under the batches folder are
extracted, and the pickles are read by an unpickler that rebuilds numpy arrays and nothing else.
CIFAR-100 uses the 100 fine labels.
"""

from __future__ import annotations

import functools
import gzip
import logging
import os
import pickle
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nas.datasets.dataset import CACHE_SIZE, Dataset, DatasetError, make_dataset
from nas.datasets.downloads import DownloadError, download_file, published_checksum
from nas.datasets.locations import file_key, format_dirs, search_dirs, user_cache_dir

log = logging.getLogger(__name__)

#: Download URL of each CIFAR archive.
CIFAR_URLS: dict[str, str] = {
    "cifar-10-python.tar.gz": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "cifar-100-python.tar.gz": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
}


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


def load_cifar(name: str, data_dir: str | os.PathLike[str] | None, download: bool) -> Dataset:
    """CIFAR ``name`` (``cifar10`` or ``cifar100``) from the first searched folder that holds its
    batches or its archive, else downloaded into the user cache (when ``download``);
    :class:`DatasetError` naming every folder searched and the fix otherwise."""
    layout = _CIFAR[name]
    dirs = search_dirs(name, data_dir)
    cache = user_cache_dir(name)
    notes: dict[Path, str] = {}
    for d in dirs:
        if not d.is_dir():
            continue
        for folder in (d / layout.folder, d):
            if _cifar_complete(folder, layout):
                return decode_cifar(name, file_key(_cifar_batches(folder, layout)))
        archive = d / layout.archive
        if archive.is_file():
            return decode_cifar(
                name, file_key(_cifar_batches(_extract_cifar(archive, layout, cache), layout))
            )
        if (d / layout.folder).is_dir():
            lacking = [p.name for p in _cifar_batches(d / layout.folder, layout) if not p.is_file()]
            notes[d] = f"{layout.folder}/ lacks {', '.join(lacking)}"
        else:
            notes[d] = f"no {layout.folder}/ or {layout.archive}"

    searched = format_dirs(dirs, notes)  # before a download attempt creates the cache folder
    problem = "downloads disabled"
    if download:
        archive = cache / layout.archive
        try:
            download_file(CIFAR_URLS[layout.archive], archive, published_checksum(layout.archive))
        except DownloadError as exc:
            problem = str(exc)
        else:
            return decode_cifar(
                name, file_key(_cifar_batches(_extract_cifar(archive, layout, cache), layout))
            )
    raise DatasetError(
        f"{name} not found: no complete {layout.folder}/ folder or {layout.archive} archive; "
        f"searched: {searched}; {problem}. Fix: download {CIFAR_URLS[layout.archive]} into "
        f"{cache} (or a folder given as --data-dir / $NAS_DATA); it is extracted on first use"
    )


def _cifar_batches(folder: Path, layout: _CifarLayout) -> list[Path]:
    return [folder / f for f in (*layout.train, layout.test)]


def _extract_cifar(archive: Path, layout: _CifarLayout, cache: Path) -> Path:
    """Extract ``archive`` next to itself (or into ``cache`` if that fails) and return the batches
    folder."""
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
                f"{final} exists but is incomplete (needs "
                f"{', '.join((*layout.train, layout.test))}); delete it so that {archive} can be "
                "extracted again"
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
                # not a concurrent extraction that won the race
                if not _cifar_complete(final, layout):
                    raise
            return final
        except OSError as exc:
            last_error = exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    raise DatasetError(
        f"cannot extract {archive} into {' or '.join(map(str, targets))}: {last_error}; make one "
        "of them writable or extract it by hand"
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
    """Unpickler that only rebuilds numpy arrays (CIFAR batches need nothing else): no code
    execution."""

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
    # pickle raises many types (UnpicklingError, EOFError, ValueError, ...)
    except Exception as exc:
        raise DatasetError(f"cannot unpickle {path} ({type(exc).__name__}: {exc}); {fix}") from exc
    if not isinstance(obj, dict):
        raise DatasetError(f"{path} holds a {type(obj).__name__}, expected a dict; {fix}")
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}


def _read_cifar_batch(
    path: Path, label_key: str, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    fix = "the file is corrupt or not a CIFAR batch, delete it and download/extract it again"
    if "data" not in batch or label_key not in batch:
        raise DatasetError(
            f"{path} lacks the 'data' or '{label_key}' entry (has {sorted(batch)}); {fix}"
        )
    data, labels = batch["data"], batch[label_key]
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3072
    ):
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


@functools.lru_cache(maxsize=CACHE_SIZE)
def decode_cifar(name: str, key: tuple[tuple[str, int, int], ...]) -> Dataset:
    """Decode (once per ``key``, see :func:`~nas.datasets.locations.file_key`) the training batches
    of CIFAR ``name`` followed by its test batch."""
    layout = _CIFAR[name]
    paths = [Path(k[0]) for k in key]
    train = [_read_cifar_batch(p, layout.label_key, layout.num_classes) for p in paths[:-1]]
    test_x, test_y = _read_cifar_batch(paths[-1], layout.label_key, layout.num_classes)
    train_x = np.concatenate([b[0] for b in train]) if len(train) > 1 else train[0][0]
    train_y = np.concatenate([b[1] for b in train])
    classes = _cifar_class_names(paths[-1].parent, layout)
    return make_dataset(
        name,
        train_x,
        train_y,
        test_x,
        test_y,
        layout.num_classes,
        hflip=True,
        classes=classes,
        source=str(paths[-1].parent),
    )
