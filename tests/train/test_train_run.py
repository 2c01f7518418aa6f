"""`fts train` end to end on the sample: the stored run is exactly what trained."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
import torch
from click.testing import CliRunner

from fts.cli import cli
from fts.core.errors import ConfigError, FtsError, ValidationError
from fts.core.hashing import sha256_file
from fts.project import Project
from fts.train.config import TrainConfig
from fts.train.evaluate import evaluate_test
from fts.train.request import RunRequest
from fts.train.run import resolve

QUICK = TrainConfig(max_epochs=2, patience=2, max_train_batches=3, batch_size=32)
# The smallest run that still trains: a 20K model, a few steps (bf16 on a CPU is slow).
TINY = RunRequest(tier="a20", budget="20K", horizon=1, threshold_pct=1.0, ctx_len=32,
                  train=TrainConfig(max_epochs=2, patience=2, max_train_batches=2, batch_size=32))


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
    ckpt = torch.load(built_project_dir / row["checkpoint_path"], weights_only=True)
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


def test_dry_run_reports_a_2b_model_and_refuses_it(built_project_dir: Path, monkeypatch) -> None:
    # A 24 GiB device, whatever this machine has: on an H200 (~140 GiB free) a 2B model fits
    # at micro-batch 55, and the dry run would then probe it instead of refusing it.
    monkeypatch.setattr("fts.train.dryrun.available_memory_bytes", lambda _device: 24 * 2**30)
    result = CliRunner().invoke(cli, [
        "--project-dir", str(built_project_dir), "train", "--tier", "a20", "--budget", "2B",
        "--horizon", "1", "--threshold", "1", "--dry-run"])
    assert result.exit_code == 1
    assert "parameters" in result.output and "would not fit" in result.output


def _tree(root: Path) -> dict[str, str]:
    return {str(f.relative_to(root)): sha256_file(f) for f in sorted(root.rglob("*"))
            if f.is_file() and f.name != "warehouse.duckdb.wal"
            and f.parts[len(root.parts)] in ("data", "manifests")}


def test_dry_run_writes_nothing_and_counts_the_samples_training_would_see(
        built_project_dir: Path) -> None:
    from fts.train.run import prepare_dataset

    project = Project(built_project_dir)
    request = RunRequest(tier="a20", budget="20K", horizon=1, threshold_pct=1.0, ctx_len=32,
                         train=QUICK)
    before = _tree(built_project_dir)
    datasets = "select count(*) as n from meta.manifests where kind = 'dataset'"
    n_before = project.sql(datasets).to_pylist()[0]["n"]
    estimate = project.dry_run(request)
    assert _tree(built_project_dir) == before
    assert project.sql(datasets).to_pylist()[0]["n"] == n_before
    # The count it used is the one the real dataset has.
    real = prepare_dataset(project.paths, request, lambda _: None)
    assert estimate.train_samples == real.counts["train"] > 0
    assert estimate.seconds_per_epoch is not None and estimate.seconds_per_epoch > 0


def test_dry_run_checks_the_device_first(built_project_dir: Path, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    request = RunRequest(tier="a100", budget="20K", horizon=1, threshold_pct=1.0, ctx_len=32,
                         device="cuda")
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        Project(built_project_dir).dry_run(request)
    assert not (built_project_dir / "data" / "tiers" / "a100").exists()  # a100 was not built


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


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_reported_val_log_loss_is_the_loss_that_chose_the_best_epoch(
        built_project_dir: Path, bf16: bool) -> None:
    project = Project(built_project_dir)
    record = project.train(TINY.with_train(bf16=bf16))
    best = record.history[record.best_epoch]["val_loss"]
    assert best == min(h["val_loss"] for h in record.history)
    assert record.val_metrics["log_loss"] == pytest.approx(best, abs=1e-6)
    # Evaluating the stored checkpoint again uses the run's precision too.
    again = evaluate_test(project.paths, record.run_id, force=True)
    assert again == pytest.approx(record.test_metrics)


def test_resolve_uses_the_configured_micro_batch() -> None:
    assert resolve(TINY.with_train(micro_batch=8), n_features=20).micro_batch == 8
    assert resolve(TINY, n_features=20).micro_batch == TINY.train.batch_size  # 0: what fits


def test_train_cli_has_an_option_for_every_training_setting() -> None:
    command = cli.commands["train"]
    options = {p.name: p for p in command.params}
    defaults, ctx = TrainConfig(), click.Context(command)
    for name in TrainConfig.__dataclass_fields__:
        assert name in options, f"fts train has no option for {name}"
        assert options[name].get_default(ctx) == getattr(defaults, name), name


def test_training_options_given_on_the_cli_land_in_the_stored_config(
        built_project_dir: Path) -> None:
    given = {"--micro-batch": 16, "--warmup-frac": 0.2, "--min-lr-ratio": 0.3,
             "--grad-clip": 0.5, "--pos-weight": 2.0, "--max-batches": 2, "--batch-size": 32}
    result = CliRunner().invoke(cli, [
        "--project-dir", str(built_project_dir), "train", "--tier", "a20", "--budget", "20K",
        "--horizon", "1", "--threshold", "1", "--ctx", "32", "--epochs", "1", "--json",
        *[str(x) for item in given.items() for x in item]])
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.output[result.output.index("{"):])["run_id"]
    row = Project(built_project_dir).sql(
        f"select config from train.runs where run_id = '{run_id}'").to_pylist()[0]
    config = json.loads(row["config"])
    assert config["train"] == {**TrainConfig().to_dict(), "max_epochs": 1, "micro_batch": 16,
                               "warmup_frac": 0.2, "min_lr_ratio": 0.3, "grad_clip": 0.5,
                               "pos_weight": 2.0, "max_train_batches": 2, "batch_size": 32}
    assert config["micro_batch"] == 16  # the forward pass that trained
