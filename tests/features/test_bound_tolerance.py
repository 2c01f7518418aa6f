"""Declared bounds tolerate the rounding of the declared computation, not real errors
(issue 13, item 4): TA-Lib's running-sum SMA leaves slow %K at -1e-13 on a ticker whose close
sits at its 14-day low for a week, and that must not refuse the whole build."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib

from fts.core.errors import ValidationError
from fts.features.declarations import ColumnSpec
from fts.features.validate import bound_tolerance, validate_tier
from fts.project import Project
from tests.conftest import REPO

ROWS, FLAT_AT = 600, 500  # the week at the low lies well after a100's warm-up


def _at_its_low_for_a_week(seed: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, ROWS)))
    high, low = close * 1.01, close * 0.99
    floor = round(low[FLAT_AT - 14:FLAT_AT].min() * 0.98, 4)  # a new 14-day low ...
    week = slice(FLAT_AT, FLAT_AT + 7)
    close[week], low[week], high[week] = floor, floor, floor * 1.01  # ... held for a week
    dates = pd.bdate_range("2015-01-05", periods=ROWS)
    return pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Open": close, "High": high,
                         "Low": low, "Close": close, "Volume": 1000.0})


def test_a_ticker_at_its_14_day_low_for_a_week_builds_a100(sample_project_dir: Path):
    bars = _at_its_low_for_a_week()
    # The premise, from TA-Lib itself: slow %K really comes out below its declared minimum 0.
    slow_k, _ = talib.STOCH(bars["High"].to_numpy(), bars["Low"].to_numpy(),
                            bars["Close"].to_numpy(), fastk_period=14, slowk_period=3,
                            slowk_matype=0, slowd_period=3, slowd_matype=0)
    assert -1e-12 < np.nanmin(slow_k) < 0

    shutil.copytree(REPO / "features_sql", sample_project_dir / "features_sql")
    csv = sample_project_dir.parent / "FLAT.csv"
    bars.to_csv(csv, index=False)
    project = Project(sample_project_dir)
    project.ingest_csv(csv, "FLAT")
    project.build_tier("a100", tickers=["FLAT"])

    (low_k,) = project.sql("select min(stoch_k_14) from a100 where ticker = 'FLAT'").to_pylist()[0]\
        .values()
    assert low_k == pytest.approx(0.0, abs=1e-9)  # the tiny negative was kept, not hidden


def _spec(name: str, lo: float | None, hi: float | None) -> ColumnSpec:
    return ColumnSpec(name=name, description="x", warmup=0, tier="t", min=lo, max=hi)


def _frame(values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"ticker": "T", "date": pd.date_range("2020-01-01", periods=len(values)),
                         "x": np.array(values, dtype=np.float64)})


@pytest.mark.parametrize(("lo", "hi", "value"), [
    (0.0, 100.0, -1e-13),            # TA-Lib's slow %K
    (0.0, 100.0, 100 + 5e-8),        # half the tolerance above the top
    (-0.5, 0.5, 0.5 + 1e-10),
    (0.0, None, -1e-10),             # one-sided: scaled to max(|bound|, 1)
    (-100.0, 0.0, 1e-12),
])
def test_values_within_the_rounding_tolerance_pass(lo, hi, value):
    validate_tier("t", _frame([1e-3 if lo == 0 else (lo + (hi or 0)) / 2, value]),
                  [_spec("x", lo, hi)], set())


@pytest.mark.parametrize(("lo", "hi", "value"), [
    (0.0, 100.0, -1e-6),             # an error, not rounding: ten times the tolerance
    (0.0, 100.0, 100.001),
    (-0.5, 0.5, 0.5001),
    (0.0, None, -1e-8),
    (-100.0, 0.0, 0.5),
])
def test_values_beyond_the_tolerance_are_refused(lo, hi, value):
    with pytest.raises(ValidationError, match="column x: check"):
        validate_tier("t", _frame([value]), [_spec("x", lo, hi)], set())


def test_the_tolerance_is_a_billionth_of_the_declared_range():
    assert bound_tolerance(0.0, 100.0) == pytest.approx(1e-7)
    assert bound_tolerance(-0.5, 0.5) == pytest.approx(1e-9)
    assert bound_tolerance(0.0, None) == pytest.approx(1e-9)     # max(|0|, 1)
    assert bound_tolerance(None, 250.0) == pytest.approx(2.5e-7)
