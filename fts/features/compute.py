"""Compute a tier in memory from raw frames, without a warehouse (for tests, benchmarks and
notebooks). `build_tier` uses the same runner; this only skips manifests and files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from fts.features.declarations import load_feature_project
from fts.features.graph import plan
from fts.features.render import relation_name
from fts.features.runner import run_plan

OHLCV_COLUMNS = ("ticker", "date", "open", "high", "low", "close", "volume")


def _arrow(frame: pd.DataFrame | pa.Table, columns: tuple[str, ...]) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame.select(list(columns))
    out = frame.loc[:, list(columns)].copy()
    out["date"] = pd.to_datetime(out["date"]).dt.date
    return pa.Table.from_pandas(out, preserve_index=False)


def compute_tier(
    features_dir: Path, tier: str, ohlcv: pd.DataFrame | pa.Table,
    vix: pd.DataFrame | pa.Table | None = None, *, trimmed: bool = True,
    memory_limit: str | None = None, temp_directory: str | Path | None = None,
    threads: int | None = None,
) -> pd.DataFrame:
    """The tier's rows for the given raw bars (ticker, date, open, high, low, close, volume)
    and VIX closes (date, close), sorted by ticker and date. `trimmed=False` returns the final
    model's rows before the warm-up trim. `memory_limit`, `temp_directory`, `threads`: DuckDB's
    settings for the run (`fts.features.runner.EngineLimits`)."""
    project = load_feature_project(Path(features_dir))
    models = plan(project, tier)
    vix_table = _arrow(vix, ("date", "close")) if vix is not None else pa.table(
        {"date": pa.array([], pa.date32()), "close": pa.array([], pa.float64())})
    session = run_plan(project, models, _arrow(ohlcv, OHLCV_COLUMNS), vix_table, lambda _: None,
                       keep_untrimmed=not trimmed, memory_limit=memory_limit,
                       temp_directory=temp_directory, threads=threads)
    with session:
        rel = relation_name(tier, trimmed_tier=trimmed)
        return session.con.execute(f"SELECT * FROM {rel} ORDER BY ticker, date").df()
