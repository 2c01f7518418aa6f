"""Estimates before a search, a run or a matrix, and the refusal of what cannot finish: one line,
exit status 1, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from fts.cli import cli
from fts.core.hashing import sha256_file
from fts.hpo.estimate import estimate_study, sample_counts
from fts.hpo.space import build_space, parse_arch_key
from fts.hpo.study import StudySpec
from fts.project import Project
from models_torch import PatchTST, PatchTSTConfig, estimate_training_memory
from tests.conftest import TINY_STUDY

SMALL = ["--tier", "a20", "--budget", "20K", "--ctx", "32", "--epochs", "2"]


def _tree(root: Path) -> dict[str, str]:
    return {str(f.relative_to(root)): sha256_file(f) for f in sorted(root.rglob("*"))
            if f.is_file() and f.name != "warehouse.duckdb.wal"
            and f.parts[len(root.parts)] in ("data", "manifests")}


def _invoke(project: Path, *args: str):
    return CliRunner().invoke(cli, ["--project-dir", str(project), *args])


def _numel(cfg: PatchTSTConfig) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in PatchTST(cfg).parameters())


def test_hpo_dry_run_json_lists_the_centre_and_extremes_and_writes_nothing(
        built_project_dir: Path) -> None:
    before = _tree(built_project_dir)
    result = _invoke(built_project_dir, "hpo", *SMALL, "--trials", "3", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    est = json.loads(result.stdout)  # stdout holds only the JSON
    assert _tree(built_project_dir) == before
    assert Project(built_project_dir).sql("select count(*) as n from hpo_studies").to_pylist() == [
        {"n": 0}]
    # The default study feeds RevIN's window stats to the head: its grid is counted with them.
    space = build_space("20K", 20, 32, "independent", {"revin": True, "revin_stats": True})
    archs = est["archs"]
    assert archs[0]["label"] == "centre" and archs[0]["arch"] == space.centre
    assert {a["arch"] for a in archs[1:]} == {k for _, k in space.extremes} - {space.centre}
    counts = sample_counts(Project(built_project_dir).paths,
                           StudySpec(tier="a20", budget="20K", ctx_len=32))
    assert est["train_samples"] == counts["train"] > 0
    for a in archs:
        cfg = PatchTSTConfig(n_features=20, ctx_len=32, revin_stats=True,
                             **parse_arch_key(a["arch"]))
        assert a["n_params"] == _numel(cfg)  # the real module's count
        assert a["memory_bytes"] == estimate_training_memory(cfg, a["micro_batch"])
        assert a["seconds_per_sample"] > 0 and a["seconds_per_epoch"] > 0
        assert a["run_hours"] == pytest.approx(a["seconds_per_epoch"] * 2 / 3600)
    # 3 trials leave no room for the extremes: the centre first, then 2 TPE trials, bounded
    # by the dearest architecture estimated.
    assert [a["first"] for a in archs] == [True] + [False] * (len(archs) - 1)
    worst = max(a["run_hours"] for a in archs)
    # Each trial trains one model per walk-forward fold (3 in the default selection split).
    assert est["folds"] == 3
    assert est["total_hours"] == pytest.approx(3 * (archs[0]["run_hours"] + 2 * worst))
    assert est["refusal"] is None


def test_hpo_refuses_a_study_over_max_hours_with_one_line(built_project_dir: Path) -> None:
    before = _tree(built_project_dir)
    result = _invoke(built_project_dir, "hpo", *SMALL, "--trials", "2", "--max-hours", "1e-9")
    assert result.exit_code == 1
    error = [line for line in result.stderr.splitlines() if line]
    assert len(error) == 1 and error[0].startswith("error: study a20-20K-h1-p1 is estimated at")
    for way in ("a GPU", "--channels mixed", "fewer trials or epochs", "--max-hours"):
        assert way in error[0]
    assert "Traceback" not in result.output
    assert "total, an upper bound" in result.stdout  # the estimate was printed first
    assert _tree(built_project_dir) == before
    assert Project(built_project_dir).sql("select count(*) as n from hpo_studies").to_pylist() == [
        {"n": 0}]


def test_a_search_whose_centre_does_not_fit_is_refused(built_project_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("fts.hpo.estimate.available_memory_bytes", lambda _d: 1000)
    paths = Project(built_project_dir).paths
    spec = StudySpec(tier="a20", budget="20K", ctx_len=32, max_epochs=1)
    est = estimate_study(paths, spec, 2, counts=sample_counts(paths, spec))
    assert not any(a.estimate.fits for a in est.archs)
    assert est.refusal and "would not fit in memory" in est.refusal
    assert "--channels mixed" in est.refusal


def test_mixed_channels_estimate_cheaper_per_sample(built_project_dir: Path) -> None:
    # The same architecture costs one encoder pass per sample mixed, C (= 50) independent.
    paths = Project(built_project_dir).paths
    spec = StudySpec(tier="a50", budget="200K", ctx_len=32, max_epochs=1)
    ind = estimate_study(paths, spec, 2, counts=None)
    mixed = estimate_study(paths, spec.replace(channels="mixed"), 2, counts=None)
    assert mixed.archs[0].estimate.seconds_per_sample < ind.archs[0].estimate.seconds_per_sample
    assert ind.total_hours is None  # samples unknown: no total, and no refusal on time
    assert ind.refusal is None


def test_train_refuses_a_run_over_max_hours_and_writes_nothing(built_project_dir: Path) -> None:
    before = _tree(built_project_dir)
    result = _invoke(built_project_dir, "train", "--tier", "a20", "--budget", "20K",
                     "--horizon", "1", "--threshold", "1", "--ctx", "32", "--max-hours", "1e-9")
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: this run is estimated at")
    assert len(result.stderr.strip().splitlines()) == 1 and "--channels mixed" in result.stderr
    assert _tree(built_project_dir) == before
    dry = _invoke(built_project_dir, "train", "--tier", "a20", "--budget", "20K", "--horizon",
                  "1", "--threshold", "1", "--ctx", "32", "--max-hours", "1e-9", "--dry-run")
    assert dry.exit_code == 1 and "is estimated at" in dry.stderr


def test_run_refuses_a_matrix_over_max_hours(built_project_dir: Path) -> None:
    study = built_project_dir / "tiny.toml"
    study.write_text(TINY_STUDY)
    result = _invoke(built_project_dir, "run", str(study), "--max-hours", "1e-9")
    assert result.exit_code == 1, result.output
    assert "over --max-hours" in result.stderr and "--channels mixed" in result.stderr
    assert Project(built_project_dir).sql(
        "select count(*) as n from train.runs").to_pylist() == [{"n": 0}]


def test_a_mixed_study_trains_mixed_trials(built_project_dir: Path) -> None:
    from fts.hpo.search import run_study

    paths = Project(built_project_dir).paths
    spec = StudySpec(tier="a20", budget="20K", ctx_len=32, max_epochs=1, max_train_batches=1,
                     name="mixed", channels="mixed")
    run_study(paths, spec, 2, show_bar=False)
    rows = Project(built_project_dir).sql(
        "select t.params, r.config from hpo_trials t join train.runs r "
        "on r.study = t.study and r.trial_number = t.number where t.study = 'mixed'").to_pylist()
    assert len(rows) == 2 * 3  # one run per walk-forward fold of the default selection split
    for row in rows:
        arch = json.loads(row["params"])["arch"]
        config = json.loads(row["config"])
        assert arch.startswith("mixed-") and config["model"]["channels"] == "mixed"
        cfg = PatchTSTConfig.from_dict(config["model"])
        assert config["n_params"] == _numel(cfg)
