"""Where sweeps and searches are stored: one place that turns a storage argument into an Optuna storage.

The default is a journal file, ``results/nas.journal`` (or ``$NAS_STORAGE``): an append-only log that
several processes on one machine (or on NFS) share safely through a lock file, with no server. Any Optuna
RDB URL works too (``sqlite:///F.db``, ``postgresql://...``, ``mysql+pymysql://...``), and ``redis://``
for a journal kept in Redis.

    storage argument               storage
    None                           JournalStorage(JournalFileBackend("results/nas.journal"))
    PATH.journal, journal:PATH     JournalStorage(JournalFileBackend(PATH))
    PATH.db, PATH.sqlite           RDBStorage("sqlite:///PATH")
    sqlite:///..., postgresql://   RDBStorage(URL)
    redis://...                    JournalStorage(JournalRedisBackend(URL))

Every problem (a malformed URL, a missing database driver, an unreadable file) is a StorageError with one
line naming the storage and the fix.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

DEFAULT_STORAGE = "results/nas.journal"
JOURNAL_SUFFIXES = (".journal", ".log")
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
VALID = ("a journal file (PATH.journal or journal:PATH), an SQLite file (PATH.db), or an Optuna URL "
         "(sqlite:///PATH.db, postgresql://USER@HOST/DB, mysql+pymysql://USER@HOST/DB, redis://HOST:6379)")
DRIVERS = {"psycopg2": "psycopg2-binary", "pymysql": "PyMySQL", "MySQLdb": "mysqlclient", "redis": "redis",
           "psycopg": "'psycopg[binary]'", "pg8000": "pg8000", "mysql": "mysql-connector-python"}


class StorageError(Exception):
    """A storage that cannot be opened; the message names it and what is valid."""


def default_storage() -> str:
    return os.environ.get("NAS_STORAGE") or DEFAULT_STORAGE


def parse_storage(url: str | None) -> tuple[str, str]:
    """(kind, target): kind is "journal" (target a file path), "rdb" or "redis" (target the URL)."""
    text = (url or default_storage()).strip()
    if not text:
        raise StorageError(f"empty storage; give {VALID}")
    if text.startswith("journal:"):
        path = text[len("journal:"):]
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


def describe_storage(url: str | None) -> str:
    """The storage as a user wrote it (the default spelled out)."""
    return url or default_storage()


def open_storage(url: str | None = None, create: bool = True) -> BaseStorage:
    """An Optuna storage for `url` (see the module docstring). With create=False a journal or SQLite file
    that does not exist is an error instead of being created (for read-only commands such as export)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kind, target = parse_storage(url)
    name = describe_storage(url)
    if kind == "journal":
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = Path(target).expanduser()
        if not path.exists():
            if not create:
                raise StorageError(f"no storage at {path}: the journal file does not exist (run `nas sample` "
                                   "or `nas search` first, or pass --storage)")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StorageError(f"cannot create the folder of journal {path}: {e.strerror or e}") from None
        if path.is_dir():
            raise StorageError(f"journal storage {path} is a folder; give a file such as {path}/nas.journal")
        try:
            return JournalStorage(JournalFileBackend(str(path)))
        except OSError as e:
            raise StorageError(f"cannot open journal {path}: {e.strerror or e}") from None
        except Exception as e:  # a corrupt journal line, ...
            raise StorageError(f"cannot read journal {path}: {_first_line(e)}") from None
    if kind == "redis":
        try:
            from optuna.storages.journal import JournalRedisBackend, JournalStorage

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "JournalRedisBackend is experimental"
                return JournalStorage(JournalRedisBackend(target))
        except ImportError as e:
            raise StorageError(_driver_message(name, e)) from None
        except Exception as e:
            raise StorageError(f"cannot open storage {name!r}: {_first_line(e)}") from None
    # an RDB URL
    if target.startswith("sqlite:///") and not create:
        file = target[len("sqlite:///"):]
        if file and file != ":memory:" and not Path(file).exists():
            raise StorageError(f"no storage at {file}: the SQLite file does not exist (run `nas sample` or "
                               "`nas search` first, or pass --storage)")
    if target.startswith("sqlite:///") and create:
        file = target[len("sqlite:///"):]
        if file and file != ":memory:":
            try:
                Path(file).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StorageError(f"cannot create the folder of {file}: {e.strerror or e}") from None
    try:
        from optuna.storages import RDBStorage, get_storage

        return get_storage(RDBStorage(target))
    except ImportError as e:  # the database driver, or SQLAlchemy itself
        raise StorageError(_driver_message(name, e)) from None
    except Exception as e:  # sqlalchemy.exc.ArgumentError, NoSuchModuleError, OperationalError, ...
        text = _first_line(e)
        if "Can't load plugin" in text or "Could not parse" in text:
            raise StorageError(f"storage {name!r} is not a valid URL ({text}); give {VALID}") from None
        raise StorageError(f"cannot open storage {name!r}: {text}") from None


def study_names(storage: BaseStorage) -> list[str]:
    return [s.study_name for s in storage.get_all_studies()]


def _driver_message(name: str, e: BaseException) -> str:
    module = None
    cause: BaseException | None = e
    while cause is not None and module is None:  # Optuna re-raises the driver's ModuleNotFoundError
        if isinstance(cause, ImportError) and cause.name:
            module = cause.name.split(".")[0]
        cause = cause.__cause__ or cause.__context__
    if module is None:
        return f"cannot open storage {name!r}: {_first_line(e)}"
    package = DRIVERS.get(module, module)
    return (f"storage {name!r} needs the Python module {module!r}, which is not installed: pip install "
            f"{package} (or use a journal file, the default)")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__).strip()
