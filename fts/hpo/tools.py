"""Optuna's own tools on the project's studies: `fts hpo list`, `trials`, `export`, `dashboard`.

`list` and `trials` mirror `optuna studies` and `optuna trials` (the same columns, from the same
Optuna calls). `export` copies a study with `optuna.copy_study` to any Optuna storage, so the
optuna CLI, optuna-dashboard and other tools can open the copy without fts. `dashboard` serves
optuna-dashboard (the `dashboard` extra) over the warehouse journal itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from fts.core.errors import ConfigError, NotFoundError
from fts.core.paths import ProjectPaths
from fts.hpo.storage import rdb_storage, study_storage

EXPORT_FORMS = ("sqlite:///FILE.db", "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
                "journal:FILE.log (Optuna's JournalFileBackend)")


def list_studies(paths: ProjectPaths, storage_url: str | None = None) -> pd.DataFrame:
    """One row per study, as `optuna studies` prints them: name, direction, n_trials,
    datetime_start (plus fts's tier / budget study attributes)."""
    storage = study_storage(paths, storage_url)
    rows = []
    for s in optuna.get_all_study_summaries(storage, include_best_trial=False):
        rows.append({
            "name": s.study_name, "direction": ",".join(d.name for d in s.directions),
            "n_trials": s.n_trials, "datetime_start": s.datetime_start,
            "tier": s.user_attrs.get("tier"), "budget": s.user_attrs.get("budget"),
        })
    return pd.DataFrame(rows, columns=["name", "direction", "n_trials", "datetime_start",
                                       "tier", "budget"])


def load(paths: ProjectPaths, name: str, storage_url: str | None = None) -> optuna.Study:
    """A study of the project (or of `storage_url`), or `NotFoundError` naming those there are."""
    storage = study_storage(paths, storage_url)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError as exc:
        names = sorted(s.study_name for s in optuna.get_all_study_summaries(storage))
        raise NotFoundError(f"no study {name!r} (studies: {', '.join(names) or 'none'})") from exc


def study_trials(paths: ProjectPaths, name: str, storage_url: str | None = None) -> pd.DataFrame:
    """The trials of a study as `optuna trials` shows them (`Study.trials_dataframe`): number,
    value, datetime_start, datetime_complete, duration, params_*, user_attrs_*, state."""
    frame = load(paths, name, storage_url).trials_dataframe(multi_index=False)
    if "duration" in frame:  # seconds: a timedelta has no CSV or JSON form of its own
        frame["duration"] = frame["duration"].dt.total_seconds()
    return frame


def target_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna storage to export into, from a URL: an SQLite or PostgreSQL (or other
    SQLAlchemy) URL, or `journal:PATH` for a journal file."""
    text = (url or "").strip()
    if text.startswith("journal:"):
        path = Path(text.removeprefix("journal:")).expanduser()
        if not path.parent.is_dir():
            raise ConfigError(f"{path.parent}: no such directory for the journal file")
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    if text.startswith("postgresql"):
        return rdb_storage(text)  # checked URL, psycopg 3, password never echoed
    if text.startswith("sqlite:///"):
        parent = Path(text.removeprefix("sqlite:///")).expanduser().parent
        if not parent.is_dir():
            raise ConfigError(f"{parent}: no such directory for the SQLite file")
        return optuna.storages.RDBStorage(text)
    raise ConfigError(f"cannot export to {text!r}: give one of {', '.join(EXPORT_FORMS)}")


def export_study(paths: ProjectPaths, name: str, to_url: str, *,
                 storage_url: str | None = None, to_name: str | None = None) -> int:
    """Copy study `name` (every trial: params, values, states, user and system attributes,
    intermediate values) to the storage at `to_url`; returns the number of trials copied.

    A study of that name already in the destination is an error, not a merge.
    """
    storage = study_storage(paths, storage_url)
    source = load(paths, name, storage_url)  # a missing study is refused before `to_url` is touched
    destination = target_storage(to_url)
    try:
        optuna.copy_study(from_study_name=name, from_storage=storage,
                          to_storage=destination, to_study_name=to_name or name)
    except optuna.exceptions.DuplicatedStudyError as exc:
        raise ConfigError(f"the destination already holds a study named {to_name or name!r}; "
                          "export under another name (--name) or delete it there") from exc
    return len(source.trials)


def dashboard_app(paths: ProjectPaths, storage_url: str | None = None) -> Any:
    """optuna-dashboard's WSGI application over the project's studies."""
    try:
        import optuna_dashboard
    except ImportError:
        raise ConfigError("fts hpo dashboard needs optuna-dashboard: "
                          "pip install 'fts[dashboard]'") from None
    return optuna_dashboard.wsgi(study_storage(paths, storage_url))


def serve_dashboard(paths: ProjectPaths, *, host: str = "127.0.0.1", port: int = 8080,
                    storage_url: str | None = None,
                    progress: Callable[[str], None] = lambda _: None) -> None:
    """Serve optuna-dashboard on http://HOST:PORT/ until interrupted (blocks); `progress`
    gets the address once the server listens."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
            return None  # one line per request would drown the terminal

    app = dashboard_app(paths, storage_url)
    try:
        server = make_server(host, port, app, handler_class=Quiet)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from exc
    with server:
        progress(f"optuna-dashboard on http://{host}:{port}/ (Ctrl-C to stop)")
        server.serve_forever()
