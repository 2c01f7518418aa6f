"""Compute a tier in memory from raw frames, without a warehouse (for tests, benchmarks and
notebooks). `build_tier` uses the same runner; this only skips manifests and files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa

from fts.core.errors import BuildError
from fts.features.build_inputs import plan_series
from fts.features.declarations import FeatureProject, load_feature_project
from fts.features.graph import plan
from fts.features.render import relation_name
from fts.features.runner import run_plan

OHLCV_COLUMNS = ("ticker", "date", "open", "high", "low", "close", "volume")
Frame = pd.DataFrame | pa.Table


def _arrow(frame: Frame, columns: tuple[str, ...]) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame.select(list(columns))
    out = frame.loc[:, list(columns)].copy()
    out["date"] = pd.to_datetime(out["date"]).dt.date
    return pa.Table.from_pandas(out, preserve_index=False)


def _series_tables(
    project: FeatureProject, names: list[str], series: Mapping[str, Frame] | Frame | None,
) -> dict[str, pa.Table]:
    """Each series the plan reads as an Arrow table (date and its declared columns); a series
    with no frame given has no rows (its columns are NULL on every date)."""
    if series is not None and not isinstance(series, Mapping):
        declared = sorted(s.name for s in project.sources.values() if s.kind == "series")
        if len(declared) != 1:
            raise BuildError(f"give the series as a mapping of source name to frame (declared "
                             f"series: {', '.join(declared) or 'none'})")
        series = {declared[0]: series}
    given = dict(series or {})
    out = {}
    for name in names:
        columns = project.sources[name].relation_columns
        if name in given:
            out[name] = _arrow(given[name], columns)
        else:
            out[name] = pa.table({c: pa.array([], pa.date32() if c == "date" else pa.float64())
                                  for c in columns})
    return out


def compute_tier(
    features_dir: Path, tier: str, ohlcv: Frame,
    series: Mapping[str, Frame] | Frame | None = None, *, trimmed: bool = True,
    memory_limit: str | None = None, temp_directory: str | Path | None = None,
    threads: int | None = None,
) -> pd.DataFrame:
    """The tier's rows for the given raw bars (ticker, date, open, high, low, close, volume)
    and market-wide series (source name -> frame of date and the source's columns; a single
    frame when the project declares one series), sorted by ticker and date. `trimmed=False`
    returns the final model's rows before the warm-up trim. `memory_limit`, `temp_directory`,
    `threads`: DuckDB's settings for the run (`fts.features.runner.EngineLimits`)."""
    project = load_feature_project(Path(features_dir))
    models = plan(project, tier)
    sources = {project.ohlcv_source: _arrow(ohlcv, OHLCV_COLUMNS),
               **_series_tables(project, plan_series(project, models), series)}
    session = run_plan(project, models, sources, lambda _: None, keep_untrimmed=not trimmed,
                       memory_limit=memory_limit, temp_directory=temp_directory,
                       threads=threads)
    with session:
        rel = relation_name(tier, trimmed_tier=trimmed)
        return session.con.execute(f"SELECT * FROM {rel} ORDER BY ticker, date").df()
