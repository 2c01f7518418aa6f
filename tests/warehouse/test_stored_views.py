"""Tier views and `hpo_trials` / `hpo_studies` are stored in the warehouse: a plain DuckDB
client (the duckdb module and nothing else) sees them, from any working directory."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from fts.core.paths import ProjectPaths
from fts.hpo.journal import journal_storage
from fts.project import Project

# Runs in a fresh interpreter: only duckdb is imported, fts never is.
PLAIN_CLIENT = """
import json, sys
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
out = {q: con.sql(q).fetchall() for q in sys.argv[2:]}
assert not any(m == "fts" or m.startswith("fts.") for m in sys.modules)
print(json.dumps(out, default=str))
"""


def _plain(database: str, *queries: str, cwd: Path) -> dict[str, list]:
    done = subprocess.run([sys.executable, "-c", PLAIN_CLIENT, database, *queries], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    return json.loads(done.stdout)


COUNTS = ("select count(*) from a20", "select count(*) from a50",
          "select round(sum(rsi_daily), 6) from a20")


def _counts_by_fts(project: Path) -> list[list]:
    return [list(Project(project).sql(q).to_pylist()[0].values()) for q in COUNTS]


def _stored_paths(project: Path) -> dict[str, str]:
    """{view: file it reads} of the stored views that read one Parquet file (the built
    project's tiers hold one ticker: one file each)."""
    query = (r"select view_name, regexp_extract(sql, 'read_parquet\(list_value\(''([^'']*)''\)\)', 1) "
             "from duckdb_views() where not temporary and sql like '%read_parquet(%' order by 1")
    got = _plain(str(project / "warehouse.duckdb"), query, cwd=project)[query]
    return dict(got)


def test_a_plain_duckdb_client_reads_every_built_tier_from_anywhere(
    built_project_dir: Path, tmp_path: Path
) -> None:
    # The fixture's project is a copy: the build (a read-write open) points every view here.
    Project(built_project_dir).build_tier("vix")
    counts = (*COUNTS, "select count(*) from vix")
    expected = _counts_by_fts(built_project_dir) + [
        [Project(built_project_dir).sql("select count(*) as n from vix").to_pylist()[0]["n"]]]
    assert expected[0][0] > 4000  # the sample's ^GSPC rows after a20's warm-up
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    got = _plain(str(built_project_dir / "warehouse.duckdb"), *counts, cwd=elsewhere)
    assert [got[q][0] for q in counts] == expected
    # ... and from the project directory, with the relative name of the example.
    got = _plain("warehouse.duckdb", *counts, cwd=built_project_dir)
    assert [got[q][0] for q in counts] == expected
    # Each view reads the tier's current file in this project, by absolute path.
    current = Project(built_project_dir).sql(
        "select c.tier, m.body from meta.tier_current c join meta.manifests m "
        "on m.id = c.manifest_id").to_pylist()
    assert _stored_paths(built_project_dir) == {
        r["tier"]: str((built_project_dir / json.loads(r["body"])["outputs"][0]["path"]).resolve())
        for r in current}


def test_the_stored_views_follow_the_project_when_it_moves(
    built_project_dir: Path, tmp_path: Path
) -> None:
    Project(built_project_dir).sql("select 1", write=True)  # points the copy's views here
    expected = _counts_by_fts(built_project_dir)
    moved = tmp_path / "moved"
    shutil.move(built_project_dir, moved)
    # Before any fts command writes, a plain client still reads the old location (documented).
    with pytest.raises(RuntimeError, match=str(built_project_dir)):
        _plain(str(moved / "warehouse.duckdb"), COUNTS[0], cwd=tmp_path)
    assert _counts_by_fts(moved) == expected  # fts's own session views are never stale
    Project(moved).sql("select 1", write=True)  # any read-write open re-points them
    got = _plain(str(moved / "warehouse.duckdb"), *COUNTS, cwd=tmp_path)
    assert [got[q][0] for q in COUNTS] == expected
    assert all(p.startswith(str(moved)) for p in _stored_paths(moved).values())


def test_a_plain_duckdb_client_reads_the_trials_optuna_reads(
    experiment_project_dir: Path, tmp_path: Path
) -> None:
    storage = journal_storage(ProjectPaths(experiment_project_dir))
    optuna_rows = sorted(
        [s.study_name, t.number, t.state.name, t.value, json.dumps(t.params, sort_keys=True)]
        for s in optuna.get_all_study_summaries(storage)
        for t in optuna.load_study(study_name=s.study_name, storage=storage).trials)
    assert optuna_rows  # the tiny experiment ran a study
    query = ("select study, number, state, value, params from hpo_trials "
             "order by study, number")
    got = _plain(str(experiment_project_dir / "warehouse.duckdb"), query,
                 "select study, n_trials from hpo_studies order by study", cwd=tmp_path)
    rows = [[s, n, st, v, json.dumps(json.loads(p), sort_keys=True)]
            for s, n, st, v, p in got[query]]
    assert rows == optuna_rows
    studies = {s for s, *_ in optuna_rows}
    assert got["select study, n_trials from hpo_studies order by study"] == [
        [s, sum(r[0] == s for r in optuna_rows)] for s in sorted(studies)]


def test_a_build_that_fails_to_register_leaves_the_stored_view_as_it_was(
    built_project_dir: Path,
) -> None:
    from fts.warehouse import connect, set_current_tier, transaction

    Project(built_project_dir).sql("select 1", write=True)
    before = _stored_paths(built_project_dir)
    shutil.copy(before["a20"], built_project_dir / "data/other.parquet")
    with pytest.raises(RuntimeError, match="registration failed"), connect(
        built_project_dir / "warehouse.duckdb", project_root=built_project_dir
    ) as con, transaction(con):
        set_current_tier(con, "a20", "m" * 64, "data/other.parquet")
        raise RuntimeError("registration failed")
    assert _stored_paths(built_project_dir) == before
    with connect(built_project_dir / "warehouse.duckdb", project_root=built_project_dir) as con, \
            transaction(con):
        set_current_tier(con, "a20", "m" * 64, "data/other.parquet")
    assert _stored_paths(built_project_dir)["a20"] == str(
        built_project_dir.resolve() / "data/other.parquet")


def test_a_deleted_build_loses_its_view_and_writes_still_work(built_project_dir: Path) -> None:
    Project(built_project_dir).sql("select 1", write=True)
    Path(_stored_paths(built_project_dir)["a50"]).unlink()
    Project(built_project_dir).sql("select 1", write=True)  # does not fail on the missing file
    assert set(_stored_paths(built_project_dir)) == {"a20"}
