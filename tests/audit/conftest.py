"""One real project state shared by the audit tests: built once, copied per test.

The template: the sample ingested, tiers a20 and a50 built, a dataset on a20, a training run
and a second run recorded as trial 3 of study "s1" (so two checkpoints exist and a trial can
be resolved). Tests that tamper with it work on their own copy (`project`).
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from fts.cli import cli
from fts.core.paths import ProjectPaths

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Built:
    """Ids and paths of what the template holds."""

    root: Path
    run_id: str
    trial_run_id: str
    dataset_id: str
    a20_id: str
    a50_id: str
    gspc_load: str


def build_template(root: Path) -> Built:
    """Ingested sample -> a20, a50 -> dataset -> two runs (the second a study trial)."""
    from fts.datasets import build_dataset
    from fts.project import Project
    from fts.train.config import TrainConfig
    from fts.train.request import RunRequest
    from fts.train.run import run_training

    shutil.copytree(REPO / "features_sql", root / "features_sql")
    p = Project(root)
    a20 = p.build_tier("a20").target.manifest_id
    a50 = p.build_tier("a50").target.manifest_id
    request = RunRequest(tier="a20", budget="200K", horizon=1, threshold_pct=1.0,
                         train=TrainConfig(max_epochs=1, max_train_batches=5))
    # The dataset `fts train` builds by default (3 selection folds, scale-free inputs).
    dataset = build_dataset(p.paths, request.dataset_spec())
    run = run_training(p.paths, request, dataset=dataset)
    trial_request = dataclasses.replace(
        request, train=TrainConfig(max_epochs=1, max_train_batches=5, seed=1),
        purpose="trial", study="s1", trial_number=3)
    trial = run_training(p.paths, trial_request, dataset=dataset)
    gspc = next(i.id for i in dataset.manifest.inputs if i.kind == "raw")
    return Built(root, run.run_id, trial.run_id, dataset.id, a20, a50, gspc)


@pytest.fixture(scope="session")  # built once per test process, never modified
def template(tmp_path_factory: pytest.TempPathFactory, _sample_project_template: Path) -> Built:
    root = tmp_path_factory.mktemp("audit") / "project"
    shutil.copytree(_sample_project_template, root)
    return build_template(root)


@pytest.fixture
def project(tmp_path: Path, template: Built) -> Built:
    """A private copy of the template, free to tamper with."""
    root = tmp_path / "project"
    shutil.copytree(template.root, root)
    return Built(root, template.run_id, template.trial_run_id, template.dataset_id,
                 template.a20_id, template.a50_id, template.gspc_load)


def paths_of(built: Built) -> ProjectPaths:
    return ProjectPaths(built.root)


def run_fts(root: Path, *args: str) -> Result:
    """The real `fts` command line, in-process (stdout and stderr kept apart)."""
    return CliRunner().invoke(cli, ["--project-dir", str(root), *args])


def query(root: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Run one statement on the project's warehouse directly (read-write: tests tamper with it)."""
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
