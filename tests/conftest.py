import os

import pytest
import torch

# Two CI cores shared by two pytest-xdist workers: more than one intra-op thread per worker
# oversubscribes the machine and makes small convolutions tens of times slower.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")


# --- a real PostgreSQL server for tests/test_postgres.py and tests/test_faults.py ------------------------
# One server per pytest process (each pytest-xdist worker starts its own on its own port), started on first
# use and stopped at the end; each test gets a fresh database on it. Missing binaries fail, never skip.
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
