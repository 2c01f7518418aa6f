"""The transactional load: merge a validated series with the ticker's latest load and append it.

A load stores the COMPLETE series of one ticker: the previous latest load's rows with the new
rows laid over them (new rows win on shared dates), so a download of recent days extends the
history instead of replacing it. Identical content is not stored again ("unchanged").

Order of work, chosen so that a failure or a kill at any point leaves the warehouse as it was:
the whole load holds the project's publish lock (so two loads of a ticker chain, never fork);
1. merge and re-validate in memory; 2. publish (`fts.warehouse.publish`): the manifest file, then
in ONE DuckDB transaction the raw.loads row, the raw.ohlcv_history rows and the meta.manifests
row. A manifest file without a meta.manifests row is the harmless trace of a killed load
(`fts gc` removes it). `load_many` does the same for a batch of tickers: every series merged and
checked first, then one publication (one lock, one connection, one transaction) for all.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from fts.core.errors import ConfigError, ValidationError
from fts.core.hashing import table_content_sha256
from fts.core.manifest import Input, Manifest
from fts.core.paths import ProjectPaths
from fts.ingest.series import (
    CANONICAL_COLUMNS,
    LOADER_VERSION,
    SERIES_COLUMNS,
    SourceSeries,
    canonical_table,
)
from fts.ingest.validate import calendar_gaps, check, series_schema
from fts.warehouse import connect
from fts.warehouse.publish import project_lock, publish

#: Test hook for crash safety: when set to a file path, a load creates that file from inside
#: its transaction and then sleeps before COMMIT, so a test can SIGKILL it at that moment.
PAUSE_BEFORE_COMMIT_ENV = "FTS_INGEST_PAUSE_BEFORE_COMMIT"
_VALUE_COLUMNS = SERIES_COLUMNS[1:]


@dataclass(frozen=True)
class LoadResult:
    """What one ticker's load did. `status` is "loaded" (a new load) or "unchanged"."""

    ticker: str
    status: str
    load_id: str
    row_count: int
    rows_added: int
    rows_changed: int
    first_date: dt.date | None
    last_date: dt.date | None
    close_only: bool
    previous_load_id: str | None
    manifest_path: Path | None
    calendar_gaps: tuple[tuple[str, str, int], ...] = ()

    @property
    def unchanged(self) -> bool:
        return self.status == "unchanged"

    @property
    def warnings(self) -> list[str]:
        """Warning lines worth showing (calendar gaps are suspicious, never fatal)."""
        if not self.calendar_gaps or self.unchanged:
            return []
        shown = ", ".join(f"{a} -> {b} ({d} days)" for a, b, d in self.calendar_gaps[:3])
        more = f" and {len(self.calendar_gaps) - 3} more" if len(self.calendar_gaps) > 3 else ""
        n = len(self.calendar_gaps)
        return [f"warning: {self.ticker}: {n} calendar gap{'s' if n > 1 else ''} longer than "
                f"5 days: {shown}{more}"]

    def summary(self) -> str:
        """The one progress line for this load."""
        span = f"{self.first_date}..{self.last_date}"
        kind = ", close only" if self.close_only else ""
        if self.unchanged:
            return (f"{self.ticker}: unchanged ({self.row_count} rows {span}{kind}; "
                    f"load {self.load_id[:12]})")
        what = ("new series" if self.previous_load_id is None
                else f"{self.rows_changed} existing rows changed, {self.rows_added} rows added")
        return (f"{self.ticker}: loaded {self.row_count} rows {span}{kind} ({what}) "
                f"as load {self.load_id[:12]}")


def merge_series(old: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """Lay `new` over `old` by date. Returns (merged, rows_added, rows_changed).

    A shared date counts as changed when any value differs (two empty values are equal).
    """
    old_i, new_i = old.set_index("date"), new.set_index("date")
    shared = old_i.index.intersection(new_i.index)
    a, b = old_i.loc[shared, _VALUE_COLUMNS], new_i.loc[shared, _VALUE_COLUMNS]
    same = (a == b) | (a.isna() & b.isna())
    rows_changed = int((~same.all(axis=1)).sum())
    rows_added = int(len(new_i.index.difference(old_i.index)))
    merged = pd.concat([old_i.drop(index=shared), new_i[_VALUE_COLUMNS]]).sort_index()
    return merged.reset_index()[SERIES_COLUMNS], rows_added, rows_changed


def _latest_loads(con: duckdb.DuckDBPyConnection, tickers: list[str]) -> dict[str, dict[str, Any]]:
    """The latest load of each of `tickers` that has one (one query for a whole batch)."""
    rows = con.execute(
        "SELECT ticker, load_id, content_sha256, close_only FROM raw.latest_loads "
        "WHERE list_contains(?, ticker)",
        [tickers],
    ).fetchall()
    return {t: {"load_id": lid, "content_sha256": sha, "close_only": bool(co)}
            for t, lid, sha, co in rows}


def _load_rows(con: duckdb.DuckDBPyConnection, load_id: str) -> pd.DataFrame:
    cols = ", ".join(SERIES_COLUMNS)
    frame = con.execute(
        f"SELECT {cols} FROM raw.ohlcv_history WHERE load_id = ? ORDER BY date", [load_id]
    ).df()
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    return frame.astype(dict.fromkeys(_VALUE_COLUMNS, "float64"))


class _DateLabels(Sequence[str]):
    """Rows named by their dates, formatted only for the row an error names (formatting every
    date of a 30-year series up front costs as much as validating it)."""

    def __init__(self, dates: pd.Series) -> None:
        self._dates = dates

    def __len__(self) -> int:
        return len(self._dates)

    def __getitem__(self, i: Any) -> Any:  # one row (an int) is all `check` asks for
        return self._dates.iloc[i].date().isoformat()


@dataclass
class _Pending:
    """A series merged and checked, with its manifest, waiting for the batch's transaction."""

    series: SourceSeries
    table: pa.Table
    manifest: Manifest


def load_series(paths: ProjectPaths, series: SourceSeries) -> LoadResult:
    """Merge `series` into the ticker's history and append it as a new load (or do nothing)."""
    return load_many(paths, [series])[0]


def load_many(paths: ProjectPaths, batch: Sequence[SourceSeries]) -> list[LoadResult]:
    """`load_series` for several tickers at once, all or nothing: one project lock, one
    warehouse connection and ONE transaction for the whole batch (a load of thousands of
    tickers would otherwise spend most of its time opening the warehouse and committing).

    Every series is merged and checked before the first write; a failure in any of them
    raises and stores none. Results are in the order of `batch`; a ticker may appear once.
    """
    tickers = [s.ticker for s in batch]
    repeated = sorted(t for t, n in Counter(tickers).items() if n > 1)
    if repeated:
        raise ConfigError(f"{', '.join(repeated)}: one batch of loads holds each ticker once")
    if not batch:
        return []
    paths.root.mkdir(parents=True, exist_ok=True)
    with project_lock(paths), connect(paths.warehouse) as con:
        latest = _latest_loads(con, tickers)
        results: list[LoadResult] = []
        pending: list[_Pending] = []
        for series in batch:
            result, item = _merge(con, series, latest.get(series.ticker), paths)
            results.append(result)
            if item is not None:
                pending.append(item)
        if pending:
            _store(paths, con, pending)
    return results


def _merge(
    con: duckdb.DuckDBPyConnection, series: SourceSeries, previous: dict[str, Any] | None,
    paths: ProjectPaths,
) -> tuple[LoadResult, _Pending | None]:
    """Merge one series with its ticker's latest load and check it (writes nothing)."""
    ticker = series.ticker
    if previous and previous["close_only"] != series.close_only:
        stored = "a close-only series" if previous["close_only"] else "an OHLC series"
        raise ValidationError(
            f"{ticker} is stored as {stored}; this source is "
            f"{'close-only' if series.close_only else 'OHLC'} and cannot be merged into it",
            source=series.label,
        )
    old = _load_rows(con, previous["load_id"]) if previous else series.frame.iloc[:0]
    merged, added, changed = merge_series(old, series.frame)
    first = merged["date"].iloc[0].date() if len(merged) else None
    last = merged["date"].iloc[-1].date() if len(merged) else None
    if previous and added == 0 and changed == 0:
        return LoadResult(ticker, "unchanged", previous["load_id"], len(merged), 0, 0,
                          first, last, series.close_only, previous["load_id"], None), None
    # The merged series is checked again as a whole (rows named by date): the stored part
    # was valid when written, but this guards against rows written by older versions.
    check(series_schema(close_only=series.close_only), merged, source=ticker,
          row_labels=_DateLabels(merged["date"]))
    table = canonical_table(ticker, merged)
    gaps = calendar_gaps(merged["date"])
    manifest = _manifest(series, table, added, changed, previous, gaps, first, last)
    result = LoadResult(ticker, "loaded", manifest.id, table.num_rows, added, changed, first,
                        last, series.close_only, previous["load_id"] if previous else None,
                        manifest.path_in(paths.manifests), tuple(tuple(g) for g in gaps))
    return result, _Pending(series, table, manifest)


def _manifest(
    series: SourceSeries, table: pa.Table, added: int, changed: int,
    previous: dict[str, Any] | None, gaps: list[list[Any]],
    first: dt.date | None, last: dt.date | None,
) -> Manifest:
    inputs = ([Input(id=previous["load_id"], kind="raw", sha256=previous["content_sha256"])]
              if previous else [])
    return Manifest.create(
        kind="raw",
        name=series.ticker,
        version=LOADER_VERSION,
        inputs=inputs,
        ticker=series.ticker,
        source=series.source,
        source_kind=series.source_kind,
        close_only=series.close_only,
        options=series.options,
        columns=CANONICAL_COLUMNS,
        row_count=table.num_rows,
        first_date=first.isoformat() if first else None,
        last_date=last.isoformat() if last else None,
        content_sha256=table_content_sha256(table, CANONICAL_COLUMNS),
        rows_added=added,
        rows_changed=changed,
        previous_load_id=previous["load_id"] if previous else None,
        calendar_gaps=gaps,
    )


def _store(paths: ProjectPaths, con: duckdb.DuckDBPyConnection, pending: list[_Pending]) -> None:
    """Publish the manifests with their loads' rows, in one transaction (undone on failure)."""
    view = f"_fts_load_{pending[0].manifest.id[:16]}"
    # Every row of the batch in one Arrow table, inserted by one statement.
    history = pa.concat_tables([
        p.table.add_column(0, "load_id", pa.array([p.manifest.id] * p.table.num_rows, pa.string()))
        for p in pending
    ])

    def rows(con: duckdb.DuckDBPyConnection) -> None:
        for p in pending:
            manifest, series = p.manifest, p.series
            con.execute(
                """INSERT INTO raw.loads (load_id, seq, ticker, source_kind, loaded_at,
                       row_count, first_date, last_date, content_sha256, rows_added,
                       rows_changed, close_only)
                   SELECT ?, coalesce(max(seq), 0) + 1, ?, ?,
                          CAST(? AS TIMESTAMPTZ) AT TIME ZONE 'UTC', ?, ?, ?, ?, ?, ?, ?
                   FROM raw.loads""",
                [manifest.id, series.ticker, series.source_kind, manifest["created_at"],
                 manifest["row_count"], manifest["first_date"], manifest["last_date"],
                 manifest["content_sha256"], manifest["rows_added"], manifest["rows_changed"],
                 series.close_only],
            )
        con.register(view, history)
        try:
            con.execute(
                f"""INSERT INTO raw.ohlcv_history
                    (load_id, ticker, date, open, high, low, close, volume)
                    SELECT load_id, ticker, date, open, high, low, close, volume FROM {view}""")
        finally:
            con.unregister(view)
        _pause_before_commit()

    publish(paths, [p.manifest for p in pending], rows, con=con)


def _pause_before_commit() -> None:
    flag = os.environ.get(PAUSE_BEFORE_COMMIT_ENV)
    if flag:
        Path(flag).write_text(str(os.getpid()), encoding="utf-8")
        time.sleep(120)
