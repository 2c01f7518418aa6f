"""`fts run`: a finished cell is skipped only while its settings are the study file's."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from click.testing import CliRunner, Result

from fts.cli import cli
from fts.core.hashing import sha256_json
from fts.project import Project

TINY = """
name = "resume"
tiers = ["a20"]
budgets = ["20K"]
horizons = [1]
thresholds = [1.0]
trials = 1
seeds = [{seeds}]
ctx_len = 32
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


def run(root: Path, study: Path) -> Result:
    return CliRunner().invoke(cli, ["--project-dir", str(root), "run", str(study)])


def final_runs(root: Path) -> int:
    return Project(root).sql("select count(*) as n from train.runs "
                             "where purpose = 'final'").to_pylist()[0]["n"]


def test_resume_refuses_a_finished_cell_whose_settings_changed(built_project_dir: Path,
                                                              tmp_path: Path) -> None:
    root, study = built_project_dir, tmp_path / "resume.toml"
    study.write_text(TINY.format(seeds="0"))
    first = run(root, study)
    assert first.exit_code == 0, first.output
    row = Project(root).sql("select settings, fingerprint from experiments.cells").to_pylist()
    assert len(row) == 1
    settings = json.loads(row[0]["settings"])
    assert settings["seeds"] == [0] and settings["ctx_len"] == 32 and settings["trials"] == 1
    assert row[0]["fingerprint"] == sha256_json(settings)

    again = run(root, study)
    assert again.exit_code == 0 and "done, skipped" in again.output, again.output

    study.write_text(TINY.format(seeds="0, 1").replace("max_epochs = 1", "max_epochs = 2"))
    changed = run(root, study)
    assert changed.exit_code == 1, changed.output
    error = changed.output.strip().splitlines()[-1]
    assert "seeds" in error and "max_epochs" in error and "a20:20K:h1:p1" in error
    assert "new `name`" in error and "done, skipped" not in changed.output
    assert final_runs(root) == 1  # nothing trained for the changed matrix


def test_cells_stored_before_settings_were_recorded_are_skipped_unchecked(
        built_project_dir: Path, tmp_path: Path) -> None:
    root, study = built_project_dir, tmp_path / "resume.toml"
    study.write_text(TINY.format(seeds="0"))
    assert run(root, study).exit_code == 0
    # The table as an older warehouse has it (which has no record of the DDL applied either):
    # the open that follows adds the columns back.
    with duckdb.connect(str(root / "warehouse.duckdb")) as con:
        con.execute("ALTER TABLE experiments.cells DROP COLUMN settings")
        con.execute("ALTER TABLE experiments.cells DROP COLUMN fingerprint")
        con.execute("DROP TABLE meta.schema_ddl")
    study.write_text(TINY.format(seeds="0, 1"))
    legacy = run(root, study)
    assert legacy.exit_code == 0, legacy.output
    assert "done, skipped (stored before cell settings were recorded: not checked)" in legacy.output
    assert final_runs(root) == 1
