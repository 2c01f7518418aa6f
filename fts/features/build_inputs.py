"""What a tier build reads: the tickers and raw loads it uses, the market-wide series its models
read (^VIX today), and why a ticker the warm-up trim dropped has no rows.

Everything here reads the warehouse or the build's in-memory session and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from fts.core.errors import BuildError, NotFoundError
from fts.features.declarations import FeatureProject
from fts.features.graph import tiers_in
from fts.features.render import RenderedModel, source_relation


@dataclass
class BuildInputs:
    """The tickers a build covers and every raw load it reads (ticker -> (load_id, sha))."""

    tickers: list[str]
    loads: dict[str, tuple[str, str]]  # ticker -> (load_id, content_sha256)
    vix_ticker: str | None


def needs_vix(models: list[RenderedModel]) -> bool:
    """Whether any model in the plan reads `raw.vix`."""
    return any(("raw", "vix") in m.sources for m in models)


def select_inputs(
    con: duckdb.DuckDBPyConnection, project: FeatureProject, tier: str,
    tickers: Sequence[str] | None, needs_vix: bool,
) -> BuildInputs:
    """The tickers to build (all OHLC tickers, or `tickers`) and the loads they read."""
    rows = con.execute(
        "SELECT ticker, load_id, content_sha256, close_only FROM raw.latest_loads ORDER BY ticker"
    ).fetchall()
    loads = {t: (lid, sha) for t, lid, sha, _ in rows}
    price_tickers = [t for t, _, _, close_only in rows if not close_only]
    vix_ticker = str(project.vars.get("vix_ticker", "^VIX"))
    if tickers:
        wanted = [t.upper() for t in tickers]
        unknown = [t for t in wanted if t not in loads]
        if unknown:
            raise NotFoundError(
                f"ticker(s) {', '.join(unknown)} not in the warehouse; ingest them first "
                f"(loaded: {', '.join(sorted(loads)) or 'none'})"
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
    if needs_vix and vix_ticker not in loads:
        raise NotFoundError(
            f"tier {tier} needs {vix_ticker} closes, which are not in the warehouse; load them "
            "with `fts ingest sample` or `fts ingest yfinance ^VIX`"
        )
    used = {t: loads[t] for t in chosen}
    if needs_vix:
        used[vix_ticker] = loads[vix_ticker]
    return BuildInputs(chosen, used, vix_ticker if needs_vix else None)


def tiers_using_vix(project: FeatureProject, models: list[RenderedModel]) -> set[str]:
    """Tiers whose own models or upstream models read `raw.vix` (their build key includes it)."""
    by_name = {m.spec.name: m for m in models}

    def closure(name: str) -> set[str]:
        seen, stack = set(), [name]
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(by_name[n].refs)
        return seen

    using = set()
    for tier in tiers_in(project, models):
        names = {m.spec.name for m in models if m.spec.folder == tier}
        for n in set(names):
            names |= closure(n)
        if any(("raw", "vix") in by_name[n].sources for n in names):
            using.add(tier)
    return using


def check_history(
    mem: duckdb.DuckDBPyConnection, tier: str, frame: Any, inputs: BuildInputs, warmup: int,
    vix_staleness_days: int | None,
) -> None:
    """Raise `BuildError` for a ticker the warm-up trim dropped, naming the real cause.

    `vix_staleness_days` is None for a tier that does not read ^VIX; otherwise a ticker date
    counts as covered when a VIX close lies at most that many days before it.
    """
    built = set(frame["ticker"].unique()) if len(frame) else set()
    for ticker in inputs.tickers:
        if ticker in built:
            continue
        n, first, last, covered, volumes, first_empty = mem.execute(
            f"""SELECT count(*), min(t.date)::VARCHAR, max(t.date)::VARCHAR,
                       count(*) FILTER (WHERE datediff('day', v.date, t.date) <= ?),
                       count(t.volume), min(t.date) FILTER (WHERE t.volume IS NULL)::VARCHAR
                FROM {source_relation("raw", "ohlcv")} t
                ASOF LEFT JOIN {source_relation("raw", "vix")} v ON t.date >= v.date
                WHERE t.ticker = ?""",
            [vix_staleness_days or 0, ticker],
        ).fetchall()[0]
        if 0 < volumes < n:
            # Loaded before ingestion refused it: volume indicators (OBV) stay null from there.
            raise BuildError(
                f"tier {tier}: ticker {ticker} has {n - volumes} empty volume cell(s) among its "
                f"volumes (first on {first_empty}), so its volume features stay null; re-ingest "
                "it with a volume on every row or on none; nothing was written"
            )
        # With enough rows of its own, a ticker is dropped because VIX-based columns stay null.
        if vix_staleness_days is not None and n > warmup and covered < n:
            vix = inputs.vix_ticker
            vf, vl = mem.execute(f"SELECT min(date)::VARCHAR, max(date)::VARCHAR "
                                 f"FROM {source_relation('raw', 'vix')}").fetchall()[0]
            loaded = f"{vix} loaded {vf}..{vl}" if vf else f"no {vix} rows loaded"
            lacking = (f"no {vix} close within {vix_staleness_days} days for {ticker}'s dates "
                       f"{first}..{last}" if covered == 0 else
                       f"only {covered} of {ticker}'s {n} dates {first}..{last} have a {vix} "
                       f"close within {vix_staleness_days} days")
            raise BuildError(
                f"tier {tier}: {lacking} ({loaded}); load {vix} closes for those dates "
                "(e.g. `fts ingest yfinance ^VIX`); nothing was written"
            )
        raise BuildError(
            f"tier {tier}: ticker {ticker} has {n} rows of history, too few for the tier's "
            f"warm-up (at least {warmup} rows, plus VIX coverage where needed); "
            "nothing was written"
        )
