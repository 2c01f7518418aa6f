"""Hand-worked cases that pin the a200 reference's rules (so that it can be trusted as the
yardstick of the product). Every expected number is worked out by hand from the spec (a200.md).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from ._a200 import (
    A200_EXTRA,
    A200_VOLUME_COLUMNS,
    count_le,
    earliest_extreme_age,
    high_volume_bias,
    hull,
    ordinal_pattern,
    permutation_entropy,
    rows_since_state_change,
    run,
    signed_run,
    transition_share,
    weekdays_to_month_end,
)
from .features import TIER_COLUMNS, a200_warmups

NAN = np.nan


def same(a, b) -> None:
    np.testing.assert_array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float))


def test_the_tier_adds_101_columns_and_nests_a100():
    assert len(A200_EXTRA) == len(set(A200_EXTRA)) == 101
    assert TIER_COLUMNS["a200"][:100] == TIER_COLUMNS["a100"]
    assert len(A200_VOLUME_COLUMNS) == 11 and set(A200_EXTRA) >= A200_VOLUME_COLUMNS


def test_run_counts_from_the_first_defined_row_and_resets_to_zero():
    same(run(np.array([NAN, 1, 1, 0, 1, 1, 1, 0, 0])), [NAN, 1, 2, 0, 1, 2, 3, 0, 0])


def test_signed_run_counts_a_tie_as_plus_and_is_one_on_a_cross():
    a = np.array([NAN, 1.0, 2.0, 2.0, 1.0, 0.5, 3.0])
    b = np.array([5.0, 2.0, 2.0, 1.0, 2.0, 2.0, 3.0])
    # signs: -, + (tie), +, -, -, + (tie)
    same(signed_run(a, b), [NAN, -1, 1, 2, -1, -2, 1])


def test_count_le_compares_exactly_and_counts_today():
    x = np.array([3.0, 1.0, 3.0, 2.0, 3.0])
    same(count_le(x, 3), [NAN, NAN, 3, 2, 3])  # [3,1,3] -> 3; [1,3,2] -> 2; [3,2,3] -> 3


def test_ordinal_pattern_ranks_ties_by_position():
    assert ordinal_pattern([1.0, 2.0, 1.0]) == (0, 2, 1)
    assert ordinal_pattern([2.0, 1.0, 2.0]) == (1, 0, 2)
    assert ordinal_pattern([5.0, 5.0, 5.0, 5.0]) == (0, 1, 2, 3)
    assert ordinal_pattern([4.0, 3.0, 2.0, 1.0, 0.0]) == (4, 3, 2, 1, 0)


def test_permutation_entropy_of_alternating_ties_and_of_flat_closes():
    alternating = np.array([1.0, 2.0] * 10)
    pe3 = permutation_entropy(alternating, 3)
    # 18 tuples, 9 of pattern (0, 2, 1) and 9 of (1, 0, 2): ln 2 / ln 6.
    assert math.isclose(pe3[19], math.log(2) / math.log(6), rel_tol=1e-15)
    # order 4: 17 tuples, 9 start with 1 and 8 with 2.
    pe4 = permutation_entropy(alternating, 4)[19]
    expected = -(9 / 17 * math.log(9 / 17) + 8 / 17 * math.log(8 / 17)) / math.log(24)
    assert math.isclose(pe4, expected, rel_tol=1e-15)
    assert np.isnan(pe3[:19]).all()
    flat = np.full(25, 7.0)
    same(permutation_entropy(flat, 5)[19:], np.zeros(6))


def test_permutation_entropy_of_a_monotone_window_is_zero():
    rising = np.arange(1.0, 31.0)
    for m in (3, 4, 5):
        same(permutation_entropy(rising, m)[19:], np.zeros(11))


def test_earliest_extreme_age_takes_the_first_of_tied_extremes():
    x = np.array([1.0, 5.0, 2.0, 5.0, 0.5, 0.5])
    same(earliest_extreme_age(x, 4, "max"), [NAN, NAN, NAN, 2, 3, 2])  # 5 at rows 1 and 3
    same(earliest_extreme_age(x, 4, "min"), [NAN, NAN, NAN, 3, 0, 1])


def test_weekdays_to_month_end_by_hand():
    cases = {
        "2020-12-24": 5,  # Dec 25 (a holiday, still a weekday), 28, 29, 30, 31
        "2020-12-31": 0,
        "2021-01-29": 0,  # Friday; the 30th and 31st are a weekend
        "2020-02-27": 1,  # Feb 28 (Friday); Feb 29, 2020 is a Saturday
        "2020-02-28": 0,
        "2021-03-01": 22,  # Monday of a 31-day month: 2-5, 8-12, 15-19, 22-26, 29-31
        "2021-07-02": 20,  # Friday before the July 5 holiday: 5-9, 12-16, 19-23, 26-30
        "2021-05-29": 1,  # a Saturday: only Monday May 31 is left
    }
    for day, expected in cases.items():
        assert weekdays_to_month_end(dt.date.fromisoformat(day)) == expected, day


def test_high_volume_bias_averages_the_qualifying_returns():
    volume = np.full(40, 100.0)
    volume[30] = 1000.0  # mean20 at 30 = (19 * 100 + 1000) / 20 = 145; 1000 > 217.5
    volume[35] = 150.0  # mean20 at 35 = 147.5; 150 > 221.25 is false
    pct_r = np.arange(40, dtype=float) - 0.5
    pct_r[0] = NAN
    out = high_volume_bias(pct_r, volume)
    assert np.isnan(out[37]) and out[38] == 29.5  # s = 19..38 all defined from t = 38
    assert out[39] == 29.5
    volume2 = np.full(40, 100.0)
    assert high_volume_bias(pct_r, volume2)[39] == 0.0  # no day qualifies


def test_regime_helpers_start_on_the_first_defined_state():
    state = np.array([NAN, NAN, 0, 0, 1, 0, 1, -1, -1])
    same(rows_since_state_change(state), [NAN, NAN, 1, 2, 1, 1, 1, 1, 2])
    # t = 5: 0,0,1,0 -> 2 changes of 3; t = 6: 0,1,0,1 -> 3; t = 7: 1,0,1,-1 -> 3; t = 8: 2.
    same(transition_share(state, 3), [NAN, NAN, NAN, NAN, NAN, 2 / 3, 1, 1, 2 / 3])


def test_hull_moving_average_by_hand():
    # n = 4: h = 2, s = 2. WMA2(x)_t = (x_{t-1} + 2 x_t) / 3, WMA4 = (x_{t-3} + 2x + 3x + 4x_t) / 10.
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    wma2 = np.array([NAN, 5 / 3, 10 / 3, 20 / 3, 40 / 3])
    wma4 = np.array([NAN, NAN, NAN, (1 + 4 + 12 + 32) / 10, (2 + 8 + 24 + 64) / 10])
    raw = 2 * wma2 - wma4
    expected = [NAN, NAN, NAN, NAN, (raw[3] + 2 * raw[4]) / 3]
    np.testing.assert_allclose(hull(x, 4), expected, rtol=1e-14)


def test_warmups_are_the_spec_numbers():
    spec = {
        "tema_9": 24, "tema_20": 57, "tema_50": 147, "tema_100": 297,
        "wma_10": 9, "wma_200": 199, "kama_10": 10, "kama_50": 50,
        "hma_9": 10, "hma_21": 23, "hma_50": 55, "vwma_10": 9, "vwma_50": 49,
        "tema_20_slope": 62, "price_pct_from_tema_50": 147, "price_pct_from_kama_20": 20,
        "days_above_sma_9": 8, "days_below_sma_200": 199, "days_above_vwma_20": 19,
        "days_since_sma_9_50_cross": 49, "days_since_tema_sma_50_cross": 57,
        "days_since_kama_sma_50_cross": 49, "bb_squeeze_indicator": 20,
        "rsi_percentile_60d": 73, "percentile_in_52wk_range": 251, "days_since_52wk_low": 251,
        "consecutive_up_days": 1, "range_compression_5d": 19, "macd_signal": 33,
        "macd_histogram_slope": 38, "days_since_macd_cross_signal": 33,
        "volume_trend_5d": 24, "consecutive_volume_increase": 1,
        "volume_price_confluence": 20, "high_volume_direction_bias": 38,
        "days_to_month_end": 0, "range_vs_avg_range": 19, "tenkan_sen": 8, "kijun_sen": 25,
        "senkou_span_b": 51, "price_vs_cloud": 51, "donchian_position": 19,
        "price_rsi_divergence": 33, "price_obv_divergence": 19, "divergence_streak": 33,
        "permutation_entropy_order5": 19, "entropy_trend_5d": 24,
        "trend_strength_pct_60d": 86, "vol_regime_state": 73, "regime_consistency": 73,
        "regime_transition_prob": 93,
    }  # fmt: skip
    warmups = a200_warmups()
    assert {k: warmups[k] for k in spec} == spec
    assert max(warmups.values()) == 297
