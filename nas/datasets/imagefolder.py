"""Image folders: ``PATH/train/<class>/*`` and ``PATH/test/<class>/*`` (or one folder of classes
split 80/20).

``imagefolder:PATH`` or ``imagefolder:PATH@SIZE``: ``val/`` (or ``valid/``) is accepted for
``test/``; a single folder of class subfolders is split deterministically 80/20 per class.  Images
(:data:`IMAGE_EXTENSIONS`) are decoded with Pillow and resized to ``SIZE x SIZE`` when a size is
given; otherwise all images must have the size of the first one.  Grayscale-only folders give one
channel, anything else three (RGB, alpha dropped).
"""

from __future__ import annotations

import functools
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from nas.datasets.dataset import CACHE_SIZE, Dataset, DatasetError, make_dataset

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)


def load_imagefolder(arg: str, data_dir: str | os.PathLike[str] | None) -> Dataset:
    """The image folder of the spec argument ``arg`` (``PATH`` or ``PATH@SIZE``; a relative ``PATH``
    that does not exist is looked up under ``data_dir``), decoded once per set of files
    (:func:`decode_imagefolder`)."""
    path_str, size = arg, None
    head, at, tail = arg.rpartition("@")
    if at and head and (tail.isdigit() or not Path(arg).expanduser().exists()):
        if not tail.isdigit() or int(tail) < 1:
            raise DatasetError(
                f"imagefolder size suffix '@{tail}' must be a positive integer, e.g. "
                f"imagefolder:{head}@32"
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
    return decode_imagefolder(str(root), size, splits[2], key)


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


def _scan_imagefolder(
    root: Path,
) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]], tuple[str, ...]]:
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
            raise DatasetError(
                f"{train_dir} has no class subfolders; expected {train_dir}/<class>/*.png"
            )
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
            raise DatasetError(
                f"no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) found under {train_dir}"
            )
        if not test:
            raise DatasetError(
                f"no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) found under {test_dir}"
            )
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


@functools.lru_cache(maxsize=CACHE_SIZE)
def decode_imagefolder(
    root: str,
    size: int | None,
    classes: tuple[str, ...],
    key: tuple[tuple[str, int, int, int, str], ...],
) -> Dataset:
    """Decode (once per ``key``: file, size, mtime, label and split of every image) the images under
    ``root``, resized to ``size`` when given."""
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
            with Image.open(path_str) as src:
                src.load()
                gray = src.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F") or (
                    src.mode == "P" and _palette_is_gray(src)
                )
                img = src.convert("L" if gray else "RGB")
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
        # Pillow raises many types for damaged files (OSError, SyntaxError, ...)
        except Exception as exc:
            raise DatasetError(
                f"cannot decode image {path_str} ({type(exc).__name__}: {exc}); "
                "delete or replace it"
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
    return make_dataset(
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
