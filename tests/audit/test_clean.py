"""A project untouched since ingest -> build -> dataset -> runs passes every check."""

from __future__ import annotations

import json

import duckdb
import pytest

from fts.audit import OK, audit_project, trace, trace_trial
from fts.core.errors import ConfigError, NotFoundError
from tests.audit.conftest import Built, paths_of, run_fts


def test_clean_project_passes_with_exit_0_and_counts_what_it_checked(template: Built):
    result = run_fts(template.root, "audit")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "fts audit: OK, every check holds (7 manifests)"
    assert lines[1].startswith("checked: 2 raw loads, 2 tier builds, 1 dataset, 2 runs; ")
    # 2 Parquet files + 1 dataset .npz + 2 checkpoints; val and test predictions of 2 runs;
    # links: a20 1, a50 3, dataset 2, runs 2
    assert lines[1].endswith("; 5 artefact files, 2 raw loads re-hashed, 4 prediction sets "
                             "re-hashed, 8 input links, 5 tier definitions, 2 tier pointers")


def test_json_output_parses_and_lists_every_manifest_as_ok(template: Built):
    result = run_fts(template.root, "audit", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and doc["issues"] == []
    assert doc["checked"]["raw"] == 2 and doc["checked"]["run"] == 2
    assert doc["checked"]["input links"] == 8
    assert {n["status"] for n in doc["nodes"].values()} == {OK}
    assert doc["nodes"][template.run_id]["verified_hashes"]  # the checkpoint hash, recomputed


def test_run_prints_its_chain_down_to_the_raw_loads(template: Built):
    result = run_fts(template.root, "audit", "--run", template.run_id[:10])
    assert result.exit_code == 0, result.output
    out = result.stdout
    first = out.splitlines()[0]
    assert first.startswith(f"run a20-h1-p1 {template.run_id[:12]}  [ok]")
    for kind, mid in (("dataset", template.dataset_id), ("tier a20", template.a20_id),
                      ("raw ^GSPC", template.gspc_load)):
        assert f"{kind}" in out and mid[:12] in out
    assert out.index("dataset") < out.index("tier a20") < out.index("raw ^GSPC")
    assert f"chain holds: 4 manifests; raw loads: ^GSPC {template.gspc_load[:12]}" in out


def test_trace_api_gives_the_tree_with_pinned_hashes_equal_to_current(template: Built):
    chain = trace(paths_of(template), template.run_id, kind="run")
    assert chain.ok
    assert [n.kind for n in chain.root.walk() if not n.repeat] == ["run", "dataset", "tier", "raw"]
    assert [n.id for n in chain.raw_loads] == [template.gspc_load]
    assert all(n.pinned == n.found for n in chain.root.walk() if n.pinned)
    json.dumps(chain.to_dict())  # serialisable


def test_trial_resolves_through_train_runs_to_that_trials_run(template: Built):
    chain = trace_trial(paths_of(template), "s1", 3)
    assert chain.root.id == template.trial_run_id and chain.ok
    result = run_fts(template.root, "audit", "--trial", "s1:3", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["chain"]["id"] == template.trial_run_id
    with pytest.raises(NotFoundError, match="no run for trial 4"):
        trace_trial(paths_of(template), "s1", 4)
    with pytest.raises(ConfigError, match="STUDY:N"):
        from fts.audit import parse_trial

        parse_trial("s1-3")


def test_bad_targets_are_one_line_errors_with_exit_1(template: Built):
    unknown = run_fts(template.root, "audit", "--run", "ffffffff")
    assert unknown.exit_code == 1
    assert "no manifest with an id starting with 'ffffffff'" in unknown.stderr
    not_a_run = run_fts(template.root, "audit", "--run", template.a20_id[:12])
    assert not_a_run.exit_code == 1 and "is tier a20" in not_a_run.stderr


def test_audit_leaves_the_warehouse_and_files_unchanged(project: Built):
    before = sorted((p.relative_to(project.root), p.stat().st_mtime_ns)
                    for p in project.root.rglob("*") if p.is_file())
    assert audit_project(paths_of(project)).ok
    after = sorted((p.relative_to(project.root), p.stat().st_mtime_ns)
                   for p in project.root.rglob("*") if p.is_file())
    assert before == after
    con = duckdb.connect(str(project.root / "warehouse.duckdb"))  # no lock left behind
    con.close()
