"""fts: a declarative feature store for daily market data, plus the PatchTST trainer and the
Optuna search that consume it.

The public API is `Project` (one object per project directory, with a method per command) and
`connect` (a DuckDB connection to a project's warehouse with every tier view defined).
"""

from fts.core.errors import (
    BuildError,
    ConfigError,
    FtsError,
    ManifestMismatch,
    NotFoundError,
    ValidationError,
    WarehouseBusy,
    WarehouseError,
)
from fts.project import Project, connect

__all__ = [
    "BuildError",
    "ConfigError",
    "FtsError",
    "ManifestMismatch",
    "NotFoundError",
    "Project",
    "ValidationError",
    "WarehouseBusy",
    "WarehouseError",
    "connect",
]
