"""Output files and folders of the `nas` commands (--out / -o): their folders created on demand, and
one line saying why when that or the write itself is impossible (a path under /proc, a folder path
through a file, a folder given where a file is wanted, no permission)."""

from __future__ import annotations

import os
from pathlib import Path

from spaces.errors import NasError


class OutputError(NasError):
    """An output path that cannot be written; the message is one line naming the path and why."""


def _file_in_the_way(path: Path, include_self: bool) -> Path | None:
    """The first existing component of `path` (from the root) that is not a folder."""
    for part in [*reversed(path.parents), *([path] if include_self else [])]:
        if part.exists() and not part.is_dir():
            return part
    return None


def _make_folder(folder: Path, target: Path) -> None:
    blocker = _file_in_the_way(folder, include_self=True)
    if blocker is not None:
        raise OutputError(f"cannot write {target}: {blocker} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(
            f"cannot write {target}: cannot create the folder {folder}: {e.strerror or e}"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {target}: the folder {folder} is not writable")


def output_file(path: str | os.PathLike[str]) -> Path:
    """`path` ready to be written as a file (its folder created); OutputError when it cannot be."""
    out = Path(path)
    if out.is_dir():
        raise OutputError(f"cannot write {out}: it is a folder; give a file name")
    _make_folder(out.parent, out)
    return out


def output_folder(path: str | os.PathLike[str]) -> Path:
    """The folder `path`, created if needed; OutputError when it cannot be."""
    out = Path(path)
    _make_folder(out, out)
    return out


def write_failed(path: str | os.PathLike[str], error: OSError) -> OutputError:
    """The OutputError for a write to `path` that failed with `error` (raise it `from None`)."""
    return OutputError(f"cannot write {path}: {error.strerror or error}")
