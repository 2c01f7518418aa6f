"""`Project`: the library API that the CLI is a thin layer over. One method per command."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from fts.core.errors import FtsError
from fts.core.paths import ProjectPaths, resolve_project_dir
from fts.warehouse import connect as _connect_warehouse

if TYPE_CHECKING:
    import ibis.expr.types as ir

Progress = Callable[[str], None]


def _silent(_: str) -> None:
    return None


class Project:
    """A project directory: its warehouse, feature declarations, manifests and data.

    >>> p = Project("/path/to/project")      # doctest: +SKIP
    >>> p.ingest_sample(); p.build_tier("a20"); p.sql("select count(*) from a20")  # doctest: +SKIP
    """

    def __init__(self, project_dir: str | os.PathLike[str] | None = None):
        self.paths = ProjectPaths(resolve_project_dir(project_dir))

    @property
    def root(self) -> Path:
        return self.paths.root

    # -- warehouse ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def connect(self, read_only: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived DuckDB connection with every tier view defined. Close it promptly."""
        with _connect_warehouse(
            self.paths.warehouse, read_only=read_only, project_root=self.root
        ) as con:
            yield con

    def sql(self, query: str, *, write: bool = False) -> pa.Table:
        """Run one SQL statement and return its result as an Arrow table.

        Read-only unless `write=True`: a statement that would modify the warehouse fails.
        """
        with self.connect(read_only=not write) as con:
            try:
                rel = con.sql(query)
                if rel is None:  # a statement without a result set
                    return pa.table({})
                return rel.to_arrow_table()
            except duckdb.Error as exc:
                raise FtsError(_one_line(f"SQL error: {exc}")) from exc

    def table(self, name: str) -> ir.Table:
        """An Ibis table over the warehouse (`raw.ohlcv`, a tier name, `hpo_trials`, ...).

        The Ibis connection is read-only and stays open as long as the returned expression is
        used; prefer `sql` in long-running processes.
        """
        import ibis

        con = ibis.duckdb.connect(str(self.paths.warehouse), read_only=True)
        raw = con.con  # the underlying DuckDB connection: define the session views on it
        from fts.warehouse.schema import create_session_views

        create_session_views(raw, self.root)
        if "." in name:
            schema, table = name.split(".", 1)
            return con.table(table, database=schema)
        return con.table(name)

    # -- ingestion -----------------------------------------------------------------------------
    def ingest_sample(self, progress: Progress = _silent) -> list[Any]:
        """Load the embedded sample (^GSPC daily OHLCV 1999-2018, ^VIX closes 2014-2019)."""
        from fts.ingest import ingest_sample

        return ingest_sample(self.paths, progress=progress)

    def ingest_csv(
        self, path: str | os.PathLike[str], ticker: str, *, adjusted: bool = True,
        progress: Progress = _silent,
    ) -> Any:
        """Load a Yahoo-style daily CSV for one ticker."""
        from fts.ingest import ingest_csv

        return ingest_csv(self.paths, Path(path), ticker, adjusted=adjusted, progress=progress)

    def ingest_yfinance(
        self, tickers: Sequence[str], *, start: str | None = None, end: str | None = None,
        progress: Progress = _silent, downloader: Any = None,
    ) -> list[Any]:
        """Download daily bars from Yahoo Finance and load them, one load per ticker."""
        from fts.ingest import ingest_yfinance

        return ingest_yfinance(
            self.paths, list(tickers), start=start, end=end, progress=progress,
            downloader=downloader,
        )

    # -- tiers ---------------------------------------------------------------------------------
    def build_tier(
        self, tier: str, *, tickers: Sequence[str] | None = None, progress: Progress = _silent
    ) -> Any:
        """Build `tier` and what it depends on; a no-op when it is up to date."""
        from fts.features import build_tier

        return build_tier(self.paths, tier, tickers=tickers, progress=progress)

    def describe(self, tier: str) -> dict[str, Any]:
        """Columns with definitions and warm-up, version, fingerprint and lineage of a tier."""
        from fts.features import describe_tier

        return describe_tier(self.paths, tier)

    def tiers(self) -> list[str]:
        """The tiers declared in features_sql/."""
        from fts.features import list_tiers

        return list_tiers(self.paths)


    # -- models and training ---------------------------------------------------------------------
    def models(self, tier: str, budget: str, ctx_len: int = 64) -> list[Any]:
        """The budget's architecture grid for a tier (real parameter counts, sorted)."""
        from fts.train.arch import budget_grid
        from fts.train.dryrun import n_features_of

        return budget_grid(budget, n_features_of(self.paths, tier), ctx_len)

    def train(self, request: Any, progress: Progress = _silent) -> Any:
        """Train one model (`fts.train.RunRequest`) and store the run; returns its record."""
        from fts.train.run import run_training

        return run_training(self.paths, request, progress=progress)

    def dry_run(self, request: Any, progress: Progress = _silent,
                max_hours: float = 24.0) -> Any:
        """Parameter count, memory estimate and measured seconds per epoch of a run.

        Writes nothing: training samples are counted in memory from the built tier (a tier that
        is not built, or is out of date, is said and the per-epoch estimate left out).
        """
        from fts.datasets import split_counts
        from fts.train.device import pick_device
        from fts.train.dryrun import dry_run

        pick_device(request.device)  # a bad device is an error before any work
        counts: dict[str, int] = {}
        try:
            counts = split_counts(self.paths, request.dataset_spec(),
                                  common_start=request.common_start)
        except FtsError as exc:  # the estimate still stands without a sample count
            progress(f"(no sample count for the per-epoch estimate: {exc})")
        return dry_run(self.paths, request, train_samples=counts.get("train"),
                       val_samples=counts.get("val"), max_hours=max_hours)


def connect(
    project_dir: str | os.PathLike[str] | None = None, read_only: bool = True
) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
    """`with fts.connect(dir) as con:` a DuckDB connection to the project's warehouse."""
    return Project(project_dir).connect(read_only=read_only)


def _one_line(text: str) -> str:
    return " ".join(text.split())
