"""`ModelContext`: what a Python model sees (`ctx.ref`, `ctx.source`, `ctx.as_of`, `ctx.var`,
`ctx.per_ticker`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import pandas as pd

from fts.core.errors import BuildError
from fts.features.declarations import FeatureProject
from fts.features.render import as_of_sql, relation_name, source_relation


class ModelContext:
    """Hands a Python model the outputs of the models it depends on, as pandas DataFrames."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, model: str, project: FeatureProject,
        sources: dict[str, pd.DataFrame] | None = None,
    ):
        self._con = con
        self._model = model
        self._project = project
        self._tiers = set(project.tiers)
        self._vars = project.vars
        # Raw inputs fetched once per build and shared by its Python models (see `source`).
        self._sources = sources if sources is not None else {}

    def ref(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """Another model's output (a tier's trimmed rows), sorted by ticker and date.

        `columns` selects ticker, date and those columns only (cheaper than every column).
        """
        rel = relation_name(name, trimmed_tier=name in self._tiers)
        picked = "*"
        if columns is not None:
            picked = ", ".join(f'"{c}"' for c in ["ticker", "date", *columns])
        try:
            return self._con.execute(f"SELECT {picked} FROM {rel} ORDER BY ticker, date").df()
        except duckdb.BinderException as exc:
            raise BuildError(f"model {self._model}: ref({name!r}): {' '.join(str(exc).split())}") from exc

    def source(self, name: str) -> pd.DataFrame:
        """A declared source's rows: the bars (ticker, date, open, high, low, close, volume)
        sorted by ticker and date, or a series' own rows (date and its columns) sorted by date."""
        key = f"source:{name}"
        if key not in self._sources:
            order = "ticker, date" if self._project.sources[name].kind == "ohlcv" else "date"
            self._sources[key] = self._con.execute(
                f"SELECT * FROM {source_relation(name)} ORDER BY {order}").df()
        # Each model gets its own copy, so one that modifies its frame cannot affect another.
        return self._sources[key].copy()

    def as_of(self, name: str) -> pd.DataFrame:
        """A series as-of joined to every (ticker, date) of the bars: ticker, date and the
        series' columns, NULL where its latest row is older than its max_staleness_days."""
        key = f"as_of:{name}"
        if key not in self._sources:
            self._sources[key] = self._con.execute(
                f"SELECT * FROM {as_of_sql(self._project, name)} ORDER BY ticker, date").df()
        return self._sources[key].copy()

    def var(self, name: str) -> Any:
        """A project variable from features_sql/project.yml."""
        if name not in self._vars:
            raise BuildError(f"model {self._model}: var {name!r} is not set in project.yml")
        return self._vars[name]

    def per_ticker(
        self, frame: pd.DataFrame, fn: Callable[[pd.DataFrame], pd.DataFrame]
    ) -> pd.DataFrame:
        """Apply `fn` to each ticker's rows (fresh 0..n-1 index, sorted by date).

        `fn` returns a DataFrame of new columns with one row per input row; the result is
        `ticker, date` followed by those columns, for every ticker.
        """
        parts = []
        for ticker, group in frame.groupby("ticker", sort=True):
            group = group.sort_values("date").reset_index(drop=True)
            out = fn(group)
            if len(out) != len(group):
                raise BuildError(
                    f"model {self._model}: per-ticker function returned {len(out)} rows for "
                    f"{ticker} ({len(group)} expected)"
                )
            out = out.reset_index(drop=True)
            out.insert(0, "date", group["date"].to_numpy())
            out.insert(0, "ticker", ticker)
            parts.append(out)
        if not parts:
            return pd.DataFrame({"ticker": pd.Series(dtype=str), "date": pd.Series(dtype="datetime64[s]")})
        return pd.concat(parts, ignore_index=True)
