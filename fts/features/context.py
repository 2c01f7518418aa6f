"""`ModelContext`: what a Python model sees (`ctx.ref`, `ctx.source`, `ctx.var`, `ctx.per_ticker`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import pandas as pd

from fts.core.errors import BuildError
from fts.features.render import relation_name, source_relation


class ModelContext:
    """Hands a Python model the outputs of the models it depends on, as pandas DataFrames."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, model: str, tiers: set[str], vars_: dict[str, Any],
        sources: dict[str, pd.DataFrame] | None = None,
    ):
        self._con = con
        self._model = model
        self._tiers = tiers
        self._vars = vars_
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

    def source(self, schema: str, name: str) -> pd.DataFrame:
        """Raw input: `raw.ohlcv` (the tickers being built) or `raw.vix` (date, close)."""
        rel = source_relation(schema, name)
        if rel not in self._sources:
            order = "date" if name == "vix" else "ticker, date"
            self._sources[rel] = self._con.execute(f"SELECT * FROM {rel} ORDER BY {order}").df()
        # Each model gets its own copy, so one that modifies its frame cannot affect another.
        return self._sources[rel].copy()

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
