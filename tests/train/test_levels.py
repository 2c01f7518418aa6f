"""Channel levels (fts.train.levels): `fts train --normalization/--revin-stats` reach the stored
run's resolved config (model and dataset), its parameter count and its FLOPs; a contradictory
pair is refused in one line before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fts.cli import cli
from fts.core.errors import ConfigError
from fts.project import Project
from fts.train.levels import level_options
from fts.train.request import RunRequest
from models_torch import PatchTST, PatchTSTConfig, train_flops_per_sample

TRAIN = ["train", "--tier", "a20", "--budget", "20K", "--horizon", "1", "--threshold", "1",
         "--ctx", "32", "--epochs", "1", "--max-batches", "1", "--channels", "mixed", "-q"]


def test_level_options_decide_revin_and_its_stats() -> None:
    assert level_options("revin", True) == {"revin": True, "revin_stats": True}
    # Unset: on with RevIN, off without it (no window statistics to feed).
    assert level_options("revin") == {"revin": True, "revin_stats": True}
    assert level_options("train_zscore") == {"revin": False, "revin_stats": False}
    assert level_options("revin", False) == {"revin": True, "revin_stats": False}
    assert level_options("train_zscore", False) == {"revin": False, "revin_stats": False}
    assert level_options("none", False) == {"revin": False, "revin_stats": False}
    with pytest.raises(ConfigError, match="revin_stats needs normalization 'revin'"):
        level_options("train_zscore", True)
    with pytest.raises(ConfigError, match="not one of"):
        level_options("minmax", False)
    with pytest.raises(ConfigError, match="true or false"):
        level_options("revin", "yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="revin_stats needs"):
        RunRequest(tier="a20", budget="20K", horizon=1, threshold_pct=1.0,
                   normalization="none", revin_stats=True)


@pytest.mark.parametrize(("flags", "normalization", "revin", "stats"), [
    ([], "revin", True, True),  # the default: RevIN with the window stats
    (["--no-revin-stats"], "revin", True, False),
    (["--normalization", "train_zscore"], "train_zscore", False, False),
])
def test_the_cli_setting_reaches_the_stored_run(built_project_dir: Path, flags: list[str],
                                                normalization: str, revin: bool,
                                                stats: bool) -> None:
    result = CliRunner().invoke(cli, ["--project-dir", str(built_project_dir), *TRAIN, *flags])
    assert result.exit_code == 0, result.output
    rows = Project(built_project_dir).sql("select config, n_params from train.runs").to_pylist()
    assert len(rows) == 1
    config = json.loads(rows[0]["config"])
    assert config["dataset"]["normalization"] == normalization
    assert (config["model"]["revin"], config["model"]["revin_stats"]) == (revin, stats)
    # The cost axes are those of the model that trained, stats path and RevIN affine included.
    cfg = PatchTSTConfig.from_dict(config["model"])
    model = PatchTST(cfg)
    assert config["n_params"] == rows[0]["n_params"] == sum(p.numel() for p in model.parameters())
    # mixed: the head reads N*D token values, plus each of the 20 channels' mean and log-std
    assert cfg.n_features == 20
    assert model.head.in_features == cfg.n_patches * cfg.d_model + (40 if stats else 0)
    assert config["train_flops_per_sample"] == train_flops_per_sample(cfg)


def test_stats_without_revin_is_refused_in_one_line_writing_nothing(built_project_dir: Path) -> None:
    def files() -> list[tuple[Path, int]]:
        return sorted((p.relative_to(built_project_dir), p.stat().st_size)
                      for p in built_project_dir.rglob("*") if p.is_file())

    before = files()
    result = CliRunner().invoke(cli, ["--project-dir", str(built_project_dir), *TRAIN,
                                      "--normalization", "train_zscore", "--revin-stats"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: revin_stats needs normalization"), \
        result.output
    assert files() == before
