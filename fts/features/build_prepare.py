"""Preparing a tier for publication: take one batch's trimmed rows of a tier from the engine
session, check them (warm-up history, pandera) ticker by ticker, and assemble the tier's
manifest once every batch is done. Writes nothing (`build_publish` stages and publishes)."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from fts.core.errors import FtsError, ValidationError
from fts.core.hashing import sha256_json
from fts.core.manifest import Input, Manifest, utc_now
from fts.features.build_plan import BuildPlan, check_ticker_history
from fts.features.render import relation_name
from fts.features.validate import ticker_chunks, validate_tier
from fts.warehouse.tier_files import PER_TICKER, content_sha256_of, tier_content_sha256


@dataclass
class TierResult:
    """What happened to one tier in a build."""

    tier: str
    manifest_id: str
    up_to_date: bool
    rows: int
    parquet_path: str
    seconds: float = 0.0
    built: list[str] = field(default_factory=list)  # tickers (re)computed
    kept: int = 0  # tickers of the previous build kept as they were
    excluded: dict[str, list[str]] = field(default_factory=dict)  # ticker -> why (skip-invalid)


@dataclass
class TickerRows:
    """One ticker's validated rows of a tier, from one batch."""

    ticker: str
    table: pa.Table
    first: str
    last: str


@dataclass
class Failures:
    """Every ticker that failed a tier's checks, and why (collected over all batches)."""

    by_ticker: dict[str, dict[str, str]] = field(default_factory=dict)  # ticker -> tier -> why
    errors: list[FtsError] = field(default_factory=list)

    def add(self, tier: str, ticker: str, exc: FtsError) -> None:
        self.by_ticker.setdefault(ticker, {})[tier] = reason(exc)
        self.errors.append(exc)

    def excluded_from(self, tier: str, ancestors: set[str]) -> dict[str, list[str]]:
        """The tickers a tier leaves out: those failing it or a tier it reads, with why."""
        return {t: [why for tr, why in sorted(by_tier.items()) if tr == tier or tr in ancestors]
                for t, by_tier in sorted(self.by_ticker.items())
                if tier in by_tier or ancestors & set(by_tier)}

    def message(self) -> str:
        """One line naming every failing ticker and check."""
        parts = [f"{t}: " + "; ".join(by_tier.values()) for t, by_tier in sorted(self.by_ticker.items())]
        return (f"{len(self.by_ticker)} ticker(s) failed the tier checks, nothing was written: "
                + " | ".join(parts) + " (--skip-invalid builds the other tickers and records "
                "these as excluded)")


def reason(exc: FtsError) -> str:
    """An error's message without the 'nothing was written' tail (a reason, not an outcome)."""
    text = " ".join(str(exc).split())
    for tail in ("; nothing was written", ", nothing was written"):
        text = text.replace(tail, "")
    return text


def environment() -> dict[str, str]:
    """The versions of the libraries a build's numbers depend on (recorded in its manifest)."""
    import numpy
    import pandas

    env = {"python": platform.python_version(), "duckdb": duckdb.__version__,
           "pyarrow": pa.__version__, "pandas": pandas.__version__, "numpy": numpy.__version__}
    try:
        import talib

        env["ta-lib"] = talib.__version__
    except ImportError:  # pragma: no cover - TA-Lib is a dependency
        pass
    return env


def prepare_batch(
    build: BuildPlan, mem: duckdb.DuckDBPyConnection, tier: str, tickers: list[str],
    volume_tickers: set[str], failures: Failures,
) -> list[TickerRows]:
    """Check one batch's trimmed rows of `tier` for `tickers` in the session `mem`; return the
    rows of each ticker that passes and add every failing ticker to `failures`."""
    project = build.project
    columns = project.columns(tier)
    trimmed = relation_name(tier, trimmed_tier=True)
    table = mem.sql(f"SELECT * FROM {trimmed} WHERE list_contains(?, ticker) "
                    "ORDER BY ticker, date", params=[tickers]).to_arrow_table()
    ranges = mem.execute(
        f"SELECT ticker, min(date)::VARCHAR, max(date)::VARCHAR, count(*) FROM {trimmed} "
        "WHERE list_contains(?, ticker) GROUP BY 1 ORDER BY 1", [tickers]).fetchall()
    # The tier's rows now live in `table`; free DuckDB's copy before pandas makes its own.
    mem.execute(f"DROP TABLE {trimmed}")
    warmup = max(c.warmup for c in columns) if columns else 0
    built = {r[0] for r in ranges}
    present = pd.DataFrame({"ticker": sorted(built)})  # check_history asks which were built
    for ticker in tickers:
        if ticker not in built:  # the warm-up trim dropped it: find out why
            try:
                check_ticker_history(build, mem, tier, present, ticker, warmup)
            except FtsError as exc:
                failures.add(tier, ticker, exc)
    # pandera checks a pandas copy of the rows, a few whole tickers at a time (converting Arrow
    # costs less than a second fetch from DuckDB; one block per column avoids a consolidated
    # copy), so the copy never doubles the batch's tier in memory.
    for chunk in ticker_chunks(table, [r[3] for r in ranges]):
        frame = chunk.to_pandas(date_as_object=False, split_blocks=True)
        try:
            validate_tier(tier, frame, columns, volume_tickers)
        except ValidationError:
            # Rare, so worth a second pass: which tickers fail, each with its own reason.
            culprits = 0
            for ticker, part in frame.groupby("ticker", sort=True):
                try:
                    validate_tier(tier, part, columns, volume_tickers)
                except ValidationError as exc:
                    failures.add(tier, str(ticker), exc)
                    culprits += 1
            if not culprits:  # a check of the chunk as a whole: no ticker to leave out
                raise
        del frame
    out, start = [], 0
    for ticker, first, last, n in ranges:
        if tier not in failures.by_ticker.get(ticker, {}):
            out.append(TickerRows(ticker, table.slice(start, n), first, last))
        start += n
    return out


def tier_manifest(
    build: BuildPlan, tier: str, outputs: list[dict[str, Any]], upstream: dict[str, Manifest],
    excluded: dict[str, list[str]], excluded_keys: dict[str, str | None],
    schema: dict[str, str],
) -> Manifest:
    """The manifest of a per-ticker tier build: `outputs` (one entry per ticker, kept and new,
    sorted by ticker), the manifests of the upstream tiers it was made from, the tickers left
    out, why, and the build key each failed at (while it holds, the exclusion stands)."""
    spec = build.project.tier(tier)
    plan = build.tiers[tier]
    loads = {lid for o in outputs for lid in o["loads"]}
    known = {lid: sha for lid, sha in build.inputs.loads.values()}
    known.update({lid: sha for _, lid, sha in build.market[tier].values()})
    if plan.current is not None:  # the loads of kept tickers, as the current build pinned them
        known.update({i.id: i.sha256 for i in plan.current.inputs if i.kind == "raw"})
    raw_inputs = [Input(lid, "raw", known[lid]) for lid in sorted(loads)]
    tier_inputs = [Input(m.id, "tier", content_sha256_of(m))
                   for t, m in upstream.items() if t in build.parents[tier]]
    return Manifest.create(
        kind="tier", name=tier, version=spec.version, inputs=raw_inputs + tier_inputs,
        created_at=utc_now(), tier=tier, layout=PER_TICKER,
        build_key=sha256_json({o["ticker"]: o["key"] for o in outputs}),
        fingerprint=build.full[tier], definition_fingerprint=build.own[tier],
        columns=[c.name for c in build.project.columns(tier)], schema=schema,
        row_count=sum(int(o["rows"]) for o in outputs),
        tickers=[o["ticker"] for o in outputs],
        date_range={o["ticker"]: {"first": o["first"], "last": o["last"], "rows": o["rows"]}
                    for o in outputs},
        content_sha256=tier_content_sha256({o["ticker"]: o["content_sha256"] for o in outputs}),
        excluded=excluded, excluded_keys=excluded_keys, environment=environment(),
        outputs=outputs,
    )
