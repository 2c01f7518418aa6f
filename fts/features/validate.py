"""The pandera schema of a tier, derived from its declaration, and its check before writing.

Validation runs for every tier of every build, so the schema is shaped for speed while staying a
plain pandera schema. Each feature is a `Column` (float64, nullable only with a declared reason)
with no coercion and no checks of its own: the frame comes from DuckDB already typed, and a
float64 feature that arrives as another type is refused, not converted (a coercion would only
hide that the Parquet file gets the other type). The value checks (finite, declared minimum,
declared maximum) are three table-wide checks, each testing every feature at once on the 2-D
float block. pandera's fixed cost per column coercion and per column `Check` was most of the
time, not the arithmetic.

A table-wide check returns True when every cell passes, and otherwise a boolean frame shaped
like the table: pandera turns that into one failure case per failing row, valued
{column: failing value}, from which the message names the column and the first row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.engines import pandas_engine

from fts.core.errors import ValidationError
from fts.features.declarations import NULL_REASONS, ColumnSpec

KEY_COLUMNS = ("ticker", "date")
VOLUME_CHECK = "volume features null only for tickers without volume"
# The table-wide cell checks, in the order a column's failures are reported; a message names
# the column's own bound (greater_than_or_equal_to(0.0), as pandera's `Check.ge` would).
FINITE_CHECK = "finite"
MIN_CHECK = "greater_than_or_equal_to(declared min)"
MAX_CHECK = "less_than_or_equal_to(declared max)"
CELL_CHECKS = (FINITE_CHECK, MIN_CHECK, MAX_CHECK)
#: Rounding a bound check forgives, relative to the declared range (max - min, or the one bound's
#: magnitude, at least 1): 1e-9 of it. Floating-point arithmetic drifts by about 1e-16 of the
#: values it adds up (TA-Lib's running-sum SMA leaves slow %K at -1e-13 on [0, 100]), so a
#: billionth leaves a wide margin for rounding while any real error, 1e-9 of the range or more,
#: is refused. Values within the tolerance are written as computed (not clamped).
BOUND_RTOL = 1e-9
CELL_CHECK_VALUES = 20_000_000  # values (160 MB of float64) per block of a cell check

# ok(block, which) -> bool array: `block` holds the checked columns (all, or those at `which`).
CellTest = Callable[[np.ndarray, Any], np.ndarray]


def bound_tolerance(lo: float | None, hi: float | None) -> float:
    """How far outside [lo, hi] a value may fall through rounding: `BOUND_RTOL` of the range."""
    if lo is not None and hi is not None:
        scale = hi - lo
    else:
        scale = abs(lo if lo is not None else hi or 0.0)
    return BOUND_RTOL * max(scale, 1.0)


def tier_schema(tier: str, columns: list[ColumnSpec], volume_tickers: set[str]) -> pa.DataFrameSchema:
    """A DataFrameSchema for a tier's trimmed rows.

    The columns are exactly ticker, date and the features in order; (ticker, date) is unique;
    every feature is float64 and finite; declared ranges are checked; nulls are allowed only in
    columns that declare a reason, and `missing_volume` nulls only for tickers without volume.
    """
    return _tier_schema(tier, tuple(columns), frozenset(volume_tickers))


@functools.lru_cache(maxsize=1)
def _float64() -> Any:
    # Resolved once: pandera resolves a dtype string anew for every column (slow, it tries to
    # import geopandas each time); the resolved DataType is the same dtype.
    return pandas_engine.Engine.dtype("float64")


@functools.lru_cache(maxsize=1)
def _date_dtype() -> Any:
    # The one coerced column: DuckDB's `.df()` gives DATE as datetime64[us] with pandas 3 (the
    # coercion then converts nothing) and as datetime64[ns] with pandas 2.
    return pandas_engine.Engine.dtype("datetime64[us]")


@functools.lru_cache(maxsize=32)
def _tier_schema(
    tier: str, columns: tuple[ColumnSpec, ...], volume_tickers: frozenset[str]
) -> pa.DataFrameSchema:
    cols: dict[str, pa.Column] = {
        "ticker": pa.Column(str, nullable=False),
        "date": pa.Column(_date_dtype(), nullable=False, coerce=True),
    }
    for c in columns:
        cols[c.name] = pa.Column(
            _float64(),
            nullable=c.nullable is not None,
            description=c.description,
            title=f"may be null: {NULL_REASONS[c.nullable]}" if c.nullable else None,
        )
    names = tuple(c.name for c in columns)
    with_min = [c for c in columns if c.min is not None]
    with_max = [c for c in columns if c.max is not None]
    # Each bound widened by the rounding its range allows (see BOUND_RTOL).
    mins = np.array([c.min - bound_tolerance(c.min, c.max) for c in with_min], dtype=np.float64)
    maxs = np.array([c.max + bound_tolerance(c.min, c.max) for c in with_max], dtype=np.float64)
    checks = [pa.Check(_cell_check(names, names, lambda b, _: ~np.isinf(b)), name=FINITE_CHECK,
                       description="no feature is +/-inf (nulls are the nullable check's)")]
    if with_min:
        checks.append(pa.Check(
            _cell_check(names, tuple(c.name for c in with_min), lambda b, w: b >= mins[w]),
            name=MIN_CHECK,
            description="every feature with a declared min is >= it (less rounding)",
        ))
    if with_max:
        checks.append(pa.Check(
            _cell_check(names, tuple(c.name for c in with_max), lambda b, w: b <= maxs[w]),
            name=MAX_CHECK,
            description="every feature with a declared max is <= it (plus rounding)",
        ))
    volume_cols = [c.name for c in columns if c.nullable == "missing_volume"]
    if volume_cols:
        checks.append(pa.Check(_volume_check(volume_cols, volume_tickers), name=VOLUME_CHECK))
    return pa.DataFrameSchema(
        cols,
        name=tier,
        strict=True,
        ordered=True,
        unique=list(KEY_COLUMNS),
        checks=checks,
    )


def _cell_check(
    features: tuple[str, ...], subset: tuple[str, ...], ok: CellTest
) -> Callable[[pd.DataFrame], bool | pd.DataFrame]:
    """A table-wide check that `ok` holds on every non-null cell of the `subset` columns."""
    expected = [*KEY_COLUMNS, *features]
    usual = np.array([expected.index(name) for name in subset], dtype=np.intp)

    def check(df: pd.DataFrame) -> bool | pd.DataFrame:
        which = np.arange(len(subset))
        if list(df.columns) == expected:
            pos = usual
        else:  # columns missing or out of order (reported as such): check those found
            found = df.columns.get_indexer(list(subset))
            which = which[found >= 0]
            pos = found[found >= 0]
        # A column of another type (its dtype check reports it): check the numeric ones.
        numeric = np.array([df.dtypes.iloc[p].kind in "fiu" for p in pos], dtype=bool)
        which, pos = which[numeric], pos[numeric]
        out: np.ndarray | None = None
        # At most CELL_CHECK_VALUES values at a time: a 2-D block of a large tier (and its
        # boolean temporaries) would add several copies of its rows to the build's peak memory.
        step = max(1, CELL_CHECK_VALUES // max(len(df), 1))
        for start in range(0, len(pos), step):
            part = slice(start, start + step)
            block = df.iloc[:, pos[part]].to_numpy(dtype=np.float64, na_value=np.nan)
            with np.errstate(invalid="ignore"):
                passed = ok(block, which[part]) | np.isnan(block)
            if not passed.all():
                if out is None:
                    out = np.ones(df.shape, dtype=bool)
                out[:, pos[part]] = passed
        if out is None:
            return True
        return pd.DataFrame(out, index=df.index, columns=df.columns)

    return check


def _volume_check(
    volume_cols: list[str], volume_tickers: frozenset[str]
) -> Callable[[pd.DataFrame], bool | pd.Series]:
    def volume_nulls_only_without_volume(df: pd.DataFrame) -> bool | pd.Series:
        nulls = df[volume_cols].isna().to_numpy().any(axis=1)
        if not nulls.any():
            return True
        return pd.Series(~(df["ticker"].isin(volume_tickers).to_numpy() & nulls), index=df.index)

    return volume_nulls_only_without_volume


def validate_tier(
    tier: str, frame: pd.DataFrame, columns: list[ColumnSpec], volume_tickers: set[str]
) -> None:
    """Raise `ValidationError` naming the column(s), the check and the first failing rows."""
    schema = tier_schema(tier, columns, volume_tickers)
    # pandera looks each column up by label several times: with pandas 3's default Arrow-backed
    # `str` labels that costs about a sixth of the whole validation more than with plain object
    # labels. The relabelled frame shares the caller's data and is pandera's to change (`inplace`
    # spares a copy; the date coercion lands in it, not in the caller's frame).
    frame = frame.set_axis(pd.Index(list(frame.columns), dtype=object), axis=1)
    try:
        schema.validate(frame, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as exc:
        raise ValidationError(_failure_reason(exc.failure_cases, frame, columns),
                              source=f"tier {tier}") from exc


def _failure_reason(cases: pd.DataFrame, frame: pd.DataFrame, columns: list[ColumnSpec]) -> str:
    # pandera lists the table-level cases first (it sorts by context, not stably); the cell
    # checks are table-level checks but report columns, like the column-level cases.
    table = cases[(cases["schema_context"] == "DataFrameSchema")
                  & ~cases["check"].isin(CELL_CHECKS)]
    if table.empty:
        return _column_failure_reason(cases, frame, columns)
    first = table.iloc[0]
    check = first.get("check")
    if not pd.isna(first.get("index")):
        # pandera lists a table-wide check once per column of each failing row (ticker first),
        # which says nothing about the cause: name the columns that make the rows fail.
        same = table[table["check"] == check]
        rows = [int(i) for i in pd.unique(same["index"].dropna()) if int(i) in frame.index]
        involved = _table_check_columns(check, same, frame, rows, columns)
        what = f"column{'s' if len(involved) > 1 else ''} {', '.join(involved)}"
        n = len(rows)
        index = rows[0] if rows else None
    else:
        what = f"column {first.get('column') or '(table)'}"
        n = int((cases["column"].fillna("") == (first.get("column") or "")).sum())
        index = first.get("index")
    return f"{what}: check {check} failed on {n} row(s){_where(frame, index)}; nothing was written"


def _column_failure_reason(
    cases: pd.DataFrame, frame: pd.DataFrame, columns: list[ColumnSpec]
) -> str:
    """The first failing column in table order, and its first failing check and row.

    A column's checks come in pandera's order for a column (nullable, dtype, ...), then finite,
    min, max. A cell check's failure case is one per failing row, valued {column: value}.
    """
    failed: dict[tuple[str, str], list[Any]] = {}
    for context, column, check, value, index in cases[
        ["schema_context", "column", "check", "failure_case", "index"]
    ].itertuples(index=False):
        if context == "DataFrameSchema":
            for col in value if isinstance(value, dict) else ():
                failed.setdefault((str(col), check), []).append(index)
        else:
            failed.setdefault((str(column), check), []).append(index)
    if not failed:  # a check that raised instead of answering: pandera's failure case says why
        first = cases.iloc[0]
        return f"check {first['check']} failed: {first['failure_case']}; nothing was written"
    order = {name: i for i, name in enumerate(frame.columns)}
    rank = {k: i for i, k in enumerate(failed)}  # pandera's order, for the column-level ones

    def key(k: tuple[str, str]) -> tuple[int, int, int]:
        col, check = k
        cell = CELL_CHECKS.index(check) + 1 if check in CELL_CHECKS else 0
        return order.get(col, len(order)), cell, rank[k]

    col, check = min(failed, key=key)
    indexes = failed[(col, check)]
    rows = list(pd.unique(pd.Series(indexes, dtype=object).dropna()))
    spec = next((c for c in columns if c.name == col), None)
    if check == MIN_CHECK and spec is not None:
        check = f"greater_than_or_equal_to({spec.min})"
    elif check == MAX_CHECK and spec is not None:
        check = f"less_than_or_equal_to({spec.max})"
    n = len(rows) or len(indexes)
    return (f"column {col}: check {check} failed on {n} row(s)"
            f"{_where(frame, rows[0] if rows else None)}; nothing was written")


def _where(frame: pd.DataFrame, index: Any) -> str:
    if index is None or pd.isna(index) or int(index) not in frame.index:
        return ""
    row = frame.loc[int(index)]
    return f" (first: {row['ticker']} {pd.Timestamp(row['date']).date()})"


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
