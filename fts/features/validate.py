"""The pandera schema of a tier, derived from its declaration, and its check before writing.

The schema is a plain pandera schema made only of pandera's built-in checks plus one registered
check, so `schema.to_yaml()` shows every check (`fts describe TIER --schema`) and
`DataFrameSchema.from_yaml` reads it back. Each feature is a `Column` (float64, nullable only
with a declared reason, no coercion: a float64 feature that arrives as another type is refused,
not converted) with one built-in `in_range` check: its declared [min, max], with an open
infinite end where none is declared, so that one check also refuses +/-inf. The table-level
check `volume_null_only_without_volume` (registered with pandera, so it serialises with its
columns and tickers) allows `missing_volume` nulls only for tickers without volume.

Validation is lazy: a failing build names every failing column with its check and row count,
not only the first. (Built-in per-column checks cost pandera ~0.7 ms each, ~0.1 s for a
100-feature tier: the price of a schema that can be read and serialised.)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
from pandera import extensions
from pandera.engines import pandas_engine

from fts.core.errors import ValidationError
from fts.features.declarations import NULL_REASONS, ColumnSpec

KEY_COLUMNS = ("ticker", "date")
VOLUME_CHECK = "volume_null_only_without_volume"
# How a failing value of a column's `in_range` check is reported, in this order: an infinity
# is "finite" whatever the bounds; otherwise the bound it crosses, named as pandera's `Check.ge`
# / `Check.le` would name it.
FINITE_CHECK = "finite"
CELL_ORDER = ("finite", "greater_than_or_equal_to", "less_than_or_equal_to")
#: Rounding a bound check forgives, relative to the declared range (max - min, or the one bound's
#: magnitude, at least 1): 1e-9 of it. Floating-point arithmetic drifts by about 1e-16 of the
#: values it adds up (TA-Lib's running-sum SMA leaves slow %K at -1e-13 on [0, 100]), so a
#: billionth leaves a wide margin for rounding while any real error, 1e-9 of the range or more,
#: is refused. Values within the tolerance are written as computed (not clamped).
BOUND_RTOL = 1e-9
#: Rows of a tier that pandera checks at a time (whole tickers, `ticker_chunks`): the pandas
#: copy it needs then costs one chunk, not a second copy of a batch's whole tier.
CHUNK_ROWS = 250_000


@extensions.register_check_method(statistics=["columns", "tickers"], check_type="vectorized")
def volume_null_only_without_volume(
    df: pd.DataFrame, *, columns: list[str], tickers: list[str]
) -> bool | pd.Series:
    """Rows where a volume feature (`columns`) is null must belong to a ticker without volume
    (one not in `tickers`)."""
    present = [c for c in columns if c in df.columns]
    nulls = df[present].isna().to_numpy().any(axis=1)
    if not nulls.any():
        return True
    return pd.Series(~(df["ticker"].isin(tickers).to_numpy() & nulls), index=df.index)


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


def schema_yaml(tier: str, columns: list[ColumnSpec], volume_tickers: set[str]) -> str:
    """The tier's pandera schema as YAML, every check included."""
    return str(tier_schema(tier, columns, volume_tickers).to_yaml())


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


def _range_check(c: ColumnSpec) -> pa.Check:
    """`in_range` over the declared bounds; an undeclared end is an open infinite one, so the
    check refuses +/-inf in every feature (nulls are the nullable check's: ignored here)."""
    tol = bound_tolerance(c.min, c.max)  # the rounding the declared computation may produce
    return pa.Check.in_range(
        -math.inf if c.min is None else c.min - tol, math.inf if c.max is None else c.max + tol,
        include_min=c.min is not None, include_max=c.max is not None,
    )


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
            checks=[_range_check(c)],
            nullable=c.nullable is not None,
            description=c.description,
            title=f"may be null: {NULL_REASONS[c.nullable]}" if c.nullable else None,
        )
    checks = []
    volume_cols = [c.name for c in columns if c.nullable == "missing_volume"]
    if volume_cols:
        checks.append(pa.Check.volume_null_only_without_volume(
            columns=volume_cols, tickers=sorted(volume_tickers)))
    return pa.DataFrameSchema(
        cols,
        name=tier,
        strict=True,
        ordered=True,
        unique=list(KEY_COLUMNS),
        checks=checks,
    )


def validate_tier(
    tier: str, frame: pd.DataFrame, columns: list[ColumnSpec], volume_tickers: set[str]
) -> None:
    """Raise `ValidationError` naming every failing column with its check, row count and first
    failing row (lazy validation: all of them, not only the first)."""
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


def ticker_chunks(
    table: pa_arrow.Table, counts: Sequence[int], max_rows: int | None = None
) -> Iterator[pa_arrow.Table]:
    """Consecutive slices of `table` (rows grouped by ticker; `counts`: each ticker's rows, in
    table order) of whole tickers and at most `max_rows` rows (default `CHUNK_ROWS`), except a
    ticker larger than that, which is a slice of its own. Slices share the table's memory; a
    table without rows is one (empty) slice, so its columns are still checked."""
    if table.num_rows == 0:
        yield table
        return
    max_rows = max_rows or CHUNK_ROWS
    start = rows = 0
    for n in counts:
        if rows and rows + n > max_rows:
            yield table.slice(start, rows)
            start, rows = start + rows, 0
        rows += n
    if rows:
        yield table.slice(start, rows)


def _failure_reason(cases: pd.DataFrame, frame: pd.DataFrame, columns: list[ColumnSpec]) -> str:
    """Every failure, one clause per (column, check) in table order with its row count and first
    row: "column rsi: check less_than_or_equal_to(100.0) failed on 2 row(s) (first: ...)"."""
    specs = {c.name: c for c in columns}
    # (columns named, check) -> failing row indexes (None: a failure without a row)
    failed: dict[tuple[tuple[str, ...], str], list[Any]] = {}
    typed_wrong = set(cases.loc[cases["check"].astype(str).str.startswith("dtype("), "column"])
    for context, column, check, value, index in cases[
        ["schema_context", "column", "check", "failure_case", "index"]
    ].itertuples(index=False):
        check = str(check)
        if context == "DataFrameSchema":
            if check.startswith(VOLUME_CHECK):
                key: tuple[tuple[str, ...], str] = ((), VOLUME_CHECK)  # columns found below
            elif index is None or pd.isna(index):  # a missing, extra or misplaced column
                key = ((str(value),), check)
            else:  # a table-wide check lists every column of a failing row: name its own
                key = (tuple(KEY_COLUMNS) if check == "multiple_fields_uniqueness" else (),
                       check)
        elif check.startswith("in_range("):
            if column in typed_wrong:
                continue  # the comparison could not run on a column of another type
            key = ((str(column),), _bound_crossed(specs.get(str(column)), value))
        else:
            key = ((str(column),), check)
        failed.setdefault(key, []).append(index)
    if not failed:  # pragma: no cover - pandera always reports at least one case
        return "validation failed; nothing was written"
    if ((), VOLUME_CHECK) in failed:
        rows = _rows(failed.pop(((), VOLUME_CHECK)))
        involved = _volume_columns(frame, rows, columns)
        failed[(tuple(involved), VOLUME_CHECK)] = rows
    order = {name: i for i, name in enumerate(frame.columns)}
    rank = {k: i for i, k in enumerate(failed)}  # pandera's order, for the column-level ones

    def sort_key(k: tuple[tuple[str, ...], str]) -> tuple[int, int, int]:
        names, check = k
        first = min((order.get(n, len(order)) for n in names), default=len(order))
        cell = next((i + 1 for i, c in enumerate(CELL_ORDER) if check.startswith(c)), 0)
        return first, cell, rank[k]

    clauses = []
    for names, check in sorted(failed, key=sort_key):
        rows = _rows(failed[(names, check)])
        what = f"column{'s' if len(names) > 1 else ''} {', '.join(names) or '(table)'}"
        count = f" on {len(rows)} row(s)" if rows else ""
        clauses.append(f"{what}: check {check} failed{count}"
                       f"{_where(frame, rows[0] if rows else None)}")
    return "; ".join(clauses) + "; nothing was written"


def _bound_crossed(spec: ColumnSpec | None, value: Any) -> str:
    """Which part of a column's `in_range` a failing value breaks: finite, min or max."""
    number = float(value)
    if math.isinf(number) or spec is None:
        return FINITE_CHECK
    if spec.min is not None and number < spec.min - bound_tolerance(spec.min, spec.max):
        return f"greater_than_or_equal_to({spec.min})"
    return f"less_than_or_equal_to({spec.max})"


def _rows(indexes: list[Any]) -> list[Any]:
    """The distinct row indexes, in order of appearance (None / NaN left out)."""
    return list(pd.unique(pd.Series(indexes, dtype=object).dropna()))


def _where(frame: pd.DataFrame, index: Any) -> str:
    if index is None or pd.isna(index) or int(index) not in frame.index:
        return ""
    row = frame.loc[int(index)]
    return f" (first: {row['ticker']} {pd.Timestamp(row['date']).date()})"


def _volume_columns(frame: pd.DataFrame, rows: list[Any], columns: list[ColumnSpec]) -> list[str]:
    # The null cells are the cause, and pandera leaves null cells out of its failure cases.
    volume_cols = [c.name for c in columns if c.nullable == "missing_volume" and c.name in frame]
    nulls = frame.loc[[int(r) for r in rows], volume_cols].isna().any()
    return [c for c in volume_cols if nulls[c]] or volume_cols
