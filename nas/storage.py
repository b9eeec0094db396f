"""Where sweeps and searches are stored: one place that turns a storage argument into an Optuna
storage.

The default is a journal file, ``results/nas.journal`` (or ``$NAS_STORAGE``): an append-only log
that several processes on one machine (or on NFS) share safely through a lock file, with no server.
Any Optuna RDB URL works too (``sqlite:///F.db``, ``postgresql://...``, ``mysql+pymysql://...``),
and ``redis://`` for a journal kept in Redis. PostgreSQL is the storage for studies served by
several machines.

    storage argument               storage
    None                           JournalStorage(SafeJournalFileBackend("results/nas.journal"))
    PATH.journal, journal:PATH     JournalStorage(SafeJournalFileBackend(PATH))
    PATH.db, PATH.sqlite           RDBStorage("sqlite:///PATH")
    sqlite:///..., postgresql://   RDBStorage(URL)   (pool_pre_ping, a 10 s connect timeout for
                                                     PostgreSQL)
    redis://...                    JournalStorage(JournalRedisBackend(URL))

Every problem opening a storage (a malformed URL, a server that does not answer, a missing database
driver, an unreadable file) is a StorageError with one line naming the storage and the fix; opening
is never retried, so a wrong URL fails at once. A journal whose last write was cut off (power loss,
a full disk, a killed process) has its partial last line moved to a side file (module
nas/journal.py) and goes on; one damaged in the middle is refused with the line's number.

Once open, the storage is wrapped in a RetryingStorage: an operation that fails for a reason that
passes (the database server restarting or unreachable, a connection dropped, a journal file briefly
unavailable) is retried with exponential back-off (0.25 s doubling to 5 s, with jitter) for up to
`patience` seconds (default 300, ``$NAS_STORAGE_RETRY``); after that it raises a StorageError saying
how long the storage has been failing. Errors that say something about the data (a finished trial,
an unknown study) are never retried. A retried write may have reached the storage before its
connection dropped: the trial lifecycle is built to tolerate that (nas.lifecycle), so a retry never
loses or double-counts a trial.
"""

from __future__ import annotations

import errno
import os
import random
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage

from nas.journal import (
    JournalDamaged,
    SafeJournalFileBackend,
    check_last_record,
    set_aside_torn_tail,
)
from spaces.errors import NasError

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

DEFAULT_STORAGE = "results/nas.journal"
DEFAULT_PATIENCE = 300.0  # seconds a storage may fail before workers give up
FIRST_DELAY = 0.25  # back-off: first wait, doubled up to MAX_DELAY
MAX_DELAY = 5.0
CONNECT_TIMEOUT = 10  # seconds to wait for a PostgreSQL server to accept a connection
# a journal lock file older than this is stale (its holder died): $NAS_JOURNAL_LOCK_GRACE
LOCK_GRACE = 30
JOURNAL_SUFFIXES = (".journal", ".log")
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
VALID = (
    "a journal file (PATH.journal or journal:PATH), an SQLite file (PATH.db), or an Optuna URL "
    "(sqlite:///PATH.db, postgresql://USER@HOST/DB, mysql+pymysql://USER@HOST/DB, "
    "redis://HOST:6379)"
)
DRIVERS = {
    "psycopg2": "psycopg2-binary",
    "pymysql": "PyMySQL",
    "MySQLdb": "mysqlclient",
    "redis": "redis",
    "psycopg": "'psycopg[binary]'",
    "pg8000": "pg8000",
    "mysql": "mysql-connector-python",
}
# driver modules whose OperationalError / InterfaceError mean a connection problem
DRIVER_MODULES = ("psycopg2", "psycopg", "pg8000", "pymysql", "MySQLdb", "mysql", "sqlite3")
TRANSIENT_NAMES = frozenset(
    {
        "OperationalError",
        "InterfaceError",
        "DisconnectionError",
        "TimeoutError",
        "ConnectionError",
        "BusyLoadingError",
    }
)

T = TypeVar("T")


class StorageError(NasError):
    """A storage that cannot be opened or stopped answering; the message names it and what to do."""


def default_storage() -> str:
    return os.environ.get("NAS_STORAGE") or DEFAULT_STORAGE


def default_patience() -> float:
    text = os.environ.get("NAS_STORAGE_RETRY")
    try:
        return float(text) if text else DEFAULT_PATIENCE
    except ValueError:
        raise StorageError(f"$NAS_STORAGE_RETRY={text!r} is not a number of seconds") from None


def _lock_grace() -> int:
    """Seconds after which a journal's lock file counts as left behind by a dead process (Optuna's
    default 30; a lock is held only while a few hundred bytes are appended)."""
    text = os.environ.get("NAS_JOURNAL_LOCK_GRACE")
    try:
        value = int(text) if text else LOCK_GRACE
    except ValueError:
        raise StorageError(
            f"$NAS_JOURNAL_LOCK_GRACE={text!r} is not a whole number of seconds"
        ) from None
    if value < 1:
        raise StorageError(f"$NAS_JOURNAL_LOCK_GRACE={text!r} must be at least 1 second")
    return value


def parse_storage(url: str | None) -> tuple[str, str]:
    """(kind, target): kind is "journal" (target a file path), "rdb" or "redis" (target the URL)."""
    text = (url or default_storage()).strip()
    if not text:
        raise StorageError(f"empty storage; give {VALID}")
    if text.startswith("journal:"):
        path = text[len("journal:") :]
        if path.startswith("//"):  # journal:///abs/path or journal://rel
            path = path[2:]
        if not path:
            raise StorageError(f"storage {text!r} names no file; write journal:PATH")
        return "journal", path
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme in ("redis", "rediss", "unix"):
            return "redis", text
        return "rdb", text
    suffix = Path(text).suffix.lower()
    if suffix in JOURNAL_SUFFIXES:
        return "journal", text
    if suffix in SQLITE_SUFFIXES:
        return "rdb", f"sqlite:///{text}"
    raise StorageError(f"storage {text!r} is neither a URL nor a known file type; give {VALID}")


def mask_password(url: str) -> str:
    """The URL with its password (if any) replaced by ***, for messages and summaries."""
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*):[^@/]*@", r"\1:***@", url)


def describe_storage(url: str | None) -> str:
    """The storage as a user wrote it (the default spelled out), without its password."""
    return mask_password(url or default_storage())


def absolute_storage(url: str | None) -> str:
    """The storage with a file path made absolute (for workers that start in another folder)."""
    kind, target = parse_storage(url)
    if kind == "journal":
        return str(Path(target).expanduser().absolute())
    if target.startswith("sqlite:///") and target != "sqlite:///:memory:":
        return "sqlite:///" + str(Path(target[len("sqlite:///") :]).expanduser().absolute())
    return target


def open_storage(
    url: str | None = None, create: bool = True, patience: float | None = None
) -> RetryingStorage:
    """An Optuna storage for `url` (see the module docstring), wrapped in a RetryingStorage that
    retries transient failures for `patience` seconds (default $NAS_STORAGE_RETRY or 300; 0 disables
    retries). With create=False a journal or SQLite file that does not exist is an error instead of
    being created (for read-only commands such as export)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = describe_storage(url)
    inner, journal = _open(url, create)
    storage = RetryingStorage(inner, name, default_patience() if patience is None else patience)
    storage.journal = journal
    return storage


def _open(url: str | None, create: bool) -> tuple[BaseStorage, SafeJournalFileBackend | None]:
    """The storage, and its backend when it is a journal file."""
    kind, target = parse_storage(url)
    name = describe_storage(url)
    if kind == "journal":
        from optuna.storages.journal import JournalFileSymlinkLock, JournalStorage

        path = Path(target).expanduser()
        if not path.exists():
            if not create:
                raise StorageError(
                    f"no storage at {path}: the journal file does not exist (run `nas sample` "
                    "or `nas search` first, or pass --storage)"
                )
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StorageError(
                    f"cannot create the folder of journal {path}: {e.strerror or e}"
                ) from None
        if path.is_dir():
            raise StorageError(
                f"journal storage {path} is a folder; give a file such as {path}/nas.journal"
            )
        try:
            lock = JournalFileSymlinkLock(str(path), grace_period=_lock_grace())
            backend = SafeJournalFileBackend(str(path), lock)
            _set_aside_torn_tail(path, lock)
            check_last_record(path)
            return JournalStorage(backend), backend
        except JournalDamaged as e:
            raise StorageError(str(e)) from None
        except OSError as e:
            raise StorageError(f"cannot open journal {path}: {e.strerror or e}") from None
        except Exception as e:  # an unreadable journal line, ...
            raise StorageError(f"cannot read journal {path}: {_first_line(e)}") from None
    if kind == "redis":
        try:
            from optuna.storages.journal import JournalRedisBackend, JournalStorage

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "JournalRedisBackend is experimental"
                return JournalStorage(JournalRedisBackend(target)), None
        except ImportError as e:
            raise StorageError(_driver_message(name, e)) from None
        except Exception as e:
            raise StorageError(f"cannot open storage {name!r}: {_first_line(e)}") from None
    return _open_rdb(target, name, create), None


def _set_aside_torn_tail(path: Path, lock: Any) -> None:
    """A torn last line of the journal moved to a side file (nas/journal.py); where the journal's
    folder or file cannot be written (a read-only copy), the line is only reported: readers skip it,
    and writes fail anyway."""
    try:
        set_aside_torn_tail(path, lock)
    except OSError as e:
        _log(
            f"journal {path} ends in a partial line (a write that was cut off), which is skipped; "
            f"it could not be moved aside: {e.strerror or e}"
        )


def _open_rdb(target: str, name: str, create: bool) -> BaseStorage:
    scheme = target.split("://", 1)[0].lower()
    if scheme == "postgres":  # Heroku-style URLs; SQLAlchemy knows only postgresql://
        raise StorageError(
            f"storage {name!r} is not a valid URL (SQLAlchemy has no dialect 'postgres'); write "
            f"postgresql://{mask_password(target).split('://', 1)[1]}"
        )
    if target.startswith("sqlite:///") and not create:
        file = target[len("sqlite:///") :]
        if file and file != ":memory:" and not Path(file).exists():
            raise StorageError(
                f"no storage at {file}: the SQLite file does not exist (run `nas sample` or "
                "`nas search` first, or pass --storage)"
            )
    if target.startswith("sqlite:///") and create:
        file = target[len("sqlite:///") :]
        if file and file != ":memory:":
            try:
                Path(file).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StorageError(
                    f"cannot create the folder of {file}: {e.strerror or e}"
                ) from None
    # SQLAlchemy 2.1 defaults to psycopg 3; this project installs psycopg2
    if scheme == "postgresql":
        driver = "psycopg" if _missing("psycopg2") and not _missing("psycopg") else "psycopg2"
        scheme = f"postgresql+{driver}"
        target = f"{scheme}://{target.split('://', 1)[1]}"
    engine_kwargs: dict[str, Any] = {}
    if not scheme.startswith("sqlite"):
        # a server restart leaves dead pooled connections behind
        engine_kwargs["pool_pre_ping"] = True
    driver = scheme.split("+", 1)[1] if "+" in scheme else ""
    if (
        scheme.startswith("postgresql")
        and driver in ("", "psycopg2", "psycopg")
        and "connect_timeout" not in target
    ):
        engine_kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
    from optuna.storages import RDBStorage, get_storage

    for attempt in range(4):
        try:
            return get_storage(RDBStorage(target, engine_kwargs=engine_kwargs))
        except ImportError as e:  # the database driver, or SQLAlchemy itself
            raise StorageError(_driver_message(name, e)) from None
        # sqlalchemy.exc.ArgumentError, NoSuchModuleError, OperationalError, ...
        except Exception as e:
            text = _first_line(e)
            # several workers creating the tables of a new database
            if _creation_race(e) and attempt < 3:
                time.sleep(0.2 + random.random())
                continue
            if "Can't load plugin" in text or "Could not parse" in text:
                raise StorageError(
                    f"storage {name!r} is not a valid URL ({text}); give {VALID}"
                ) from None
            raise StorageError(f"cannot open storage {name!r}: {text}{_rdb_hint(text)}") from None
    raise AssertionError("unreachable")


def _missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


def _creation_race(e: BaseException) -> bool:
    text = " ".join(str(c) for c in _chain(e))
    return any(
        type(c).__name__ in ("IntegrityError", "ProgrammingError", "UniqueViolation")
        for c in _chain(e)
    ) and ("already exists" in text or "duplicate key" in text)


def _rdb_hint(text: str) -> str:
    if "Connection refused" in text or "could not connect" in text or "timeout expired" in text:
        return " (is the database server running, and are the host and port of the URL right?)"
    match = re.search(r'database "([^"]+)" does not exist', text)
    if match:
        return (
            f" (create it first: createdb {match.group(1)}, or CREATE DATABASE {match.group(1)}; "
            "in psql)"
        )
    if "authentication failed" in text or "no password supplied" in text:
        return " (check the user and password of the URL, or the server's pg_hba.conf)"
    return ""


def study_names(storage: BaseStorage) -> list[str]:
    return [s.study_name for s in storage.get_all_studies()]


# --- retries --------------------------------------------------------------------------------------
def _chain(e: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cause: BaseException | None = e
    while cause is not None and all(cause is not c for c in out):
        out.append(cause)
        cause = cause.__cause__ or cause.__context__
    return out


# OS errors that waiting does not fix: a full disk or quota, a read-only file system, no permission.
PERMANENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


def is_transient(error: BaseException) -> bool:
    """True when `error` (or what caused it) is a failure that passes: a database connection that
    was refused, dropped or timed out, a journal file that could not be read or written (OSError,
    except a full disk, a read-only file system or a missing permission, which waiting does not
    fix), a Redis connection. Optuna's own verdicts (a finished trial, an unknown study or trial, a
    duplicate) are never transient."""
    from optuna.exceptions import DuplicatedStudyError, UpdateFinishedTrialError

    if isinstance(error, UpdateFinishedTrialError | DuplicatedStudyError | KeyError | StorageError):
        return False
    for cause in _chain(error):
        # a refused or dropped connection passes; no permission or space does not
        if isinstance(cause, OSError):
            return not (isinstance(cause, PermissionError) or cause.errno in PERMANENT_ERRNOS)
        module, name = type(cause).__module__, type(cause).__name__
        if getattr(cause, "connection_invalidated", False):
            return True
        if name in TRANSIENT_NAMES and (
            module.startswith(("sqlalchemy", "redis")) or module.split(".")[0] in DRIVER_MODULES
        ):
            return True
    return False


class RetryingStorage(BaseStorage):
    """An Optuna storage whose operations are retried with exponential back-off while they fail
    transiently (`is_transient`), for at most `patience` seconds per operation; then a StorageError.
    Everything else is the wrapped storage's (`inner`). It also counts the seconds each thread
    spends in the storage (`spent()`), for the per-trial storage overhead the sweep records, and,
    over all instances and threads of the process, the calls and seconds
    (`RetryingStorage.totals()`)."""

    _calls_total = 0
    _seconds_total = 0.0
    _totals_lock = threading.Lock()

    def __init__(
        self,
        inner: BaseStorage,
        name: str,
        patience: float = DEFAULT_PATIENCE,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.inner = inner
        self.name = name
        self.patience = patience
        self.log = log or _log
        self._spent: dict[int, float] = {}
        self._outage_lock = threading.Lock()
        self._outage_since: float | None = None
        # a journal file's backend: one_write holds this thread's appends back into one write
        self.journal: SafeJournalFileBackend | None = None

    @contextmanager
    def one_write(self) -> Iterator[None]:
        """The writes of this thread inside the block reach a journal file as one append with one
        fsync at its end (also when the block raises: what was written before is kept, as it would
        have been); nothing inside may read what the block wrote. Other storages: every write as
        it comes."""
        journal = self.journal
        if journal is None or not journal.hold():
            yield
            return
        try:
            yield
        except BaseException:
            try:
                self._write_held(journal, strict=False)
            except Exception as e:  # the block's own exception is the one to raise
                self.log(f"storage {self.name!r}: held writes not recorded: {reason(e)}")
            raise
        self._write_held(journal, strict=True)

    def _write_held(self, journal: SafeJournalFileBackend, strict: bool) -> None:
        """Write what `one_write` held back, then read it back. Optuna's journal refuses a record of
        this process that it cannot apply (an attr of a trial finished elsewhere meanwhile) when it
        reads it, one record a read: read until every record is applied, then raise the first
        refusal (`strict`), as the writes one at a time would have."""
        data = journal.release()
        if not data:
            return
        self.call(journal.write, data)
        first: Exception | None = None
        for _ in range(data.count(b"\n") + 1):
            try:
                self.call(self.inner.get_all_studies)  # reads the journal's new records
                break
            except (UpdateFinishedTrialError, KeyError) as e:
                first = first or e
        if first is not None and strict:
            raise first

    # -- machinery
    def call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """method(*args, **kwargs), retried while it fails transiently (at most `patience`
        seconds)."""
        start = time.perf_counter()
        first: float | None = None
        delay = FIRST_DELAY
        tries = 0
        try:
            while True:
                try:
                    result = method(*args, **kwargs)
                except JournalDamaged as e:  # a journal line damaged while this process had it open
                    raise StorageError(str(e)) from None
                except Exception as e:
                    if self.patience <= 0 or not is_transient(e):
                        raise
                    now = time.monotonic()
                    first = now if first is None else first
                    tries += 1
                    self.note_failure(e)
                    if now - first >= self.patience:
                        with self._outage_lock:
                            self._outage_since = None
                        raise StorageError(
                            f"storage {self.name!r} kept failing for {now - first:.0f} s ({tries} "
                            f"tries): {reason(e)}; the work done so far is kept: run the "
                            "same command again when the storage is back"
                        ) from e
                    time.sleep(
                        min(
                            delay * random.uniform(0.75, 1.25),
                            MAX_DELAY,
                            self.patience - (now - first),
                        )
                    )
                    delay = min(2 * delay, MAX_DELAY)
                    continue
                if first is not None:
                    self.note_success()
                return result
        finally:
            ident = threading.get_ident()
            took = time.perf_counter() - start
            self._spent[ident] = self._spent.get(ident, 0.0) + took
            with RetryingStorage._totals_lock:  # heartbeat threads call too
                RetryingStorage._calls_total += 1
                RetryingStorage._seconds_total += took

    @staticmethod
    def totals() -> tuple[int, float]:
        """(calls, seconds) of every RetryingStorage operation of this process so far."""
        return RetryingStorage._calls_total, RetryingStorage._seconds_total

    def spent(self) -> float:
        """Seconds the calling thread has spent in storage operations (retries and waits
        included)."""
        return self._spent.get(threading.get_ident(), 0.0)

    def note_failure(self, e: BaseException) -> None:
        """Say once (per outage) that the storage is failing; also for callers that do not retry
        (heartbeats)."""
        with self._outage_lock:
            if self._outage_since is None:
                self._outage_since = time.monotonic()
                self.log(
                    f"storage {self.name!r} is failing ({reason(e)}); retrying with back-off for "
                    f"up to {self.patience:g} s"
                )

    def note_success(self) -> None:
        """Say that the storage answers again, if it was failing."""
        if self._outage_since is None:
            return
        with self._outage_lock:
            if self._outage_since is not None:
                self.log(
                    f"storage {self.name!r} answers again after "
                    f"{time.monotonic() - self._outage_since:.1f} s"
                )
                self._outage_since = None

    # anything else of the wrapped storage (remove_session, ...)
    def __getattr__(self, name: str) -> Any:
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_outage_lock", None)
        state["_spent"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._outage_lock = threading.Lock()

    # -- BaseStorage, every method through call()
    def create_new_study(self, directions: Any, study_name: str | None = None) -> int:
        return self.call(self.inner.create_new_study, directions, study_name)

    def delete_study(self, study_id: int) -> None:
        self.call(self.inner.delete_study, study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self.call(self.inner.set_study_user_attr, study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self.call(self.inner.set_study_system_attr, study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return self.call(self.inner.get_study_id_from_name, study_name)

    def get_study_name_from_id(self, study_id: int) -> str:
        return self.call(self.inner.get_study_name_from_id, study_id)

    def get_study_directions(self, study_id: int) -> Any:
        return self.call(self.inner.get_study_directions, study_id)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self.call(self.inner.get_study_user_attrs, study_id)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self.call(self.inner.get_study_system_attrs, study_id)

    def get_all_studies(self) -> Any:
        return self.call(self.inner.get_all_studies)

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        return self.call(self.inner.create_new_trial, study_id, template_trial)

    def set_trial_param(
        self, trial_id: int, param_name: str, param_value_internal: float, distribution: Any
    ) -> None:
        self.call(
            self.inner.set_trial_param, trial_id, param_name, param_value_internal, distribution
        )

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return self.call(self.inner.get_trial_id_from_study_id_trial_number, study_id, trial_number)

    def get_trial_number_from_id(self, trial_id: int) -> int:
        return self.call(self.inner.get_trial_number_from_id, trial_id)

    def get_trial_param(self, trial_id: int, param_name: str) -> float:
        return self.call(self.inner.get_trial_param, trial_id, param_name)

    def set_trial_state_values(self, trial_id: int, state: Any, values: Any = None) -> bool:
        return self.call(self.inner.set_trial_state_values, trial_id, state, values)

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self.call(self.inner.set_trial_intermediate_value, trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.call(self.inner.set_trial_user_attr, trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.call(self.inner.set_trial_system_attr, trial_id, key, value)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        return self.call(self.inner.get_trial, trial_id)

    def get_all_trials(
        self, study_id: int, deepcopy: bool = True, states: Any = None
    ) -> list[FrozenTrial]:
        return self.call(self.inner.get_all_trials, study_id, deepcopy=deepcopy, states=states)

    def get_n_trials(self, study_id: int, state: Any = None) -> int:
        return self.call(self.inner.get_n_trials, study_id, state)

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        return self.call(self.inner.get_best_trial, study_id)

    def get_trial_params(self, trial_id: int) -> dict[str, Any]:
        return self.call(self.inner.get_trial_params, trial_id)

    def get_trial_user_attrs(self, trial_id: int) -> dict[str, Any]:
        return self.call(self.inner.get_trial_user_attrs, trial_id)

    def get_trial_system_attrs(self, trial_id: int) -> dict[str, Any]:
        return self.call(self.inner.get_trial_system_attrs, trial_id)

    def remove_session(self) -> None:
        self.inner.remove_session()

    def check_trial_is_updatable(self, trial_id: int, trial_state: Any) -> None:
        self.inner.check_trial_is_updatable(trial_id, trial_state)


def one_write(storage: BaseStorage) -> AbstractContextManager[None]:
    """`RetryingStorage.one_write` of `storage`; for any other storage a block that does nothing."""
    return storage.one_write() if isinstance(storage, RetryingStorage) else nullcontext()


def _log(message: str) -> None:
    print(f"nas: {message}", file=sys.stderr, flush=True)


def _driver_message(name: str, e: BaseException) -> str:
    module = None
    for cause in _chain(e):  # Optuna re-raises the driver's ModuleNotFoundError
        if isinstance(cause, ImportError) and cause.name:
            module = cause.name.split(".")[0]
            break
    if module is None:
        return f"cannot open storage {name!r}: {_first_line(e)}"
    package = DRIVERS.get(module, module)
    return (
        f"storage {name!r} needs the Python module {module!r}, which is not installed: pip install "
        f"{package} (or use a journal file, the default)"
    )


def reason(e: BaseException) -> str:
    """The first line of what went wrong underneath (the driver's or the file system's error, not
    Optuna's generic "An exception is raised during the commit")."""
    for cause in _chain(e):
        if isinstance(cause, OSError) or type(cause).__name__ in TRANSIENT_NAMES:
            return _first_line(cause)
    return _first_line(e)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__).strip()
