"""Typed exceptions. The CLI maps every `FtsError` to exit status 1 and one line on stderr."""

from __future__ import annotations


class FtsError(Exception):
    """Base class of every error a user can act on (bad input, missing artefact, busy file)."""


class ValidationError(FtsError):
    """Input data or a built artefact breaks its schema; nothing was written.

    `source` names the file or table, `row` the first offending row (1-based data row, or the
    date), `reason` what is wrong. `str()` gives the one-line message the CLI prints.
    """

    def __init__(self, reason: str, source: str | None = None, row: object | None = None):
        self.reason = reason
        self.source = source
        self.row = row
        parts = []
        if source:
            parts.append(str(source))
        if row is not None:
            parts.append(f"row {row}")
        prefix = ": ".join([", ".join(parts)]) if parts else ""
        super().__init__(f"{prefix}: {reason}" if prefix else reason)


class NotFoundError(FtsError):
    """A tier, ticker, study, file or manifest that the command needs does not exist."""


class ConfigError(FtsError):
    """A declaration (tier YAML/SQL, study TOML, budget string, option) is malformed."""


class BuildError(FtsError):
    """A tier, dataset or model could not be built from valid inputs (SQL error, cycle, ...)."""


class ManifestMismatch(FtsError):
    """A stored artefact no longer matches the hash its manifest pins."""


class WarehouseError(FtsError):
    """The warehouse file exists but cannot be opened (not a DuckDB file, corrupt, unreadable)."""


class WarehouseBusy(FtsError):
    """Another process holds the warehouse's write lock for longer than we are willing to wait."""


class QueryRefused(FtsError):
    """A statement that read-only `fts sql` does not run (it writes, or changes the session)."""
