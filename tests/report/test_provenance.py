"""The report names every manifest its numbers came from (the whole chain down to the raw
loads, runs by cell and seed, baselines), and its manifest pins runs, datasets and baselines."""

from __future__ import annotations

import json
from pathlib import Path

from fts.core.manifest import read_manifest
from fts.core.paths import ProjectPaths
from fts.report.writer import calibration_models, write_report
from tests.ingest.helpers import rows


def report_manifest(root: Path) -> dict:
    [(mid,)] = rows(root, "SELECT id FROM meta.manifests WHERE kind = 'report'")
    return read_manifest(ProjectPaths(root).manifests, mid, "report").body


def test_report_on_a50_lists_the_vix_load_and_tier_a20_behind_it(experiment_project_dir: Path):
    root = experiment_project_dir
    md = write_report(ProjectPaths(root), "tiny").read_text(encoding="utf-8")
    provenance = md[md.index("## Provenance"):]
    upstream = rows(root, "SELECT kind, name, id FROM meta.manifests "
                          "WHERE kind IN ('raw', 'tier', 'dataset')")
    names = {(kind, name) for kind, name, _ in upstream}
    assert {("raw", "^GSPC"), ("raw", "^VIX"), ("tier", "a20"), ("tier", "a50")} <= names
    for kind, name, mid in upstream:
        assert f"| {kind} | {name} | `{mid}` |" in provenance


def test_report_says_which_run_is_which_cell_and_seed(experiment_project_dir: Path):
    root = experiment_project_dir
    md = write_report(ProjectPaths(root), "tiny").read_text(encoding="utf-8")
    runs = rows(root, "SELECT run_id, seed, dataset_id FROM train.runs "
                      "WHERE purpose = 'final' ORDER BY seed")
    assert [seed for _, seed, _ in runs] == [0, 1]
    for run_id, seed, dataset_id in runs:
        assert f"| a50:10K:h1:p1 | {seed} | `{run_id}` | `{dataset_id}` |" in md
    baselines = rows(root, "SELECT id, body->>'model' FROM meta.manifests "
                           "WHERE kind = 'baseline'")
    assert len(baselines) == 3
    for mid, model in baselines:
        assert f"| {model} | `{mid}` |" in md


def test_report_manifest_pins_runs_datasets_and_baselines(experiment_project_dir: Path):
    root = experiment_project_dir
    write_report(ProjectPaths(root), "tiny")
    inputs = report_manifest(root)["inputs"]
    kinds = sorted(i["kind"] for i in inputs)
    assert kinds == ["baseline"] * 3 + ["dataset"] + ["run"] * 2
    for i in inputs:
        body = read_manifest(ProjectPaths(root).manifests, i["id"], i["kind"]).body
        pinned = {"run": lambda b: b["outputs"][0]["sha256"],
                  "dataset": lambda b: b["arrays_content_sha256"],
                  "baseline": lambda b: b["predictions_sha256"]["test"]}[i["kind"]](body)
        assert i["sha256"] == pinned
    assert json.dumps(inputs).count("baseline:") == 0  # inputs are manifest ids, not row keys


def test_calibration_plots_the_logistic_baseline_of_every_horizon():
    names = ["a20:20K:h3:p1", "a20:baseline:class_prior:h3:p1",
             "a20:baseline:logistic_regression:h3:p1", "a50:baseline:logistic_regression:h5:p2",
             "a50:baseline:hist_gradient_boosting:h1:p1", "a50:baseline:logistic_regression:h1:p1"]
    assert calibration_models(names) == [
        "a20:20K:h3:p1", "a20:baseline:logistic_regression:h3:p1",
        "a50:baseline:logistic_regression:h5:p2", "a50:baseline:logistic_regression:h1:p1"]
