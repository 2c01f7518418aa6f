"""Shared CLI plumbing: error mapping, the project from the context, output formats."""

from __future__ import annotations

import os
from typing import Any

import click

from fts.core.errors import FtsError


class FtsGroup(click.Group):
    """A Click group that turns library errors into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (FtsError, OSError) as exc:  # OSError: missing/unreadable files, a full disk, ...
            if os.environ.get("FTS_DEBUG") == "1":
                raise
            click.echo(f"error: {exc}", err=True)
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
