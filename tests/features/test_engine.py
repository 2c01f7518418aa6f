"""The tier engine on the toy project: refs, versions, up-to-date checks, errors, atomicity."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fts.core.errors import BuildError, ConfigError, NotFoundError, ValidationError
from fts.core.hashing import table_content_sha256
from tests.features.toy import make_toy_project, tree_snapshot


def test_build_writes_parquet_manifest_and_view(tmp_path: Path) -> None:
    project = make_toy_project(tmp_path)
    result = project.build_tier("toy2")
    assert [t.tier for t in result.tiers] == ["toy", "toy2"]
    target = result.target
    assert target.parquet_path == "data/tiers/toy2"  # one file per ticker in the tier folder
    manifest = json.loads((tmp_path / "manifests" / "tier" / f"{target.manifest_id}.json").read_text())
    body = manifest["body"]
    tables = []
    for out in body["outputs"]:
        part = pq.read_table(tmp_path / out["path"])
        # The footer names the ticker's build key, and the manifest pins each file's content.
        assert part.schema.metadata[b"fts.key"].decode() == out["key"]
        assert set(part.column("ticker").to_pylist()) == {out["ticker"]}
        assert out["content_sha256"] == table_content_sha256(part.replace_schema_metadata())
        tables.append(part)
    table = pq.read_table(tmp_path / target.parquet_path)
    assert table.column_names == ["ticker", "date", "ret_1", "close_x2", "vix_level"]
    assert sum(t.num_rows for t in tables) == table.num_rows
    assert {i["kind"] for i in body["inputs"]} == {"raw", "tier"}
    assert body["row_count"] == table.num_rows == 59  # ret_1 needs one earlier row
    rows = project.sql("select count(*) as n, min(date) as d from toy2").to_pylist()[0]
    assert rows["n"] == 59


def test_second_build_is_up_to_date_and_rebuilds_after_new_raw_load(tmp_path: Path) -> None:
    project = make_toy_project(tmp_path)
    first = project.build_tier("toy")
    again = project.build_tier("toy")
    assert again.up_to_date and again.target.manifest_id == first.target.manifest_id
    import numpy as np
    import pandas as pd

    from tests.features.toy import put_load

    with project.connect(read_only=False) as con:
        dates = pd.bdate_range("2020-01-01", periods=61).date
        put_load(con, "L-new", 10, "AAA", dates, np.linspace(100, 110, 61), False)
    rebuilt = project.build_tier("toy")
    assert not rebuilt.up_to_date and rebuilt.target.rows == 60


def test_whitespace_and_comments_do_not_change_the_definition(tmp_path: Path) -> None:
    project = make_toy_project(tmp_path)
    first = project.build_tier("toy")
    sql = tmp_path / "features_sql" / "toy" / "toy.sql"
    sql.write_text("-- a new comment\n" + sql.read_text().replace("select s.ticker", "select   s.ticker\n"))
    py = tmp_path / "features_sql" / "toy" / "toy_double.py"
    py.write_text(py.read_text() + "\n# trailing comment\n")
    assert project.build_tier("toy").up_to_date
    assert project.build_tier("toy").target.manifest_id == first.target.manifest_id


def test_changed_definition_without_version_bump_is_refused(tmp_path: Path) -> None:
    project = make_toy_project(tmp_path)
    project.build_tier("toy")
    before = tree_snapshot(tmp_path)
    sql = tmp_path / "features_sql" / "toy" / "toy.sql"
    sql.write_text(sql.read_text().replace("100 * (", "99 * ("))
    with pytest.raises(ConfigError, match="bump `version`"):
        project.build_tier("toy")
    assert tree_snapshot(tmp_path) == before
    meta = tmp_path / "features_sql" / "toy" / "toy.yml"
    meta.write_text(meta.read_text().replace("version: 1", "version: 2"))
    rebuilt = project.build_tier("toy")
    assert not rebuilt.up_to_date
    lock = json.loads((tmp_path / "features_sql" / "versions.lock").read_text())
    assert set(lock["toy"]) == {"1", "2"}


def test_python_model_change_also_needs_a_bump(tmp_path: Path) -> None:
    project = make_toy_project(tmp_path)
    project.build_tier("toy")
    py = tmp_path / "features_sql" / "toy" / "toy_double.py"
    py.write_text(py.read_text().replace("* 2", "* 3"))
    with pytest.raises(ConfigError, match="version is still 1"):
        project.build_tier("toy")


def test_unknown_tier_is_a_clear_error(tmp_path: Path) -> None:
    project = make_toy_project(tmp_path)
    with pytest.raises(NotFoundError, match="unknown tier 'nope'.*toy"):
        project.build_tier("nope")


def test_missing_vix_is_named(tmp_path: Path) -> None:
    project = make_toy_project(tmp_path, vix=False)
    with pytest.raises(NotFoundError, match=r"needs \^VIX"):
        project.build_tier("toy2")
    project.build_tier("toy")  # the tier without VIX still builds


def test_missing_ref_and_syntax_error_and_cycle(tmp_path: Path) -> None:
    project = make_toy_project(tmp_path)
    sql = tmp_path / "features_sql" / "toy" / "toy.sql"
    original = sql.read_text()
    sql.write_text(original.replace("ref('toy_double')", "ref('nothing_here')"))
    with pytest.raises(BuildError, match="ref\\('nothing_here'\\) names no model"):
        project.build_tier("toy")
    sql.write_text(original.replace("select ticker, date, ret_1", "selec ticker, date, ret_1"))
    with pytest.raises(BuildError, match="toy.sql"):
        project.build_tier("toy")
    sql.write_text(original)
    py = tmp_path / "features_sql" / "toy" / "toy_double.py"
    py.write_text(py.read_text().replace('raw = ctx.source("raw", "ohlcv")',
                                         'raw = ctx.ref("toy")'))
    with pytest.raises(BuildError, match="cycle"):
        project.build_tier("toy")


def test_too_little_history_names_the_ticker(tmp_path: Path) -> None:
    project = make_toy_project(tmp_path, n=1)
    with pytest.raises(BuildError, match="AAA has 1 rows of history"):
        project.build_tier("toy")
    assert not (tmp_path / "data").exists()


def test_schema_violation_writes_nothing(tmp_path: Path) -> None:
    project = make_toy_project(tmp_path)
    project.build_tier("toy")
    before = tree_snapshot(tmp_path)
    meta = tmp_path / "features_sql" / "toy" / "toy.yml"
    meta.write_text(meta.read_text().replace("version: 1", "version: 2").replace("min: 0", "min: 1000"))
    with pytest.raises(ValidationError, match="column close_x2"):
        project.build_tier("toy")
    assert tree_snapshot(tmp_path) == before


def test_declared_columns_must_match_the_model(tmp_path: Path) -> None:
    project = make_toy_project(tmp_path)
    meta = tmp_path / "features_sql" / "toy" / "toy.yml"
    meta.write_text(meta.read_text() + "  - name: undeclared_in_sql\n    kind: scale_free\n    warmup: 0\n")
    with pytest.raises(BuildError, match="missing undeclared_in_sql"):
        project.build_tier("toy")


KILL_SCRIPT = """
import sys, time
import fts.warehouse.publish as b  # every artefact is registered there
real = b.register_manifest
def slow(con, m):
    real(con, m)
    print("IN-TRANSACTION", flush=True)
    time.sleep(60)
b.register_manifest = slow
from fts.project import Project
Project(sys.argv[1]).build_tier("toy")
"""


def test_build_killed_before_commit_leaves_previous_state(tmp_path: Path) -> None:
    project = make_toy_project(tmp_path)
    project.build_tier("toy")
    meta = tmp_path / "features_sql" / "toy" / "toy.yml"
    meta.write_text(meta.read_text().replace("version: 1", "version: 2"))
    before = project.sql("select * from meta.tier_current").to_pylist()
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "IN-TRANSACTION" in line
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    time.sleep(0.1)
    assert project.sql("select * from meta.tier_current").to_pylist() == before
    assert project.sql("select count(*) as n from meta.manifests").to_pylist()[0]["n"] == 1
    assert project.sql("select count(*) as n from toy").to_pylist()[0]["n"] == 59
