"""`fts train` end to end on the sample: the stored run is exactly what trained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from fts.cli import cli
from fts.core.errors import ConfigError, FtsError, ValidationError
from fts.core.hashing import sha256_file
from fts.project import Project
from fts.train.config import TrainConfig
from fts.train.request import RunRequest

QUICK = TrainConfig(max_epochs=2, patience=2, max_train_batches=3, batch_size=32)


def test_train_cli_stores_the_run_with_its_dataset_and_real_parameter_count(built_project_dir: Path) -> None:
    result = CliRunner().invoke(cli, [
        "--project-dir", str(built_project_dir), "train", "--tier", "a20", "--budget", "200K",
        "--horizon", "3", "--threshold", "2", "--epochs", "2", "--batch-size", "256",
        "--ctx", "32", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output[result.output.index("{"):])
    project = Project(built_project_dir)
    row = project.sql(f"select * from train.runs where run_id = '{out['run_id']}'").to_pylist()[0]
    config = json.loads(row["config"])
    # The dataset that trained is the one the run names, with the requested target.
    ds = project.sql(f"select body from meta.manifests where id = '{row['dataset_id']}'").to_pylist()[0]
    target = json.loads(ds["body"])["target"]
    assert (target["horizon"], target["threshold_pct"]) == (3, 2.0)
    assert (row["horizon"], row["threshold_pct"]) == (3, 2.0)
    # The stored parameter count is the checkpoint's real numel, and it is in the budget.
    ckpt = torch.load(built_project_dir / row["checkpoint_path"], weights_only=False)
    numel = sum(t.numel() for k, t in ckpt["state_dict"].items() if "running_" not in k
                and "num_batches" not in k)
    assert row["n_params"] == config["n_params"] == numel
    assert 150_000 <= numel <= 250_000
    assert ckpt["config"] == config and ckpt["dataset_manifest_id"] == row["dataset_id"]
    assert sha256_file(built_project_dir / row["checkpoint_path"]) == row["checkpoint_sha256"]
    epochs = project.sql(f"select * from train.epochs where run_id = '{row['run_id']}' order by epoch").to_pylist()
    assert len(epochs) == row["epochs_run"] == 2
    assert json.loads(row["val_metrics"])["log_loss"] == pytest.approx(
        min(e["val_loss"] for e in epochs), abs=1e-9)


def test_same_seed_same_metrics(built_project_dir: Path) -> None:
    project = Project(built_project_dir)
    req = RunRequest(tier="a20", budget="100K", horizon=1, threshold_pct=1.0, ctx_len=32, train=QUICK)
    a, b = project.train(req), project.train(req)
    assert a.val_metrics == b.val_metrics and a.test_metrics == b.test_metrics


def test_train_builds_a_missing_tier_and_says_so(built_project_dir: Path) -> None:
    lines: list[str] = []
    Project(built_project_dir).train(
        RunRequest(tier="a100", budget="200K", horizon=1, threshold_pct=1.0, ctx_len=32,
                   train=TrainConfig(max_epochs=1, max_train_batches=1)), progress=lines.append)
    assert any(line.startswith("a100: building") for line in lines)


@pytest.mark.parametrize(("change", "error", "message"), [
    ({"budget": "50"}, ConfigError, "no architecture"),
    ({"budget": "12Q"}, ConfigError, "budget"),
    ({"horizon": 100000}, ValidationError, "horizon"),
    ({"tier": "nope"}, FtsError, "unknown tier"),
])
def test_bad_requests_fail_before_training(built_project_dir: Path, change, error, message) -> None:
    req = RunRequest(**{"tier": "a20", "budget": "200K", "horizon": 1, "threshold_pct": 1.0,
                        "train": QUICK, **change})
    with pytest.raises(error, match=message):
        Project(built_project_dir).train(req)
    assert Project(built_project_dir).sql("select count(*) as n from train.runs").to_pylist()[0]["n"] == 0


def test_dry_run_reports_a_2b_model_and_refuses_it(built_project_dir: Path) -> None:
    result = CliRunner().invoke(cli, [
        "--project-dir", str(built_project_dir), "train", "--tier", "a20", "--budget", "2B",
        "--horizon", "1", "--threshold", "1", "--dry-run"])
    assert result.exit_code == 1
    assert "parameters" in result.output and "would not fit" in result.output


def test_stored_predictions_reproduce_the_reported_metrics(built_project_dir: Path) -> None:
    from fts.train.metrics import classification_metrics

    project = Project(built_project_dir)
    record = project.train(RunRequest(tier="a20", budget="100K", horizon=1, threshold_pct=1.0,
                                      ctx_len=32, train=QUICK))
    for split, reported in (("val", record.val_metrics), ("test", record.test_metrics)):
        rows = project.sql(f"select label, prob from train.predictions where run_id = "
                           f"'{record.run_id}' and split = '{split}' order by date").to_pandas()
        assert len(rows) == reported["n"]
        again = classification_metrics(rows["label"].to_numpy(), rows["prob"].to_numpy(),
                                       reported["threshold"])
        assert again == pytest.approx(reported)
