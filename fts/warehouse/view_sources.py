"""View definitions that the warehouse stores and defines on every open, supplied from above.

The warehouse layer may not import the layers above it, yet some views it keeps belong to them:
`hpo_trials` / `hpo_studies` replay Optuna's journal, which fts.hpo owns (fts.hpo.views). Such a
layer registers its views here; `fts/__init__` imports the registering modules before anything
else, so every process that opens a warehouse has them (the warehouse never imports hpo).

Each source gives the statements of the views stored in the warehouse (part of the schema DDL,
so a change to them re-creates the stored views on the next read-write open) and a function that
defines its TEMP session views on a connection (read-only ones included).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class ViewSource:
    """One layer's views: `stored()` CREATE OR REPLACE VIEW statements, `session(con)` TEMP views."""

    name: str
    stored: Callable[[], list[str]]
    session: Callable[[duckdb.DuckDBPyConnection], None]


_SOURCES: dict[str, ViewSource] = {}


def register_view_source(source: ViewSource) -> None:
    """Add (or replace, by name) a source of views."""
    _SOURCES[source.name] = source


def view_sources() -> list[ViewSource]:
    """The registered sources, by name (a stable order: the schema DDL hashes their SQL)."""
    return [_SOURCES[name] for name in sorted(_SOURCES)]
