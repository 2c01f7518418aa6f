"""A finished study has a manifest (its dataset, its trials' runs, its best trial) that final
runs pin and `fts audit` checks against the Optuna journal and `experiments.cells`."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from fts.audit import OK, UNPROVEN, audit_project
from fts.core.paths import ProjectPaths
from fts.experiments import load_experiment
from fts.experiments.runner import prepare, study_spec
from fts.hpo.search import run_study
from fts.hpo.views import create_hpo_views
from tests.audit.conftest import query, run_fts


def study_manifests(root: Path) -> dict[str, dict]:
    return {mid: json.loads(body) for mid, body in query(
        root, "SELECT id, body FROM meta.manifests WHERE kind = 'study' ORDER BY created_at")}


def the_cell(root: Path) -> tuple[str, str, int, list[str]]:
    [(study, dataset_id, best, finals)] = query(
        root, "SELECT study, dataset_id, best_trial, final_run_ids FROM experiments.cells")
    return study, dataset_id, best, json.loads(finals)


def test_a_finished_study_has_a_manifest_with_its_dataset_trials_and_best(
        experiment_project_dir: Path):
    root = experiment_project_dir
    study, dataset_id, best, finals = the_cell(root)
    [(mid, body)] = study_manifests(root).items()
    assert body["name"] == study and body["n_trials"] == 1 and body["supersedes"] == []
    trial_runs = [r for (r,) in query(root, "SELECT run_id FROM train.runs WHERE study = ? AND "
                                      "purpose = 'trial'", [study])]
    inputs = {(i["kind"], i["id"]) for i in body["inputs"]}
    assert inputs == {("dataset", dataset_id)} | {("run", r) for r in trial_runs}
    assert [t["run_id"] for t in body["trials"]] == trial_runs
    assert body["best_trial"]["number"] == best == body["trials"][0]["number"]
    assert body["spec"]["tier"] == "a50" and body["spec"]["ctx_len"] == 16
    for run_id in finals:  # final runs name the study they took their settings from
        [(run_body,)] = query(root, "SELECT body FROM meta.manifests WHERE id = ?", [run_id])
        assert ("study", mid) in {(i["kind"], i["id"]) for i in json.loads(run_body)["inputs"]}
    report = audit_project(ProjectPaths(root))
    assert report.ok, [i.message for i in report.issues]
    assert report.checked["study"] == 1 and report.nodes[mid].status == OK


def test_a_tampered_trial_value_fails_the_audit_naming_the_study(experiment_project_dir: Path):
    root = experiment_project_dir
    study, _, best, finals = the_cell(root)
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    try:  # the COMPLETE op of the trial in Optuna's journal: its value becomes 0.1
        create_hpo_views(con)
        [(trial_id,)] = con.execute("SELECT trial_id FROM hpo_trials WHERE study = ? AND "
                                    "number = ?", [study, best]).fetchall()
        ops = [(s, json.loads(t)) for s, t in
               con.execute("SELECT seq, log FROM hpo.journal WHERE op_code = 6").fetchall()]
        [(seq, log)] = [(s, op) for s, op in ops if op["trial_id"] == trial_id and op["values"]]
        log["values"] = [0.1]
        con.execute("UPDATE hpo.journal SET log = ? WHERE seq = ?", [json.dumps(log), seq])
    finally:
        con.close()
    result = run_fts(root, "audit")
    assert result.exit_code == 1
    assert "study_trial_changed" in result.output and f"study {study}" in result.output
    report = audit_project(ProjectPaths(root))
    [issue] = report.issues_with("study_trial_changed")
    assert issue.name == study and "value" in issue.message
    assert set(finals) <= set(issue.unproven)  # the final runs rest on the study
    assert all(report.nodes[r].status == UNPROVEN for r in finals)


def test_a_changed_best_trial_in_experiments_cells_fails_the_audit(experiment_project_dir: Path):
    root = experiment_project_dir
    study, _, best, _ = the_cell(root)
    query(root, "UPDATE experiments.cells SET best_trial = ?", [best + 5])
    result = run_fts(root, "audit")
    assert result.exit_code == 1
    assert "study_cell_disagrees" in result.output and study in result.output


def test_a_trial_chain_starts_at_its_study_manifest(experiment_project_dir: Path):
    root = experiment_project_dir
    study, _, best, _ = the_cell(root)
    [mid] = study_manifests(root)
    result = run_fts(root, "audit", "--trial", f"{study}:{best}")
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith(f"study {study} {mid[:12]}") and "[ok]" in first
    assert "run a50-h1-p1" in result.output and "raw ^GSPC" in result.output


def test_a_resumed_study_gets_a_manifest_that_supersedes_the_old_one(
        experiment_project_dir: Path):
    root = experiment_project_dir
    paths = ProjectPaths(root)
    exp = load_experiment(root / "studies" / "tiny.toml")
    spec = study_spec(exp, exp.cells()[0], prepare(paths, exp, lambda _: None))
    [old] = study_manifests(root)
    assert run_study(paths, spec, 1, show_bar=False).manifest.id == old  # nothing new
    out = run_study(paths, spec, 2, show_bar=False)
    manifests = study_manifests(root)
    assert set(manifests) == {old, out.manifest.id}  # order: by `supersedes`, below
    assert manifests[out.manifest.id]["supersedes"] == [old]
    assert manifests[out.manifest.id]["n_trials"] == 2
    report = audit_project(paths)  # final runs still pin the old one, which still holds
    assert report.ok, [i.message for i in report.issues]
    assert "superseded by study" in report.nodes[old].summary
