"""Core pieces every stage shares: errors, project paths, hashing and manifests."""

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
from fts.core.paths import ProjectPaths, resolve_project_dir

__all__ = [
    "BuildError",
    "ConfigError",
    "FtsError",
    "ManifestMismatch",
    "NotFoundError",
    "ProjectPaths",
    "ValidationError",
    "WarehouseBusy",
    "WarehouseError",
    "resolve_project_dir",
]
