"""API shape, causality and warm-up checks of the reference (tests/reference/features.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from .features import (
    TIER_COLUMNS,
    WARMUPS,
    first_complete_row,
    reference_features,
    synthetic_history,
)

NAN = np.nan


# --------------------------------------------------------------------------- API shape
def test_tier_columns_are_ordered_and_nested():
    assert [len(TIER_COLUMNS[t]) for t in ("vix", "a20", "a50", "a100")] == [8, 20, 50, 100]
    assert TIER_COLUMNS["a50"][:20] == TIER_COLUMNS["a20"]
    assert TIER_COLUMNS["a100"][:50] == TIER_COLUMNS["a50"]
    assert len(set(TIER_COLUMNS["a100"])) == 100
    assert TIER_COLUMNS["a20"][0] == "dema_9" and TIER_COLUMNS["a100"][-1] == "prior_low_20d_dist"


@pytest.mark.parametrize("tier", ["vix", "a20", "a50", "a100"])
def test_output_has_one_float_row_per_input_row(tier):
    ohlcv, vix = synthetic_history(300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = reference_features(ohlcv, vix, tier)
    assert list(out.columns) == ["date", *TIER_COLUMNS[tier]]
    assert len(out) == 300 and list(out.index) == list(range(300))
    assert all(out[c].dtype == np.float64 for c in TIER_COLUMNS[tier])
    assert (out["date"].to_numpy() == ohlcv["date"].to_numpy()).all()


def test_causal_prefix_gives_identical_values():
    ohlcv, vix = synthetic_history(600)
    full = reference_features(ohlcv, vix, "a100")
    part = reference_features(ohlcv.iloc[:377], vix, "a100")  # cut mid-week
    pd.testing.assert_frame_equal(full.iloc[:377], part, check_exact=True)


def test_warmups_match_hand_counted_lookbacks():
    expected = {
        "sma_200": 199, "dema_90": 178, "rsi_daily": 14, "stochrsi_daily": 20,
        "macd_line": 33, "adx_14": 27, "obv": 0, "return_252d": 252,
        "qqe_fast": 18, "qqe_slow": 27,  # RSI from row 14, EMA5 -> 18, EMA14 -> 27
        "stc": 80,  # MACD(23,50,10) line 58, k1 67, d1 69, k2 78, stc 80
        "kvo_signal": 67, "kvo_histogram": 86,  # VF from 1, EMA55 -> 55, EMA13 -> 67, std20
        "rsi_weekly": 75, "stochrsi_weekly": 105,  # bar 14 / 20 -> used from week 15 / 21
        "vix_percentile_60d": 59, "vol_of_vol": 24, "prior_high_20d_dist": 20,
        "atr_pct_percentile_60d": 73, "bb_width_percentile_60d": 78,
        "price_pct_from_supertrend": 10, "days_since_sma_50_cross": 49,
        "fib_range_position": 43, "sharpe_252d": 252, "var_95": 20,
    }  # fmt: skip
    assert {k: WARMUPS[k] for k in expected} == expected
    assert set(WARMUPS) == set(TIER_COLUMNS["vix"]) | set(TIER_COLUMNS["a100"])


def test_first_complete_row():
    frame = pd.DataFrame({"a": [NAN, 1, 2, 3], "b": [NAN, NAN, 1, NAN]})
    assert first_complete_row(frame, ["a"]) == 1
    assert first_complete_row(frame, ["a", "b"]) == 2
    assert first_complete_row(pd.DataFrame({"a": [NAN, NAN]}), ["a"]) == 2  # none -> len
