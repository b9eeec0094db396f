"""Liveness of training trials: worker ids, heartbeats, and when a RUNNING trial is abandoned.

Optuna's own heartbeat exists only for RDBStorage (the journal file storage has none), so every
storage gets the same mechanism here: a `Heartbeat` thread writes the trial's user attr
``heartbeat`` (wall-clock time) every `HEARTBEAT_INTERVAL` seconds while it trains, and the trial
names its ``worker`` (host:pid-namespace:pid, the host from ``$NAS_WORKER_HOST`` when set, for
containers that share a host name). A RUNNING trial is abandoned (`stale_reason`) when its heartbeat
is older than the grace period, or at once when its worker is a process of this machine that no
longer exists (kill -9). Failing and re-enqueueing such trials is the lifecycle's part
(nas.lifecycle.fail_stale).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial

from nas.storage import RetryingStorage, is_transient

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

__all__ = [
    "GRACE_PERIOD",
    "HEARTBEAT_INTERVAL",
    "Heartbeat",
    "grace_period_for",
    "hostname",
    "owner_dead",
    "stale_reason",
    "worker_id",
]

HEARTBEAT_INTERVAL = 10.0  # seconds between heartbeats of a training trial
GRACE_PERIOD = 60.0  # a RUNNING trial without a heartbeat for this long is retried


def grace_period_for(heartbeat_interval: float) -> float:
    """The grace period that goes with a heartbeat interval: GRACE_PERIOD, or 4 beats when that is
    longer (a slow beat must not make a live trial look abandoned)."""
    return max(GRACE_PERIOD, 4 * heartbeat_interval)


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def hostname() -> str:
    """This machine's name in worker ids: $NAS_WORKER_HOST when set, else the host name."""
    return os.environ.get("NAS_WORKER_HOST") or socket.gethostname()


def worker_id() -> str:
    return f"{hostname()}:{_pid_namespace()}:{os.getpid()}"


def owner_dead(owner: str) -> bool:
    """True only when `owner` is surely a process of this machine (same host and pid namespace) that
    is gone."""
    try:
        host, namespace, pid_text = owner.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if not namespace or host != hostname() or namespace != _pid_namespace() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False
    try:  # a killed child that its parent has not reaped yet is a zombie
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")


def stale_reason(trial: FrozenTrial, grace_period: float, now: float) -> str | None:
    """Why a RUNNING trial is abandoned, or None while it may be alive."""
    owner = trial.user_attrs.get("worker")
    if isinstance(owner, str) and owner_dead(owner):
        return "worker died"
    beat = trial.user_attrs.get("heartbeat")
    if not isinstance(beat, int | float):
        beat = trial.datetime_start.timestamp() if trial.datetime_start else None
    if beat is not None and now - beat > grace_period:
        return "stale"
    return None


class Heartbeat:
    """Writes the trial's ``heartbeat`` user attr every `interval` seconds from a thread. A beat
    that fails transiently (the storage restarting) is skipped, not retried, so that stopping never
    waits on it."""

    def __init__(self, storage: BaseStorage, trial_id: int, interval: float) -> None:
        self.wrapper = storage if isinstance(storage, RetryingStorage) else None
        self.storage = storage.inner if isinstance(storage, RetryingStorage) else storage
        self.trial_id, self.interval = trial_id, interval
        self.error: BaseException | None = None  # the first beat that failed for good, if any
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"nas-heartbeat-{trial_id}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.storage.set_trial_user_attr(self.trial_id, "heartbeat", time.time())
            except UpdateFinishedTrialError:
                return  # the trial was finished elsewhere (declared stale)
            except Exception as e:
                if is_transient(e):  # the storage is restarting: beat again later
                    if self.wrapper is not None:
                        self.wrapper.note_failure(e)
                    continue
                # not a passing fault: say so once (silence would let the trial be declared stale
                # and trained again with no word why), and keep beating in case it passes after all
                if self.error is None:
                    self.error = e
                    print(
                        f"nas: the heartbeat of trial {self.trial_id} failed: "
                        f"{type(e).__name__}: {e}",
                        file=sys.stderr,
                    )
                continue
            if self.wrapper is not None:
                self.wrapper.note_success()
