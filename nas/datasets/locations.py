"""Where dataset files are looked for: the search order of folders, the user cache, and file cache
keys.

A dataset ``name`` (``fashion-mnist``, ``cifar10``, ...) is searched, in order, in ``data_dir``
(itself, then its ``name/`` subfolder), ``$NAS_DATA`` (its ``name/`` subfolder, then itself), the
user cache ``$XDG_CACHE_HOME/nas/name`` (default ``~/.cache/nas/name``) and the system folders of
:data:`SYSTEM_DIRS`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from nas.datasets.dataset import Dataset, DatasetError

#: System-wide folders searched last, per dataset (the Debian package ``dataset-fashion-mnist``).
SYSTEM_DIRS: dict[str, tuple[Path, ...]] = {
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),
}


def check_data_dir(data_dir: str | os.PathLike[str] | None) -> None:
    """A --data-dir that is not a folder is a mistake: refuse it rather than read another folder's
    files."""
    if data_dir is None or str(data_dir) == "":
        return
    d = Path(data_dir).expanduser()
    if not d.is_dir():
        what = "is a file, not a folder" if d.exists() else "does not exist"
        raise DatasetError(
            f"data folder {d} {what}; give the folder that holds the dataset files, or leave "
            "--data-dir out to search $NAS_DATA, ~/.cache/nas and /usr/share/datasets"
        )


def data_dir_note(dataset: Dataset, data_dir: str | os.PathLike[str] | None) -> str | None:
    """One line when `data_dir` was given but the files were read from another folder (it lacks
    them)."""
    if data_dir is None or str(data_dir) == "" or not dataset.source:
        return None
    given, source = Path(data_dir).expanduser().resolve(), Path(dataset.source).resolve()
    if source == given or given in source.parents:
        return None
    return (
        f"{data_dir} does not hold the {dataset.name} files; read them from {dataset.source} "
        "(the next folder searched)"
    )


def user_cache_dir(name: str | None = None) -> Path:
    """``$XDG_CACHE_HOME/nas`` (default ``~/.cache/nas``), or its ``name`` subfolder."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    root = base / "nas"
    return root / name if name else root


def search_dirs(name: str, data_dir: str | os.PathLike[str] | None) -> list[Path]:
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


def file_key(paths: Iterable[Path]) -> tuple[tuple[str, int, int], ...]:
    """Cache key: resolved path, size and mtime of each file (so a replaced file is decoded
    again)."""
    key = []
    for p in paths:
        st = p.stat()
        key.append((str(p.resolve()), st.st_size, st.st_mtime_ns))
    return tuple(key)


def format_dirs(dirs: Sequence[Path], notes: dict[Path, str] | None = None) -> str:
    """The searched folders for an error message, each with its note (or "does not exist")."""
    parts = []
    for d in dirs:
        note = (notes or {}).get(d) or ("" if d.is_dir() else "does not exist")
        parts.append(f"{d} ({note})" if note else str(d))
    return ", ".join(parts)
