"""Each run stores what it really cost (seconds per epoch, peak RSS, mean CPU) beside the
estimate it started with; the figures are measured, not copied from the estimate."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from fts.cli import cli
from fts.hpo.search import run_study
from fts.hpo.study import StudySpec
from fts.project import Project
from fts.train import estimate as estimate_module
from fts.train.config import TrainConfig
from fts.train.estimate import Probe
from fts.train.request import RunRequest

TINY = RunRequest(tier="a20", budget="20K", horizon=1, threshold_pct=1.0, ctx_len=32,
                  train=TrainConfig(max_epochs=2, patience=2, max_train_batches=2, batch_size=32))


def test_the_stored_cost_is_measured_not_the_estimate(built_project_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # An absurd probe: if the stored "actual" figures came from the estimate, they would
    # show 1000 s per sample too.
    monkeypatch.setattr(estimate_module, "probe_seconds_per_sample",
                        lambda *_a, **_k: Probe(1000.0, "measured"))
    project = Project(built_project_dir)
    record = project.train(TINY)
    row = project.sql(f"select config, seconds, epochs_run from train.runs "
                      f"where run_id = '{record.run_id}'").to_pylist()[0]
    config = json.loads(row["config"])
    estimate, cost = config["estimate"], config["cost"]
    assert estimate["seconds_per_sample"] == 1000.0 and estimate["seconds_per_epoch"] > 1e5
    epochs = cost["epoch_seconds"]
    assert len(epochs) == row["epochs_run"] == 2 and all(0 < s < 60 for s in epochs)
    # Consistent with the history and the run's own clock.
    assert epochs == [h["seconds"] for h in record.history]
    assert sum(epochs) <= cost["wall_seconds"] <= row["seconds"] + 1.0
    assert 50 * 2**20 < cost["peak_rss_bytes"] <= psutil.virtual_memory().total
    assert cost["peak_rss_bytes"] != estimate["memory_bytes"]
    assert 0 < cost["cpu_percent_mean"] <= 100 * psutil.cpu_count() * 1.1
    manifest = json.loads(project.sql(f"select body from meta.manifests where id = "
                                      f"'{record.run_id}'").to_pylist()[0]["body"])
    assert manifest["config"]["cost"] == cost


def test_hpo_show_prints_estimate_against_actual(built_project_dir: Path) -> None:
    paths = Project(built_project_dir).paths
    spec = StudySpec(tier="a20", budget="20K", ctx_len=32, max_epochs=1, max_train_batches=1,
                     name="costed")
    run_study(paths, spec, 1, show_bar=False)
    result = CliRunner().invoke(cli, ["--project-dir", str(built_project_dir), "hpo", "show",
                                      "costed", "--json"])
    assert result.exit_code == 0, result.output
    trial = json.loads(result.stdout)["trials"][0]
    assert trial["seconds_per_epoch"] > 0 and trial["estimate_seconds_per_epoch"] > 0
    assert trial["peak_rss_bytes"] > 0 and trial["cpu_percent_mean"] > 0
    run = Project(built_project_dir).sql(
        f"select config from train.runs where run_id = '{trial['run_id']}'").to_pylist()[0]
    assert trial["seconds_per_epoch"] == json.loads(run["config"])["cost"]["epoch_seconds"][0]
    text = CliRunner().invoke(cli, ["--project-dir", str(built_project_dir), "hpo", "show",
                                    "costed"])
    assert "estimated before each trial against measured" in text.output
    assert f"{trial['seconds_per_epoch']:.2f}" in text.output
