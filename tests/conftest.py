"""Fixtures shared across test folders.

`sample_project_dir`: a project directory with `fts ingest sample` already done (^GSPC
1999-2018 OHLCV, ^VIX closes 2014-2019). The sample is ingested once per test session (per
xdist worker) and each test gets its own copy, so tests may write to it freely.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from fts.core.paths import ProjectPaths

# Parallel test workers share the cores: each torch gets its share, or the threads oversubscribe
# and spin (two 2-thread workers on 2 cores ran the suite about twice as slow). Subprocesses
# started by tests inherit the cap.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    os.environ.setdefault("FTS_TORCH_THREADS", str(max(1, (os.cpu_count() or 1) // _workers)))
    import torch

    torch.set_num_threads(int(os.environ["FTS_TORCH_THREADS"]))


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


TINY_STUDY = """
name = "tiny"
tiers = ["a50"]
budgets = ["10K"]
horizons = [1]
thresholds = [1.0]
trials = 1
seeds = [0, 1]
ctx_len = 16
[split]
mode = "tail_days"
val_days = 150
test_days = 150
[dataset]
min_val_positives = 0  # a smoke study on a short validation span: not about selection
[training]
max_epochs = 1
patience = 1
max_train_batches = 2
"""


@pytest.fixture(scope="session")
def _experiment_project_template(
    tmp_path_factory: pytest.TempPathFactory, _built_project_template: Path
) -> Path:
    """The built project after `fts run studies/tiny.toml` (once): one cell on a50 (which reads
    tier a20 and raw ^VIX), one trial, final runs with seeds 0 and 1, and the baselines."""
    from fts.experiments import load_experiment, run_experiment

    root = tmp_path_factory.mktemp("experiment-project") / "project"
    shutil.copytree(_built_project_template, root)
    (root / "studies").mkdir()
    (root / "studies" / "tiny.toml").write_text(TINY_STUDY, encoding="utf-8")
    run_experiment(ProjectPaths(root), load_experiment(root / "studies" / "tiny.toml"),
                   show_bar=False)
    return root


@pytest.fixture
def experiment_project_dir(tmp_path: Path, _experiment_project_template: Path) -> Path:
    """A private copy of a project with the `tiny` experiment run (no report written yet)."""
    project = tmp_path / "experiment"
    shutil.copytree(_experiment_project_template, project)
    return project
