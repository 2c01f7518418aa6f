"""A throw-away PostgreSQL server for tests: initdb in a temp dir, a free port, trust auth.

initdb and postgres refuse to run as root, so as root the server runs as the `postgres` user
(or `nobody`) through `runuser`, in a directory under /tmp owned by that user (pytest's own
temp dirs are root-only). Missing server binaries are an error, not a skip: the tests that
use the server are part of the suite.
"""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

_BINARIES = ("initdb", "pg_ctl", "postgres")


class PostgresUnavailable(RuntimeError):
    """The server binaries are missing or the server would not start."""


def _bindir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if all((Path(candidate) / b).exists() for b in _BINARIES):
            return Path(candidate)
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in "
        "/usr/lib/postgresql/*/bin: install them (Debian: apt-get install postgresql-15) to "
        "run the PostgreSQL tests")


def _run_as() -> tuple[list[str], str | None]:
    """(command prefix, user to chown to) that runs the server as a non-root user."""
    if os.geteuid() != 0:
        return [], None
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        runuser = shutil.which("runuser")
        if runuser:
            return [runuser, "-u", user, "--"], user
        return [shutil.which("su") or "su", user, "-s", "/bin/sh", "-c"], user
    raise PostgresUnavailable("running as root and neither a 'postgres' nor a 'nobody' user "
                              "exists to run PostgreSQL (initdb refuses root)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cmd(prefix: list[str], argv: list[str]) -> list[str]:
    if prefix and prefix[-1] == "-c":  # su USER -c "one string"
        return [*prefix, shlex.join(argv)]
    return [*prefix, *argv]


@dataclass
class PgServer:
    """A running server; `url(db)` is a SQLAlchemy URL, `create_database()` a fresh database."""

    root: Path
    port: int
    _prefix: list[str]
    _bindir: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        # CREATE DATABASE cannot run inside a transaction: autocommit.
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                             dbname="postgres", autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(
            _cmd(self._prefix, [str(self._bindir / "pg_ctl"), "-D", str(self.data),
                                "-m", "immediate", "-w", "stop"]),
            capture_output=True, timeout=60, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres(attempts: int = 5) -> PgServer:
    """initdb + start on a free port (retrying on a port race); raises PostgresUnavailable."""
    bindir = _bindir()
    prefix, user = _run_as()
    root = Path(tempfile.mkdtemp(prefix="fts-pg-", dir="/tmp"))
    if user:
        shutil.chown(root, user=user)
    data = root / "data"
    init = subprocess.run(
        _cmd(prefix, [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                      "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]),
        capture_output=True, text=True, timeout=120, check=False)
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresUnavailable(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
    last_error = ""
    for _ in range(attempts):
        port = _free_port()
        # fsync off: a test server need not survive a power cut, and it is much faster.
        options = (f"-p {port} -k {root} -h 127.0.0.1 -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=50")
        started = subprocess.run(
            _cmd(prefix, [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"),
                          "-o", options, "-w", "-t", "60", "start"]),
            capture_output=True, text=True, timeout=90, check=False)
        if started.returncode == 0:
            return PgServer(root, port, prefix, bindir)
        log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
        last_error = (started.stderr + started.stdout + log).strip()[-2000:]
        time.sleep(0.2)  # another worker took the port: try another one
    shutil.rmtree(root, ignore_errors=True)
    raise PostgresUnavailable(f"PostgreSQL would not start: {last_error}")
