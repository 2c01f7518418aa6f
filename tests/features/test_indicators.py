"""Hand-computed cases for the numpy / TA-Lib helpers in fts.features.indicators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib

from fts.features import indicators as ind

NAN = np.nan


def assert_same(got, expected, rel=1e-12):
    """Equal arrays, NaN where expected is NaN, values to `rel`."""
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    assert got.shape == expected.shape
    assert np.array_equal(np.isnan(got), np.isnan(expected)), (got, expected)
    mask = ~np.isnan(expected)
    assert got[mask] == pytest.approx(expected[mask], rel=rel, abs=1e-12)


def test_ema_seeded_starts_at_first_valid_value_with_the_mean_seed():
    # alpha = 2 / (3 + 1) = 0.5; seed = mean(1, 2, 3) = 2 on the third valid value.
    x = [NAN, NAN, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert_same(ind.ema_seeded(x, 3), [NAN, NAN, NAN, NAN, 2.0, 3.0, 4.0])


def test_ema_seeded_is_all_nan_when_fewer_than_n_valid_values():
    assert_same(ind.ema_seeded([NAN, 1.0, 2.0], 3), [NAN, NAN, NAN])
    assert_same(ind.ema_seeded([NAN, NAN], 2), [NAN, NAN])


def test_rolling_min_max_need_a_full_window_and_propagate_nan():
    x = [3.0, 1.0, 2.0, NAN, 5.0, 4.0]
    assert_same(ind.rolling_max(x, 2), [NAN, 3.0, 2.0, NAN, NAN, 5.0])
    assert_same(ind.rolling_min(x, 2), [NAN, 1.0, 1.0, NAN, NAN, 4.0])
    assert_same(ind.rolling_max([1.0], 3), [NAN])


def test_rolling_stochastic_uses_the_neutral_value_on_an_exactly_flat_window():
    x = [1.0, 2.0, 3.0, 3.0, 3.0, 3.0, 1.0]
    # [1,2,3] -> 100; [2,3,3] -> 100; [3,3,3] flat -> 50; [3,3,3] -> 50; [3,3,1] -> 0
    assert_same(ind.rolling_stochastic(x, 3, 50.0), [NAN, NAN, 100.0, 100.0, 50.0, 50.0, 0.0])
    assert_same(ind.rolling_stochastic([2.0, 2.0], 2, 7.0), [NAN, 7.0])


def test_rolling_flat_is_an_exact_equality_test():
    x = [1.0, 1.0, 1.0 + 1e-15, 1.0 + 1e-15]
    assert list(ind.rolling_flat(x, 2)) == [False, True, False, True]


def test_percent_b_is_half_on_flat_closes_and_uses_the_bands_otherwise():
    close = np.array([10.0] * 5 + [11.0])
    upper, middle, lower = talib.BBANDS(close, 5, 2.0, 2.0, 0)
    got = ind.percent_b(close, upper, lower, 5)
    assert np.isnan(got[:4]).all()
    assert got[4] == 0.5
    assert got[5] == pytest.approx((11.0 - lower[5]) / (upper[5] - lower[5]), rel=1e-15)


def test_days_since_sign_change_counts_rows_and_resets_on_any_sign_change():
    x = [NAN, NAN, 1.0, 2.0, -1.0, 0.0, 0.0, 3.0, 4.0]
    assert_same(ind.days_since_sign_change(x), [NAN, NAN, 0, 1, 0, 0, 1, 0, 1])
    assert_same(ind.days_since_sign_change([NAN, NAN]), [NAN, NAN])


def test_week_ids_run_monday_to_sunday():
    dates = pd.to_datetime(["2024-01-05", "2024-01-07", "2024-01-08", "2024-01-14", "2024-01-15"])
    ids = ind.week_ids(dates)
    # Fri 5th and Sun 7th share a week; Mon 8th..Sun 14th is the next; Mon 15th the one after.
    assert ids[0] == ids[1] and ids[2] == ids[3] == ids[1] + 1 and ids[4] == ids[2] + 1


def test_weekly_bars_aggregate_each_calendar_week_including_a_partial_first_one():
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(
                ["2024-01-05", "2024-01-08", "2024-01-09", "2024-01-10", "2024-01-15"]
            ),
            "open": [1.0, 2.0, 3.0, 4.0, 5.0],
            "high": [1.5, 2.5, 9.0, 4.5, 5.5],
            "low": [0.5, 1.5, 2.5, 0.1, 4.5],
            "close": [1.2, 2.2, 3.2, 4.2, 5.2],
            "volume": [10.0, 20.0, NAN, 40.0, NAN],
        }
    )
    bars, bar_of_day = ind.weekly_bars(frame)
    assert list(bar_of_day) == [0, 1, 1, 1, 2]
    assert list(bars["open"]) == [1.0, 2.0, 5.0]
    assert list(bars["high"]) == [1.5, 9.0, 5.5]
    assert list(bars["low"]) == [0.5, 0.1, 4.5]
    assert list(bars["close"]) == [1.2, 4.2, 5.2]
    assert_same(bars["volume"], [10.0, 60.0, NAN])


def test_last_completed_week_never_shows_a_row_its_own_week():
    got = ind.last_completed_week([10.0, 20.0, 30.0], np.array([0, 1, 1, 1, 2]))
    assert_same(got, [NAN, 10.0, 10.0, 10.0, 20.0])


def test_klinger_matches_a_hand_computed_series():
    high = [10.0, 11.0, 13.0, 11.0, 13.0]
    low = [8.0, 9.0, 10.0, 10.0, 10.0]
    close = [9.0, 10.0, 12.0, 10.5, 12.0]
    volume = [100.0, 100.0, 200.0, 100.0, 300.0]
    # h+l+c = 27, 30, 35, 31.5, 35 -> T = ., +1, +1, -1, +1; dm = 2, 2, 3, 1, 3
    # cm = ., 2 (starts at dm), 5 (trend holds), 4 (= dm2 + dm3, flip), 4 (= dm3 + dm4, flip)
    # VF = ., 10000, 4000, -5000, 15000
    # EMA2 (alpha 2/3): seed mean(10000, 4000) = 7000; -1000; -1000 + 2/3 * 16000
    # EMA3 (alpha 1/2): seed mean(10000, 4000, -5000) = 3000; 9000
    ema2_last = -1000.0 + 2.0 / 3.0 * 16000.0
    kvo_expected = [NAN, NAN, NAN, -4000.0, ema2_last - 9000.0]
    kvo, signal = ind.klinger(high, low, close, volume, fast=2, slow=3, signal=2)
    assert_same(kvo, kvo_expected, rel=1e-12)
    assert_same(signal, [NAN, NAN, NAN, NAN, (-4000.0 + ema2_last - 9000.0) / 2], rel=1e-12)


def test_klinger_volume_force_is_zero_when_cm_is_zero_and_nan_without_volume():
    flat = [5.0] * 6
    kvo, _ = ind.klinger(flat, flat, flat, [1.0] * 6, fast=2, slow=3, signal=2)
    assert_same(kvo, [NAN, NAN, NAN, 0.0, 0.0, 0.0])
    kvo, signal = ind.klinger(flat, flat, flat, [NAN] * 6, fast=2, slow=3, signal=2)
    assert np.isnan(kvo).all() and np.isnan(signal).all()


def test_supertrend_matches_a_hand_computed_series():
    high = [10.0, 10.0, 10.0, 12.0, 14.0, 9.0]
    low = [8.0, 8.0, 8.0, 10.0, 12.0, 7.0]
    close = [9.0, 9.0, 9.0, 11.0, 13.0, 8.0]
    # TR = ., 2, 2, 3, 3, 6; ATR(2) = ., ., 2, 2.5, 2.75, 4.375 (Wilder); hl2 = 9, 9, 9, 11, 13, 8
    # row 2: bands 11 / 7, bearish.            row 3: upper stays 11, lower 8.5, close 11 !> 11
    # row 4: upper 11, lower 10.25, close 13 > 11 -> bullish (line = lower 10.25)
    # row 5: previous close 13 > 11 -> upper resets to 12.375; lower stays 10.25;
    #        close 8 < 10.25 -> bearish (line = upper 12.375)
    line, direction = ind.supertrend(high, low, close, period=2, multiplier=1.0)
    assert_same(line, [NAN, NAN, 11.0, 11.0, 10.25, 12.375])
    assert_same(direction, [NAN, NAN, -1.0, -1.0, 1.0, -1.0])


def test_schaff_trend_cycle_is_the_composition_of_its_parts():
    rng = np.random.default_rng(7)
    close = 100.0 + np.cumsum(rng.normal(0, 1, 300))
    macd_line = talib.MACD(close, 23, 50, 10)[0]
    k1 = ind.rolling_stochastic(macd_line, 10, 50.0)
    k2 = ind.rolling_stochastic(ind.ema_seeded(k1, 3), 10, 50.0)
    expected = np.clip(ind.ema_seeded(k2, 3), 0.0, 100.0)
    got = ind.schaff_trend_cycle(close)
    assert_same(got, expected)
    # MACD line from row 58, k1 from 67, d1 from 69, k2 from 78, stc from 80.
    assert ind.first_valid(got) == 80
    assert np.nanmin(got) >= 0.0 and np.nanmax(got) <= 100.0


def test_helpers_are_causal():
    rng = np.random.default_rng(3)
    n = 200
    close = 50.0 + np.cumsum(rng.normal(0, 1, n))
    high, low = close + rng.uniform(0, 1, n), close - rng.uniform(0, 1, n)
    volume = rng.uniform(1, 2, n)
    full = {
        "stc": ind.schaff_trend_cycle(close),
        "kvo": ind.klinger(high, low, close, volume)[1],
        "st": ind.supertrend(high, low, close)[0],
        "days": ind.days_since_sign_change(close - 50.0),
    }
    for cut in (90, 150):
        part = {
            "stc": ind.schaff_trend_cycle(close[:cut]),
            "kvo": ind.klinger(high[:cut], low[:cut], close[:cut], volume[:cut])[1],
            "st": ind.supertrend(high[:cut], low[:cut], close[:cut])[0],
            "days": ind.days_since_sign_change(close[:cut] - 50.0),
        }
        for name, values in part.items():
            assert_same(values, full[name][:cut], rel=0)
