"""Hyper-parameter search storage: where Optuna studies live and how they are read.

Studies live in the warehouse journal (`hpo.journal`, read as `hpo_trials` / `hpo_studies`) or
in PostgreSQL; see fts.hpo.storage, fts.hpo.journal, fts.hpo.stale and fts.hpo.sync.
"""

from fts.hpo.journal import DuckDBJournalBackend, journal_storage
from fts.hpo.stale import (
    fail_stale_running_trials,
    heartbeat,
    stale_running_trials,
    worker_tag,
)
from fts.hpo.storage import parse_storage_url, study_storage
from fts.hpo.sync import sync_study

__all__ = [
    "DuckDBJournalBackend",
    "fail_stale_running_trials",
    "heartbeat",
    "journal_storage",
    "parse_storage_url",
    "stale_running_trials",
    "study_storage",
    "sync_study",
    "worker_tag",
]
