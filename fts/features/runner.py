"""Run a plan of models in an in-memory DuckDB and produce each tier's trimmed rows.

The warehouse is only read (briefly) to fetch the raw rows; the models run in a private
in-memory database so that a long build never holds the warehouse's lock.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from fts.core.errors import BuildError
from fts.features.context import ModelContext
from fts.features.declarations import ColumnSpec, FeatureProject
from fts.features.render import RenderedModel, relation_name, source_relation
from fts.warehouse.publish import temp_path


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


ROW_GROUP_ROWS = 122_880  # DuckDB's default row group size
_ENGINE: duckdb.DuckDBPyConnection | None = None
_ENGINE_LOCK = threading.Lock()


def _engine_cursor() -> duckdb.DuckDBPyConnection:
    # Starting a DuckDB database costs ~15 ms, a tenth of a whole build on the sample, so one
    # in-memory database serves every build of the process; each build has its own schema.
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = duckdb.connect(":memory:")
        return _ENGINE.cursor()


def _memory_bytes(db: duckdb.DuckDBPyConnection) -> int:
    cur = db.cursor()  # its own cursor: never leave a result open on a build's connection
    try:
        return int(cur.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchall()[0][0])
    finally:
        cur.close()


def engine_memory_bytes() -> int:
    """Bytes DuckDB holds in memory now for this process's builds: the shared engine database
    and every open session with a database of its own. For memory profiles
    (bench/build_memory.py); call it between models, not while one runs."""
    total = sum(_memory_bytes(s._db) for s in list(_OWN_DATABASES) if s._db is not None)
    if _ENGINE is not None:
        with _ENGINE_LOCK:
            total += _memory_bytes(_ENGINE)
    return total


@dataclass(frozen=True)
class EngineLimits:
    """DuckDB settings for one build's session (None: DuckDB's own default).

    `memory_limit`: DuckDB's memory_limit, a size such as '4096MiB'; past it DuckDB writes
    table blocks and operator state to `temp_directory` instead of failing. `temp_directory`:
    the folder that spill files go to (a private folder is made inside it for the session and
    removed with it; default: the system's temporary folder, never DuckDB's default `.tmp` in
    the current directory). `threads`: DuckDB's worker threads.
    """

    memory_limit: str | None = None
    temp_directory: str | Path | None = None
    threads: int | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.memory_limit, self.temp_directory, self.threads))


class EngineSession:
    """One build's tables, in a database no other build sees.

    Without limits, a schema of its own in the process's in-memory engine database (cheap to
    start: what tests, notebooks and small builds use); `con` is a connection whose unqualified
    names resolve in that schema, and `close()` drops the schema and every table in it.

    With `EngineLimits` (a batch of a budgeted build), an in-memory database of its own
    configured with them: DuckDB's memory_limit, temp_directory and threads are per database,
    so one build's budget never changes another's, and the spill folder can be chosen per
    build (DuckDB cannot switch a database's temp_directory once used). `close()` closes the
    database, which returns all its memory, and removes its spill folder.
    """

    def __init__(self, limits: EngineLimits | None = None) -> None:
        self.schema = f"build_{uuid.uuid4().hex}"
        self._spill: Path | None = None
        self._made: list[Path] = []
        self._db: duckdb.DuckDBPyConnection | None = None
        if limits is not None and limits.any:
            base = Path(limits.temp_directory or tempfile.gettempdir())
            # Folders made for the spill folder go with it (a failed build leaves no trace).
            self._made = [p for p in (base, *base.parents) if not p.exists()]
            # Named like a publication's staged files (`.<name>.<pid>.<token>.tmp`): if this
            # process is killed, `fts gc` sees a dead writer's folder and removes it. Made
            # with its parents in one call: another batch may remove an empty parent meanwhile.
            self._spill = temp_path(base / "duckdb-spill")
            try:
                self._spill.mkdir(parents=True)
            except BaseException:
                self._remove_spill()
                raise
            config: dict[str, str | int] = {"temp_directory": str(self._spill)}
            if limits.memory_limit is not None:
                config["memory_limit"] = limits.memory_limit
            if limits.threads is not None:
                config["threads"] = limits.threads
            try:
                self._db = duckdb.connect(":memory:", config=config)
            except BaseException:
                self._remove_spill()
                raise
            self.con = self._db.cursor()
            _OWN_DATABASES.add(self)
        else:
            self.con = _engine_cursor()
        self.con.execute(f'CREATE SCHEMA "{self.schema}"')
        self.con.execute(f'USE memory."{self.schema}"')

    def close(self) -> None:
        """Drop this build's tables (their memory goes back to DuckDB, or to the OS with a
        database of its own)."""
        self.con.close()
        if self._db is not None:
            _OWN_DATABASES.discard(self)
            self._db.close()
            self._remove_spill()
            return
        cleanup = _engine_cursor()
        try:
            cleanup.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        finally:
            cleanup.close()

    def _remove_spill(self) -> None:
        if self._spill is not None:
            shutil.rmtree(self._spill, ignore_errors=True)
        for folder in self._made:  # deepest first; one still in use by others stays
            try:
                folder.rmdir()
            except OSError:
                break

    def __enter__(self) -> EngineSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_OWN_DATABASES: weakref.WeakSet[EngineSession] = weakref.WeakSet()


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def trim_sql(tier: str, columns: list[ColumnSpec], bars: str) -> str:
    """SQL keeping each ticker's rows from the first date on which every column is defined.

    Columns that may be null for missing volume do not count for a ticker without volume.
    `bars` is the relation of the per-ticker bars source. The rows are in no particular order:
    every reader orders them (`ModelContext.ref`, the build's checks, `compute_tier`; SQL
    windows order by date), and sorting a wide tier here cost a fifth of a batch's SQL time.
    """
    conds = []
    for c in columns:
        if c.nullable == "missing_volume":
            conds.append(f'(NOT v.has_volume OR m."{c.name}" IS NOT NULL)')
        else:
            conds.append(f'm."{c.name}" IS NOT NULL')
    where = " AND ".join(conds) or "TRUE"
    model = relation_name(tier)
    return f"""
        WITH vol AS (SELECT ticker, count(volume) > 0 AS has_volume FROM {bars} GROUP BY ticker),
        starts AS (
            SELECT m.ticker, min(m.date) AS start
            FROM {model} m JOIN vol v USING (ticker)
            WHERE {where}
            GROUP BY m.ticker
        )
        SELECT m.* FROM {model} m JOIN starts s ON m.ticker = s.ticker AND m.date >= s.start
    """


def run_plan(
    project: FeatureProject,
    models: list[RenderedModel],
    sources: Mapping[str, pa.Table],
    progress: Callable[[str], None],
    *,
    keep_untrimmed: bool = False,
    memory_limit: str | None = None,
    temp_directory: str | Path | None = None,
    threads: int | None = None,
) -> EngineSession:
    """Execute the models in order; return the session holding every tier's trimmed rows.

    `sources` maps each declared source the models read to its rows (the bars source always,
    as `fts.features.build_inputs.read_sources` returns them).
    `memory_limit` (DuckDB's, a size such as '4096MiB'), `temp_directory` (where DuckDB spills
    past it) and `threads`: see `EngineLimits`; with any of them the run has a DuckDB database
    of its own, configured before the first row is loaded.

    Each tier's trimmed rows are in relation `"<tier>"` (and with `keep_untrimmed`, the last
    model's untrimmed output in `"<m>__model"`); intermediate outputs are dropped once no later
    model reads them. Close the session when done with it.
    """
    missing = sorted({s for m in models for s in m.sources} - set(sources))
    if missing:
        raise BuildError(f"the models read source(s) {', '.join(missing)} but no rows were given "
                         "for them")
    limits = EngineLimits(memory_limit, temp_directory, threads)
    session = EngineSession(limits)
    try:
        if threads is None:
            # DuckDB splits work by row groups of 122,880 rows: a smaller build cannot use a
            # second thread, which only adds scheduling (13 % of the engine's time on the
            # sample). The setting is global to the engine database, so each build sets it.
            small = sources[project.ohlcv_source].num_rows < ROW_GROUP_ROWS
            session.con.execute("SET threads = 1" if small else "RESET threads")
        _load_sources(session.con, project, sources)
        _Runner(session.con, project, models, progress, keep_untrimmed).run()
    except BaseException:
        session.close()
        raise
    return session


def _load_sources(con: duckdb.DuckDBPyConnection, project: FeatureProject,
                  sources: Mapping[str, pa.Table]) -> None:
    """One table per declared source, with its declared columns: the bars sorted by ticker and
    date, a series by date."""
    for name, table in sources.items():
        spec = project.sources[name]
        order = "ticker, date" if spec.kind == "ohlcv" else "date"
        columns = ", ".join(f'"{c}"' for c in spec.relation_columns)
        con.register("__source_arrow", table)
        try:
            con.execute(f"CREATE TABLE {source_relation(name)} AS "
                        f"SELECT {columns} FROM __source_arrow ORDER BY {order}")
        finally:
            con.unregister("__source_arrow")


class _Runner:
    """Runs the models of a plan in order, dropping each output once its last reader is done."""

    def __init__(self, con: duckdb.DuckDBPyConnection, project: FeatureProject,
                 models: list[RenderedModel], progress: Callable[[str], None],
                 keep_untrimmed: bool) -> None:
        self.con = con
        self.project = project
        self.models = models
        self.progress = progress
        self.tiers = set(project.tiers)
        names = {m.spec.name for m in models}
        self.needs = {m.spec.name: set(m.refs) & names for m in models}
        # Readers left per model output, so a large build does not hold every model's rows at
        # once. Kept: the trimmed tiers, the sources and, when asked, the last model's own
        # output (compute_tier(..., trimmed=False) reads it).
        self.readers = dict.fromkeys(names, 0)
        for deps in self.needs.values():
            for r in deps:
                self.readers[r] += 1
        self.last = models[-1].spec.name if models and keep_untrimmed else None
        self.sources: dict[str, pd.DataFrame] = {}

    def run(self) -> None:
        for model in self.models:
            name = model.spec.name
            seconds = self._run_model(model)
            self._release(name)
            kind = "sql" if model.spec.kind == "sql" else "python"
            self.progress(f"  model {name} ({kind}) {seconds:.2f}s")

    def _release(self, name: str) -> None:
        """Drop what no remaining model reads once `name` is done."""
        con = self.con
        if name in self.tiers and name != self.last:
            # Later models read the trimmed tier, never the untrimmed output.
            con.execute(f"DROP TABLE IF EXISTS {relation_name(name)}")
        for r in self.needs[name]:
            self.readers[r] -= 1
            if self.readers[r] == 0 and r != self.last and r not in self.tiers:
                con.execute(f"DROP TABLE IF EXISTS {relation_name(r)}")

    def _run_model(self, model: RenderedModel) -> float:
        started = time.perf_counter()
        con, name = self.con, model.spec.name
        if model.spec.kind == "sql":
            self._run_sql(model)
        else:
            self._run_python(model)
        if name in self.tiers:
            _check_tier_columns(con, self.project, name)
            con.execute(
                f"CREATE TABLE {relation_name(name, trimmed_tier=True)} AS "
                + trim_sql(name, self.project.columns(name),
                           source_relation(self.project.ohlcv_source))
            )
        return time.perf_counter() - started

    def _run_sql(self, model: RenderedModel) -> None:
        try:
            self.con.execute(f"CREATE TABLE {relation_name(model.spec.name)} AS {model.sql}")
        except duckdb.Error as exc:
            raise BuildError(f"{model.spec.path}: {_first_line(exc)}") from exc

    def _run_python(self, model: RenderedModel) -> None:
        name, cur = model.spec.name, self.con
        fn = _load_python_model(model)
        ctx = ModelContext(cur, name, self.project, self.sources)
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
        cur.register("__py_out", frame)
        cur.execute(
            f"CREATE TABLE {relation_name(name)} AS SELECT * REPLACE (CAST(date AS DATE) AS date) "
            "FROM __py_out"
        )
        cur.unregister("__py_out")


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
