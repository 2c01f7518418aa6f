"""`fts ingest csv`: adjusted or raw close, complete-series loads, unchanged and changed history,
manifests, and a failure inside the transaction leaving everything as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from fts.core.errors import FtsError
from fts.core.hashing import sha256_file, table_content_sha256
from fts.core.paths import ProjectPaths
from fts.ingest import ingest_csv
from tests.ingest.helpers import (
    AAPL_CSV,
    AAPL_NEXT_CSV,
    edit_rows,
    manifest_files,
    rows,
    run_fts,
    snapshot,
)

FILE = pd.read_csv(AAPL_CSV)


def _aapl(project: Path) -> pd.DataFrame:
    data = rows(project, "SELECT date, open, high, low, close, volume FROM raw.ohlcv "
                         "WHERE ticker = 'AAPL' ORDER BY date")
    return pd.DataFrame(data, columns=["date", "open", "high", "low", "close", "volume"])


def test_csv_load_uses_adj_close_and_scales_open_high_low_by_the_same_factor(tmp_path: Path):
    result = run_fts(tmp_path, "ingest", "csv", str(AAPL_CSV), "--ticker", "aapl")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("AAPL: loaded 10 rows 2024-01-02..2024-01-16 (new series)")
    got = _aapl(tmp_path)
    factor = FILE["Adj Close"] / FILE["Close"]
    assert got["close"].tolist() == FILE["Adj Close"].tolist()
    assert got["open"].to_numpy() == pytest.approx((FILE["Open"] * factor).to_numpy(), rel=1e-15)
    assert got["low"].to_numpy() == pytest.approx((FILE["Low"] * factor).to_numpy(), rel=1e-15)
    assert (got["high"] >= got[["open", "close"]].max(axis=1)).all()
    assert (got["low"] <= got[["open", "close"]].min(axis=1)).all()
    assert got["volume"].tolist() == FILE["Volume"].astype(float).tolist()


def test_raw_close_option_keeps_the_unadjusted_prices(tmp_path: Path):
    result = run_fts(tmp_path, "ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL", "--raw-close")
    assert result.exit_code == 0, result.output
    got = _aapl(tmp_path)
    assert got["close"].tolist() == FILE["Close"].tolist()
    assert got["open"].tolist() == FILE["Open"].tolist()


def test_csv_without_adj_close_uses_close(tmp_path: Path):
    plain = tmp_path / "plain.csv"
    FILE.drop(columns=["Adj Close"]).to_csv(plain, index=False)
    ingest_csv(ProjectPaths(tmp_path / "p"), plain, "AAPL", adjusted=True, progress=print)
    assert _aapl(tmp_path / "p")["close"].tolist() == FILE["Close"].tolist()


def test_us_style_slash_dates_are_read_as_month_day_year(tmp_path: Path):
    slashed = tmp_path / "slashed.csv"
    FILE.assign(Date=pd.to_datetime(FILE["Date"]).dt.strftime("%-m/%-d/%Y")).to_csv(slashed, index=False)
    ingest_csv(ProjectPaths(tmp_path / "p"), slashed, "AAPL", adjusted=True, progress=print)
    assert [str(d) for d in _aapl(tmp_path / "p")["date"]] == FILE["Date"].tolist()


def test_reingesting_identical_data_is_reported_unchanged_and_stores_nothing(tmp_path: Path):
    run_fts(tmp_path, "ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL")
    before = snapshot(tmp_path)
    result = run_fts(tmp_path, "ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL")
    assert result.exit_code == 0
    assert "AAPL: unchanged (10 rows 2024-01-02..2024-01-16" in result.stdout
    assert snapshot(tmp_path) == before


def test_a_later_file_extends_the_history_into_a_new_complete_load(tmp_path: Path):
    run_fts(tmp_path, "ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL")
    result = run_fts(tmp_path, "ingest", "csv", str(AAPL_NEXT_CSV), "--ticker", "AAPL")
    assert result.exit_code == 0, result.output
    assert "(0 existing rows changed, 5 rows added)" in result.stdout
    got = _aapl(tmp_path)
    assert len(got) == 15 and str(got["date"].iloc[0]) == "2024-01-02"
    loads = rows(tmp_path, "SELECT seq, row_count, rows_added, rows_changed FROM raw.loads "
                           "ORDER BY seq")
    assert loads == [(1, 10, 10, 0), (2, 15, 5, 0)]
    # Append-only: the first load's rows are still there, next to the complete second load.
    assert rows(tmp_path, "SELECT count(*) FROM raw.ohlcv_history") == [(25,)]


def test_changed_history_is_a_new_load_that_counts_changed_and_added_rows(tmp_path: Path):
    run_fts(tmp_path, "ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL")
    revised = tmp_path / "revised.csv"
    revised.write_text(edit_rows(AAPL_NEXT_CSV.read_text(), {1: {"Adj Close": "184.8"}}))
    result = run_fts(tmp_path, "ingest", "csv", str(revised), "--ticker", "AAPL")
    assert result.exit_code == 0, result.output
    assert "(1 existing rows changed, 5 rows added)" in result.stdout
    assert rows(tmp_path, "SELECT close FROM raw.ohlcv WHERE date = '2024-01-12'") == [(184.8,)]


def test_load_id_is_the_manifest_id_and_the_manifest_pins_source_and_content(tmp_path: Path):
    first = ingest_csv(ProjectPaths(tmp_path), AAPL_CSV, "AAPL", adjusted=True, progress=print)
    second = ingest_csv(ProjectPaths(tmp_path), AAPL_NEXT_CSV, "AAPL", adjusted=True,
                        progress=print)
    doc = json.loads(second.manifest_path.read_text())
    assert doc["id"] == second.load_id == second.manifest_path.stem
    body = doc["body"]
    assert body["kind"] == "raw" and body["name"] == "AAPL" and body["ticker"] == "AAPL"
    assert body["source"] == {"kind": "csv", "path": str(AAPL_NEXT_CSV),
                              "sha256": sha256_file(AAPL_NEXT_CSV)}
    assert body["options"] == {"adjusted": True, "close_column": "Adj Close"}
    assert (body["row_count"], body["first_date"], body["last_date"]) == (15, "2024-01-02",
                                                                           "2024-01-23")
    assert (body["rows_added"], body["rows_changed"]) == (5, 0)
    assert body["previous_load_id"] == first.load_id
    assert body["inputs"][0]["id"] == first.load_id
    # The content hash is the hash of the rows as DuckDB hands them back: format-independent.
    stored = rows(tmp_path, "SELECT ticker, date, open, high, low, close, volume FROM raw.ohlcv "
                            "WHERE ticker = 'AAPL' ORDER BY date")
    table = pa.Table.from_pylist([dict(zip(["ticker", "date", "open", "high", "low", "close",
                                            "volume"], r, strict=True)) for r in stored])
    assert body["content_sha256"] == table_content_sha256(table)
    registered = rows(tmp_path, "SELECT l.content_sha256, m.kind FROM raw.loads l "
                                "JOIN meta.manifests m ON m.id = l.load_id WHERE l.load_id = ?",
                      [second.load_id])
    assert registered == [(body["content_sha256"], "raw")]


def test_calendar_gap_is_a_warning_line_not_an_error(tmp_path: Path):
    gappy = tmp_path / "gappy.csv"
    gappy.write_text(edit_rows(AAPL_CSV.read_text(), {10: {"Date": "2024-02-01"}}))
    result = run_fts(tmp_path, "ingest", "csv", str(gappy), "--ticker", "AAPL")
    assert result.exit_code == 0
    assert result.stderr == ("warning: AAPL: 1 calendar gap longer than 5 days: "
                             "2024-01-12 -> 2024-02-01 (20 days)\n")
    body = json.loads(next((tmp_path / "manifests" / "raw").glob("*.json")).read_text())["body"]
    assert body["calendar_gaps"] == [["2024-01-12", "2024-02-01", 20]]


def test_failure_inside_the_transaction_rolls_back_and_removes_the_manifest(
    sample_project_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    import fts.warehouse.publish as publish  # every artefact is registered there

    def broken_registry(con, manifest):
        raise FtsError("registry exploded")

    monkeypatch.setattr(publish, "register_manifest", broken_registry)
    before = snapshot(sample_project_dir)
    result = run_fts(sample_project_dir, "ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL")
    assert result.exit_code == 1 and "registry exploded" in result.stderr
    assert snapshot(sample_project_dir) == before
    assert len(manifest_files(sample_project_dir)) == 2  # the sample's two loads only
