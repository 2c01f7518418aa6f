"""Where a project's files live. The project dir is the cwd unless --project-dir/FTS_PROJECT_DIR."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "FTS_PROJECT_DIR"


def resolve_project_dir(project_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the absolute project directory: the argument, else $FTS_PROJECT_DIR, else the cwd."""
    chosen = project_dir or os.environ.get(ENV_VAR) or os.getcwd()
    return Path(chosen).expanduser().resolve()


@dataclass(frozen=True)
class ProjectPaths:
    """The on-disk layout of one project (see docs/layout.md)."""

    root: Path

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def features_sql(self) -> Path:
        return self.root / "features_sql"

    @property
    def studies(self) -> Path:
        return self.root / "studies"

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def tiers_data(self) -> Path:
        return self.data / "tiers"

    @property
    def datasets_data(self) -> Path:
        return self.data / "datasets"

    @property
    def runs_data(self) -> Path:
        return self.data / "runs"

    @property
    def reports_data(self) -> Path:
        return self.data / "reports"

    def relative(self, path: Path) -> str:
        """A path as stored in manifests: relative to the project root, with forward slashes."""
        return Path(os.path.relpath(path, self.root)).as_posix()

    def absolute(self, stored: str) -> Path:
        """Inverse of `relative`."""
        return (self.root / stored).resolve()
