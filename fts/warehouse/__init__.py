"""The DuckDB warehouse: connections with lock retries, the schema, and the manifest registry."""

from fts.warehouse.connection import connect, transaction
from fts.warehouse.registry import (
    current_manifests,
    current_tiers,
    list_manifests,
    register_artifact,
    register_artifacts,
    register_manifest,
    set_current_tier,
)
from fts.warehouse.schema import ensure_schema

__all__ = [
    "connect",
    "current_manifests",
    "current_tiers",
    "ensure_schema",
    "list_manifests",
    "register_artifact",
    "register_artifacts",
    "register_manifest",
    "set_current_tier",
    "transaction",
]
