"""Run `fts` commands in real child processes that can be SIGKILLed at a publish step.

Children come from a multiprocessing fork server that imports fts, torch and optuna once, so
each command costs its own work, not a fresh interpreter's imports (~4 s per `fts` start on the
shared CI cores). The child sets FTS_TEST_KILL_AT (see `fts.warehouse.publish.kill_point`)
before it runs the command, so the kill lands at a named, deterministic moment.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from multiprocessing.context import ForkServerContext
from pathlib import Path

from fts.warehouse.publish import KILL_ENV

# What the commands import lazily; sympy is torch's (about a second per child otherwise).
PRELOAD = ["fts.cli", "fts.ingest", "fts.features.build", "fts.datasets", "fts.train.run",
           "fts.hpo.search", "fts.audit", "torch", "optuna", "sympy", "sqlglot",
           "pyarrow.dataset", "pyarrow.pandas_compat", "tests.audit.processes"]
_context: ForkServerContext | None = None


def context() -> ForkServerContext:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def _main(root: str, args: list[str], kill_at: str | None) -> None:
    os.environ.pop(KILL_ENV, None)
    if kill_at:
        os.environ[KILL_ENV] = kill_at
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the process ends here
    from fts.cli import cli

    try:
        # Not standalone: an error's exit status is returned (SystemExit would be caught).
        code = cli.main(["--project-dir", root, *args], prog_name="fts", standalone_mode=False)
    except BaseException:
        os._exit(1)
    os._exit(code if isinstance(code, int) else 0)


def start(root: Path, *args: str, kill_at: str | None = None) -> multiprocessing.Process:
    """Start `fts --project-dir ROOT ARGS...` in a child; kill it at `kill_at` (STEP:N)."""
    proc = context().Process(target=_main, args=(str(root), list(args), kill_at))
    proc.start()
    return proc


def run(root: Path, *args: str, kill_at: str | None = None, timeout: float = 300) -> int:
    """Run it to the end (or the kill); returns the exit code (-9 when SIGKILLed)."""
    proc = start(root, *args, kill_at=kill_at)
    proc.join(timeout)
    if proc.exitcode is None:
        proc.kill()
        proc.join()
        raise AssertionError(f"fts {' '.join(args)} did not finish in {timeout}s")
    return int(proc.exitcode)
