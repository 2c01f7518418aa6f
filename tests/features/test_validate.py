"""A tier's pandera schema, exercised directly on small hand-made frames.

The frames look like what the build hands over (DuckDB's `.df()` of the trimmed rows): ticker
str, date datetime64, then the float64 features in declared order.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
import yaml

from fts.core.errors import ValidationError
from fts.features.declarations import ColumnSpec
from fts.features.validate import VOLUME_CHECK, schema_yaml, tier_schema, validate_tier

COLUMNS = [
    ColumnSpec("ret", "one-day return", 1, "t"),
    ColumnSpec("rsi", "RSI", 14, "t", min=0.0, max=100.0),
    ColumnSpec("obv", "on-balance volume", 1, "t", nullable="missing_volume"),
    ColumnSpec("vix", "VIX close", 0, "t", min=0.0, nullable="stale_source"),
    ColumnSpec("regime", "VIX regime", 0, "t", min=0.0, max=2.0),
]
VOLUME_TICKERS = {"AAA"}  # BBB has no volume: its `obv` may be null


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "ticker": ["AAA", "AAA", "AAA", "BBB", "BBB"],
        "date": pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06",
                                "2020-01-02", "2020-01-03"]).astype("datetime64[us]"),
        "ret": [0.01, -0.02, 0.0, 0.03, -0.01],
        "rsi": [50.0, 0.0, 100.0, 40.0, 30.0],
        "obv": [1.0, 2.0, 3.0, 4.0, 5.0],
        "vix": [12.0, 13.0, 14.0, 15.0, 16.0],
        "regime": [0.0, 1.0, 2.0, 0.0, 1.0],
    })


def _refusal(frame: pd.DataFrame) -> str:
    with pytest.raises(ValidationError) as err:
        validate_tier("t", frame, COLUMNS, VOLUME_TICKERS)
    message = str(err.value)
    assert message.startswith("tier t: ")
    assert message.endswith("; nothing was written")
    return message


def _with(**cells: dict[int, float]) -> pd.DataFrame:
    frame = _frame()
    for column, values in cells.items():
        for row, value in values.items():
            frame.loc[row, column] = value
    return frame


def test_a_clean_frame_passes_and_is_left_as_it_was() -> None:
    frame = _frame()
    before = frame.copy()
    validate_tier("t", frame, COLUMNS, VOLUME_TICKERS)
    pd.testing.assert_frame_equal(frame, before)
    assert frame["date"].dtype == "datetime64[us]"
    assert frame.pandera.schema is None  # pandera validated a relabelled view, not this frame


def test_a_frame_from_duckdb_passes() -> None:
    # What the build validates: the dtypes DuckDB gives (date included) need no coercion.
    frame = duckdb.sql("""
        SELECT 'AAA' AS ticker, DATE '2020-01-02' + i::INTEGER AS date, 0.01::DOUBLE AS ret,
               50.0::DOUBLE AS rsi, NULL::DOUBLE AS obv, NULL::DOUBLE AS vix,
               2.0::DOUBLE AS regime
        FROM range(3) r(i)
    """).df()
    validate_tier("t", frame, COLUMNS, set())
    with pytest.raises(ValidationError, match="column obv: check " + VOLUME_CHECK):
        validate_tier("t", frame, COLUMNS, {"AAA"})


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_an_infinity_is_refused_naming_the_column_and_first_row(value: float) -> None:
    message = _refusal(_with(ret={1: value, 3: value}))
    assert message == ("tier t: column ret: check finite failed on 2 row(s) "
                       "(first: AAA 2020-01-03); nothing was written")


def test_an_infinity_in_a_ranged_column_is_reported_once_as_not_finite() -> None:
    message = _refusal(_with(rsi={2: np.inf}))
    assert message == ("tier t: column rsi: check finite failed on 1 row(s) "
                       "(first: AAA 2020-01-06); nothing was written")


def test_a_value_below_the_declared_min_is_refused() -> None:
    message = _refusal(_with(rsi={3: -0.5}))
    assert message == ("tier t: column rsi: check greater_than_or_equal_to(0.0) failed on 1 "
                       "row(s) (first: BBB 2020-01-02); nothing was written")


def test_a_value_above_the_declared_max_is_refused() -> None:
    message = _refusal(_with(regime={1: 3.0, 4: 2.5}))
    assert message == ("tier t: column regime: check less_than_or_equal_to(2.0) failed on 2 "
                       "row(s) (first: AAA 2020-01-03); nothing was written")


def test_every_failing_column_is_named_in_table_order_with_its_row_count() -> None:
    # regime fails on an earlier row, but rsi comes first in the table; ret fails two checks.
    message = _refusal(_with(regime={0: 5.0, 3: 7.0}, rsi={4: 101.0}, vix={2: -1.0},
                             ret={1: np.inf, 2: np.nan}))
    assert message == (
        "tier t: column ret: check not_nullable failed on 1 row(s) (first: AAA 2020-01-06); "
        "column ret: check finite failed on 1 row(s) (first: AAA 2020-01-03); "
        "column rsi: check less_than_or_equal_to(100.0) failed on 1 row(s) "
        "(first: BBB 2020-01-03); "
        "column vix: check greater_than_or_equal_to(0.0) failed on 1 row(s) "
        "(first: AAA 2020-01-06); "
        "column regime: check less_than_or_equal_to(2.0) failed on 2 row(s) "
        "(first: AAA 2020-01-02); nothing was written")


def test_a_column_below_its_min_and_above_its_max_reports_both_bounds() -> None:
    message = _refusal(_with(rsi={0: -1.0, 1: 150.0, 2: 120.0}))
    assert message == (
        "tier t: column rsi: check greater_than_or_equal_to(0.0) failed on 1 row(s) "
        "(first: AAA 2020-01-02); column rsi: check less_than_or_equal_to(100.0) failed on 2 "
        "row(s) (first: AAA 2020-01-03); nothing was written")


def test_the_bounds_themselves_pass() -> None:
    validate_tier("t", _with(rsi={0: 0.0, 1: 100.0}, regime={2: 2.0}, vix={3: 0.0}),
                  COLUMNS, VOLUME_TICKERS)


def test_a_null_in_a_column_without_a_null_reason_is_refused() -> None:
    message = _refusal(_with(ret={2: np.nan}))
    assert message == ("tier t: column ret: check not_nullable failed on 1 row(s) "
                       "(first: AAA 2020-01-06); nothing was written")


def test_a_null_in_a_ranged_column_without_a_null_reason_is_refused() -> None:
    message = _refusal(_with(rsi={1: np.nan}))
    assert message.startswith("tier t: column rsi: check not_nullable failed on 1 row(s) "
                              "(first: AAA 2020-01-03)")


def test_a_null_in_a_column_with_a_null_reason_passes() -> None:
    # vix declares stale_source and a min: its nulls are neither refused nor compared to the min.
    validate_tier("t", _with(vix={0: np.nan, 4: np.nan}), COLUMNS, VOLUME_TICKERS)


def test_missing_volume_nulls_pass_only_for_tickers_without_volume() -> None:
    validate_tier("t", _with(obv={3: np.nan, 4: np.nan}), COLUMNS, VOLUME_TICKERS)
    message = _refusal(_with(obv={1: np.nan, 3: np.nan}))
    assert message == (f"tier t: column obv: check {VOLUME_CHECK} failed on 1 row(s) "
                       "(first: AAA 2020-01-03); nothing was written")


def test_a_duplicate_ticker_date_is_refused() -> None:
    frame = _frame()
    frame.loc[4, "date"] = frame.loc[3, "date"]
    message = _refusal(frame)
    assert message == ("tier t: columns ticker, date: check multiple_fields_uniqueness failed "
                       "on 2 row(s) (first: BBB 2020-01-02); nothing was written")


@pytest.mark.parametrize(("frame", "check"), [
    (_frame()[["ticker", "date", "rsi", "ret", "obv", "vix", "regime"]], "column_ordered"),
    (_frame().assign(extra=1.0), "column_in_schema"),
    (_frame().drop(columns="vix"), "column_in_dataframe"),
], ids=["out-of-order", "extra", "missing"])
def test_the_columns_must_be_exactly_the_declared_ones_in_order(
    frame: pd.DataFrame, check: str,
) -> None:
    assert f": check {check} failed" in _refusal(frame)


@pytest.mark.parametrize("dtype", ["float32", "int64", "str"])
def test_a_feature_of_another_type_is_refused_not_converted(dtype: str) -> None:
    frame = _frame()
    frame["regime"] = frame["regime"].astype(dtype)
    assert _refusal(frame).startswith("tier t: column regime: check dtype('float64') failed")


def test_a_value_failure_is_still_found_beside_a_column_of_another_type() -> None:
    frame = _with(rsi={0: -3.0})
    frame["regime"] = frame["regime"].astype(str)
    message = _refusal(frame)
    assert message.startswith("tier t: column rsi: check greater_than_or_equal_to(0.0) failed")


def test_a_value_failure_is_still_found_when_a_column_is_missing() -> None:
    message = _refusal(_with(regime={2: 9.0}).drop(columns="vix"))
    assert "column regime: check less_than_or_equal_to(2.0) failed on 1 row(s)" in message
    assert "column vix: check column_in_dataframe failed" in message


def test_the_schema_declares_every_column_with_built_in_checks() -> None:
    schema = tier_schema("t", COLUMNS, VOLUME_TICKERS)
    assert isinstance(schema, pa.DataFrameSchema)
    assert schema is tier_schema("t", list(COLUMNS), set(VOLUME_TICKERS))  # cached
    assert list(schema.columns) == ["ticker", "date", "ret", "rsi", "obv", "vix", "regime"]
    assert schema.strict is True and schema.ordered is True
    assert list(schema.unique) == ["ticker", "date"]
    features = {name: schema.columns[name] for name in ["ret", "rsi", "obv", "vix", "regime"]}
    assert {str(c.dtype) for c in features.values()} == {"float64"}
    assert {n for n, c in features.items() if c.nullable} == {"obv", "vix"}
    assert features["obv"].title.startswith("may be null: the ticker has no volume data")
    # Declared [0, 100], widened by the rounding it allows: 1e-9 of the range (docs/features.md).
    assert [(c.name, c.statistics) for c in features["rsi"].checks] == [
        ("in_range", {"min_value": pytest.approx(-1e-7, abs=1e-15),
                      "max_value": pytest.approx(100 + 1e-7, abs=1e-12), "include_min": True,
                      "include_max": True})]
    assert features["ret"].checks[0].statistics == {
        "min_value": -np.inf, "max_value": np.inf, "include_min": False, "include_max": False}
    assert [(c.name, c.statistics) for c in schema.checks] == [
        (VOLUME_CHECK, {"columns": ["obv"], "tickers": ["AAA"]})]


def test_the_schema_yaml_holds_every_check_and_reads_back_into_the_same_checks() -> None:
    text = schema_yaml("t", COLUMNS, VOLUME_TICKERS)
    doc = yaml.safe_load(text)
    assert doc["columns"]["rsi"]["in_range"] == {
        "min_value": pytest.approx(-1e-7, abs=1e-15), "max_value": pytest.approx(100 + 1e-7, abs=1e-12),
        "include_min": True, "include_max": True}
    assert doc["columns"]["vix"]["in_range"] == {  # one bound: 1e-9 of max(|0|, 1)
        "min_value": pytest.approx(-1e-9, abs=1e-17), "max_value": float("inf"),
        "include_min": True, "include_max": False}
    assert doc["columns"]["vix"]["nullable"] is True and "nullable" not in doc["columns"]["ret"]  # pandera writes only true
    assert doc["checks"][0]["options"]["check_name"] == VOLUME_CHECK
    assert doc["unique"] == ["ticker", "date"]
    back = pa.DataFrameSchema.from_yaml(text)
    # The read-back schema refuses what the original refuses.
    with pytest.raises(pa.errors.SchemaErrors):
        back.validate(_with(regime={1: 3.0}), lazy=True)
    back.validate(_frame(), lazy=True)
