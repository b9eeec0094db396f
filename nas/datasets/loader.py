"""The entry point: a dataset spec (``fashion-mnist``, ``cifar10``, ``imagefolder:PATH@32``, ...) to
a dataset.

:func:`load_dataset` parses the spec (:data:`SPEC_HELP`) and hands it to the module of its format;
:func:`clear_cache` forgets every dataset decoded in this process.
"""

from __future__ import annotations

import os

from nas.datasets.cifar import decode_cifar, load_cifar
from nas.datasets.dataset import Dataset, DatasetError
from nas.datasets.fashion_mnist import decode_fashion_mnist, load_fashion_mnist
from nas.datasets.imagefolder import decode_imagefolder, load_imagefolder
from nas.datasets.locations import check_data_dir
from nas.datasets.synthetic import load_synthetic, make_synthetic

SPEC_HELP = (
    "dataset: fashion-mnist | cifar10 | cifar100 | imagefolder:PATH[@SIZE] | synthetic[:N] "
    "(files are searched in --data-dir, $NAS_DATA, ~/.cache/nas and /usr/share/datasets)"
)


def load_dataset(
    spec: str, data_dir: str | os.PathLike[str] | None = None, download: bool = True
) -> Dataset:
    """Load (decoding once per process) the dataset described by ``spec``; see :mod:`nas.datasets`.

    Args:
        spec: ``fashion-mnist``, ``cifar10``, ``cifar100``, ``imagefolder:PATH[@SIZE]`` or
            ``synthetic[:N]``.
        data_dir: folder searched first for the dataset files (``--data-dir`` in the CLI).
        download: download missing Fashion-MNIST/CIFAR files into the user cache.

    Raises:
        DatasetError: unknown spec, missing files (with the searched folders and how to get them),
            failed download or checksum, or corrupt files (naming the file).
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
        return load_imagefolder(arg, data_dir)
    if key == "synthetic":
        return load_synthetic(spec, arg if sep else None)
    check_data_dir(data_dir)
    if sep:
        raise DatasetError(
            f"dataset {kind!r} takes no ':' argument (got {spec!r}); expected {SPEC_HELP}"
        )
    if key in ("fashion-mnist", "fashionmnist", "fmnist"):
        return load_fashion_mnist(data_dir, download)
    if key in ("cifar10", "cifar-10"):
        return load_cifar("cifar10", data_dir, download)
    if key in ("cifar100", "cifar-100"):
        return load_cifar("cifar100", data_dir, download)
    raise DatasetError(f"unknown dataset {spec!r}; expected {SPEC_HELP}")


def clear_cache() -> None:
    """Forget all decoded datasets of this process."""
    decode_fashion_mnist.cache_clear()
    decode_cifar.cache_clear()
    decode_imagefolder.cache_clear()
    make_synthetic.cache_clear()
