"""Run a plan of models in an in-memory DuckDB and produce each tier's trimmed rows.

The warehouse is only read (briefly) to fetch the raw rows; the models run in a private
in-memory database so that a long build never holds the warehouse's lock.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from fts.core.errors import BuildError
from fts.features.context import ModelContext
from fts.features.declarations import ColumnSpec, FeatureProject
from fts.features.render import RenderedModel, relation_name, source_relation


def _load_python_model(model: RenderedModel) -> Callable[[ModelContext], Any]:
    spec = importlib.util.spec_from_file_location(f"fts_model_{model.spec.name}", model.spec.path)
    if spec is None or spec.loader is None:
        raise BuildError(f"{model.spec.path}: cannot load Python model")
    module = importlib.util.module_from_spec(spec)
    # Do not leave __pycache__ folders in features_sql/: the declarations stay source only.
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise BuildError(f"{model.spec.path}: import failed: {exc}") from exc
    finally:
        sys.dont_write_bytecode = saved
    return module.model


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def trim_sql(tier: str, columns: list[ColumnSpec]) -> str:
    """SQL keeping each ticker's rows from the first date on which every column is defined.

    Columns that may be null for missing volume do not count for a ticker without volume.
    """
    conds = []
    for c in columns:
        if c.nullable == "missing_volume":
            conds.append(f'(NOT v.has_volume OR m."{c.name}" IS NOT NULL)')
        else:
            conds.append(f'm."{c.name}" IS NOT NULL')
    where = " AND ".join(conds) or "TRUE"
    model = relation_name(tier)
    src = source_relation("raw", "ohlcv")
    return f"""
        WITH vol AS (SELECT ticker, count(volume) > 0 AS has_volume FROM {src} GROUP BY ticker),
        starts AS (
            SELECT m.ticker, min(m.date) AS start
            FROM {model} m JOIN vol v USING (ticker)
            WHERE {where}
            GROUP BY m.ticker
        )
        SELECT m.* FROM {model} m JOIN starts s ON m.ticker = s.ticker AND m.date >= s.start
        ORDER BY m.ticker, m.date
    """


def run_plan(
    project: FeatureProject,
    models: list[RenderedModel],
    ohlcv: pa.Table,
    vix: pa.Table,
    progress: Callable[[str], None],
) -> tuple[duckdb.DuckDBPyConnection, dict[str, float]]:
    """Execute the models in order; return the connection holding every result and timings.

    Each tier's trimmed rows are in relation `"<tier>"`, and the last model's untrimmed output
    in `"<m>__model"`; other intermediate outputs are dropped once no later model reads them.
    """
    con = duckdb.connect(":memory:")
    con.register("__ohlcv_arrow", ohlcv)
    con.register("__vix_arrow", vix)
    con.execute(
        f"CREATE TEMP TABLE {source_relation('raw', 'ohlcv')} AS "
        "SELECT * FROM __ohlcv_arrow ORDER BY ticker, date"
    )
    con.execute(
        f"CREATE TEMP TABLE {source_relation('raw', 'vix')} AS "
        "SELECT date, close FROM __vix_arrow ORDER BY date"
    )
    tiers = set(project.tiers)
    timings: dict[str, float] = {}
    # An intermediate output is dropped once the last model that reads it has run, so a large
    # build does not hold every model's rows at once. Kept: the trimmed tiers, the sources and
    # the last model's own output (compute_tier(..., trimmed=False) reads it).
    last_use = {m.spec.name: i for i, m in enumerate(models)}
    for i, m in enumerate(models):
        for r in m.refs:
            if r not in tiers:
                last_use[r] = max(last_use.get(r, i), i)
    droppable: dict[int, list[str]] = {}
    for name, i in last_use.items():
        if models and name != models[-1].spec.name:
            droppable.setdefault(i, []).append(name)
    for index, model in enumerate(models):
        started = time.perf_counter()
        name = model.spec.name
        target = relation_name(name)
        if model.spec.kind == "sql":
            try:
                con.execute(f"CREATE TEMP TABLE {target} AS {model.sql}")
            except duckdb.Error as exc:
                raise BuildError(f"{model.spec.path}: {_first_line(exc)}") from exc
        else:
            fn = _load_python_model(model)
            ctx = ModelContext(con, name, tiers, project.vars)
            try:
                frame = fn(ctx)
            except BuildError:
                raise
            except Exception as exc:
                raise BuildError(
                    f"{model.spec.path}: model raised {type(exc).__name__}: {_first_line(exc)}"
                ) from exc
            if not isinstance(frame, pd.DataFrame | pa.Table):
                raise BuildError(f"{model.spec.path}: model() must return a pandas DataFrame")
            cols = frame.columns if isinstance(frame, pd.DataFrame) else frame.column_names
            if list(cols[:2]) != ["ticker", "date"]:
                raise BuildError(f"{model.spec.path}: output must start with ticker, date")
            con.register("__py_out", frame)
            con.execute(
                f"CREATE TEMP TABLE {target} AS SELECT * REPLACE (CAST(date AS DATE) AS date) "
                "FROM __py_out"
            )
            con.unregister("__py_out")
        if name in tiers:
            _check_tier_columns(con, project, name)
            con.execute(
                f"CREATE TEMP TABLE {relation_name(name, trimmed_tier=True)} AS "
                + trim_sql(name, project.columns(name))
            )
        for done in droppable.get(index, []):
            con.execute(f"DROP TABLE IF EXISTS {relation_name(done)}")
        timings[name] = time.perf_counter() - started
        kind = "sql" if model.spec.kind == "sql" else "python"
        progress(f"  model {name} ({kind}) {timings[name]:.2f}s")
    return con, timings


def _check_tier_columns(con: duckdb.DuckDBPyConnection, project: FeatureProject, tier: str) -> None:
    got = [r[0] for r in con.execute(f"DESCRIBE {relation_name(tier)}").fetchall()]
    want = ["ticker", "date"] + [c.name for c in project.columns(tier)]
    if got != want:
        missing = [c for c in want if c not in got]
        extra = [c for c in got if c not in want]
        detail = []
        if missing:
            detail.append(f"missing {', '.join(missing[:5])}")
        if extra:
            detail.append(f"undeclared {', '.join(extra[:5])}")
        if not detail:
            detail.append("columns are out of the declared order")
        raise BuildError(
            f"tier {tier}: the final model's columns do not match {tier}.yml ({'; '.join(detail)})"
        )
