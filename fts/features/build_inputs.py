"""What a tier build reads: the tickers and raw loads it uses, the rows of the declared sources
its models read (the bars, and the market-wide series), and why a ticker the warm-up trim
dropped has no rows.

Everything here reads the warehouse or the build's in-memory session and writes nothing.
Sources are those declared in features_sql/project.yml; nothing here knows any one series.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from fts.core.errors import BuildError, NotFoundError
from fts.features.declarations import FeatureProject
from fts.features.graph import tiers_in
from fts.features.render import RenderedModel, source_relation


@dataclass
class BuildInputs:
    """The tickers a build covers and every raw load it reads.

    `loads`: each built ticker's latest load (ticker -> (load_id, content_sha256)).
    `series`: each market-wide source the plan reads -> (its raw ticker, load_id, sha).
    """

    tickers: list[str]
    loads: dict[str, tuple[str, str]]
    series: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def raw_loads(self, series: Iterable[str]) -> list[tuple[str, str, str]]:
        """(ticker, load_id, sha) of the built tickers and of the named series, by ticker: the
        raw loads a tier reading those series depends on (its build key and manifest inputs)."""
        rows = {t: (t, lid, sha) for t, (lid, sha) in self.loads.items()}
        for name in series:
            ticker, lid, sha = self.series[name]
            rows[ticker] = (ticker, lid, sha)
        return [rows[t] for t in sorted(rows)]


def plan_series(project: FeatureProject, models: list[RenderedModel]) -> list[str]:
    """The market-wide series any model of the plan reads, by name."""
    return sorted({s for m in models for s in m.sources if project.sources[s].kind == "series"})


def select_inputs(
    con: duckdb.DuckDBPyConnection, project: FeatureProject, tier: str,
    tickers: Sequence[str] | None, models: list[RenderedModel],
) -> BuildInputs:
    """The tickers to build (every ticker with OHLC bars that no series source names, or
    `tickers`), their loads, and the loads of the series the plan's `models` read."""
    rows = con.execute(
        "SELECT ticker, load_id, content_sha256, close_only FROM raw.latest_loads ORDER BY ticker"
    ).fetchall()
    loads = {t: (lid, sha) for t, lid, sha, _ in rows}
    series_of = {s.ticker: s.name for s in project.sources.values() if s.kind == "series"}
    price_tickers = [t for t, _, _, close_only in rows if not close_only and t not in series_of]
    if tickers:
        wanted = [t.upper() for t in tickers]
        unknown = [t for t in wanted if t not in loads]
        if unknown:
            raise NotFoundError(
                f"ticker(s) {', '.join(unknown)} not in the warehouse; ingest them first "
                f"(loaded: {', '.join(sorted(loads)) or 'none'})"
            )
        named = [t for t in wanted if t in series_of]
        if named:
            raise BuildError(
                f"ticker(s) {', '.join(named)} are the market-wide series "
                f"{', '.join(series_of[t] for t in named)} (sources in features_sql/project.yml); "
                "they are joined to every ticker, not built as rows of their own"
            )
        close_only = [t for t in wanted if t not in price_tickers]
        if close_only:
            raise BuildError(
                f"ticker(s) {', '.join(close_only)} are close-only series (no open/high/low); "
                f"tier {tier} needs full OHLC bars"
            )
        chosen = sorted(set(wanted))
    else:
        chosen = price_tickers
    if not chosen:
        raise NotFoundError(
            f"tier {tier}: no OHLC data in the warehouse; run `fts ingest sample` "
            "(or `fts ingest csv` / `fts ingest yfinance`) first"
        )
    series: dict[str, tuple[str, str, str]] = {}
    for name in plan_series(project, models):
        ticker = project.sources[name].ticker or ""
        if ticker not in loads:
            raise NotFoundError(
                f"tier {tier} reads source {name}, ticker {ticker}, which is not in the "
                f"warehouse; load it with `fts ingest csv PATH --ticker {ticker}` or "
                f"`fts ingest yfinance {ticker}`"
            )
        series[name] = (ticker, *loads[ticker])
    return BuildInputs(chosen, {t: loads[t] for t in chosen}, series)


def read_sources(
    con: duckdb.DuckDBPyConnection, project: FeatureProject, inputs: BuildInputs,
    tickers: Sequence[str] | None = None,
) -> dict[str, pa.Table]:
    """The rows of every source a build reads, for `run_plan`: the bars of `tickers` (default
    all of `inputs.tickers`) under the bars source's name, and each series' own rows (date and
    its declared columns) under its name."""
    wanted = list(inputs.tickers if tickers is None else tickers)
    out = {project.ohlcv_source: con.sql(
        "SELECT ticker, date, open, high, low, close, volume FROM raw.ohlcv "
        "WHERE list_contains(?, ticker) ORDER BY ticker, date", params=[wanted]
    ).to_arrow_table()}
    for name, (ticker, _, _) in inputs.series.items():
        spec = project.sources[name]
        columns = ", ".join(spec.columns)
        table = con.sql(f"SELECT date, {columns} FROM raw.ohlcv WHERE ticker = ? ORDER BY date",
                        params=[ticker]).to_arrow_table()
        empty = [c for c in spec.columns if table.column(c).null_count == table.num_rows]
        if empty:
            raise BuildError(
                f"source {name}: ticker {ticker} has no {', '.join(empty)} values in the "
                "warehouse; declare the columns it has in features_sql/project.yml"
            )
        out[name] = table
    return out


def series_by_tier(project: FeatureProject, models: list[RenderedModel]) -> dict[str, list[str]]:
    """For each tier of a plan, the market-wide series its own or upstream models read (their
    loads are part of its build key; a tier reading none does not rebuild when they change)."""
    by_name = {m.spec.name: m for m in models}

    def closure(name: str) -> set[str]:
        seen, stack = set(), [name]
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(by_name[n].refs)
        return seen

    out: dict[str, list[str]] = {}
    for tier in tiers_in(project, models):
        names = {m.spec.name for m in models if m.spec.folder == tier}
        for n in set(names):
            names |= closure(n)
        out[tier] = sorted({s for n in names for s in by_name[n].sources
                            if project.sources[s].kind == "series"})
    return out


def check_history(
    mem: duckdb.DuckDBPyConnection, project: FeatureProject, tier: str, frame: Any,
    inputs: BuildInputs, warmup: int, series: Sequence[str],
) -> None:
    """Raise `BuildError` for a ticker the warm-up trim dropped, naming the real cause.

    `series` are the market-wide sources the tier reads: a ticker date counts as covered by one
    when its latest row lies at most its max_staleness_days before the date.
    """
    built = set(frame["ticker"].unique()) if len(frame) else set()
    bars = source_relation(project.ohlcv_source)
    for ticker in inputs.tickers:
        if ticker in built:
            continue
        n, first, last, volumes, first_empty = mem.execute(
            f"""SELECT count(*), min(date)::VARCHAR, max(date)::VARCHAR, count(volume),
                       min(date) FILTER (WHERE volume IS NULL)::VARCHAR
                FROM {bars} WHERE ticker = ?""", [ticker],
        ).fetchall()[0]
        if 0 < volumes < n:
            # Loaded before ingestion refused it: volume indicators (OBV) stay null from there.
            raise BuildError(
                f"tier {tier}: ticker {ticker} has {n - volumes} empty volume cell(s) among its "
                f"volumes (first on {first_empty}), so its volume features stay null; re-ingest "
                "it with a volume on every row or on none; nothing was written"
            )
        # With enough rows of its own, a ticker is dropped because a series' columns stay null.
        for name in series if n > warmup else ():
            _check_coverage(mem, project, tier, name, ticker, (n, first, last), bars)
        raise BuildError(
            f"tier {tier}: ticker {ticker} has {n} rows of history, too few for the tier's "
            f"warm-up (at least {warmup} rows, plus fresh values of the series it reads); "
            "nothing was written"
        )


def _check_coverage(
    mem: duckdb.DuckDBPyConnection, project: FeatureProject, tier: str, name: str, ticker: str,
    rows: tuple[int, str, str], bars: str,
) -> None:
    """Raise when some of `ticker`'s dates have no fresh row of series `name`."""
    spec = project.sources[name]
    n, first, last = rows
    rel = source_relation(name)
    (covered,) = mem.execute(
        f"""SELECT count(*) FILTER (WHERE datediff('day', v.date, t.date) <= ?)
            FROM {bars} t ASOF LEFT JOIN {rel} v ON t.date >= v.date WHERE t.ticker = ?""",
        [spec.max_staleness_days, ticker],
    ).fetchall()[0]
    if covered == n:
        return
    series, days = spec.ticker, spec.max_staleness_days
    vf, vl = mem.execute(f"SELECT min(date)::VARCHAR, max(date)::VARCHAR FROM {rel}").fetchall()[0]
    loaded = f"{series} loaded {vf}..{vl}" if vf else f"no {series} rows loaded"
    lacking = (f"no {series} {spec.columns[0]} within {days} days for {ticker}'s dates "
               f"{first}..{last}" if covered == 0 else
               f"only {covered} of {ticker}'s {n} dates {first}..{last} have a {series} "
               f"{spec.columns[0]} within {days} days")
    raise BuildError(
        f"tier {tier}: {lacking} ({loaded}); load {series} rows for those dates (source {name}, "
        f"e.g. `fts ingest yfinance {series}`); nothing was written"
    )
