"""`fts ingest sample`: ^GSPC OHLCV and the close-only ^VIX series, shipped in fts/ingest/sample."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa

import fts.ingest
from fts.core.hashing import table_content_sha256
from tests.ingest.helpers import rows, run_fts, snapshot

SAMPLE_DIR = Path(fts.ingest.__file__).parent / "sample"


def _manifest(project: Path, ticker: str) -> dict:
    (load_id,) = rows(project, "SELECT load_id FROM raw.latest_loads WHERE ticker = ?", [ticker])[0]
    return json.loads((project / "manifests" / "raw" / f"{load_id}.json").read_text())["body"]


def test_sample_holds_both_series_with_their_full_date_ranges(sample_project_dir: Path):
    got = rows(sample_project_dir, "SELECT ticker, count(*), min(date)::VARCHAR, "
                                   "max(date)::VARCHAR FROM raw.ohlcv GROUP BY 1 ORDER BY 1")
    # vix.csv.gz has 1305 data rows; 46 of them are FRED's "." (no value: US market holidays).
    assert got == [("^GSPC", 5031, "1999-01-04", "2018-12-31"),
                   ("^VIX", 1259, "2014-01-03", "2019-01-03")]


def test_vix_is_a_close_only_series_with_empty_open_high_low_volume(sample_project_dir: Path):
    got = rows(sample_project_dir, "SELECT count(open), count(high), count(low), count(volume), "
                                   "count(close) FROM raw.ohlcv WHERE ticker = '^VIX'")
    assert got == [(0, 0, 0, 0, 1259)]
    flags = rows(sample_project_dir, "SELECT ticker, close_only FROM raw.loads ORDER BY ticker")
    assert flags == [("^GSPC", False), ("^VIX", True)]


def test_gspc_close_is_the_files_adj_close(sample_project_dir: Path):
    data = (SAMPLE_DIR / "sp500.csv.gz").read_bytes()
    file = pd.read_csv(io.BytesIO(gzip.decompress(data)))
    got = rows(sample_project_dir, "SELECT open, high, low, close, volume FROM raw.ohlcv "
                                   "WHERE ticker = '^GSPC' ORDER BY date")
    assert [r[3] for r in got] == file["Adj Close"].tolist()
    assert got[0] == (1229.22998, 1248.810059, 1219.099976, 1228.099976, 877000000.0)


def test_sample_manifest_names_the_file_its_hash_and_its_origin(sample_project_dir: Path):
    body = _manifest(sample_project_dir, "^VIX")
    data = (SAMPLE_DIR / "vix.csv.gz").read_bytes()
    assert body["source"] == {
        "kind": "sample", "file": "ingest/sample/vix.csv.gz",
        "sha256": hashlib.sha256(data).hexdigest(),
        "origin": {"package": "arch", "package_version": "8.0.0",
                   "file": "arch/data/vix/vix.csv.gz"},
        "rows_without_value_skipped": 46,
    }
    assert body["close_only"] is True and body["row_count"] == 1259


def test_sample_files_match_their_recorded_provenance_and_licence():
    provenance = json.loads((SAMPLE_DIR / "provenance.json").read_text())
    assert provenance["source_package"] == "arch" and "NCSA" in provenance["license"]
    assert "Kevin Sheppard" in (SAMPLE_DIR / provenance["license_file"]).read_text()
    for name, record in provenance["files"].items():
        assert hashlib.sha256((SAMPLE_DIR / name).read_bytes()).hexdigest() == record["sha256"]
    # Hashes taken with sha256sum from arch 8.0.0's wheel when the files were copied.
    assert provenance["files"]["sp500.csv.gz"]["sha256"].startswith("1e028cbb9c400cc0")
    assert provenance["files"]["vix.csv.gz"]["sha256"].startswith("410bd07360dc798f")


def test_sample_content_hash_matches_the_rows_read_back_from_duckdb(sample_project_dir: Path):
    for ticker in ("^GSPC", "^VIX"):
        stored = rows(sample_project_dir,
                      "SELECT ticker, date, open, high, low, close, volume FROM raw.ohlcv "
                      "WHERE ticker = ? ORDER BY date", [ticker])
        names = ["ticker", "date", "open", "high", "low", "close", "volume"]
        table = pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in stored],
                                     schema=pa.schema([("ticker", pa.string()),
                                                       ("date", pa.date32()),
                                                       *[(n, pa.float64()) for n in names[2:]]]))
        assert _manifest(sample_project_dir, ticker)["content_sha256"] == table_content_sha256(table)


def test_sample_records_the_september_2001_closure_as_a_calendar_gap(sample_project_dir: Path):
    assert _manifest(sample_project_dir, "^GSPC")["calendar_gaps"] == [
        ["2001-09-10", "2001-09-17", 7]]


def test_ingesting_the_sample_twice_says_unchanged_and_changes_nothing(sample_project_dir: Path):
    before = snapshot(sample_project_dir)
    result = run_fts(sample_project_dir, "ingest", "sample")
    assert result.exit_code == 0, result.output
    assert [line.split(" (")[0] for line in result.stdout.splitlines()] == [
        "^GSPC: unchanged", "^VIX: unchanged"]
    assert snapshot(sample_project_dir) == before


def test_a_close_only_series_cannot_be_merged_with_ohlc_rows(sample_project_dir: Path,
                                                             tmp_path: Path):
    ohlc = tmp_path / "vix.csv"
    ohlc.write_text("Date,Open,High,Low,Close,Volume\n2019-01-04,25,26,21,21.38,0\n")
    before = snapshot(sample_project_dir)
    result = run_fts(sample_project_dir, "ingest", "csv", str(ohlc), "--ticker", "^vix")
    assert result.exit_code == 1
    assert "^VIX is stored as a close-only series" in result.stderr
    assert snapshot(sample_project_dir) == before


def test_a_sample_file_that_differs_from_its_provenance_is_refused(monkeypatch):
    import pytest

    from fts.core.errors import ValidationError
    from fts.ingest import sources

    record = sources.sample_provenance()
    record["files"]["vix.csv.gz"]["sha256"] = "0" * 64
    monkeypatch.setattr(sources, "sample_provenance", lambda: record)
    with pytest.raises(ValidationError, match="vix.csv.gz.*differs from the provenance record"):
        sources.read_sample_sources()
