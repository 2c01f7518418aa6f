"""`load_many`: a batch of tickers loaded in one transaction, all or nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fts.core.errors import ConfigError, ValidationError
from fts.core.paths import ProjectPaths
from fts.ingest.load import load_many, load_series
from fts.ingest.series import SERIES_COLUMNS, SourceSeries
from fts.warehouse import connect

from .helpers import snapshot


def _series(ticker: str, start: str, n: int, *, volume: bool = True, level: float = 100.0
            ) -> SourceSeries:
    dates = pd.bdate_range(start, periods=n)
    close = level + np.arange(n, dtype=float)
    frame = pd.DataFrame({"date": dates.astype("datetime64[ns]"), "open": close - 0.5,
                          "high": close + 1.0, "low": close - 1.0, "close": close,
                          "volume": np.full(n, 1000.0) if volume else np.nan})
    return SourceSeries(ticker=ticker, frame=frame[SERIES_COLUMNS], source_kind="csv",
                        label=f"test:{ticker}", source={"kind": "test"})


def _rows(root: Path, ticker: str) -> list[tuple]:
    with connect(root / "warehouse.duckdb", read_only=True) as con:
        return con.execute("SELECT date::VARCHAR, open, high, low, close, volume FROM raw.ohlcv "
                           "WHERE ticker = ? ORDER BY date", [ticker]).fetchall()


def test_a_batch_stores_every_series_with_its_own_load_and_chains_updates(tmp_path: Path):
    paths = ProjectPaths(tmp_path)
    first = load_series(paths, _series("AAA", "2020-01-01", 5))
    # AAA (2020-01-01..07, closes 100..104) gets 2020-01-06..08 with closes 104, 105, 106:
    # 2 stored days change, 1 is added. BBB is new.
    update = _series("AAA", "2020-01-06", 3, level=104.0)
    results = load_many(paths, [update, _series("BBB", "2020-01-01", 4, volume=False)])

    aaa, bbb = results
    assert [r.ticker for r in results] == ["AAA", "BBB"]
    assert (aaa.status, aaa.previous_load_id, aaa.rows_added, aaa.rows_changed) == (
        "loaded", first.load_id, 1, 2)
    assert (bbb.status, bbb.previous_load_id, bbb.row_count) == ("loaded", None, 4)
    assert [r[4] for r in _rows(tmp_path, "AAA")] == [100.0, 101.0, 102.0, 104.0, 105.0, 106.0]
    assert _rows(tmp_path, "BBB")[0] == ("2020-01-01", 99.5, 101.0, 99.0, 100.0, None)
    with connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        loads = con.execute("SELECT ticker, seq FROM raw.loads ORDER BY seq").fetchall()
        registered = {r[0] for r in con.execute("SELECT id FROM meta.manifests").fetchall()}
    assert loads == [("AAA", 1), ("AAA", 2), ("BBB", 3)]
    assert {aaa.load_id, bbb.load_id} <= registered
    assert aaa.manifest_path.exists() and bbb.manifest_path.exists()
    # The same batch again changes nothing.
    again = load_many(paths, [update, _series("BBB", "2020-01-01", 4, volume=False)])
    assert [r.status for r in again] == ["unchanged", "unchanged"]


def test_one_failing_series_stores_none_of_the_batch(tmp_path: Path):
    paths = ProjectPaths(tmp_path)
    load_series(paths, _series("AAA", "2020-01-01", 5))
    before = snapshot(tmp_path)
    # AAA has volume; the update has none on its new rows: the merged series breaks
    # "volume on every row or on none", found only after merging with the stored load.
    bad = _series("AAA", "2020-01-08", 2, volume=False)
    with pytest.raises(ValidationError) as err:
        load_many(paths, [_series("BBB", "2020-01-01", 4), bad, _series("CCC", "2020-01-01", 3)])
    assert err.value.row == "2020-01-08"  # rows of a merged series are named by date
    assert snapshot(tmp_path) == before


def test_a_ticker_twice_in_one_batch_is_refused_before_anything_is_read(tmp_path: Path):
    paths = ProjectPaths(tmp_path)
    with pytest.raises(ConfigError, match="AAA"):
        load_many(paths, [_series("AAA", "2020-01-01", 3), _series("AAA", "2020-02-03", 3)])
    assert not (tmp_path / "warehouse.duckdb").exists()
