"""Hyper-parameter search storage: where Optuna studies live and how they are read.

Studies live in the warehouse journal (`hpo.journal`, read as `hpo_trials` / `hpo_studies`,
whose SQL is fts.hpo.views) or in PostgreSQL; see fts.hpo.storage, fts.hpo.journal,
fts.hpo.stale and fts.hpo.sync.

The names below load on first use (PEP 562): `import fts` imports fts.hpo.views, which registers
the journal's views with the warehouse, and must not pay for Optuna and SQLAlchemy on every
command that never opens a study.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DuckDBJournalBackend": "fts.hpo.journal",
    "journal_storage": "fts.hpo.journal",
    "fail_stale_running_trials": "fts.hpo.stale",
    "heartbeat": "fts.hpo.stale",
    "stale_running_trials": "fts.hpo.stale",
    "worker_tag": "fts.hpo.stale",
    "parse_storage_url": "fts.hpo.storage",
    "study_storage": "fts.hpo.storage",
    "sync_study": "fts.hpo.sync",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'fts.hpo' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
