"""The pandera schema of a tier, derived from its declaration, and its check before writing."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.engines import pandas_engine

from fts.core.errors import ValidationError
from fts.features.declarations import NULL_REASONS, ColumnSpec


def tier_schema(tier: str, columns: list[ColumnSpec], volume_tickers: set[str]) -> pa.DataFrameSchema:
    """A DataFrameSchema for a tier's trimmed rows.

    Every feature is float64 and finite; declared ranges are checked; nulls are allowed only in
    columns that declare a reason, and `missing_volume` nulls only for tickers without volume.
    """
    return _tier_schema(tier, tuple(columns), frozenset(volume_tickers))


@functools.lru_cache(maxsize=1)
def _float64() -> Any:
    # Resolved once: pandera resolves a dtype string anew for every column (slow, it tries to
    # import geopandas each time); the resolved DataType is the same dtype.
    return pandas_engine.Engine.dtype("float64")


@functools.lru_cache(maxsize=32)
def _tier_schema(
    tier: str, columns: tuple[ColumnSpec, ...], volume_tickers: frozenset[str]
) -> pa.DataFrameSchema:
    cols: dict[str, pa.Column] = {
        "ticker": pa.Column(str, nullable=False),
        "date": pa.Column("datetime64[ns]", nullable=False, coerce=True),
    }
    volume_cols = []
    for c in columns:
        checks = [pa.Check(lambda s: ~np.isinf(s), element_wise=False, name="finite")]
        if c.min is not None:
            checks.append(pa.Check.ge(c.min))
        if c.max is not None:
            checks.append(pa.Check.le(c.max))
        cols[c.name] = pa.Column(
            _float64(),
            nullable=c.nullable is not None,
            checks=checks,
            coerce=True,
            description=c.description,
            title=f"may be null: {NULL_REASONS[c.nullable]}" if c.nullable else None,
        )
        if c.nullable == "missing_volume":
            volume_cols.append(c.name)

    def volume_nulls_only_without_volume(df: pd.DataFrame) -> pd.Series:
        has_volume = df["ticker"].isin(volume_tickers)
        nulls = df[volume_cols].isna().any(axis=1) if volume_cols else False
        return ~(has_volume & nulls)

    return pa.DataFrameSchema(
        cols,
        name=tier,
        strict=True,
        ordered=True,
        unique=["ticker", "date"],
        checks=[pa.Check(volume_nulls_only_without_volume, name=VOLUME_CHECK)]
        if volume_cols else [],
    )


VOLUME_CHECK = "volume features null only for tickers without volume"


def validate_tier(
    tier: str, frame: pd.DataFrame, columns: list[ColumnSpec], volume_tickers: set[str]
) -> None:
    """Raise `ValidationError` naming the column(s), the check and the first failing rows."""
    schema = tier_schema(tier, columns, volume_tickers)
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise ValidationError(_failure_reason(exc.failure_cases, frame, columns),
                              source=f"tier {tier}") from exc


def _failure_reason(cases: pd.DataFrame, frame: pd.DataFrame, columns: list[ColumnSpec]) -> str:
    first = cases.iloc[0]
    check = first.get("check")
    if first.get("schema_context") == "DataFrameSchema" and not pd.isna(first.get("index")):
        # pandera lists a table-wide check once per column of each failing row (ticker first),
        # which says nothing about the cause: name the columns that make the rows fail.
        same = cases[(cases["schema_context"] == "DataFrameSchema") & (cases["check"] == check)]
        rows = [int(i) for i in pd.unique(same["index"].dropna()) if int(i) in frame.index]
        involved = _table_check_columns(check, same, frame, rows, columns)
        what = f"column{'s' if len(involved) > 1 else ''} {', '.join(involved)}"
        n = len(rows)
        index = rows[0] if rows else None
    else:
        what = f"column {first.get('column') or '(table)'}"
        n = int((cases["column"].fillna("") == (first.get("column") or "")).sum())
        index = first.get("index")
    where = ""
    if index is not None and not pd.isna(index) and int(index) in frame.index:
        row = frame.loc[int(index)]
        where = f" (first: {row['ticker']} {pd.Timestamp(row['date']).date()})"
    return f"{what}: check {check} failed on {n} row(s){where}; nothing was written"


def _table_check_columns(
    check: str, cases: pd.DataFrame, frame: pd.DataFrame, rows: list[int],
    columns: list[ColumnSpec],
) -> list[str]:
    if check == VOLUME_CHECK:
        # The null cells are the cause, and pandera leaves null cells out of its failure cases.
        volume_cols = [c.name for c in columns if c.nullable == "missing_volume"]
        nulls = frame.loc[rows, volume_cols].isna().any()
        return [c for c in volume_cols if nulls[c]] or volume_cols
    return [str(c) for c in pd.unique(cases["column"].dropna())]
