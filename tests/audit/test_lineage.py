"""Column lineage is read from the SQL (sqlglot) and the Python models' code, down to raw
columns."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fts.audit import column_lineage
from fts.audit.lineage import LineageGraph
from fts.audit.pymodel import analyse_python_model
from fts.core.errors import ConfigError, NotFoundError
from fts.core.paths import ProjectPaths
from fts.features.declarations import load_feature_project
from fts.features.graph import plan
from tests.audit.conftest import REPO, run_fts

REPO_PATHS = ProjectPaths(REPO)


def test_rsi_slope_reaches_raw_close_through_the_python_model_that_makes_rsi_daily():
    lin = column_lineage(REPO_PATHS, "a50.rsi_slope")
    assert "raw.ohlcv.close" in lin.raw_columns
    producer = lin.model("a20_talib")
    assert producer is not None and producer.kind == "python" and producer.method == "python-ast"
    assert producer.columns == ("rsi_daily",) and "close" in producer.reads
    assert ("a50_stats.rsi_slope", "a20_talib.rsi_daily") in lin.edges  # found by sqlglot
    assert [m.name for m in lin.models] == ["a50", "a50_stats", "a20_talib"]
    assert not lin.notes


def test_an_sql_column_names_only_what_its_sql_reads():
    lin = column_lineage(REPO_PATHS, "a50.return_5d")
    assert lin.raw_columns == ["raw.ohlcv.close"]
    assert lin.raw_keys == ["raw.ohlcv.date", "raw.ohlcv.ticker"]  # the window's partition/order
    assert [(m.name, m.method) for m in lin.models] == [("a50", "sql"), ("a50_stats", "sql")]


def test_vix_columns_reach_the_vix_source():
    lin = column_lineage(REPO_PATHS, "a50.vrp_21d")
    assert {"raw.vix.close", "raw.ohlcv.close"} <= set(lin.raw_columns)
    assert lin.model("vix_asof") is not None


def test_the_lineage_follows_an_edit_of_the_sql(tmp_path: Path):
    """Not a hand-kept list: change what return_5d is computed from and the lineage changes."""
    shutil.copytree(REPO / "features_sql", tmp_path / "features_sql")
    sql = tmp_path / "features_sql" / "a50" / "a50_stats.sql"
    text = sql.read_text()
    assert "{{ pct_change('close', 5) }} as return_5d" in text
    sql.write_text(text.replace("{{ pct_change('close', 5) }} as return_5d",
                                "{{ pct_change('open', 5) }} as return_5d"))
    lin = column_lineage(ProjectPaths(tmp_path), "a50.return_5d")
    assert lin.raw_columns == ["raw.ohlcv.open"]


def test_every_a50_column_reaches_a_raw_column_without_unresolved_reads():
    project = load_feature_project(REPO / "features_sql")
    graph = LineageGraph(project, plan(project, "a50"))
    for column in project.columns("a50"):
        lin = graph.trace("a50", column.name)
        assert lin.raw_columns, column.name
        assert not lin.notes, (column.name, lin.notes)


def test_python_model_analysis_expands_literal_loops_and_fstrings(tmp_path: Path):
    model = tmp_path / "toy.py"
    model.write_text(
        "import pandas as pd\n"
        "def _cols(g):\n"
        "    a, b = (g[c] for c in ('high', 'low'))\n"
        "    out = {}\n"
        "    for n in (5, 10):\n"
        "        out[f'sma_{n}'] = g['close'].rolling(n).mean()\n"
        "    return pd.DataFrame({'spread': a - b, **out})\n"
        "def model(ctx):\n"
        "    base = ctx.ref('other')[['ticker', 'date', 'rsi_daily']]\n"
        "    frame = base.merge(ctx.source('ohlcv'), on=['ticker', 'date'])\n"
        "    return ctx.per_ticker(frame, _cols)\n"
    )
    cols = analyse_python_model(model)
    assert cols.outputs == ("ticker", "date", "sma_5", "sma_10", "spread")
    assert set(cols.reads) == {"high", "low", "close", "ticker", "date", "rsi_daily"}


def test_cli_lineage_prints_raw_columns_models_and_edges_and_json():
    result = run_fts(REPO, "lineage", "a50.rsi_slope")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "a50.rsi_slope"
    assert lines[1].startswith("  raw columns: ") and "raw.ohlcv.close" in lines[1]
    assert any(line.strip().startswith("a20_talib (python, features_sql/a20/a20_talib.py): "
                                       "rsi_daily") for line in lines)
    doc = json.loads(run_fts(REPO, "lineage", "a50.return_5d", "--json").stdout)
    assert doc["raw_columns"] == ["raw.ohlcv.close"]


def test_bad_targets_are_named():
    with pytest.raises(ConfigError, match="TIER.COLUMN"):
        column_lineage(REPO_PATHS, "rsi_slope")
    with pytest.raises(NotFoundError, match="tier a50 has no column 'nope'"):
        column_lineage(REPO_PATHS, "a50.nope")
    result = run_fts(REPO, "lineage", "zz.close")
    assert result.exit_code == 1 and "unknown tier 'zz'" in result.stderr
