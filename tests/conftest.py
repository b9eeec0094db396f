"""Fixtures of the whole suite: a throw-away PostgreSQL server (postgres, pg_url) and one fresh
storage of each kind the README documents (storage_url).

Constants and helpers that test modules share live in tests/helpers.py: ROOT (the repository), the
tiny training setup SPACE / DATA / SCHEDULE / BANDS / TRAIN_FLAGS, the stand-in trainers fake_train
and ranked_train, and storage_trials / storage_snapshot (a storage's trials; everything it holds). A
test module imports them with `from helpers import ...` (tests/ is on sys.path, as for
tests/pg_server.py), never from this file."""

import os

import pytest
import torch

# Two CI cores shared by two pytest-xdist workers: more than one intra-op thread per worker
# oversubscribes the machine and makes small convolutions tens of times slower.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")


# --- a real PostgreSQL server for tests/test_postgres.py, tests/test_faults.py and storage_url ----
# One server per pytest process (each pytest-xdist worker starts its own on its own port), started
# on first use and stopped at the end; each test gets a fresh database on it. Missing binaries fail,
# never skip.
@pytest.fixture(scope="session")
def postgres():
    import atexit

    from pg_server import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer()
        server.init()
        atexit.register(server.destroy)  # also when the session is cut short
        server.start()
    except PostgresUnavailable as e:
        pytest.fail(f"PostgreSQL is needed by this test: {e}", pytrace=False)
    yield server
    server.destroy()


@pytest.fixture
def pg_url(postgres):
    postgres.ensure_running()  # a test that restarted it and failed midway leaves it stopped
    return postgres.create_database()


# --- one fresh, empty storage of each kind the README documents -----------------------------------
STORAGE_KINDS = ["journal", "sqlite", "postgresql"]


@pytest.fixture(params=STORAGE_KINDS)
def storage_url(request, tmp_path):
    """The storage argument of a fresh storage: a journal file, an SQLite file, a PostgreSQL
    database. The PostgreSQL server is asked for only by that parameter (so `-k journal`
    starts none)."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/s.db"
    return str(tmp_path / "s.journal")
