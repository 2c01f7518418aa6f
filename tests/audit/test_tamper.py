"""Each test makes one REAL change on disk or in the warehouse; the audit must find it, name it,
say what changed (expected and found hash) and list what is now unproven."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb

from fts.audit import BROKEN, OK, UNPROVEN, AuditReport, Issue, audit_project, trace
from fts.core.hashing import sha256_file
from fts.core.manifest import read_manifest
from tests.audit.conftest import Built, paths_of, run_fts


def audit(project: Built) -> AuditReport:
    return audit_project(paths_of(project))


def only_issue(report: AuditReport, code: str) -> Issue:
    found = report.issues_with(code)
    assert len(found) == 1, [(i.code, i.message) for i in report.issues]
    return found[0]


def output_of(project: Built, manifest_id: str, kind: str) -> dict:
    return read_manifest(paths_of(project).manifests, manifest_id, kind)["outputs"][0]


def warehouse(project: Built) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(project.root / "warehouse.duckdb"))


def downstream_of_a20(project: Built) -> set[str]:
    return {project.a50_id, project.dataset_id, project.run_id, project.trial_run_id}


def test_one_flipped_byte_in_a_tier_parquet_breaks_the_tier_and_everything_after(project: Built):
    rel = output_of(project, project.a20_id, "tier")["path"]
    path = project.root / rel
    registered = sha256_file(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    report = audit(project)
    assert not report.ok
    changed = [i for i in report.issues if i.subject == project.a20_id]
    assert changed and all(i.path == rel for i in changed)
    # The manifest pins each per-ticker file's SHA-256 (the footer names the ticker's build
    # key, not the manifest, so the manifest can).
    file_level = next(i for i in changed if "file SHA-256" in i.message)
    assert (file_level.expected, file_level.found) == (registered, sha256_file(path))
    assert set(file_level.unproven) == downstream_of_a20(project)
    assert report.nodes[project.a20_id].status == BROKEN
    unproven = {i for i, n in report.nodes.items() if n.status == UNPROVEN}
    assert unproven == downstream_of_a20(project)
    assert report.nodes[project.gspc_load].status == OK
    # The consumers that pinned the tier's content are named as broken links.
    pins = {i.subject for i in report.issues_with("pin_mismatch")}
    assert pins <= {project.a50_id, project.dataset_id}

    result = run_fts(project.root, "audit")
    assert result.exit_code == 1
    assert (f"FAIL [artefact_changed] {rel}" in result.stdout
            or f"FAIL [artefact_unreadable] {rel}" in result.stdout)
    assert f"tier a20 {project.a20_id[:12]}" in result.stdout
    assert f"expected: {registered[:16]}" in result.stdout


def test_one_raw_row_changed_in_the_warehouse_is_found_by_rehashing_the_load(project: Built):
    con = warehouse(project)
    con.execute("UPDATE raw.ohlcv_history SET close = close * 1.01 "
                "WHERE load_id = ? AND date = DATE '2010-06-01'", [project.gspc_load])
    con.close()

    report = audit(project)
    issue = only_issue(report, "raw_changed")
    pinned = read_manifest(paths_of(project).manifests, project.gspc_load, "raw")["content_sha256"]
    assert issue.subject == project.gspc_load and issue.name == "^GSPC"
    assert issue.expected == pinned and issue.found not in (None, pinned)
    assert set(issue.unproven) == {project.a20_id} | downstream_of_a20(project)
    # Every manifest that pinned the load names the broken link with the same two hashes.
    links = report.issues_with("pin_mismatch")
    assert {i.subject for i in links} == {project.a20_id, project.a50_id, project.dataset_id}
    assert {(i.expected, i.found) for i in links} == {(pinned, issue.found)}
    vix = next(i for i, n in report.nodes.items() if n.kind == "raw" and n.name == "^VIX")
    assert report.nodes[vix].status == OK

    result = run_fts(project.root, "audit", "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    assert any(i["code"] == "raw_changed" and i["found"] == issue.found for i in doc["issues"])


def test_a_deleted_manifest_file_is_named_and_leaves_its_consumers_unproven(project: Built):
    path = project.root / "manifests" / "dataset" / f"{project.dataset_id}.json"
    path.unlink()

    report = audit(project)
    issue = only_issue(report, "manifest_file_missing")
    assert issue.subject == project.dataset_id
    assert issue.path == f"manifests/dataset/{project.dataset_id}.json"
    assert set(issue.unproven) == {project.run_id, project.trial_run_id}
    assert report.nodes[project.dataset_id].status == BROKEN
    # The registry copy still lets the arrays be re-hashed: only the file is the problem.
    assert len(report.issues) == 1
    result = run_fts(project.root, "audit")
    assert result.exit_code == 1 and "the manifest file is missing" in result.stdout


def test_a_checkpoint_replaced_by_another_runs_is_named_with_the_run_it_came_from(project: Built):
    mine = output_of(project, project.run_id, "run")
    theirs = output_of(project, project.trial_run_id, "run")
    shutil.copyfile(project.root / theirs["path"], project.root / mine["path"])

    report = audit(project)
    issue = only_issue(report, "artefact_changed")
    assert issue.subject == project.run_id and issue.path == mine["path"]
    assert (issue.expected, issue.found) == (mine["sha256"], theirs["sha256"])
    assert f"now the artefact of run a20-h1-p1 {project.trial_run_id[:12]}" in issue.message
    assert report.nodes[project.run_id].status == BROKEN
    assert report.nodes[project.trial_run_id].status == OK

    chain = trace(paths_of(project), project.run_id[:8], kind="run")
    assert not chain.ok and chain.root.status == BROKEN
    assert all(n.status == OK for n in chain.root.walk()[1:])  # its inputs still hold
    result = run_fts(project.root, "audit", "--run", project.run_id[:8])
    assert result.exit_code == 1 and "[BROKEN]" in result.stdout.splitlines()[0]


def test_a_definition_edited_without_a_version_bump_is_named_with_the_fix(project: Built):
    sql = project.root / "features_sql" / "a20" / "a20.sql"
    text = sql.read_text()
    assert "all_zero('volume', 20)" in text
    sql.write_text(text.replace("all_zero('volume', 20)", "all_zero('volume', 21)"))

    report = audit(project)
    issue = only_issue(report, "definition_changed")
    assert issue.name == "a20" and "tier a20" in issue.message
    assert "bump the version in features_sql/a20/a20.yml" in issue.message
    assert issue.expected != issue.found
    assert set(issue.unproven) == {project.a20_id} | downstream_of_a20(project)
    result = run_fts(project.root, "audit")
    assert result.exit_code == 1 and "bump the version" in result.stdout

    # Doing what the message says clears the failure (the old build is merely stale then).
    yml = project.root / "features_sql" / "a20" / "a20.yml"
    text = yml.read_text()
    version = int(re.search(r"^version: (\d+)$", text, re.M).group(1))
    yml.write_text(text.replace(f"version: {version}", f"version: {version + 1}"))
    bumped = audit(project)
    assert bumped.ok, [i.message for i in bumped.issues]
    assert {w.code for w in bumped.warnings} >= {"version_unrecorded", "tier_stale"}


def test_a_manifest_file_edited_in_place_no_longer_hashes_to_its_id(project: Built):
    path = project.root / "manifests" / "tier" / f"{project.a50_id}.json"
    doc = json.loads(path.read_text())
    doc["body"]["row_count"] += 1
    path.write_text(json.dumps(doc))

    issue = only_issue(audit(project), "manifest_corrupt")
    assert issue.subject == project.a50_id and issue.expected == project.a50_id
    assert issue.found not in (None, project.a50_id)


def test_warehouse_rows_that_disagree_with_the_manifests_are_named(project: Built):
    con = warehouse(project)
    con.execute("DELETE FROM meta.manifests WHERE id = ?", [project.a50_id])
    con.execute("UPDATE train.runs SET val_metrics = '{\"roc_auc\": 0.99}' WHERE run_id = ?",
                [project.trial_run_id])
    con.execute("UPDATE meta.tier_current SET manifest_id = 'f00d' WHERE tier = 'a50'")
    con.execute("UPDATE train.predictions SET prob = 1 - prob WHERE run_id = ? AND split = 'val'",
                [project.run_id])
    con.close()

    report = audit(project)
    predictions = only_issue(report, "predictions_changed")
    assert predictions.subject == project.run_id and "split val" in predictions.message
    assert only_issue(report, "manifest_unregistered").subject == project.a50_id
    metrics = only_issue(report, "run_metrics_disagree")
    assert metrics.subject == project.trial_run_id and metrics.found == '{"roc_auc":0.99}'
    assert "meta.tier_current[a50]" in only_issue(report, "tier_current_missing").message


def test_a_missing_tier_file_is_named(project: Built):
    rel = output_of(project, project.a50_id, "tier")["path"]
    Path(project.root / rel).unlink()
    issue = only_issue(audit(project), "artefact_missing")
    assert issue.subject == project.a50_id and issue.path == rel
