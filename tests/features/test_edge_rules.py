"""The spec's edge rules (zero range, zero std, zero denominators, zero volume) run through the
product: `compute_tier` over the shipped declarations in features_sql/, on tiny synthetic raw
tables built so that each rule fires.

Every expected value is worked out by hand from the spec (tiers.md), never read back from the
product. Comparisons are exact: a NaN, an infinity or an epsilon-sized residue fails them.
Where a column is a TA-Lib indicator, the spec makes TA-Lib the reference; the hand value for
its degenerate case is TA-Lib's own convention, and the test also checks that TA-Lib agrees.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib

from fts.features.compute import compute_tier

FEATURES = Path(__file__).resolve().parents[2] / "features_sql"

FLAT_PRICE = 33.3  # not a binary fraction: a sum-based "is it zero?" test would see residue
FLAT_VIX = 17.3
START = "2021-01-04"


# --------------------------------------------------------------------------- helpers
def bars(ticker: str, close, *, high=None, low=None, open_=None, volume=1000.0) -> pd.DataFrame:
    """Raw daily bars on consecutive business days (open = high = low = close by default)."""
    close = np.asarray(close, dtype=float)
    n = len(close)

    def col(x):
        return close.copy() if x is None else np.broadcast_to(np.asarray(x, float), (n,)).copy()

    return pd.DataFrame({
        "ticker": ticker,
        "date": pd.bdate_range(START, periods=n),
        "open": col(open_), "high": col(high), "low": col(low), "close": close,
        "volume": col(volume),
    })


def vix_closes(values) -> pd.DataFrame:
    values = np.asarray(values, dtype=float)
    return pd.DataFrame({"date": pd.bdate_range(START, periods=len(values)), "close": values})


def by_raw_row(out: pd.DataFrame, raw: pd.DataFrame, ticker: str) -> pd.DataFrame:
    """The tier's rows for `ticker`, re-indexed on that ticker's raw row numbers 0..n-1 (rows the
    tier does not have are all-NaN, so an assertion about them fails)."""
    dates = pd.DatetimeIndex(raw.loc[raw.ticker == ticker, "date"])
    got = out[out.ticker == ticker].set_index("date")
    assert got.index.is_unique
    return got.reindex(dates).reset_index(drop=True)


def assert_rows(frame: pd.DataFrame, col: str, rows: range, expected) -> None:
    """`col` on raw rows `rows` equals `expected` (scalar or array) exactly."""
    assert len(rows) > 0
    got = frame[col].iloc[rows.start : rows.stop].to_numpy(dtype=float)
    assert len(got) == len(rows), f"{col}: tier lacks rows {rows}"
    want = np.broadcast_to(np.asarray(expected, dtype=float), got.shape)
    assert np.isfinite(got).all(), f"{col} rows {rows}: {got}"
    np.testing.assert_array_equal(got, want, err_msg=col)


def assert_rows_near(frame: pd.DataFrame, col: str, rows: range, expected) -> None:
    """As assert_rows, to the spec's TA-Lib tolerance (1e-9 absolute near 0): for TA-Lib columns,
    whose running sums may keep a residue of the earlier history."""
    got = frame[col].iloc[rows.start : rows.stop].to_numpy(dtype=float)
    assert len(got) == len(rows) > 0, f"{col}: tier lacks rows {rows}"
    assert np.isfinite(got).all(), f"{col} rows {rows}: {got}"
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9, err_msg=col)


# --------------------------------------------------------------------------- 1. flat, no volume
N_FLAT = 300  # a100's rows start at raw row 252 (return_252d's warm-up)
A100_FIRST = 252


@pytest.fixture(scope="module")
def flat() -> dict[str, pd.DataFrame]:
    """Every price 33.3, volume 0 throughout, VIX 17.3 on every day."""
    raw = bars("FLAT", np.full(N_FLAT, FLAT_PRICE), volume=0.0)
    vix = vix_closes(np.full(N_FLAT, FLAT_VIX))
    return {
        "raw": raw,
        "a20": by_raw_row(compute_tier(FEATURES, "a20", raw, vix, trimmed=False), raw, "FLAT"),
        "a100": by_raw_row(compute_tier(FEATURES, "a100", raw, vix), raw, "FLAT"),
        "vix": by_raw_row(compute_tier(FEATURES, "vix", raw, vix, trimmed=False), raw, "FLAT"),
    }


def test_flat_a20_neutral_values_from_their_first_defined_row(flat):
    a20 = flat["a20"]
    # upper = lower on a flat 20-row window -> 0.5; defined from row 19
    assert_rows(a20, "bb_percent_b", range(19, N_FLAT), 0.5)
    # sum20(volume) = 0 -> vwap = close
    assert_rows(a20, "vwap_20", range(19, N_FLAT), FLAT_PRICE)


def test_flat_zero_volume_history_gives_every_neutral_value(flat):
    a100 = flat["a100"]
    rows = range(A100_FIRST, N_FLAT)
    expected = {
        # a20
        "bb_percent_b": 0.5,  # upper = lower
        "vwap_20": FLAT_PRICE,  # sum20(volume) = 0 -> close
        # a50
        "stc": 50.0,  # MACD line constant 0: both stochastics are 50, EMAs of 50 stay 50
        "stc_from_50": 0.0,
        "implied_vs_realized_ratio": 1.0,  # RV_21 = 0
        "vrp_10d": FLAT_VIX,  # vix - RV_10, RV_10 = 0
        "vrp_21d": FLAT_VIX,
        "sharpe_20d": 0.0,  # std(r) = 0
        "sharpe_60d": 0.0,
        "sortino_20d": 0.0,  # std(min(r, 0)) = 0
        "sortino_60d": 0.0,
        "volume_ratio_20d": 1.0,  # SMA20(volume) = 0
        "kvo_signal": 0.0,  # dm = 0 and cm = 0 -> VF = 0
        "bb_width": 0.0,
        # a100
        "demarker_14": 0.5,  # demax = demin = 0
        "demarker_from_half": 0.0,
        "vrp_5d": FLAT_VIX,
        "vrp_slope": 0.0,
        "sharpe_252d": 0.0,
        "sortino_252d": 0.0,
        "sharpe_slope_20d": 0.0,
        "sortino_slope_20d": 0.0,
        "obv_slope": 0.0,  # OBV constant -> d = 0, std20(d) = 0
        "volume_price_trend": 0.0,  # VPT = 0 -> mean 0
        "kvo_histogram": 0.0,  # KVO - signal = 0 -> std 0
        "accumulation_dist": 0.0,  # AD = 0 -> mean 0
        "win_rate_20d": 0.0,  # a zero return is not a win
        "expectancy_20d": 0.0,  # no wins, no losses: both sides count 0
        "buying_pressure_ratio": 0.5,  # high = low
        "fib_range_position": 0.5,  # max44(high) = min44(low)
        "var_95": 0.0,
        "var_99": 0.0,
        "cvar_95": 0.0,  # the mean of the values <= var_95 (ties included): all 0
        "atr_pct_percentile_60d": 100.0,  # ties count as <= today's
        "bb_width_percentile_60d": 100.0,
        "parkinson_volatility": 0.0,
        "garman_klass_volatility": 0.0,
        "vol_of_vol": 0.0,
    }
    for col, want in expected.items():
        assert_rows(a100, col, rows, want)
    # sign(close - sma_n) is 0 from sma_n's first row on and never changes: count from there
    assert_rows(a100, "days_since_sma_50_cross", rows, np.arange(A100_FIRST, N_FLAT) - 49)
    assert_rows(a100, "days_since_sma_200_cross", rows, np.arange(A100_FIRST, N_FLAT) - 199)


def test_flat_history_ta_lib_zero_range_conventions(flat):
    """TA-Lib's own value on a zero range / no movement (the spec's reference): STOCH, WILLR,
    CCI -> 0; RSI with neither gains nor losses -> 0; MFI with no money flow -> 0."""
    a100 = flat["a100"]
    rows = range(A100_FIRST, N_FLAT)
    expected = {
        "stoch_k_14": 0.0, "stoch_d_14": 0.0, "stoch_extreme_dist": 20.0,
        "williams_r_14": 0.0, "cci_14": 0.0, "mfi_14": 0.0,
        "rsi_daily": 0.0, "stochrsi_daily": 0.0, "rsi_extreme_dist": 30.0,
        "qqe_fast": 0.0, "qqe_extreme_dist": 20.0,
    }
    for col, want in expected.items():
        assert_rows(a100, col, rows, want)
    # the hand values are TA-Lib's
    raw = flat["raw"]
    h, lo, c, v = (raw[k].to_numpy() for k in ("high", "low", "close", "volume"))
    k, d = talib.STOCH(h, lo, c, 14, 3, 0, 3, 0)
    np.testing.assert_array_equal(k[rows.start :], 0.0)
    np.testing.assert_array_equal(d[rows.start :], 0.0)
    np.testing.assert_array_equal(talib.WILLR(h, lo, c, 14)[rows.start :], 0.0)
    np.testing.assert_array_equal(talib.CCI(h, lo, c, 14)[rows.start :], 0.0)
    np.testing.assert_array_equal(talib.MFI(h, lo, c, v, 14)[rows.start :], 0.0)
    np.testing.assert_array_equal(talib.RSI(c, 14)[rows.start :], 0.0)


def test_flat_vix_zscore_is_zero_when_std_is_zero(flat):
    vix = flat["vix"]
    assert_rows(vix, "vix_zscore_20d", range(19, N_FLAT), 0.0)  # 20 equal closes
    assert_rows(vix, "vix_percentile_60d", range(59, N_FLAT), 0.0)  # none strictly below
    assert_rows(vix, "vix_change_1d", range(1, N_FLAT), 0.0)


# --------------------------------------------------------------------------- 2. exact growth
N_GROW = 260
GROW_VIX = 20.0 + np.arange(N_GROW) % 7  # a moving VIX: vrp_n must follow it row by row


@pytest.fixture(scope="module")
def growth() -> dict[str, pd.DataFrame]:
    """DOUBLE: close = 2^k, so r = 1 and ln(close_t / close_t-1) = ln 2 exactly on every row;
    HALVE: close = 2^-k (r = -0.5). open = high = low = close, volume 1000 throughout."""
    k = np.arange(N_GROW, dtype=float)
    raw = pd.concat([bars("DOUBLE", 2.0**k), bars("HALVE", 2.0**-k)], ignore_index=True)
    out = compute_tier(FEATURES, "a100", raw, vix_closes(GROW_VIX))
    return {t: by_raw_row(out, raw, t) for t in ("DOUBLE", "HALVE")}


@pytest.mark.parametrize("ticker", ["DOUBLE", "HALVE"])
def test_constant_returns_hit_the_zero_std_rules_with_a_nonzero_numerator(growth, ticker):
    a100 = growth[ticker]
    rows = range(A100_FIRST, N_GROW)
    zero = [
        # mean(r) = +-1 or -0.5, std(r) = 0 -> 0, not +-inf
        "sharpe_20d", "sharpe_60d", "sharpe_252d", "sharpe_slope_20d",
        # std(min(r, 0)) = 0: min(r, 0) is all 0 (DOUBLE) or all -0.5 (HALVE)
        "sortino_20d", "sortino_60d", "sortino_252d", "sortino_slope_20d",
        # OBV moves by +-1000 a day: d = +-5000 on every row, std20(d) = 0
        "obv_slope",
        # high = low: dm = 0, so cm = 0 and VF = 0 although volume > 0 -> KVO = 0
        "kvo_signal", "kvo_histogram",
        # high = low: TA-Lib AD adds nothing -> AD = 0, mean 0
        "accumulation_dist",
    ]
    for col in zero:
        assert_rows(a100, col, rows, 0.0)
    # RV_n = 0 (every log return is ln 2): ratio 1.0 (not vix / 0), vrp = vix
    assert_rows(a100, "implied_vs_realized_ratio", rows, 1.0)
    for col in ("vrp_5d", "vrp_10d", "vrp_21d"):
        assert_rows(a100, col, rows, GROW_VIX[A100_FIRST:])
    assert_rows(a100, "buying_pressure_ratio", rows, 0.5)  # high = low, close moving


def test_no_losses_and_no_wins(growth):
    up, down = growth["DOUBLE"], growth["HALVE"]
    rows = range(A100_FIRST, N_GROW)
    # RSI with no losses: TA-Lib 100 * gain / (gain + 0) = 100; with no gains: 0
    assert_rows(up, "rsi_daily", rows, 100.0)
    assert_rows(down, "rsi_daily", rows, 0.0)
    c = 2.0 ** np.arange(N_GROW, dtype=float)
    np.testing.assert_array_equal(talib.RSI(c, 14)[A100_FIRST:], 100.0)
    np.testing.assert_array_equal(talib.RSI(1 / c, 14)[A100_FIRST:], 0.0)
    assert_rows(up, "rsi_extreme_dist", rows, 30.0)
    # expectancy: every return +100 %: p = 1, mean win 100, empty loss side counts 0
    assert_rows(up, "win_rate_20d", rows, 100.0)
    assert_rows(up, "expectancy_20d", rows, 100.0)
    # every return -50 %: p = 0, empty win side counts 0, mean |loss| 50
    assert_rows(down, "win_rate_20d", rows, 0.0)
    assert_rows(down, "expectancy_20d", rows, -50.0)


# --------------------------------------------------------------------------- 3. moving, then flat
N_RW = 360
F = 270  # first flat row


@pytest.fixture(scope="module")
def then_flat() -> dict[str, pd.DataFrame]:
    """A random walk with volume for rows 0..269, then 33.3 flat with volume 0 (rows 270..359);
    VIX random, then 17.3 from row 270. The rolling sums over the flat windows still carry the
    earlier values' history, so only an exact zero test gives the neutral values."""
    rng = np.random.default_rng(11)
    walk = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, F)))
    close = np.r_[walk, np.full(N_RW - F, FLAT_PRICE)]
    spread = np.r_[walk * np.abs(rng.normal(0.01, 0.005, F)), np.zeros(N_RW - F)]
    volume = np.r_[rng.integers(1_000, 100_000, F).astype(float), np.zeros(N_RW - F)]
    raw = bars("RWF", close, high=close + spread, low=close - spread, volume=volume)
    vix = vix_closes(np.r_[15 + 10 * rng.random(F), np.full(N_RW - F, FLAT_VIX)])
    return {
        "a100": by_raw_row(compute_tier(FEATURES, "a100", raw, vix), raw, "RWF"),
        "vix": by_raw_row(compute_tier(FEATURES, "vix", raw, vix), raw, "RWF"),
    }


def test_neutral_values_once_the_window_is_flat(then_flat):
    a100 = then_flat["a100"]
    end = N_RW
    # first row whose window lies wholly in the flat stretch, by hand:
    # 20 flat bars / volumes: rows F+19..; 14 demax/demin (which need the previous bar): F+14..;
    # 44 bars: F+43..; 20 returns (which need the previous close): F+20..; 21 and 60 returns
    assert_rows(a100, "buying_pressure_ratio", range(F, end), 0.5)
    assert_rows(a100, "bb_percent_b", range(F + 19, end), 0.5)
    assert_rows(a100, "bb_width", range(F + 19, end), 0.0)
    assert_rows(a100, "vwap_20", range(F + 19, end), FLAT_PRICE)
    assert_rows(a100, "volume_ratio_20d", range(F + 19, end), 1.0)
    assert_rows(a100, "demarker_14", range(F + 14, end), 0.5)
    assert_rows(a100, "demarker_from_half", range(F + 14, end), 0.0)
    assert_rows(a100, "fib_range_position", range(F + 43, end), 0.5)
    for col in ("sharpe_20d", "sortino_20d", "win_rate_20d", "expectancy_20d"):
        assert_rows(a100, col, range(F + 20, end), 0.0)
    for col in ("sharpe_60d", "sortino_60d"):
        assert_rows(a100, col, range(F + 60, end), 0.0)
    assert_rows(a100, "implied_vs_realized_ratio", range(F + 21, end), 1.0)
    assert_rows(a100, "vrp_21d", range(F + 21, end), FLAT_VIX)
    assert_rows(a100, "vrp_10d", range(F + 10, end), FLAT_VIX)
    assert_rows(a100, "vrp_5d", range(F + 5, end), FLAT_VIX)
    # OBV stops moving at row F-1 (volume 0 from F): d = 0 from F+4, std20(d) = 0 from F+23
    assert_rows(a100, "obv_slope", range(F + 23, end), 0.0)
    # TA-Lib on a 14-bar zero range: fast %K 0 from F+13, slow %K from F+15, slow %D from F+17
    # (TA-Lib's SMA running sum leaves a ~1e-13 residue here; the spec allows 1e-9 near 0)
    assert_rows_near(a100, "stoch_k_14", range(F + 15, end), 0.0)
    assert_rows_near(a100, "stoch_d_14", range(F + 17, end), 0.0)
    assert_rows(a100, "williams_r_14", range(F + 13, end), 0.0)


def test_vix_zscore_zero_once_twenty_vix_closes_are_equal(then_flat):
    assert_rows(then_flat["vix"], "vix_zscore_20d", range(F + 19, N_RW), 0.0)


# --------------------------------------------------------------------------- 4. zero mean, AD != 0
N_ALT = 260


@pytest.fixture(scope="module")
def alternating() -> dict[str, pd.DataFrame]:
    """ADALT: high 11, low 9, close alternately 11 and 9 (CLV +1, -1), volume 100 then 200:
    AD = +100, -100, +100, ... so mean20(AD) = 0 while AD is not.
    VPTALT: close alternately 10 and 20 (r = +1, -0.5), volume 200 on row 1, then 800 on the
    falling rows and 400 on the rising ones: VPT = 200, -200, 200, ... from row 1."""
    i = np.arange(N_ALT)
    ad_close = np.where(i % 2 == 0, 11.0, 9.0)
    ad_volume = np.where(i == 0, 100.0, 200.0)
    vpt_close = np.where(i % 2 == 0, 10.0, 20.0)
    vpt_volume = np.where(i == 1, 200.0, np.where(i % 2 == 0, 800.0, 400.0))
    raw = pd.concat([
        bars("ADALT", ad_close, open_=10.0, high=11.0, low=9.0, volume=ad_volume),
        bars("VPTALT", vpt_close, high=vpt_close + 1, low=vpt_close - 1, volume=vpt_volume),
    ], ignore_index=True)
    # the hand-worked AD is TA-Lib's
    ad = talib.AD(np.full(N_ALT, 11.0), np.full(N_ALT, 9.0), ad_close, ad_volume)
    np.testing.assert_array_equal(ad, np.where(i % 2 == 0, 100.0, -100.0))
    out = compute_tier(FEATURES, "a100", raw, vix_closes(np.full(N_ALT, 20.0)))
    return {t: by_raw_row(out, raw, t) for t in ("ADALT", "VPTALT")}


def test_accumulation_dist_zero_when_mean_is_zero(alternating):
    # AD = +-100 on every row, mean20 = 0 from row 19: AD / |0| -> 0, not +-inf
    assert_rows(alternating["ADALT"], "accumulation_dist", range(A100_FIRST, N_ALT), 0.0)


def test_volume_price_trend_zero_when_mean_is_zero(alternating):
    # VPT = +-200, mean20 over rows 1.. = 0 from row 20: VPT / |0| -> 0
    assert_rows(alternating["VPTALT"], "volume_price_trend", range(A100_FIRST, N_ALT), 0.0)


# --------------------------------------------------------------------------- 5. sign through 0
def test_days_since_cross_counts_changes_to_and_from_zero():
    """close 100 on rows 0..251 and 253..459, 110 on row 252. SMA_n is then exactly 100 (sign 0)
    until row 252 (+), then above 100 while row 252 is in its window (sign -), then exactly 100
    again (sign 0) from row 252 + n."""
    n = 460
    close = np.full(n, 100.0)
    close[252] = 110.0
    raw = bars("CROSS", close, high=close + 1, low=close - 1)
    a100 = by_raw_row(compute_tier(FEATURES, "a100", raw, vix_closes(np.full(n, 20.0))), raw, "CROSS")
    r = np.arange(n)
    want_50 = np.select([r < 252, r == 252, r < 302], [r - 49, 0, r - 253], r - 302)
    want_200 = np.select([r < 252, r == 252, r < 452], [r - 199, 0, r - 253], r - 452)
    assert_rows(a100, "days_since_sma_50_cross", range(A100_FIRST, n), want_50[A100_FIRST:])
    assert_rows(a100, "days_since_sma_200_cross", range(A100_FIRST, n), want_200[A100_FIRST:])


# --------------------------------------------------------------------------- 6. regime bounds
def test_vix_regime_boundaries():
    values = [14.99, 15.0, 24.99, 25.0, 10.0, 30.0]
    raw = bars("ANY", np.full(len(values), 50.0))
    vix = by_raw_row(compute_tier(FEATURES, "vix", raw, vix_closes(values), trimmed=False), raw, "ANY")
    assert_rows(vix, "vix_regime", range(len(values)), [0, 1, 1, 2, 0, 2])
