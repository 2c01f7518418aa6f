"""Helpers for ingestion tests: run the CLI, fingerprint a warehouse, write input files."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from click.testing import CliRunner, Result

from fts.cli import cli
from fts.warehouse import connect

RESOURCES = Path(__file__).resolve().parent.parent / "resources" / "ingest"
AAPL_CSV = RESOURCES / "aapl_2024-01-02_to_16.csv"
AAPL_NEXT_CSV = RESOURCES / "aapl_2024-01-12_to_23.csv"


def run_fts(project: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """Invoke the real `fts` command line in-process (stdout and stderr kept apart)."""
    return CliRunner(env=env).invoke(cli, ["--project-dir", str(project), *args])


def table_fingerprint(project: Path) -> str:
    """SHA-256 over the content of every table in the warehouse ("absent" if there is none)."""
    warehouse = project / "warehouse.duckdb"
    if not warehouse.exists():
        return "absent"
    h = hashlib.sha256()
    with connect(warehouse, read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' ORDER BY ALL"
        ).fetchall()
        for schema, name in tables:
            rows = con.execute(f'SELECT * FROM "{schema}"."{name}" ORDER BY ALL').fetchall()
            h.update(f"{schema}.{name}:{rows!r}\n".encode())
    return h.hexdigest()


def manifest_files(project: Path) -> list[str]:
    """Every manifest file name under the project's manifests/ folder."""
    root = project / "manifests"
    return sorted(os.fspath(p.relative_to(root)) for p in root.rglob("*.json")) if root.exists() else []


def snapshot(project: Path) -> tuple[str, list[str]]:
    """What a failed command must leave untouched: the tables and the manifest files."""
    return table_fingerprint(project), manifest_files(project)


def edit_rows(text: str, edits: dict[int, dict[str, str]]) -> str:
    """Change cells of a CSV text: {1-based data row: {column name: new cell}}."""
    lines = text.splitlines()
    header = lines[0].split(",")
    for row, cells in edits.items():
        fields = lines[row].split(",")
        for column, value in cells.items():
            fields[header.index(column)] = value
        lines[row] = ",".join(fields)
    return "\n".join(lines) + "\n"


def one_line(result: Result) -> str:
    """The single line a failed command printed on stderr (asserting there is exactly one)."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {lines!r}"
    return lines[0]


def rows(project: Path, query: str, params: Sequence[object] = ()) -> list[tuple]:
    """Run a read-only query against the project's warehouse."""
    with connect(project / "warehouse.duckdb", read_only=True) as con:
        return con.execute(query, list(params)).fetchall()
