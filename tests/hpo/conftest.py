"""Fixtures of the hpo tests: a project directory, a throw-away PostgreSQL server, workers.

`pg_server` is one server per test session (per xdist worker, each on its own free port);
`pg_url` is a fresh database on it for each test.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import pytest

from fts.core.paths import ProjectPaths
from tests.hpo.pg import PgServer, PostgresUnavailable, start_postgres

WORKER = Path(__file__).with_name("_worker.py")


@pytest.fixture(autouse=True)
def _quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def paths(tmp_path: Path) -> ProjectPaths:
    root = tmp_path / "project"
    root.mkdir()
    return ProjectPaths(root)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    return pg_server.create_database()


Spawn = Callable[..., subprocess.Popen]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start `_worker.py MODE --opt value ...`; every process still running is killed after."""
    procs: list[subprocess.Popen] = []

    def _spawn(mode: str, **options: object) -> subprocess.Popen:
        argv = [sys.executable, str(WORKER), mode]
        for key, value in options.items():
            flag = "--" + key.replace("_", "-")
            if value is not False:  # True: a bare flag; False: left out
                argv += [flag] if value is True else [flag, str(value)]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        return proc

    yield _spawn
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60.0) -> str:
    """The content of `path` once the worker wrote it; fails early if the worker died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        if proc.poll() is not None:
            raise AssertionError(f"worker exited {proc.returncode}: {proc.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError(f"{path} not written within {timeout}s")


def finish(proc: subprocess.Popen, timeout: float = 120.0) -> str:
    """Wait for a worker; its stdout, or an assertion error with its stderr."""
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"worker exited {proc.returncode}: {err[-3000:]}"
    return out
