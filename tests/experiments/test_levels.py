"""Channel levels in a study file: `[dataset] normalization` and `[model] revin_stats` reach every
run of the study (search trials and final runs), the dataset, the study's identity and the cell's
settings; bad values are refused in one line."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fts.cli import cli
from fts.core.errors import ConfigError
from fts.experiments.matrix import load_experiment
from fts.experiments.runner import cell_settings
from fts.project import Project

STUDY = """
name = "{name}"
tiers = ["a20"]
budgets = ["20K"]
horizons = [1]
thresholds = [1.0]
trials = 1
seeds = [0]
ctx_len = 32
channels = "mixed"
[split]
mode = "tail_days"
val_days = 150
test_days = 150
[dataset]
min_val_positives = 0  # a smoke study on a short validation span: not about selection
{dataset}
[model]
{model}
[training]
max_epochs = 1
patience = 1
max_train_batches = 2
"""


def write(tmp_path: Path, name: str, dataset: str = "", model: str = "") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(STUDY.format(name=name, dataset=dataset, model=model))
    return path


@pytest.mark.parametrize(("dataset", "model", "revin", "stats", "cell_keys"), [
    ('normalization = "revin"', "revin_stats = true", True, True, {"revin_stats": True}),
    ('normalization = "train_zscore"', "", False, False,  # stats unset: off without RevIN
     {"normalization": "train_zscore"}),
    ('normalization = "revin"', "revin_stats = false", True, False, {}),  # what cells had before
])
def test_the_study_setting_reaches_every_run(built_project_dir: Path, tmp_path: Path,
                                             dataset: str, model: str, revin: bool, stats: bool,
                                             cell_keys: dict) -> None:
    study = write(tmp_path, "levels", dataset, model)
    result = CliRunner().invoke(cli, ["--project-dir", str(built_project_dir), "run", str(study)])
    assert result.exit_code == 0, result.output
    project = Project(built_project_dir)
    runs = project.sql("select purpose, config from train.runs").to_pylist()
    assert {r["purpose"] for r in runs} == {"trial", "final"}
    normalization = "train_zscore" if not revin else "revin"
    for r in runs:
        config = json.loads(r["config"])
        assert config["dataset"]["normalization"] == normalization, r["purpose"]
        assert (config["model"]["revin"], config["model"]["revin_stats"]) == (revin, stats), \
            r["purpose"]
    settings = json.loads(project.sql("select settings from experiments.cells").to_pylist()[0]
                          ["settings"])
    assert {k: settings[k] for k in ("normalization", "revin_stats") if k in settings} == cell_keys


def test_cell_settings_name_a_level_setting_only_when_it_differs_from_before() -> None:
    """Cells finished before the option existed ran RevIN without stats: a study file asking for
    that still matches them; any other choice is part of the cell's settings."""
    exp = load_experiment(Path(__file__).resolve().parents[2] / "studies" / "demo.toml")
    cell = exp.cells()[0]
    legacy = dataclasses.replace(exp, normalization="revin", revin_stats=False)
    assert not {"normalization", "revin_stats"} & set(cell_settings(legacy, cell, None))
    zscore = dataclasses.replace(exp, normalization="train_zscore", revin_stats=False)
    assert cell_settings(zscore, cell, None)["normalization"] == "train_zscore"
    assert "revin_stats" not in cell_settings(zscore, cell, None)
    stats = dataclasses.replace(exp, normalization="revin", revin_stats=True)
    assert cell_settings(stats, cell, None)["revin_stats"] is True


@pytest.mark.parametrize(("dataset", "model", "message"), [
    ('normalization = "train_zscore"', "revin_stats = true", "revin_stats needs normalization"),
    ('normalization = "minmax"', "", "normalization 'minmax' is not one of"),
    ("", 'revin_stats = "yes"', "revin_stats must be true or false"),
    ("", "stats = true", r"unknown \[model\] key\(s\) stats"),
])
def test_bad_level_settings_are_refused(tmp_path: Path, dataset: str, model: str,
                                        message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_experiment(write(tmp_path, "bad", dataset, model))


def test_shipped_studies_say_their_levels_explicitly() -> None:
    root = Path(__file__).resolve().parents[2] / "studies"
    for path in sorted(root.glob("*.toml")):
        text = path.read_text()
        assert "normalization =" in text and "revin_stats =" in text, path.name
        exp = load_experiment(path)
        assert (exp.normalization, exp.revin_stats) == ("revin", True), path.name
