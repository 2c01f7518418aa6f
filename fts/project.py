"""`Project`: the library API that the CLI is a thin layer over. One method per command."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from fts.core.errors import ConfigError, FtsError, NotFoundError
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
        """Run SQL and return the last statement's result as an Arrow table.

        Read-only and sandboxed unless `write=True`: only statements that read are run
        (`QueryRefused` otherwise), on a connection that cannot read files outside the project,
        load extensions or change settings. `write=True` is a plain read-write connection:
        anything DuckDB can do, including writing files anywhere.
        """
        from fts.warehouse.sandbox import connect_sandboxed, refuse_non_reads

        if write:
            opened = self.connect(read_only=False)
        else:
            refuse_non_reads(query)
            opened = connect_sandboxed(self.paths.warehouse, self.root)
        with opened as con:
            try:
                rel = con.sql(query)
                if rel is None:  # a statement without a result set
                    return pa.table({})
                return rel.to_arrow_table()
            except duckdb.Error as exc:
                raise FtsError(_one_line(f"SQL error: {exc}")) from exc

    def table(self, name: str) -> ir.Table:
        """A snapshot of `name` as an Ibis table (`raw.ohlcv`, a tier name, `hpo_trials`, ...).

        The warehouse is open only while the snapshot is taken, so an expression kept in a
        notebook blocks no fts writer: a tier is read from the Parquet file of its current build
        (a build never changes in place; a rebuild writes a new file), any other table or view
        is copied into memory. The expression runs on a private in-memory DuckDB; call `table`
        again to see newer data.
        """
        import ibis

        parts = name.split(".")
        quoted = ".".join('"' + p.replace('"', '""') + '"' for p in parts)
        with self.connect(read_only=True) as con:
            parquet = None
            if len(parts) == 1:
                with contextlib.suppress(duckdb.CatalogException):
                    row = con.execute("SELECT parquet_path FROM meta.tier_current WHERE tier = ?",
                                      [name]).fetchone()
                    parquet = self.root / row[0] if row else None
                    if parquet is not None and parquet.is_dir():  # one file per ticker
                        parquet = parquet / "*.parquet"
            if parquet is None:
                try:
                    snapshot = con.sql(f"SELECT * FROM {quoted}").to_arrow_table()
                except duckdb.CatalogException as exc:
                    raise NotFoundError(f"no table or view {name!r} in the warehouse") from exc
        memory = ibis.duckdb.connect()
        if parquet is not None:
            return memory.read_parquet(parquet, table_name=name)
        memory.con.register(parts[-1], snapshot)  # a view over the Arrow table, in memory
        return memory.table(parts[-1])

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
        self, tier: str, *, tickers: Sequence[str] | None = None, progress: Progress = _silent,
        skip_invalid: bool = False, memory_limit: str | None = None,
    ) -> Any:
        """Build `tier` and what it depends on; only the tickers that are not up to date.

        `tickers`: rebuild these, keep the other tickers of the current build; `skip_invalid`:
        leave out (and record) tickers failing the checks instead of refusing the build;
        `memory_limit`: the build's memory budget, e.g. "4GB" (default: a quarter of the RAM).
        """
        from fts.features import build_tier

        return build_tier(self.paths, tier, tickers=tickers, progress=progress,
                          skip_invalid=skip_invalid, memory_limit=memory_limit)

    def describe(self, tier: str) -> dict[str, Any]:
        """Columns with definitions and warm-up, version, fingerprint and lineage of a tier."""
        from fts.features import describe_tier

        return describe_tier(self.paths, tier)

    def schema(self, tier: str) -> str:
        """The pandera schema that validates `tier`'s builds, as YAML with every check."""
        from fts.features import tier_schema_yaml

        return tier_schema_yaml(self.paths, tier)

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

    # -- housekeeping ----------------------------------------------------------------------------
    def gc(self, *, delete: bool = False) -> Any:
        """Garbage (files no committed registration references: what a killed command left)
        and superseded builds (tier builds and datasets nothing current was made from): listed,
        or removed with `delete=True`. Returns an `fts.audit.garbage.GcPlan`."""
        from fts.audit.gc import collect_garbage

        return collect_garbage(self.paths, delete=delete)


    def evaluate(self, run_id: str, *, force: bool = False) -> dict[str, Any]:
        """Evaluate a stored run on its test split (refused when already done, unless forced;
        a forced look is recorded)."""
        from fts.train.evaluate import evaluate_test

        return evaluate_test(self.paths, run_id, force=force)

    def load_run(self, run_id: str) -> Any:
        """A stored run (`fts.train.inference.LoadedRun`, a run id prefix is enough): the model
        with its best-epoch weights, the resolved config, the feature names in input order and
        the dataset rules (spec, normalization) the model was trained under."""
        from fts.train.inference import load_run

        return load_run(self.paths, run_id)

    def predict(
        self, run: Any, *, dates: Sequence[Any] | None = None, since: Any = None,
        device: str = "auto",
    ) -> Any:
        """Probabilities of a stored run (a run id or `load_run`'s result) on its tier's current
        build, as a pandas frame (ticker, date, prob): for `dates`, every date from `since`, or
        (neither) each ticker's latest date. Windows are built by the dataset functions the
        training used, with the run's stored normalization."""
        from fts.train.inference import predict_run

        loaded = self.load_run(run) if isinstance(run, str) else run
        return predict_run(self.paths, loaded, dates=_dates(dates), since=_date(since),
                           device=device)

    # -- search ------------------------------------------------------------------------------
    def hpo(self, spec: Any, trials: int, *, storage_url: str | None = None,
            progress: Progress = _silent, **options: Any) -> Any:
        """Run or resume the Optuna study `spec` (`fts.hpo.study.StudySpec`) until it holds
        `trials` finished trials; stored in the warehouse, or at a PostgreSQL `storage_url`."""
        from fts.hpo.search import run_study

        return run_study(self.paths, spec, trials, storage_url=storage_url, progress=progress,
                         **options)

    search = hpo

    def hpo_show(self, study: str, *, storage_url: str | None = None) -> dict[str, Any]:
        """A study's attributes, trial counts by state, best trial and the grid's extremes."""
        from fts.hpo.show import show_study

        return show_study(self.paths, study, storage_url)

    def hpo_sync(self, storage_url: str, study: str) -> int:
        """Copy a study from PostgreSQL into the warehouse; returns its number of trials."""
        from fts.hpo.sync import sync_study

        return sync_study(self.paths, storage_url, study)

    def hpo_list(self, *, storage_url: str | None = None) -> Any:
        """The studies, as `optuna studies` lists them (a pandas frame)."""
        from fts.hpo.tools import list_studies

        return list_studies(self.paths, storage_url)

    def hpo_trials(self, study: str, *, storage_url: str | None = None) -> Any:
        """A study's trials, as `optuna trials` shows them (`Study.trials_dataframe`)."""
        from fts.hpo.tools import study_trials

        return study_trials(self.paths, study, storage_url)

    def hpo_export(self, study: str, to_url: str, *, storage_url: str | None = None,
                   to_name: str | None = None) -> int:
        """Copy a study to another Optuna storage (`sqlite:///F.db`, `postgresql://...`,
        `journal:F.log`) with `optuna.copy_study`; returns the number of trials copied."""
        from fts.hpo.tools import export_study

        return export_study(self.paths, study, to_url, storage_url=storage_url, to_name=to_name)

    def hpo_dashboard(self, *, host: str = "127.0.0.1", port: int = 8080,
                      storage_url: str | None = None, progress: Progress = _silent) -> None:
        """Serve optuna-dashboard on the project's studies until interrupted (blocks)."""
        from fts.hpo.tools import serve_dashboard

        serve_dashboard(self.paths, host=host, port=port, storage_url=storage_url,
                        progress=progress)

    # -- experiments, reports, provenance ------------------------------------------------------
    def run(self, study_file: str | os.PathLike[str] | Any, *, progress: Progress = _silent,
            **options: Any) -> list[Any]:
        """Run an experiment matrix (studies/NAME.toml); finished cells are skipped."""
        from fts.experiments import run_experiment

        return run_experiment(self.paths, self.experiment(study_file), progress=progress,
                              **options)

    def plan(self, study_file: str | os.PathLike[str] | Any, *, progress: Progress = _silent,
             **options: Any) -> list[Any]:
        """Every cell of an experiment matrix with real parameter counts, memory and time
        estimates (`fts run --dry-run`); writes nothing."""
        from fts.experiments import plan_experiment

        return plan_experiment(self.paths, self.experiment(study_file), progress=progress,
                               **options)

    def experiment(self, study_file: str | os.PathLike[str] | Any) -> Any:
        """The declared experiment matrix of a study file (an `Experiment` is returned as is)."""
        from fts.experiments import load_experiment

        if isinstance(study_file, str | os.PathLike):
            return load_experiment(study_file)
        return study_file

    def report(self, name: str, *, progress: Progress = _silent, html: bool = False,
               **options: Any) -> Any:
        """Write the report of experiment `name` from stored results; returns the path of
        report.md (with `html`, report.html is written beside it)."""
        from fts.report.writer import write_report

        return write_report(self.paths, name, progress=progress, html=html, **options)

    def audit(self) -> Any:
        """Re-hash every artefact and check every link (`fts.audit.AuditReport`, `.ok`)."""
        from fts.audit import audit_project

        return audit_project(self.paths)

    def trace(self, run_id: str | None = None, *, trial: str | None = None) -> Any:
        """The provenance chain of a run (an id prefix) or of a trial ("STUDY:N")."""
        from fts.audit import parse_trial, trace, trace_trial

        if trial is not None:
            return trace_trial(self.paths, *parse_trial(trial))
        if run_id is None:
            raise ConfigError("trace needs a run id or a trial (STUDY:N)")
        return trace(self.paths, run_id, kind="run")

    def lineage(self, target: str) -> Any:
        """The raw columns and models that TIER.COLUMN is computed from."""
        from fts.audit import column_lineage

        return column_lineage(self.paths, target)

    @classmethod
    def init(cls, directory: str | os.PathLike[str]) -> Project:
        """Scaffold a new project in `directory` (`fts init`) and open it."""
        from fts.scaffold import init_project

        return cls(init_project(directory))



def connect(
    project_dir: str | os.PathLike[str] | None = None, read_only: bool = True
) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
    """`with fts.connect(dir) as con:` a DuckDB connection to the project's warehouse."""
    return Project(project_dir).connect(read_only=read_only)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _date(value: Any) -> dt.date | None:
    """A date from a date, datetime or ISO string (None stays None); a bad one is a ConfigError."""
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{value!r} is not a date (expected YYYY-MM-DD)") from None


def _dates(values: Sequence[Any] | None) -> list[dt.date] | None:
    return None if values is None else [d for d in map(_date, values) if d is not None]
