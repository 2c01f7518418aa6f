"""`fts evaluate RUN`: the test split is evaluated once per run; looking again takes --force and
is recorded as forced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fts.cli import cli
from fts.project import Project
from fts.train.config import TrainConfig
from fts.train.request import RunRequest

TINY = RunRequest(tier="a20", budget="20K", horizon=1, threshold_pct=1.0, ctx_len=32,
                  train=TrainConfig(max_epochs=1, patience=1, max_train_batches=2, batch_size=32))


def evaluations(project: Project, run_id: str) -> list[dict]:
    return project.sql(f"select forced, metrics from train.test_evaluations where run_id = "
                       f"'{run_id}' order by evaluated_at").to_pylist()


def test_a_second_test_evaluation_is_refused_unless_forced_and_a_forced_one_is_recorded(
        built_project_dir: Path) -> None:
    project = Project(built_project_dir)
    record = project.train(TINY)  # a run evaluates its test split once, when it is made
    assert [e["forced"] for e in evaluations(project, record.run_id)] == [False]

    def evaluate(*flags: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["--project-dir", str(built_project_dir), "evaluate",
                                          record.run_id[:12], *flags])
        return result.exit_code, result.output

    code, out = evaluate()
    assert code == 1 and "already evaluated 1 time(s)" in out and "--force" in out
    assert len(evaluations(project, record.run_id)) == 1  # a refused look is not a look

    code, out = evaluate("--force")
    assert code == 0, out
    forced = evaluations(project, record.run_id)
    assert [e["forced"] for e in forced] == [False, True]
    assert json.loads(out) == pytest.approx(record.test_metrics)
    assert json.loads(forced[1]["metrics"]) == pytest.approx(record.test_metrics)

    code, out = evaluate()  # still refused after a forced look, which now counts too
    assert code == 1 and "already evaluated 2 time(s)" in out


class _Payload:
    """Unpickling this runs code: it would create the file named by `marker`."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_checkpoint_carrying_a_pickled_object_is_refused_in_one_line(
        built_project_dir: Path, tmp_path: Path) -> None:
    import torch

    from fts.core.hashing import sha256_file
    from fts.warehouse import connect

    project = Project(built_project_dir)
    record = project.train(TINY)
    checkpoint = built_project_dir / record.checkpoint_path
    honest = torch.load(checkpoint, weights_only=True)  # what fts writes loads safely
    # An attacker swaps in a checkpoint with a payload and fixes the recorded hash too.
    marker = tmp_path / "pwned"
    torch.save({**honest, "extra": _Payload(str(marker))}, checkpoint)
    with connect(project.paths.warehouse) as con:
        con.execute("UPDATE train.runs SET checkpoint_sha256 = ? WHERE run_id = ?",
                    [sha256_file(checkpoint), record.run_id])

    result = CliRunner().invoke(cli, ["--project-dir", str(built_project_dir), "evaluate",
                                      record.run_id[:12], "--force"])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {record.checkpoint_path}: refused to load the checkpoint: "
                               "it holds more than tensors and plain values")
    assert not marker.exists()  # the payload never ran
    assert len(evaluations(project, record.run_id)) == 1  # and nothing was recorded
