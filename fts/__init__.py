"""fts: a declarative feature store for daily market data, plus the PatchTST trainer and the
Optuna search that consume it.

The public API is `Project` (one object per project directory, with a method per command) and
`connect` (a DuckDB connection to a project's warehouse with every tier view defined).
"""

import os

# Idle OpenMP threads sleep instead of spinning. torch's pool spins at every barrier by default;
# when other processes hold the cores, a spinning thread waits for a descheduled one and
# training with every core collapsed (bench/train_throughput.py --contended: 0.56x of one
# thread; 1.0x with this). Read when torch loads OpenMP, so set before anything imports torch;
# an explicit OMP_WAIT_POLICY is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Registers the Optuna journal's views with the warehouse (fts.warehouse.view_sources) before
# any warehouse is opened: the warehouse layer keeps them but may not import fts.hpo.
import fts.hpo.views  # noqa: E402, F401
from fts.core.errors import (  # noqa: E402 - after the OpenMP setting above
    BuildError,
    ConfigError,
    FtsError,
    ManifestMismatch,
    NotFoundError,
    ValidationError,
    WarehouseBusy,
    WarehouseError,
)
from fts.project import Project, connect  # noqa: E402

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
