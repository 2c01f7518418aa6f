"""Baselines and reports are audited like runs: each test makes one REAL change (or a legitimate
re-report) in a project where `fts run` stored final runs and baselines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import fts.report.writer
from fts.audit import BROKEN, OK, audit_project
from fts.core.paths import ProjectPaths
from fts.report.writer import write_report
from tests.audit.conftest import query, run_fts


def baseline(root: Path, model: str) -> tuple[str, str]:
    """(manifest id, baseline_id) of one stored baseline."""
    [(mid, bid)] = query(
        root, "SELECT id, body->>'baseline_id' FROM meta.manifests WHERE kind = 'baseline' AND "
        "body->>'model' = ?", [model])
    return mid, bid


def report_ids(root: Path) -> list[str]:
    """Report manifest ids, oldest first: by what each supersedes (created_at has seconds
    precision, so two reports written within a second would otherwise tie)."""
    rows = query(root, "SELECT id, body FROM meta.manifests WHERE kind = 'report'")
    left = {mid: set(json.loads(body).get("supersedes") or []) for mid, body in rows}
    ordered: list[str] = []
    while left:
        oldest = sorted(mid for mid, sup in left.items() if not sup & left.keys())
        assert oldest, f"reports supersede each other in a cycle: {left}"
        ordered += oldest
        for mid in oldest:
            del left[mid]
    return ordered


def test_baselines_have_manifests_and_a_clean_experiment_passes(experiment_project_dir: Path):
    root = experiment_project_dir
    write_report(ProjectPaths(root), "tiny")
    report = audit_project(ProjectPaths(root))
    assert report.ok, [i.message for i in report.issues]
    assert report.checked["baseline"] == 3
    # the predictions of 3 baselines (val, test), of 2 final runs (test: they hold no block
    # out) and of the trial run (val)
    assert report.checked["prediction sets re-hashed"] == 9
    mid, _ = baseline(root, "logistic_regression")
    assert report.nodes[mid].status == OK


def test_a_tampered_baseline_prediction_fails_the_audit_naming_the_baseline(
        experiment_project_dir: Path):
    root = experiment_project_dir
    write_report(ProjectPaths(root), "tiny")
    mid, bid = baseline(root, "logistic_regression")
    query(root, "UPDATE train.predictions SET prob = 1 - prob WHERE run_id = ? AND split = 'test' "
          "AND date = (SELECT max(date) FROM train.predictions WHERE run_id = ?)", [bid, bid])

    report = audit_project(ProjectPaths(root))
    [issue] = report.issues_with("predictions_changed")
    assert issue.subject == mid and issue.kind == "baseline"
    assert report.nodes[mid].status == BROKEN
    assert set(issue.unproven) == set(report_ids(root))  # the report printed that number
    result = run_fts(root, "audit")
    assert result.exit_code == 1
    assert f"FAIL [predictions_changed] train.predictions (baseline {bid}, split test)" \
        in result.stdout
    assert f"baseline a50-h1-p1-logistic_regression {mid[:12]}" in result.stdout


def test_tampered_baseline_metrics_fail_the_audit(experiment_project_dir: Path):
    root = experiment_project_dir
    mid, bid = baseline(root, "hist_gradient_boosting")
    query(root, "UPDATE experiments.baselines SET test_metrics = json_object('log_loss', 0.1) "
          "WHERE baseline_id = ?", [bid])

    [issue] = audit_project(ProjectPaths(root)).issues_with("baseline_metrics_disagree")
    assert issue.subject == mid and "test_metrics" in issue.message
    assert run_fts(root, "audit").exit_code == 1


def test_a_baseline_row_without_a_manifest_fails_the_audit(experiment_project_dir: Path):
    root = experiment_project_dir
    mid, bid = baseline(root, "class_prior")
    (root / "manifests" / "baseline" / f"{mid}.json").unlink()
    query(root, "DELETE FROM meta.manifests WHERE id = ?", [mid])

    [issue] = audit_project(ProjectPaths(root)).issues_with("baseline_without_manifest")
    assert issue.expected == bid and issue.name == "class_prior"


def test_a_re_report_supersedes_the_older_report_and_the_audit_holds(
        experiment_project_dir: Path, monkeypatch: pytest.MonkeyPatch):
    root = experiment_project_dir
    md = write_report(ProjectPaths(root), "tiny")
    first = md.read_text(encoding="utf-8")
    monkeypatch.setattr(fts.report.writer, "N_BOOT", 100)  # other intervals: other content
    write_report(ProjectPaths(root), "tiny")
    assert md.read_text(encoding="utf-8") != first
    old, new = report_ids(root)

    report = audit_project(ProjectPaths(root))
    assert report.ok, [i.message for i in report.issues]
    assert f"superseded by report {new[:12]}" in report.nodes[old].summary
    assert run_fts(root, "audit").exit_code == 0

    with md.open("a", encoding="utf-8") as f:
        f.write("| a50:10K:h1:p1 | 0.99 |\n")
    report = audit_project(ProjectPaths(root))
    [issue] = report.issues_with("artefact_changed")
    assert issue.subject == new and issue.path == "data/reports/tiny/report.md"
    assert run_fts(root, "audit").exit_code == 1
