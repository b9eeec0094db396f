"""Journal files that survive a torn write: a cut-off last line is set aside, a damaged middle is
refused.

Optuna's journal file is one JSON record a line, appended under a lock. A write cut short (power
loss, a full disk, a killed process) leaves a last line without its newline. Optuna skips such a
line when it reads, but the next append lands right after it, which merges two records into one line
that no reader can parse again: from then on the whole journal is unreadable.
`SafeJournalFileBackend` closes that hole:

* Before every append (under the journal's lock) and when a journal is opened
  (`set_aside_torn_tail`), a last line without its newline is moved to a side file next to the
  journal, ``NAME.torn-OFFSET`` (OFFSET: the byte where it began), the journal is cut back to its
  last complete record, and one line on stderr says so. The partial line's write never finished (its
  writer got an error or died), so no record is lost; its bytes are kept all the same.
* A line in the middle that is not a JSON record (damage a torn write cannot explain) is never
  repaired: reading raises JournalDamaged with the line's real number, before anything is written.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalFileSymlinkLock

from spaces.errors import NasError

TORN_SUFFIX = ".torn-"
BLOCK = 1 << 16
Lock = JournalFileSymlinkLock | JournalFileOpenLock


class JournalDamaged(NasError, ValueError):
    """A journal line that is not a JSON record, away from the end where a torn write could explain
    it."""

    def __init__(self, path: str | os.PathLike[str], line: int, why: str) -> None:
        self.path, self.line = Path(path), line
        super().__init__(
            f"journal {self.path} is damaged at line {line} ({why}); nothing more is written to "
            f"it. The other lines are intact: repair line {line} (two records run together, or a "
            "stray fragment) with a text editor, or move the file aside and start a new journal"
        )


def _log(message: str) -> None:
    print(f"nas: {message}", file=sys.stderr, flush=True)


def _tail(f: Any, size: int) -> tuple[int, bytes]:
    """(offset, bytes) of the last line of the open binary file `f` of `size` bytes, with its
    newline if any."""
    end = size - 1 if size else 0  # a newline at the very end closes the last line; look before it
    start = end
    while start > 0:
        step = min(BLOCK, start)
        f.seek(start - step)
        chunk = f.read(step)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            start = start - step + cut + 1
            break
        start -= step
    f.seek(start)
    return start, f.read(size - start)


def _record_problem(line: bytes) -> str | None:
    """Why `line` (a complete journal line) is not a journal record, or None when it is one."""
    try:
        log = json.loads(line)
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        return f"not JSON: {e}"
    if not isinstance(log, dict) or "op_code" not in log:
        return "not a journal record: no op_code"
    return None


def torn_tail(path: str | os.PathLike[str]) -> tuple[int, bytes] | None:
    """(offset, bytes) of a last line of the journal without its newline (a torn write), or None."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return None
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return None
        return _tail(f, size)


def set_aside_torn_tail(
    path: str | os.PathLike[str], lock: Lock | None = None, log: Callable[[str], None] | None = None
) -> Path | None:
    """Move a torn last line of the journal `path` to a side file and cut the journal back to its
    last complete record; the side file, or None when the journal ends in a complete line. With
    `lock`, it is acquired first (the caller holds it otherwise). OSError when the side file cannot
    be written (the journal is then left as it was)."""
    if torn_tail(path) is None:  # the common case, without the lock
        return None
    if lock is not None:
        lock.acquire()
    try:
        return _set_aside(Path(path), log or _log)
    finally:
        if lock is not None:
            lock.release()


def _set_aside(path: Path, log: Callable[[str], None]) -> Path | None:
    # again: a writer may have finished its line while we waited for the lock
    found = torn_tail(path)
    if found is None:
        return None
    offset, data = found
    side = path.with_name(f"{path.name}{TORN_SUFFIX}{offset}")
    k = 0
    while side.exists():
        k += 1
        side = path.with_name(f"{path.name}{TORN_SUFFIX}{offset}.{k}")
    try:
        with open(side, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        with open(path, "r+b") as f:
            f.truncate(offset)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        side.unlink(missing_ok=True)
        raise
    log(
        f"journal {path} ended in a partial line ({len(data)} bytes of a write that was cut off); "
        f"moved it to {side.name} and kept every complete record before it"
    )
    return side


def check_last_record(path: str | os.PathLike[str]) -> None:
    """JournalDamaged when the last complete line of the journal is not a record (Optuna's reader
    skips a bad last line silently, and the next append would bury it in the middle)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return
        offset, line = _tail(f, size)
        if not line.endswith(b"\n"):  # a torn line: the complete line before it is the last record
            if offset == 0:
                return
            offset, line = _tail(f, offset)
    why = _record_problem(line)
    if why is not None:
        raise JournalDamaged(path, _line_number(path, offset), why)


def _line_number(path: str | os.PathLike[str], offset: int) -> int:
    """1-based number of the line that starts at byte `offset`."""
    count = 0
    with open(path, "rb") as f:
        done = 0
        while done < offset:
            chunk = f.read(min(BLOCK * 16, offset - done))
            if not chunk:
                break
            count += chunk.count(b"\n")
            done += len(chunk)
    return count + 1


def _lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as f:
        yield from enumerate(f, start=1)


def find_damage(path: str | os.PathLike[str]) -> JournalDamaged | None:
    """The first complete line of the journal that is not a record (a full scan), or None."""
    for number, line in _lines(path):
        if not line.endswith(b"\n"):
            return None  # a torn last line: set aside, not damage
        why = _record_problem(line)
        if why is not None:
            return JournalDamaged(path, number, why)
    return None


class SafeJournalFileBackend(JournalFileBackend):
    """Optuna's JournalFileBackend that sets a torn last line aside before it appends (so that no
    record is ever written onto a partial line) and reports a damaged line as JournalDamaged with
    its line number."""

    def __init__(self, file_path: str, lock_obj: Lock) -> None:
        super().__init__(file_path, lock_obj=lock_obj)
        self.path = file_path
        self.lock = lock_obj
        self._held = threading.local()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_held", None)  # per thread of this process: nothing to carry to another
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._held = threading.local()

    def hold(self) -> bool:
        """From now on this thread's appends are held back (other threads', a heartbeat's, are
        written at once) until `release`; False when this thread was holding already (the outer
        holder releases)."""
        if getattr(self._held, "data", None) is not None:
            return False
        self._held.data = []
        return True

    def release(self) -> bytes:
        """Stop holding; the held-back records, encoded, for one `write`."""
        data = b"".join(getattr(self._held, "data", None) or [])
        self._held.data = None
        return data

    def write(self, data: bytes) -> None:
        """Append encoded records in one write with one fsync, under the journal's lock (a torn
        last line set aside first)."""
        if not data:
            return
        self.lock.acquire()
        try:
            _set_aside(Path(self.path), _log)
            with open(self.path, "ab") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        finally:
            self.lock.release()

    def read_logs(self, log_number_from: int) -> Generator[dict[str, Any], None, None]:
        try:
            yield from super().read_logs(log_number_from)
        except ValueError:  # JSONDecodeError or "Invalid log format." from a damaged line
            damage = find_damage(self.path)
            # not in the file now (a read that raced a writer): Optuna's own error
            if damage is None:
                raise
            raise damage from None

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode(
            "utf-8"
        )
        held = getattr(self._held, "data", None)
        if held is not None:
            held.append(data)
        else:
            self.write(data)
