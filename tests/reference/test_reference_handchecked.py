"""Hand-worked cases that pin the reference's edge rules (so the reference can be trusted).

Every expected number below was worked out by hand from the spec, not produced by the
reference itself.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import talib

from ._indicators import (
    days_since_sign_change,
    klinger,
    klinger_cm,
    last_completed_week,
    rolling_cvar,
    rolling_expectancy,
    supertrend,
    weekly_bars,
)
from ._stats import (
    ema_seeded,
    rolling_quantile,
    rolling_share_le_current,
    rolling_std,
    stochastic,
)
from .features import (
    TIER_COLUMNS,
    VOLUME_COLUMNS,
    WARMUPS,
    reference_features,
    synthetic_history,
)
from .vix import reference_vix, vix_percentile

NAN = np.nan


def frame_from_closes(
    close: np.ndarray | list[float],
    high_pad: float = 1.0,
    low_pad: float = 1.0,
    volume: float = 1000.0,
    start: str = "2021-01-04",
) -> pd.DataFrame:
    """OHLCV on business days with open = close, high = close + pad, low = close - pad."""
    close = np.asarray(close, dtype=float)
    n = len(close)
    return pd.DataFrame(
        {
            "date": pd.bdate_range(start, periods=n),
            "open": close.copy(),
            "high": close + high_pad,
            "low": close - low_pad,
            "close": close,
            "volume": np.broadcast_to(np.asarray(volume, dtype=float), (n,)).copy(),
        }
    )


def assert_same(actual: object, expected: object) -> None:
    """Exact (bitwise-value) equality, NaN == NaN."""
    np.testing.assert_array_equal(np.asarray(actual, dtype=float), np.asarray(expected, float))


# --------------------------------------------------------------------------- zero tests
def test_stochastic_zero_range_gives_50():
    x = np.array([5.0] * 10 + [7.0, 6.0])
    out = stochastic(x, 10)
    assert np.isnan(out[:9]).all()
    assert out[9] == 50.0  # ten equal values
    assert out[10] == 100.0  # 7 is the max of [5]*9 + [7]
    assert out[11] == pytest.approx(50.0)  # (6 - 5) / (7 - 5)


def test_stc_is_50_on_a_flat_history():
    out = reference_features(frame_from_closes([100.0] * 120), None, "a50")
    stc = out["stc"].to_numpy()
    assert np.isnan(stc[:80]).all()
    assert_same(stc[80:], 50.0)


def test_std_of_a_constant_window_is_exactly_zero():
    x = np.array([0.1 + 0.2] * 6 + [1.0, 2.0, 3.0, 4.0])  # 0.30000000000000004 repeated
    std = rolling_std(x, 5)
    assert std[4] == 0.0 and std[5] == 0.0
    assert std[9] == pytest.approx(np.std([0.3, 1, 2, 3, 4], ddof=1))
    assert std[9] == pytest.approx(math.sqrt(8.872 / 4))  # mean 2.06, squares sum 8.872


def test_sharpe_and_sortino_neutral_when_std_is_zero():
    # close doubles every day: r = 1 exactly, std(r) = 0 -> sharpe 0 (not inf)
    doubling = reference_features(frame_from_closes(2.0 ** np.arange(30)), None, "a50")
    assert_same(doubling["sharpe_20d"].iloc[20:], 0.0)
    # ... and min(r, 0) is always 0 -> sortino 0
    assert_same(doubling["sortino_20d"].iloc[20:], 0.0)
    flat = reference_features(frame_from_closes([50.0] * 30), None, "a50")
    assert_same(flat["sharpe_20d"].iloc[20:], 0.0)


def test_neutral_values_on_a_flat_zero_volume_history():
    flat = frame_from_closes([50.0] * 110, high_pad=0.0, low_pad=0.0, volume=0.0)
    vix = pd.DataFrame({"date": flat["date"], "close": 20.0})
    out = reference_features(flat, vix, "a100")
    assert_same(out["bb_percent_b"].iloc[19:], 0.5)
    assert_same(out["bb_width"].iloc[19:], 0.0)
    assert_same(out["vwap_20"].iloc[19:], 50.0)  # close when sum20(volume) = 0
    assert_same(out["volume_ratio_20d"].iloc[19:], 1.0)
    assert_same(out["buying_pressure_ratio"], 0.5)
    assert_same(out["demarker_14"].iloc[14:], 0.5)
    assert_same(out["fib_range_position"].iloc[43:], 0.5)
    assert_same(out["implied_vs_realized_ratio"].iloc[21:], 1.0)  # RV_21 = 0
    assert_same(out["vrp_21d"].iloc[21:], 20.0)
    for col in ("obv_slope", "volume_price_trend", "accumulation_dist", "kvo_histogram"):
        assert WARMUPS[col] < 100
        assert_same(out[col].iloc[WARMUPS[col] :], 0.0)


def test_vix_zscore_zero_when_std_is_zero():
    dates = pd.bdate_range("2022-01-03", periods=25)
    vix = pd.DataFrame({"date": dates, "close": [0.1 + 0.2] * 25})
    out = reference_vix(vix, pd.Series(dates))
    assert_same(out["vix_zscore_20d"].iloc[19:], 0.0)


def test_missing_volume_nulls_exactly_the_volume_columns():
    ohlcv, vix = synthetic_history(300)
    ohlcv["volume"] = np.nan
    out = reference_features(ohlcv, vix, "a100")
    assert len(VOLUME_COLUMNS & set(TIER_COLUMNS["a100"])) == 10
    for col in TIER_COLUMNS["a100"]:
        if col in VOLUME_COLUMNS:
            assert out[col].isna().all(), col
        else:
            assert out[col].iloc[-1] == out[col].iloc[-1], col  # not NaN at the end


# --------------------------------------------------------------------------- EMAs
def test_ema_seeded_with_mean_of_first_n_valid_values():
    out = ema_seeded(np.array([NAN, NAN, 1.0, 2.0, 3.0, 4.0, 5.0]), 3)  # alpha = 0.5
    assert_same(out, [NAN, NAN, NAN, NAN, 2.0, 3.0, 4.0])


# --------------------------------------------------------------------------- Klinger
def test_klinger_cm_recursion_on_five_rows():
    high = np.array([10.0, 11.0, 12.0, 11.0, 11.0])
    low = np.array([8.0, 9.0, 9.0, 10.0, 10.0])
    close = np.array([9.0, 10.0, 11.0, 10.0, 10.0])
    # hlc = 27, 30, 32, 31, 31 -> T = ., +1, +1, -1, -1 (31 is not > 31); dm = 2, 2, 3, 1, 1
    trend, dm, cm = klinger_cm(high, low, close)
    assert_same(trend, [NAN, 1, 1, -1, -1])
    assert_same(dm, [2, 2, 3, 1, 1])
    assert_same(cm, [NAN, 2, 5, 4, 5])  # 2; 2+3; dm2+dm3 (trend flip); 4+1
    vf, _, _ = klinger(high, low, close, np.full(5, 100.0))
    # 100 * |2dm/cm - 1| * T * 100: |1|, |0.2|, -|-0.5|, -|-0.6|
    np.testing.assert_allclose(vf, [NAN, 10000.0, 2000.0, -5000.0, -6000.0], rtol=1e-12)


def test_klinger_vf_is_zero_when_cm_is_zero():
    x = np.array([5.0, 5.0, 6.0, 7.0])
    _, _, cm = klinger_cm(x, x, x)
    assert_same(cm, [NAN, 0, 0, 0])
    vf, _, _ = klinger(x, x, x, np.full(4, 10.0))
    assert_same(vf, [NAN, 0, 0, 0])


# --------------------------------------------------------------------------- SuperTrend
def test_supertrend_hand_worked():
    c = np.array([10.0, 10.0, 11.0, 15.0, 14.0, 9.0, 8.0])
    atr = np.array([NAN, 1, 1, 1, 1, 1, 1])
    line, direction = supertrend(c, c, c, atr, 3.0)
    # row1 bands 13/7 bearish; row2 fu 13, fl 8; row3 fl 12, 15 > 13 -> bull;
    # row4 prev close 15 > 13 resets fu to 17, fl stays 12; row5 fu 12, 9 < 12 -> bear;
    # row6 fu 11, prev close 9 < 12 resets fl to 5, stays bearish.
    assert_same(line, [NAN, 13, 13, 12, 12, 12, 11])
    assert_same(direction, [NAN, -1, -1, 1, 1, -1, -1])


def test_supertrend_end_to_end_with_constant_true_range():
    close = np.array([100.0] * 11 + [100.0 + k for k in range(1, 10)])  # rows 11.. rise by 1
    out = reference_features(frame_from_closes(close), None, "a100")  # TR = 2 -> ATR10 = 2
    np.testing.assert_array_equal(talib.ATR(close + 1, close - 1, close, 10)[10:], 2.0)
    direction = out["supertrend_direction"].to_numpy()
    assert np.isnan(direction[:10]).all()
    assert_same(direction[10:17], -1.0)  # bands 106 / 94 .. close reaches 106 at row 16
    assert_same(direction[17:], 1.0)  # 107 > 106
    assert out["price_pct_from_supertrend"].iloc[10] == pytest.approx(100 * (100 - 106) / 106)
    assert out["price_pct_from_supertrend"].iloc[17] == pytest.approx(100 * (107 - 101) / 101)


# --------------------------------------------------------------------------- crosses
def test_days_since_sign_change_counting():
    x = np.array([NAN, NAN, 1.0, 2.0, -1.0, -3.0, 0.0, 0.0, 3.0, 3.0, 3.0])
    assert_same(days_since_sign_change(x), [NAN, NAN, 0, 1, 0, 1, 0, 1, 0, 1, 2])


def test_days_since_sma_50_cross_starts_at_zero():
    close = np.array([100.0] * 49 + [90.0] + [95.0] * 5 + [200.0] * 3)
    out = reference_features(frame_from_closes(close), None, "a100")
    days = out["days_since_sma_50_cross"].to_numpy()
    assert np.isnan(days[:49]).all()
    # row 49: 90 < sma -> first row 0; 95 stays below the sma for 5 rows; 200 crosses
    assert_same(days[49:], [0, 1, 2, 3, 4, 5, 0, 1, 2])


# --------------------------------------------------------------------------- weekly bars
def test_weekly_bars_and_last_completed_week():
    dates = pd.to_datetime(
        [
            "2024-01-03", "2024-01-04", "2024-01-05",  # Wed-Fri: partial first week
            "2024-01-08", "2024-01-09", "2024-01-12",  # full week
            # week of 2024-01-15 has no rows at all
            "2024-01-22", "2024-01-24", "2024-01-28",  # Sunday belongs to Mon 22nd's week
            "2024-01-29",
        ]
    )  # fmt: skip
    o = np.arange(10.0) + 100
    h = o + 5
    lo = o - 5
    c = o + 1
    v = np.full(10, 10.0)
    bars = weekly_bars(pd.Series(dates), o, h, lo, c, v)
    assert_same(bars.week_of_row, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3])
    assert [str(d) for d in bars.week_start] == [
        "2024-01-01", "2024-01-08", "2024-01-22", "2024-01-29"
    ]  # fmt: skip
    assert_same(bars.open, [100, 103, 106, 109])
    assert_same(bars.high, [107, 110, 113, 114])
    assert_same(bars.low, [95, 98, 101, 104])
    assert_same(bars.close, [103, 106, 109, 110])
    assert_same(bars.volume, [30, 30, 30, 10])
    daily = last_completed_week(np.array([1.0, 2.0, 3.0, 4.0]), bars.week_of_row)
    assert_same(daily, [NAN, NAN, NAN, 1, 1, 1, 2, 2, 2, 3])


def test_rsi_weekly_uses_last_completed_week():
    ohlcv, vix = synthetic_history(200)
    ohlcv = ohlcv.iloc[2:].reset_index(drop=True)  # start on a Wednesday
    out = reference_features(ohlcv, vix, "a20")
    weekly = ohlcv.set_index("date")["close"].resample("W-SUN").last().dropna()
    rsi = pd.Series(talib.RSI(weekly.to_numpy(), 14), index=weekly.index)
    for i in (80, 81, 150, 197):
        day = ohlcv["date"].iloc[i]
        previous_week_end = day - pd.Timedelta(days=day.weekday() + 1)  # last Sunday
        assert out["rsi_weekly"].iloc[i] == rsi.loc[:previous_week_end].iloc[-1]


# --------------------------------------------------------------------------- VIX
def test_vix_asof_join_staleness():
    vix = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-05"]),
            "close": [10, 20, 30.0],
        }
    )
    dates = pd.Series(
        pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-04", "2024-01-10", "2024-01-11"])
    )
    out = reference_vix(vix, dates)
    # before any VIX row; same day; the 3rd's row one day later; 5 days old; 6 days old
    assert_same(out["vix_close"], [NAN, 10, 20, 30, NAN])
    assert_same(out["vix_change_1d"], [NAN, NAN, 100, 50, NAN])  # over VIX's own rows
    assert out.iloc[4].isna().all()


def test_vix_drops_rows_without_a_value_and_regime():
    vix = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]),
            "close": [14.99, NAN, 15.0, 25.0],
        }
    )
    out = reference_vix(vix, pd.Series(vix["date"]))
    assert_same(out["vix_close"], [14.99, 14.99, 15.0, 25.0])  # the 3rd takes the 2nd's row
    assert_same(out["vix_regime"], [0, 0, 1, 2])
    assert out["vix_change_1d"].iloc[2] == pytest.approx(100 * (15.0 / 14.99 - 1))


def test_stale_vix_nulls_vrp_on_that_row():
    ohlcv, vix = synthetic_history(100)
    vix = vix[(vix["date"] < "2020-04-01") | (vix["date"] > "2020-04-08")]  # gap of 8 days
    out = reference_features(ohlcv, vix, "a100")
    dates = ohlcv["date"]
    fresh = (dates >= "2020-04-01") & (dates <= "2020-04-03")  # 1..3 days after Tue 03-31
    stale = (dates >= "2020-04-06") & (dates <= "2020-04-08")  # 6..8 days: null
    for col in ("vrp_5d", "vrp_10d", "vrp_21d", "implied_vs_realized_ratio"):
        assert out.loc[stale, col].isna().all() and out.loc[fresh, col].notna().all()


# --------------------------------------------------------------------------- percentiles
def test_vix_percentile_counts_previous_59_strictly_below():
    closes = np.concatenate([np.arange(1.0, 60.0), [30.0]])  # 1..59, then today 30
    out = vix_percentile(closes, 59)
    assert np.isnan(out[:59]).all()
    assert out[59] == pytest.approx(100 * 29 / 59)  # 1..29 below; 30 itself is a tie


def test_share_le_current_includes_today_and_ties():
    x = np.concatenate([np.arange(59.0), [10.0]])  # 0..58, today 10
    out = rolling_share_le_current(x, 60)
    assert out[59] == pytest.approx(100 * 12 / 60)  # 0..10 (11 values) + today
    assert np.isnan(out[:59]).all()


# --------------------------------------------------------------------------- tails
def test_var_cvar_on_a_hand_worked_window():
    window = np.array([2, -5, 1, 0, -3, 4, 1, 2, -2, 0.5, 3, -1, 1, 0, 2, 1, -0.5, 1, 2, 3])
    x = np.concatenate([[NAN], window])
    var95 = rolling_quantile(x, 20, 0.05)
    var99 = rolling_quantile(x, 20, 0.01)
    # sorted: -5, -3, -2, ... ; position 19 * q
    assert var95[20] == pytest.approx(-5 + 0.95 * 2)  # -3.1
    assert var99[20] == pytest.approx(-5 + 0.19 * 2)  # -4.62
    assert np.isnan(var95[19])
    cvar = rolling_cvar(x, var95, 20)
    assert cvar[20] == pytest.approx(-5.0)  # only -5 <= -3.1
    cvar_loose = rolling_cvar(x, np.full(21, -2.0), 20)
    assert cvar_loose[20] == pytest.approx((-5 - 3 - 2) / 3)


def test_expectancy_and_win_rate():
    pct = np.array([NAN] + [1.0, 2.0, 0.0, 3.0] * 5)  # 15 wins, 5 zeros, no losses
    exp = rolling_expectancy(pct, 20)
    assert exp[20] == pytest.approx(0.75 * 2.0)  # p = 15/20, mean(win) = 2, loss side 0
    assert np.isnan(exp[19])
    mixed = np.array([NAN] + [2.0, -1.0, 0.0, -3.0] * 5)
    # p = 5/20, mean win 2, (1 - p) = 0.75 (zeros count there), mean |loss| = 2
    assert rolling_expectancy(mixed, 20)[20] == pytest.approx(0.25 * 2.0 - 0.75 * 2.0)
    losses_only = np.array([NAN] + [-1.0] * 20)
    assert rolling_expectancy(losses_only, 20)[20] == pytest.approx(-1.0)
    close = 100.0 * np.cumprod(np.r_[1.0, np.tile([1.01, 0.99, 1.0, 1.02], 5)])
    out = reference_features(frame_from_closes(close), None, "a100")
    assert out["win_rate_20d"].iloc[20] == 50.0  # 10 of 20 returns > 0; 5 are exactly 0


def test_prior_high_and_low_exclude_today():
    close = np.array([10.0] * 20 + [30.0])
    out = reference_features(frame_from_closes(close), None, "a100")
    assert np.isnan(out["prior_high_20d_dist"].iloc[19])
    assert out["prior_high_20d_dist"].iloc[20] == pytest.approx(100 * (30 - 11) / 11)
    assert out["prior_low_20d_dist"].iloc[20] == pytest.approx(100 * (30 - 9) / 9)


def test_realized_vol_and_garman_klass_by_hand():
    close = 100.0 * np.exp(np.r_[0.0, np.cumsum(np.tile([0.01, -0.02], 11))])  # 23 rows
    ohlcv = frame_from_closes(close)
    ohlcv["high"], ohlcv["low"] = close * math.e**0.02, close * math.e**-0.02
    vix = pd.DataFrame({"date": ohlcv["date"], "close": 30.0})
    out = reference_features(ohlcv, vix, "a100")
    rv5 = 100 * math.sqrt(252) * np.std([0.01, -0.02, 0.01, -0.02, 0.01], ddof=1)
    assert out["vrp_5d"].iloc[5] == pytest.approx(30.0 - rv5)
    assert out["vrp_5d"].iloc[6] == pytest.approx(30.0 - rv5)  # window -0.02,...: same std
    assert out["vrp_slope"].iloc[6] == pytest.approx(0.0, abs=1e-9)
    park = 100 * math.sqrt(252 * 0.04**2 / (4 * math.log(2)))
    assert out["parkinson_volatility"].iloc[19] == pytest.approx(park)
    gk = 100 * math.sqrt(252 * 0.5 * 0.04**2)  # open = close: ln(c/o) = 0
    assert out["garman_klass_volatility"].iloc[19] == pytest.approx(gk)
