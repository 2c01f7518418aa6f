"""pandera checks a batch's tier a few whole tickers at a time (`ticker_chunks`)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from fts.core.errors import FtsError
from fts.features import validate
from fts.features.validate import ticker_chunks
from tests.features.test_build_failures import _two_bad_tickers


def test_chunks_hold_whole_tickers_and_at_most_the_rows_asked_for() -> None:
    counts = {"A": 3, "B": 4, "C": 2, "D": 9, "E": 1}
    table = pa.table({"ticker": [t for t, n in counts.items() for _ in range(n)],
                      "x": list(range(sum(counts.values())))})
    chunks = list(ticker_chunks(table, list(counts.values()), max_rows=6))
    # Hand-split: A+B would be 7 > 6; B+C = 6; D (9) alone; E.
    assert [sorted(set(c.column("ticker").to_pylist())) for c in chunks] == [
        ["A"], ["B", "C"], ["D"], ["E"]]
    assert pa.concat_tables(chunks).equals(table)
    empty = table.slice(0, 0)
    assert [c.num_rows for c in ticker_chunks(empty, [])] == [0]  # still checked once


def test_a_build_checked_one_ticker_at_a_time_names_the_same_failures(
        sample_project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _two_bad_tickers(sample_project_dir)
    with pytest.raises(FtsError) as whole:
        project.build_tier("a20")
    monkeypatch.setattr(validate, "CHUNK_ROWS", 1)  # every ticker a chunk of its own
    with pytest.raises(FtsError) as chunked:
        project.build_tier("a20")
    assert "columns obv, adosc, vwap_20: check volume_null_only_without_volume failed on 98 row(s) (first: GAPPY 2017-03-01)" in str(chunked.value)
    assert str(chunked.value) == str(whole.value)
