"""Every column of every tier against the independent reference in tests/reference (TA-Lib for
the indicators it has, pandas/numpy for the rest), on the real sample and on synthetic data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fts.features import load_feature_project
from fts.features.compute import compute_tier
from fts.project import Project
from tests.reference.features import (
    TIER_COLUMNS,
    VOLUME_COLUMNS,
    WARMUPS,
    first_complete_row,
    reference_features,
    synthetic_history,
)

REPO = Path(__file__).resolve().parents[2]
FEATURES = REPO / "features_sql"
TIERS = ("vix", "a20", "a50", "a100")


@pytest.fixture(scope="module")
def sample_raw(_sample_project_template: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """^GSPC bars and ^VIX closes as ingested from the embedded sample."""
    project = Project(_sample_project_template)
    raw = project.sql("select * from raw.ohlcv where ticker = '^GSPC' order by date").to_pandas()
    vix = project.sql("select date, close from raw.ohlcv where ticker = '^VIX' order by date").to_pandas()
    return raw, vix


def _assert_columns_match(ours: pd.DataFrame, ref: pd.DataFrame, columns: list[str]) -> None:
    bad = []
    for col in columns:
        a = ours[col].to_numpy(dtype=float)
        b = ref[col].to_numpy(dtype=float)
        same_nulls = np.array_equal(np.isnan(a), np.isnan(b))
        ok = np.isclose(a, b, rtol=1e-9, atol=1e-9) | (np.isnan(a) & np.isnan(b))
        if not same_nulls or not ok.all():
            i = int(np.flatnonzero(~ok)[0]) if not ok.all() else int(
                np.flatnonzero(np.isnan(a) != np.isnan(b))[0])
            bad.append(f"{col} at row {i}: ours {a[i]!r} reference {b[i]!r}")
    assert not bad, "columns differ from the reference:\n" + "\n".join(bad)


@pytest.mark.parametrize("tier", TIERS)
def test_tier_matches_reference_on_the_sample(sample_raw, tier: str) -> None:
    raw, vix = sample_raw
    ours = compute_tier(FEATURES, tier, raw, vix)
    ref = reference_features(raw[["date", "open", "high", "low", "close", "volume"]], vix, tier)
    start = first_complete_row(ref, TIER_COLUMNS[tier])
    ref = ref.iloc[start:].reset_index(drop=True)
    # Same rows: the tier starts at the first date on which every column is defined.
    assert list(ours.columns) == ["ticker", "date", *TIER_COLUMNS[tier]]
    assert len(ours) == len(ref) > 250
    assert (pd.to_datetime(ours["date"]).to_numpy() == pd.to_datetime(ref["date"]).to_numpy()).all()
    _assert_columns_match(ours, ref, TIER_COLUMNS[tier])


def test_tiers_match_reference_on_synthetic_history_untrimmed() -> None:
    ohlcv, vix = synthetic_history(700, seed=11)
    raw = ohlcv.assign(ticker="SYN")
    ours = compute_tier(FEATURES, "a100", raw, vix)
    ref = reference_features(ohlcv, vix, "a100")
    ref = ref.iloc[first_complete_row(ref, TIER_COLUMNS["a100"]):].reset_index(drop=True)
    assert len(ours) == len(ref)
    _assert_columns_match(ours, ref, TIER_COLUMNS["a100"])


def test_declared_warmups_equal_the_first_defined_row() -> None:
    project = load_feature_project(FEATURES)
    declared = {c.name: c.warmup for t in TIERS for c in project.columns(t)}
    assert set(declared) == set(WARMUPS)
    wrong = {k: (declared[k], WARMUPS[k]) for k in WARMUPS if declared[k] != WARMUPS[k]}
    assert not wrong, f"declared vs first defined row on a clean calendar: {wrong}"


def test_ticker_without_volume_gets_null_volume_features_and_the_rest_defined() -> None:
    ohlcv, vix = synthetic_history(500, seed=3)
    with_vol = ohlcv.assign(ticker="VOL")
    no_vol = ohlcv.assign(ticker="NOVOL", volume=np.nan)
    ours = compute_tier(FEATURES, "a100", pd.concat([with_vol, no_vol]), vix)
    a = ours[ours.ticker == "VOL"].reset_index(drop=True)
    b = ours[ours.ticker == "NOVOL"].reset_index(drop=True)
    assert len(a) == len(b) > 0
    volume_cols = [c for c in TIER_COLUMNS["a100"] if c in VOLUME_COLUMNS]
    other = [c for c in TIER_COLUMNS["a100"] if c not in VOLUME_COLUMNS]
    assert len(volume_cols) == 10
    assert b[volume_cols].isna().all().all()
    assert a[volume_cols].notna().all().all()
    _assert_columns_match(b, a, other)


def test_flat_prices_give_the_neutral_values_not_nan() -> None:
    ohlcv, vix = synthetic_history(400, seed=5)
    flat = ohlcv.copy()
    flat.loc[300:, ["open", "high", "low", "close"]] = 100.0  # 100 identical bars: zero ranges
    ours = compute_tier(FEATURES, "a100", flat.assign(ticker="FLAT"), vix)
    tail = ours[pd.to_datetime(ours.date) >= pd.to_datetime(flat.date.iloc[350])]
    numeric = tail[TIER_COLUMNS["a100"]].to_numpy(dtype=float)
    assert np.isfinite(numeric).all()
    assert (tail["buying_pressure_ratio"] == 0.5).all()
    assert (tail["bb_percent_b"] == 0.5).all()
    assert (tail["fib_range_position"] == 0.5).all()
    assert (tail["sharpe_20d"] == 0).all() and (tail["bb_width"] == 0).all()
