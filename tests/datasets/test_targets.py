"""The threshold target: hand-worked cases and a naive loop on random data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fts.core.errors import ConfigError
from fts.datasets.targets import TargetSpec, future_max, threshold_labels
from tests.datasets.helpers import naive_labels


def test_h1_uses_next_high_and_ge_counts_equality() -> None:
    close = np.array([100.0, 100.0, 100.0, 100.0])
    high = np.array([999.0, 101.0, 100.99, 102.0])  # high[0] is t's own high: never used for t
    # t=0: next high 101.0 == 100 * 1.01 exactly -> 1 (>=, not >)
    # t=1: next high 100.99 < 101 -> 0;  t=2: 102 >= 101 -> 1;  t=3: no next row -> missing
    got = threshold_labels(high, close, horizon=1, threshold_pct=1.0)
    np.testing.assert_array_equal(got, [1.0, 0.0, 1.0, np.nan])


def test_strict_inequality_would_differ() -> None:
    # The equality case above, isolated: a '>' implementation gives 0 here.
    got = threshold_labels(np.array([0.0, 102.0]), np.array([100.0, 0.0]), 1, 2.0)
    assert got[0] == 1.0


def test_h5_window_is_t_plus_1_to_t_plus_5() -> None:
    close = np.full(12, 100.0)
    high = np.full(12, 100.0)
    high[5] = 101.0  # reached from t=0 (t+5) ... t=4 (t+1); not from t=5 (its own row)
    high[11] = 200.0  # reached from t=6 (t+5) ... t=10; but t>=7 have fewer than 5 rows after
    got = threshold_labels(high, close, horizon=5, threshold_pct=1.0)
    expected = [1, 1, 1, 1, 1, 0, 1] + [np.nan] * 5
    np.testing.assert_array_equal(got, expected)


def test_last_h_rows_are_missing_and_nothing_else() -> None:
    rng = np.random.default_rng(3)
    close = 100 + rng.normal(0, 1, 50)
    for h in (1, 3, 5, 20):
        got = threshold_labels(close + 1, close, h, 1.0)
        assert np.isnan(got[-h:]).all()
        assert not np.isnan(got[:-h]).any()


def test_null_high_in_window_gives_missing_label() -> None:
    close = np.full(6, 100.0)
    high = np.array([100, 100, np.nan, 100, 105, 100], dtype=float)
    got = threshold_labels(high, close, 2, 1.0)
    # windows: t0 -> [1,2] has NaN; t1 -> [2,3] NaN; t2 -> [3,4] = 105 -> 1; t3 -> [4,5] -> 1
    np.testing.assert_array_equal(got, [np.nan, np.nan, 1, 1, np.nan, np.nan])


def test_horizon_longer_than_series_gives_no_labels() -> None:
    assert np.isnan(threshold_labels(np.ones(3), np.ones(3), 3, 1.0)).all()
    assert np.isnan(future_max(np.ones(2), 10)).all()


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 60),
    h=st.integers(1, 12),
    p=st.sampled_from([0.5, 1.0, 2.0, 3.0, 5.0]),
    seed=st.integers(0, 2**31 - 1),
)
def test_matches_naive_loop(n: int, h: int, p: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    high = close * (1 + np.abs(rng.normal(0, 0.02, n)))
    # Repeated prices make ties (peak == threshold) likely to show up.
    if seed % 3 == 0:
        close = np.round(close)
        high = np.round(high)
    got = threshold_labels(high, close, h, p)
    np.testing.assert_array_equal(got, naive_labels(high, close, h, p))


def test_target_spec_name_and_validation() -> None:
    assert TargetSpec(1, 1).name == "threshold_1pct"
    assert TargetSpec(5, 0.5).name == "threshold_0.5pct"
    assert TargetSpec(5, 2.0).to_manifest()["definition"] == "high-based, >="
    with pytest.raises(ConfigError, match="horizon"):
        TargetSpec(0, 1.0)
    with pytest.raises(ConfigError, match="threshold_pct"):
        TargetSpec(1, -1.0)
