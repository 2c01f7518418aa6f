"""Fixtures shared across test folders.

`sample_project_dir`: a project directory with `fts ingest sample` already done (^GSPC
1999-2018 OHLCV, ^VIX closes 2014-2019). The sample is ingested once per test session (per
xdist worker) and each test gets its own copy, so tests may write to it freely.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fts.core.paths import ProjectPaths


@pytest.fixture(scope="session")
def _sample_project_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fts.ingest import ingest_sample

    root = tmp_path_factory.mktemp("sample-project")
    ingest_sample(ProjectPaths(root), progress=lambda _line: None)
    return root


@pytest.fixture
def sample_project_dir(tmp_path: Path, _sample_project_template: Path) -> Path:
    """A private copy of a project with the sample ingested (warehouse + manifests)."""
    project = tmp_path / "project"
    shutil.copytree(_sample_project_template, project)
    return project
