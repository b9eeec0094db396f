"""In-memory datasets for the proxy trainer.

Every dataset is decoded once into uint8 image tensors of shape ``(N, C, H, W)`` plus int64 label
tensors and kept in memory (the trainer later moves them to the GPU in one go).
:func:`load_dataset` understands these specs:

``fashion-mnist``
    The four IDX files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (plain or ``.gz``).  Searched, in
    order, in ``data_dir`` (itself, then its ``fashion-mnist/`` subfolder), ``$NAS_DATA`` (its
    ``fashion-mnist/`` subfolder, then itself), the user cache ``$XDG_CACHE_HOME/nas/fashion-mnist``
    (default ``~/.cache/nas/fashion-mnist``) and the folder of the Debian package
    ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``).
``cifar10`` / ``cifar100``
    The python-pickle releases, either extracted (``cifar-10-batches-py/``, ``cifar-100-python/``)
    or as the official archive (``cifar-10-python.tar.gz``, ``cifar-100-python.tar.gz``) that is
    extracted on first use (next to the archive, or into the user cache when that folder is
    read-only).  Same search order as above with the subfolder names ``cifar10`` / ``cifar100``.
    CIFAR-100 uses the 100 fine labels.
``imagefolder:PATH`` or ``imagefolder:PATH@SIZE``
    ``PATH/train/<class>/*`` and ``PATH/test/<class>/*`` (``val/`` is accepted for ``test/``), or a
    single folder of class subfolders that is split deterministically 80/20 per class.  Images are
    decoded with Pillow and resized to ``SIZE x SIZE`` when a size is given; otherwise all images
    must have the size of the first one.  Grayscale-only folders give one channel, anything else
    three (RGB, alpha dropped).
``synthetic`` or ``synthetic:N``
    A procedural, deterministic 10-class set of 1x28x28 images (``N`` training images, default 2048,
    and ``N // 4`` test images) for tests and smoke runs; see :func:`make_synthetic`.

When the Fashion-MNIST or CIFAR files are missing and ``download=True`` they are downloaded into the
user cache from the official mirrors and verified against the published MD5 checksums
(:data:`CHECKSUMS`).

Decoded datasets are cached in-process (keyed on the resolved files with their size and modification
time), so loading the same dataset twice is free.  The cached tensors are shared between callers:
treat them as read-only.  Every user-facing problem raises :class:`DatasetError` with a one-line
message that names the file or folder concerned and the fix.

The modules, one idea each (every one imports only the modules above it in this list):

``dataset``
    :class:`Dataset` (the decoded splits, their statistics and a stratified ``subset``),
    :class:`DatasetError`, :func:`channel_stats`, ``make_dataset`` (a dataset from decoded arrays)
    and :func:`size_notes`.
``locations``
    Where files are looked for: the search order of folders, :data:`SYSTEM_DIRS`,
    :func:`user_cache_dir`, the ``--data-dir`` check, :func:`data_dir_note` and the cache keys of
    files.
``downloads``
    :func:`download_file` (atomic, checksum-verified), downloads from mirrors and :data:`CHECKSUMS`.
``fashion_mnist``
    The IDX format (:func:`read_idx`) and the Fashion-MNIST files (:data:`FASHION_MNIST_MIRRORS`).
``cifar``
    The CIFAR pickle batches and archives (:data:`CIFAR_URLS`), extracted safely and unpickled
    safely.
``imagefolder``
    Folders of class subfolders of images, decoded with Pillow.
``synthetic``
    The procedural synthetic dataset (:func:`make_synthetic`).
``resize``
    :func:`resize_dataset`: the images at another resolution (EfficientNet's grid,
    ``nas scale --grid``).
``loader``
    The entry point: :func:`load_dataset` parses a spec (:data:`SPEC_HELP`) and calls the module of
    its format; :func:`clear_cache` forgets every decoded dataset.

The names below are re-exported for reading and calling.  To replace a setting in a test
(``SYSTEM_DIRS``, ``FASHION_MNIST_MIRRORS``, ``CIFAR_URLS``, ``CHECKSUMS``, ``read_idx``), patch the
module that owns it (e.g. ``nas.datasets.locations.SYSTEM_DIRS``): patching the name here changes
nothing the loaders read.
"""

from nas.datasets.cifar import CIFAR_URLS
from nas.datasets.dataset import Dataset, DatasetError, channel_stats, size_notes
from nas.datasets.downloads import CHECKSUMS, download_file
from nas.datasets.fashion_mnist import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_FILES,
    FASHION_MNIST_MIRRORS,
    read_idx,
)
from nas.datasets.imagefolder import IMAGE_EXTENSIONS
from nas.datasets.loader import SPEC_HELP, clear_cache, load_dataset
from nas.datasets.locations import SYSTEM_DIRS, data_dir_note, user_cache_dir
from nas.datasets.resize import resize_dataset
from nas.datasets.synthetic import SYNTHETIC_DEFAULT_SIZE, make_synthetic

__all__ = [
    "CHECKSUMS",
    "CIFAR_URLS",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_MIRRORS",
    "IMAGE_EXTENSIONS",
    "SPEC_HELP",
    "SYNTHETIC_DEFAULT_SIZE",
    "SYSTEM_DIRS",
    "Dataset",
    "DatasetError",
    "channel_stats",
    "clear_cache",
    "data_dir_note",
    "download_file",
    "load_dataset",
    "make_synthetic",
    "read_idx",
    "resize_dataset",
    "size_notes",
    "user_cache_dir",
]
