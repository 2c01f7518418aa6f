"""`fts hpo sync`: copy a study from PostgreSQL into the warehouse journal.

The copy is what `optuna.copy_study` writes (captured in memory first), appended to
`hpo.journal` in ONE transaction, so `hpo_trials` shows the study at once and completely.

Re-sync replaces: when the warehouse already holds the copy of the same PostgreSQL study, the
same transaction appends DELETE_STUDY for the old copy and then the fresh copy (trial numbers
unchanged; nothing of the old copy stays visible). A trial that changed in PostgreSQL (RUNNING
-> COMPLETE) is thus updated, which appending only new trials could not do. An unchanged study
appends nothing. The journal keeps the old copies' rows (append-only: the audit trail).

The copy carries the study system attr `fts:synced_from` = {database, study_id, n_trials,
content_sha256}: "the same study" means the same PostgreSQL database name and study id. A
warehouse study of that name without it (run locally) or from another study is left alone, and
so is a copy that gained trials locally (a search ran on the copy): replacing would hide them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import optuna
import sqlalchemy
import sqlalchemy.exc
from optuna.storages.journal import BaseJournalBackend

from fts.core.errors import ConfigError, NotFoundError
from fts.core.paths import ProjectPaths
from fts.hpo.journal import DuckDBJournalBackend
from fts.hpo.storage import parse_storage_url, rdb_storage
from fts.hpo.views import OP

SOURCE_ATTR = "fts:synced_from"


class _MemoryBackend(BaseJournalBackend):
    """A journal in a list: captures the ops `copy_study` writes."""

    def __init__(self) -> None:
        self.logs: list[dict[str, Any]] = []

    def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
        return self.logs[log_number_from:]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        # A JSON round trip turns enums (TrialState, StudyDirection) into the ints stored.
        self.logs.extend(json.loads(json.dumps(log)) for log in logs)


def _study_ids(logs: list[dict[str, Any]]) -> tuple[dict[str, int], int]:
    """Replay CREATE/DELETE_STUDY as Optuna does: ({live name: id}, next study id)."""
    live: dict[str, int] = {}
    next_id = 0
    for log in logs:
        if log["op_code"] == OP.CREATE_STUDY and log["study_name"] not in live:
            live[log["study_name"]] = next_id
            next_id += 1
        elif log["op_code"] == OP.DELETE_STUDY:
            live = {name: i for name, i in live.items() if i != log["study_id"]}
    return live, next_id


def _system_attrs(logs: list[dict[str, Any]], study_id: int) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for log in logs:
        if log["op_code"] == OP.SET_STUDY_SYSTEM_ATTR and log["study_id"] == study_id:
            attrs.update(log["system_attr"])
    return attrs


def _trials_created(logs: list[dict[str, Any]], study_id: int) -> int:
    # Study ids are never reused, so every CREATE_TRIAL naming a live study's id is its own.
    return sum(log["op_code"] == OP.CREATE_TRIAL and log.get("study_id") == study_id
               for log in logs)


def _has_optuna_tables(url: str) -> bool:
    engine = sqlalchemy.create_engine(parse_storage_url(url))
    try:
        return sqlalchemy.inspect(engine).has_table("studies")
    except sqlalchemy.exc.SQLAlchemyError as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"cannot open PostgreSQL at "
                          f"{parse_storage_url(url).render_as_string(hide_password=True)}: "
                          f"{first_line}") from exc
    finally:
        engine.dispose()


def _capture_copy(url: str, study_name: str) -> tuple[list[dict[str, Any]], int, int]:
    """(ops of the copy with study id 0, number of trials, PostgreSQL study id)."""
    if not _has_optuna_tables(url):  # RDBStorage would create them: leave the source alone
        raise NotFoundError(f"no Optuna studies in PostgreSQL database "
                            f"{parse_storage_url(url).database!r}")
    source = rdb_storage(url)
    try:
        source_id = source.get_study_id_from_name(study_name)
    except KeyError:
        names = sorted(s.study_name for s in optuna.get_all_study_summaries(
            source, include_best_trial=False))
        raise NotFoundError(f"no study {study_name!r} in PostgreSQL; it has: "
                            f"{', '.join(names) or 'no studies'}") from None
    memory = _MemoryBackend()
    optuna.copy_study(from_study_name=study_name, from_storage=source,
                      to_storage=optuna.storages.JournalStorage(memory))
    n_trials = sum(log["op_code"] == OP.CREATE_TRIAL for log in memory.logs)
    return memory.logs, n_trials, source_id


def _content_sha256(logs: list[dict[str, Any]]) -> str:
    # worker_id is random per capture; everything else is the study's content.
    body = [{k: v for k, v in log.items() if k != "worker_id"} for log in logs]
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def sync_study(paths: ProjectPaths, url: str, study_name: str) -> int:
    """Copy (or refresh) `study_name` from PostgreSQL at `url` into the warehouse journal.

    Returns the number of trials of the copy. Raises `NotFoundError` when PostgreSQL has no
    such study, `ConfigError` for a bad URL or when the warehouse holds a different study of
    that name (then nothing is written).
    """
    database = parse_storage_url(url).database
    logs, n_trials, source_id = _capture_copy(url, study_name)
    source = {"database": database, "study_id": source_id, "n_trials": n_trials,
              "content_sha256": _content_sha256(logs)}
    worker_id = f"fts-sync-{uuid.uuid4()}"

    def build(existing: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
        live, next_id = _study_ids(existing)
        new: list[dict[str, Any]] = []
        if study_name in live:
            old_id = live[study_name]
            old = _system_attrs(existing, old_id).get(SOURCE_ATTR)
            if not isinstance(old, dict) or (old.get("database"), old.get("study_id")) != (
                database, source_id
            ):
                origin = (f"synced from PostgreSQL database {old.get('database')!r}, study id "
                          f"{old.get('study_id')}" if isinstance(old, dict) else "run locally")
                raise ConfigError(
                    f"the warehouse already has a different study named {study_name!r} "
                    f"({origin}); nothing was synced. Rename one of them, or delete the "
                    "warehouse copy: optuna.delete_study(study_name=..., "
                    "storage=fts.hpo.journal_storage(paths))")
            local = _trials_created(existing, old_id) - int(old.get("n_trials", 0))
            if local > 0:
                raise ConfigError(
                    f"the warehouse copy of {study_name!r} has {local} trial(s) that did not "
                    "come from PostgreSQL (a search ran on the copy); nothing was synced, as "
                    "replacing the copy would hide them. Copy them elsewhere first "
                    "(optuna.copy_study) or delete the warehouse copy")
            if old.get("content_sha256") == source["content_sha256"]:
                return [], n_trials  # unchanged: append nothing
            new.append({"op_code": OP.DELETE_STUDY, "worker_id": worker_id,
                        "study_id": old_id})
        create, *rest = logs  # copy_study starts with CREATE_STUDY
        new.append({**create, "worker_id": worker_id})
        new.append({"op_code": OP.SET_STUDY_SYSTEM_ATTR, "worker_id": worker_id,
                    "study_id": next_id, "system_attr": {SOURCE_ATTR: source}})
        # The copy's ops name study id 0; in the warehouse the study gets the next id.
        new.extend({**log, "worker_id": worker_id, "study_id": next_id}
                   if "study_id" in log else {**log, "worker_id": worker_id} for log in rest)
        return new, n_trials

    # Rows appended by sync carry no writer: the copied RUNNING trials are not this process's.
    backend = DuckDBJournalBackend(paths.warehouse, writer=(None, None, None))
    return backend.append_in_transaction(build)
