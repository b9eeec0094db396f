"""Progress of long work on stderr: a live bar on a terminal, plain log lines anywhere else.

On a terminal (stderr is a tty) a tqdm bar shows done/total, rate and ETA. Under nohup, CI, a pipe
or a log file a bar prints nothing useful, so a line is written instead at the start, every
`every_seconds` seconds (default 60, `$NAS_PROGRESS_SECONDS`) or every `every_items` items (default
10, `$NAS_PROGRESS_ITEMS`), whenever a failure is added, and at the end:

    nas: anynetx_e-s0: 20/500 trials (4.0%), 3.9 trials/min, ETA 2.1 h, 1 failed; best error 0.5512

`note(text)` prints one line above the bar (or as a log line, also with progress off): a worker that
died.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

MODES = ("bar", "log", "off")


def duration(seconds: float) -> str:
    """A short human duration: 45 s, 12 min, 2.1 h, 3.0 days."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _env_number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def choose_mode(enabled: bool | str | None, stream: TextIO | None = None) -> str:
    """bar on a terminal, log elsewhere; False: off; True: bar on a terminal, log elsewhere too."""
    if enabled is False:
        return "off"
    if isinstance(enabled, str):
        if enabled not in MODES:
            raise ValueError(f"progress mode {enabled!r}: valid: {', '.join(MODES)}")
        return enabled
    stream = stream or sys.stderr
    return "bar" if getattr(stream, "isatty", lambda: False)() else "log"


class Progress:
    """Done/total with rate and ETA on stderr: `update(done, failed=, extra=)`, `note(text)`,
    `close()`."""

    def __init__(
        self,
        total: int,
        desc: str,
        unit: str = "trial",
        initial: int = 0,
        enabled: bool | str | None = None,
        stream: TextIO | None = None,
        every_seconds: float | None = None,
        every_items: int | None = None,
        quiet_for: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.mode = choose_mode(enabled, self.stream)
        self.total, self.desc, self.unit = total, desc, unit
        self.every_seconds = (
            every_seconds if every_seconds is not None else _env_number("NAS_PROGRESS_SECONDS", 60)
        )
        self.every_items = (
            every_items if every_items is not None else int(_env_number("NAS_PROGRESS_ITEMS", 10))
        )
        # log mode: no line at all before this many seconds (quick work stays quiet), never past the
        # interval
        self.quiet_for = min(quiet_for, self.every_seconds)
        self.clock = clock
        self.start = clock()
        self.initial = self.done = initial
        self.failed = 0
        self.extra = ""
        # (time, done, failed) of the last log line
        self.logged: tuple[float, int, int] | None = None
        self.bar: Any = None
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=initial,
                desc=desc,
                unit=unit,
                file=self.stream,
                dynamic_ncols=True,
                leave=False,
            )

    # --- figures ---
    def rate(self) -> float | None:
        """Items per second done by this run (items done before it are not counted)."""
        elapsed = self.clock() - self.start
        made = self.done - self.initial
        return made / elapsed if made > 0 and elapsed > 0 else None

    def eta(self) -> float | None:
        rate = self.rate()
        return max(self.total - self.done, 0) / rate if rate else None

    def line(self) -> str:
        pct = f" ({100 * self.done / self.total:.1f}%)" if self.total else ""
        parts = [f"{self.done:,}/{self.total:,} {self.unit}s{pct}"]
        rate = self.rate()
        if rate is None:
            parts.append(f"none done yet after {duration(self.clock() - self.start)}")
        else:
            per_min = rate * 60
            parts.append(
                f"{per_min:.3g} {self.unit}s/min"
                if per_min >= 1
                else f"{1 / rate:.1f} s/{self.unit}"
            )
            eta = self.eta()
            parts.append(
                "finished"
                if self.done >= self.total
                else f"ETA {duration(eta)}"
                if eta is not None
                else "ETA unknown"
            )
        if self.failed:
            parts.append(f"{self.failed} failed")
        text = ", ".join(parts)
        return f"nas: {self.desc}: {text}" + (f"; {self.extra}" if self.extra else "")

    # --- events ---
    def update(self, done: int, failed: int = 0, extra: str = "") -> None:
        self.done, self.extra = done, extra
        new_failure = failed > self.failed
        self.failed = failed
        if self.mode == "bar":
            if done != self.bar.n:
                self.bar.update(done - self.bar.n)
            post = ", ".join(x for x in (f"{failed} failed" if failed else "", extra) if x)
            self.bar.set_postfix_str(post, refresh=True)
        elif self.mode == "log":
            now = self.clock()
            last = self.logged
            if now - self.start < self.quiet_for:
                return
            if (
                last is None
                or new_failure
                or now - last[0] >= self.every_seconds
                or (self.every_items and done - last[1] >= self.every_items)
                or (done >= self.total > last[1])
            ):
                self._write(self.line())
                self.logged = (now, done, failed)

    def set_total(self, total: int) -> None:
        self.total = total
        if self.bar is not None and self.bar.total != total:
            self.bar.total = total
            self.bar.refresh()

    def note(self, text: str) -> None:
        """One line of its own (a worker that died, a clamped size), above the bar when there is
        one; printed even when progress is off: it is news, not progress."""
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            self._write(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.mode == "log":
            quiet = self.clock() - self.start < self.quiet_for
            if (self.logged is None and not quiet) or (
                self.logged and self.logged[1:] != (self.done, self.failed)
            ):
                self._write(self.line())

    def _write(self, text: str) -> None:
        # a closed or full log must not stop the work
        with contextlib.suppress(OSError, ValueError):
            print(text, file=self.stream, flush=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_extra(best_error: float | None, *more: str) -> str:
    """The extra text of a study's progress line: its best error so far, then `more` (empty parts
    left out)."""
    return ", ".join(
        x for x in (f"best error {best_error:.4f}" if best_error is not None else "", *more) if x
    )
