"""A real, throw-away PostgreSQL server on loopback for the tests (Debian's
binaries, /usr/lib/postgresql/*/bin).

`PostgresServer` runs initdb into a fresh folder under /tmp, starts the server with pg_ctl on
127.0.0.1 at a free port (trust authentication, no Unix socket outside its folder), and can stop,
start and restart it while clients run; `stop()` shuts it down and removes the folder. The server
refuses to run as root, so as root every server command runs as the `postgres` OS user (runuser),
which owns the folder.

Missing binaries are an error that says how to install them (./install.sh as root), never a skip.

    with PostgresServer() as pg:
        url = pg.create_database()      # postgresql://postgres@127.0.0.1:PORT/nas_test_XXXX
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

INSTALL_HINT = (
    "install them with ./install.sh as root (Debian's postgresql package), or apt-get install "
    "postgresql"
)


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be started here; the message says why and how to fix it."""


def find_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/VERSION/bin holding initdb, pg_ctl and postgres."""
    candidates = []
    for folder in glob.glob("/usr/lib/postgresql/*/bin"):
        path = Path(folder)
        if all((path / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            try:
                candidates.append((int(path.parent.name.split(".")[0]), path))
            except ValueError:
                candidates.append((0, path))
    if not candidates:
        raise PostgresUnavailable(
            f"PostgreSQL server binaries (initdb, pg_ctl, postgres) not found under "
            f"/usr/lib/postgresql/*/bin: {INSTALL_HINT}"
        )
    return max(candidates)[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder, listening on 127.0.0.1:`port`."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir or find_bin_dir()
        self.port = 0
        self.root: Path | None = None
        self._as_user: list[str] = []
        self._owner: tuple[int, int] | None = None
        if os.geteuid() == 0:  # the server refuses to run as root
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root but there is no 'postgres' OS user to run the "
                    f"server as: {INSTALL_HINT}"
                ) from None
            self._owner = (entry.pw_uid, entry.pw_gid)
            runuser = shutil.which("runuser")
            self._as_user = (
                [runuser, "-u", "postgres", "--"]
                if runuser
                else ["su", "postgres", "-s", "/bin/sh", "-c"]
            )

    # --- lifecycle
    def __enter__(self) -> PostgresServer:
        self.init()
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    @property
    def data(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def log(self) -> Path:
        assert self.root is not None
        return self.root / "server.log"

    def init(self) -> None:
        """initdb into a new folder under /tmp (readable by the postgres user, unlike
        pytest's tmp_path)."""
        self.root = Path(tempfile.mkdtemp(prefix="nas-pg-", dir="/tmp"))
        if self._owner:
            os.chown(self.root, *self._owner)
        self._run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            timeout=120,
        )

    def start(self, attempts: int = 3) -> None:
        """pg_ctl start on a free port (a new one if the port was taken meanwhile); waits until
        it accepts."""
        for attempt in range(attempts):
            if not self.port or attempt:
                self.port = free_port()
            options = (
                f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                "-c synchronous_commit=off "
                "-c full_page_writes=off -c shared_buffers=16MB -c max_connections=200"
            )
            result = self._run(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                check=False,
                timeout=90,
            )
            if result.returncode == 0:
                return
        raise PostgresUnavailable(
            f"pg_ctl start failed ({result.stderr.strip() or result.stdout.strip()}); "
            f"server log: {self._log_tail()}"
        )

    def stop(self, mode: str = "fast") -> None:
        """pg_ctl stop -m MODE (fast: roll back open transactions and close connections, then
        shut down)."""
        self._run(
            [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                mode,
                "-w",
                "-t",
                "60",
                "stop",
            ],
            check=False,
            timeout=90,
        )

    def running(self) -> bool:
        result = self._run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "status"], check=False, timeout=30
        )
        return result.returncode == 0

    def ensure_running(self) -> None:
        if not self.running():
            self.start()

    def destroy(self) -> None:
        if self.root is None:
            return
        if self.data.exists():
            self.stop("fast")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    # --- databases
    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new, empty database; returns its URL."""
        import psycopg2

        name = name or f"nas_test_{uuid.uuid4().hex[:12]}"
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg2.connect(
                    host="127.0.0.1",
                    port=self.port,
                    user="postgres",
                    dbname="postgres",
                    connect_timeout=5,
                )
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url(name)

    # --- helpers
    def _run(
        self, argv: list[str], check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        if self._as_user and self._as_user[0] == "su":
            argv = [*self._as_user, " ".join(f"'{a}'" for a in argv)]
        else:
            argv = [*self._as_user, *argv]
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, cwd="/tmp", env=env
        )
        if check and result.returncode != 0:
            raise PostgresUnavailable(
                f"{Path(argv[len(self._as_user)]).name} failed (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-500:]}"
            )
        return result

    def _log_tail(self) -> str:
        try:
            return " | ".join(self.log.read_text().strip().splitlines()[-5:])
        except OSError:
            return "(none)"
