"""Where a study lives: the warehouse journal (default) or a PostgreSQL database.

- No URL: `journal_storage(paths)`, Optuna's JournalStorage over `hpo.journal` in the project's
  warehouse (fts.hpo.journal). One host, any number of processes; `fts sql` reads it live.
- `postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE`: Optuna's RDBStorage, for workers on
  several hosts; `fts hpo sync` (fts.hpo.sync) copies such a study into the warehouse.

The URL is checked before anything is opened or created, so a typo costs nothing.
"""

from __future__ import annotations

import time
import warnings

import optuna
import sqlalchemy
import sqlalchemy.exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from fts.core.errors import ConfigError
from fts.core.paths import ProjectPaths
from fts.hpo.journal import journal_storage

# PostgreSQL support is the `postgres` extra (`pip install fts[postgres]`: psycopg 3). A bare
# `postgresql://` is pinned to psycopg 3 (SQLAlchemy 2.0 would pick psycopg2); a URL that names
# psycopg2 explicitly still works where psycopg2 is installed.
SUPPORTED_DRIVERS = ("postgresql", "postgresql+psycopg", "postgresql+psycopg2")
DRIVER = "postgresql+psycopg"
URL_FORM = "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"


def parse_storage_url(url: str) -> URL:
    """Parse and check a PostgreSQL storage URL (a bare scheme gets the psycopg 3 driver).

    Raises `ConfigError`, saying what is wrong, for a malformed or unsupported URL.
    """
    text = (url or "").strip()
    if not text:
        raise ConfigError(f"empty storage URL: expected {URL_FORM} (or no URL for the warehouse)")
    scheme = text.split("://", 1)[0] if "://" in text else ""
    if scheme in ("postgres", "postgres+psycopg2"):
        raise ConfigError(f"storage URL scheme {scheme!r} is not understood: write "
                          f"'postgresql://...' ({URL_FORM})")
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError) as exc:  # ValueError: a non-numeric port
        # Do not echo the URL: it may hold a password.
        raise ConfigError(f"malformed storage URL ({exc}); expected {URL_FORM}") from exc
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise ConfigError(
            f"unsupported storage URL scheme {parsed.drivername!r}: studies live in the "
            f"warehouse (give no URL) or in PostgreSQL ({URL_FORM})")
    if not parsed.database:
        raise ConfigError(f"storage URL {parsed.render_as_string(hide_password=True)!r} names "
                          f"no database; expected {URL_FORM}")
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername=DRIVER)
    return parsed


def rdb_storage(
    url: str, *, heartbeat_interval: int | None = None, grace_period: int | None = None
) -> optuna.storages.RDBStorage:
    """Optuna's RDBStorage on a checked PostgreSQL URL (connects; creates Optuna's tables).

    `heartbeat_interval` (seconds) turns on Optuna's heartbeat: each running trial refreshes a
    timestamp, and a trial not refreshed for `grace_period` (default 2 x interval) is stale.
    """
    parsed = parse_storage_url(url)
    _require_driver(parsed.drivername)
    try:
        for attempt in range(5):
            try:
                with warnings.catch_warnings():  # the heartbeat is "experimental" since 2.9
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    return optuna.storages.RDBStorage(
                        parsed.render_as_string(hide_password=False),
                        engine_kwargs={"pool_pre_ping": True},
                        heartbeat_interval=heartbeat_interval,
                        grace_period=grace_period,
                    )
            except sqlalchemy.exc.IntegrityError:
                # Two workers starting on an empty database race to create Optuna's tables;
                # the loser finds them made on the next try.
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")
    except Exception as exc:  # sqlalchemy's OperationalError and friends
        where = parsed.render_as_string(hide_password=True)
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot open the study storage {where}: {first_line}") from exc


def _require_driver(drivername: str) -> None:
    """A missing PostgreSQL driver is a one-line error naming the extra that installs it."""
    import importlib.util

    if drivername.endswith("psycopg2"):
        if importlib.util.find_spec("psycopg2") is None:
            raise ConfigError("a postgresql+psycopg2:// URL needs psycopg2, which is not "
                              "installed: write postgresql:// (psycopg 3, the postgres extra)")
    elif importlib.util.find_spec("psycopg") is None:
        raise ConfigError("PostgreSQL storage needs psycopg, which is not installed: "
                          "pip install 'fts[postgres]'")


def study_storage(
    paths: ProjectPaths,
    url: str | None = None,
    *,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
) -> optuna.storages.BaseStorage:
    """The storage of `fts hpo` studies: the warehouse journal, or PostgreSQL when `url` is set.

    Raises `ConfigError` for a malformed or unsupported URL before touching anything, and for
    a PostgreSQL server that cannot be reached. The heartbeat options apply to PostgreSQL only
    (Optuna's JournalStorage has no heartbeat; see fts.hpo.stale).
    """
    if url is None:
        return journal_storage(paths)
    return rdb_storage(url, heartbeat_interval=heartbeat_interval, grace_period=grace_period)
