"""Shared CLI plumbing: error mapping, the project from the context, output formats."""

from __future__ import annotations

import csv
import errno
import os
import sys
from typing import Any

import click

from fts.core.errors import FtsError


def _one_line(text: str) -> str:
    return " ".join(text.split()) if "\n" in text or "\r" in text else text


def user_error_line(exc: BaseException) -> str | None:
    """The one line to print for an error a user can act on, or None for a bug (re-raised).

    FtsError is fts's own; OSError a missing or unreadable file, a full disk; csv.Error a CSV the
    csv module cannot read (a field over its 131,072-character limit); duckdb.Error anything
    DuckDB refused (out of memory, "No space left on device", an I/O or catalog error). Every
    write runs in a transaction and publishes its files last, so such a failure leaves the
    state as it was.
    """
    duckdb = sys.modules.get("duckdb")  # not imported yet: the error cannot be DuckDB's
    if isinstance(exc, FtsError):
        return _one_line(str(exc))
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOSPC:
            return f"no space left on device{_where(exc)}; free some space and run it again"
        return _one_line(str(exc))
    if isinstance(exc, csv.Error):
        return _one_line(f"CSV: {exc}")
    if duckdb is not None and isinstance(exc, duckdb.Error):
        text = _one_line(str(exc))
        if isinstance(exc, duckdb.OutOfMemoryException):
            return (f"DuckDB ran out of memory ({text}); close other programs, or lower the "
                    "work (fewer tickers, smaller batches) and run it again")
        if "no space left on device" in text.lower():
            return f"no space left on device (DuckDB: {text}); free some space and run it again"
        return f"DuckDB: {text}"
    return None


def _where(exc: OSError) -> str:
    return f" writing {exc.filename}" if exc.filename else ""


class FtsGroup(click.Group):
    """A Click group that turns user errors into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:  # noqa: BLE001 - bugs are re-raised below
            line = user_error_line(exc)
            if line is None or os.environ.get("FTS_DEBUG") == "1":
                raise
            click.echo(f"error: {line}", err=True)
            ctx.exit(1)


def get_project(ctx: click.Context) -> Any:
    """The `fts.Project` for --project-dir (imported lazily to keep `fts --help` fast)."""
    from fts.project import Project

    root = ctx.find_root()
    project_dir = (root.obj or {}).get("project_dir")
    return Project(project_dir)


def progress_printer(quiet: bool, as_json: bool) -> Any:
    """Where progress lines go: nowhere with -q, stderr with --json (stdout then holds only
    the JSON), else stdout."""
    if quiet:
        return lambda _line: None
    if as_json:
        return lambda line: click.echo(line, err=True)
    return click.echo
