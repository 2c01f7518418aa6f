"""Progress a person can follow off a terminal: a line per epoch with its losses and seconds;
with --json stdout holds only the JSON and progress goes to stderr; -q silences it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from fts.cli import cli

TRAIN = ["train", "--tier", "a20", "--budget", "20K", "--horizon", "1", "--threshold", "1",
         "--ctx", "32", "--epochs", "2", "--patience", "2", "--max-batches", "1"]
EPOCH = re.compile(r"epoch +(\d+) +train \d+\.\d{4} +val \d+\.\d{4} +\d+\.\d s")


def test_json_keeps_stdout_for_json_and_epochs_go_to_stderr(built_project_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["--project-dir", str(built_project_dir), *TRAIN, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)  # nothing else on stdout
    assert out["epochs_run"] == 2
    assert [int(m) for m in EPOCH.findall(result.stderr)] == [0, 1]


def test_plain_output_has_epoch_lines_and_quiet_silences_them(built_project_dir: Path) -> None:
    plain = CliRunner().invoke(cli, ["--project-dir", str(built_project_dir), *TRAIN])
    assert plain.exit_code == 0, plain.output
    assert [int(m) for m in EPOCH.findall(plain.stdout)] == [0, 1]
    quiet = CliRunner().invoke(cli, ["--project-dir", str(built_project_dir), *TRAIN, "-q"])
    assert quiet.exit_code == 0, quiet.output
    assert not EPOCH.search(quiet.output) and quiet.stderr == ""
    assert quiet.stdout.startswith("run ")  # only the result line


def test_ctrl_c_on_run_says_how_to_resume(built_project_dir: Path, monkeypatch) -> None:
    import fts.experiments

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(fts.experiments, "run_experiment", interrupted)
    study = built_project_dir / "s.toml"
    study.write_text('tiers = ["a20"]\nbudgets = ["20K"]\nhorizons = [1]\nthresholds = [1]\n')
    result = CliRunner().invoke(cli, ["--project-dir", str(built_project_dir), "run", str(study)])
    assert result.exit_code == 130
    assert f"resume with the same command (fts run {study})" in result.stderr
