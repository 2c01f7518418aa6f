"""Read-only SQL that cannot touch anything: the statement filter and the sandboxed connection.

`fts sql` without `--write` runs users' SQL. Two layers keep it from changing anything:

1. `refuse_non_reads` lets through only statements that read: SELECT (with WITH, VALUES, FROM,
   DESCRIBE, SHOW and SUMMARIZE, which DuckDB parses as SELECT), PIVOT/UNPIVOT, and EXPLAIN of
   those (EXPLAIN ANALYZE runs its statement, so the statement inside is checked too). Every
   statement of a multi-statement string is checked, using DuckDB's own parser and tokenizer.
2. `connect_sandboxed` opens a private in-memory DuckDB, attaches the warehouse READ_ONLY, and
   then locks it down: no file outside the project directory (`allowed_directories` with
   `enable_external_access=false`), no extension installed or loaded behind the query's back,
   and `lock_configuration=true` so no SET/PRAGMA can undo that or point `log_query_path` at a
   file. A private instance (not `duckdb.connect(warehouse)`) keeps these settings from leaking
   into other connections of the same process: DuckDB shares one instance per file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import duckdb

from fts.core.errors import NotFoundError, QueryRefused
from fts.warehouse.connection import retry_locked
from fts.warehouse.schema import create_session_views

#: What read-only `fts sql` runs, for messages and docs.
READ_KINDS = "SELECT, WITH, EXPLAIN, DESCRIBE, SHOW, SUMMARIZE, PIVOT"

#: Statement kinds that would modify the warehouse (named as such in the refusal).
_WRITES = {"INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "COPY", "EXPORT", "VACUUM",
           "ATTACH", "DETACH", "MERGE", "TRUNCATE", "CHECKPOINT", "IMPORT", "ANALYZE"}

#: The catalog name of the attached warehouse (what `duckdb.connect(file)` would call it).
CATALOG = "warehouse"


def _keywords(text: str) -> list[tuple[int, str]]:
    """(offset, upper-cased text) of each token of `text` except comments, by DuckDB's tokenizer."""
    tokens = [(pos, kind) for pos, kind in duckdb.tokenize(text)]
    ends = [pos for pos, _ in tokens[1:]] + [len(text)]
    return [(pos, text[pos:end].strip().upper())
            for (pos, kind), end in zip(tokens, ends, strict=True)
            if kind != duckdb.token_type.comment]


def _after_explain(words: list[tuple[int, str]]) -> int | None:
    """Offset of the statement that an EXPLAIN [ANALYZE] [(options)] explains (None: none)."""
    depth = 0
    for pos, word in words[1:]:
        if word and set(word) <= {"(", ")"}:  # the tokenizer may join "((" into one token
            depth += word.count("(") - word.count(")")
        elif depth == 0 and word not in {"ANALYZE", "ANALYSE"}:
            return pos
    return None


def _first_refused(query: str) -> str | None:
    """The leading keyword of the first statement in `query` that does not only read, or None."""
    for statement in duckdb.extract_statements(query):
        words = _keywords(statement.query)
        first = words[0][1] if words else ""
        if first == "EXPLAIN":
            inner = _after_explain(words)
            refused = _first_refused(statement.query[inner:]) if inner is not None else None
            if refused:
                return f"EXPLAIN {refused}"
            continue
        if statement.type == duckdb.StatementType.SELECT:
            continue
        # PIVOT without an IN list parses as MULTI: a temporary enum type, then the SELECT.
        if statement.type == duckdb.StatementType.MULTI and first in {"PIVOT", "UNPIVOT"}:
            continue
        return first or statement.type.name
    return None


def refuse_non_reads(query: str) -> None:
    """Raise `QueryRefused` unless every statement of `query` only reads.

    A syntax error is left for the query itself to report (DuckDB's message is the better one).
    """
    try:
        refused = _first_refused(query)
    except duckdb.Error:
        return
    if refused is None:
        return
    kind = refused.split()[-1]
    why = ("modify the warehouse, which `fts sql` opens read-only" if kind in _WRITES
           else f"are not run by read-only `fts sql`, which runs only {READ_KINDS}")
    raise QueryRefused(f"sql: {refused} statements {why}; pass --write to run them")


@contextlib.contextmanager
def connect_sandboxed(
    warehouse: str | Path, project_root: str | Path, *, timeout: float | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to `warehouse` that can read files only under `project_root`.

    The session views (one per built tier, `hpo_trials`, `hpo_studies`) are defined before
    the configuration is locked; the warehouse is the default catalog, so `raw.ohlcv` and
    `a100` resolve as on an ordinary connection.
    """
    path = Path(warehouse).resolve()
    if not path.exists():
        raise NotFoundError(f"{path}: no warehouse yet; run `fts ingest sample` (or csv/yfinance)")
    root = Path(project_root).resolve()
    con = duckdb.connect(":memory:", config={
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        # where DuckDB spills a large query, as for `duckdb.connect(warehouse)` (not the cwd)
        "temp_directory": f"{path}.tmp",
    })
    try:
        target = path.as_posix().replace("'", "''")
        retry_locked(path, lambda: con.execute(
            f"ATTACH '{target}' AS {CATALOG} (READ_ONLY)"), timeout)
        con.execute(f"USE {CATALOG}")
        create_session_views(con, root)
        allowed = (root.as_posix().rstrip("/") + "/").replace("'", "''")
        con.execute(f"SET allowed_directories = ['{allowed}']")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        yield con
    finally:
        con.close()
