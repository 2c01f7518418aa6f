"""The stored run carries its channel mode and its parameter and compute axes, taken from the
model that trained (`param_counts`, `train_flops_per_sample`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from fts.cli import cli
from fts.project import Project
from models_torch import PatchTST, PatchTSTConfig, train_flops_per_sample


@pytest.mark.parametrize("channels", ["independent", "mixed"])
def test_stored_run_has_its_channel_mode_counts_and_flops(built_project_dir: Path,
                                                          channels: str) -> None:
    result = CliRunner().invoke(cli, [
        "--project-dir", str(built_project_dir), "train", "--tier", "a20", "--budget", "20K",
        "--horizon", "1", "--threshold", "1", "--ctx", "32", "--epochs", "1",
        "--max-batches", "1", "--channels", channels, "--json"])
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.output[result.output.index("{"):])["run_id"]
    project = Project(built_project_dir)
    row = project.sql(f"select config, checkpoint_path from train.runs "
                      f"where run_id = '{run_id}'").to_pylist()[0]
    config = json.loads(row["config"])
    assert config["model"]["channels"] == channels
    ckpt = torch.load(built_project_dir / row["checkpoint_path"], weights_only=False)
    assert ckpt["config"]["model"]["channels"] == channels
    manifest = project.sql(f"select body from meta.manifests where id = '{run_id}'").to_pylist()[0]
    assert json.loads(manifest["body"])["config"]["model"]["channels"] == channels
    # The checkpoint's weights, grouped by hand: independent of fts's grouping code.
    state = {k: t for k, t in ckpt["state_dict"].items()
             if "running_" not in k and "num_batches" not in k}
    by_part = {"embedding": 0, "encoder": 0, "head": 0}
    for key, tensor in state.items():
        top = key.split(".")[0]
        part = ("head" if top == "head" else "encoder" if top in ("layers", "final_norm")
                else "embedding")
        by_part[part] += tensor.numel()
    counts = config["param_counts"]
    assert counts == {"total": config["n_params"], **by_part}
    assert counts["total"] == sum(t.numel() for t in state.values())
    cfg = PatchTSTConfig.from_dict(config["model"])
    tokens = cfg.n_patches * cfg.d_model
    stats = 2 * cfg.n_features if (cfg.revin and cfg.revin_stats) else 0  # the window stats
    assert state["head.weight"].shape[1] == (cfg.n_features * tokens if channels == "independent"
                                             else tokens) + stats
    model = PatchTST(cfg)
    model.load_state_dict(ckpt["state_dict"])  # the stored config rebuilds the stored model
    assert config["train_flops_per_sample"] == train_flops_per_sample(cfg) > 0


def test_a_bad_channel_mode_is_one_line(built_project_dir: Path) -> None:
    result = CliRunner().invoke(cli, [
        "--project-dir", str(built_project_dir), "train", "--tier", "a20", "--budget", "20K",
        "--horizon", "1", "--threshold", "1", "--channels", "both"])
    assert result.exit_code == 2 and "both" in result.output
