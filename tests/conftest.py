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


REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def _built_project_template(
    tmp_path_factory: pytest.TempPathFactory, _sample_project_template: Path
) -> Path:
    """The sample project with the shipped declarations and a20 and a50 built (once)."""
    from fts.project import Project

    root = tmp_path_factory.mktemp("built-project") / "project"
    shutil.copytree(_sample_project_template, root)
    shutil.copytree(REPO / "features_sql", root / "features_sql")
    project = Project(root)
    project.build_tier("a20")
    project.build_tier("a50")
    return root


@pytest.fixture
def built_project_dir(tmp_path: Path, _built_project_template: Path) -> Path:
    """A private copy of a project with the sample ingested and a20, a50 built."""
    project = tmp_path / "built"
    shutil.copytree(_built_project_template, project)
    return project
