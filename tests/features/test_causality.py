"""Causality, for every column of every tier: rebuilding on raw data truncated at a cut date
leaves every value at dates up to the cut unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fts.features.compute import compute_tier
from fts.project import Project

FEATURES = Path(__file__).resolve().parents[2] / "features_sql"

# A Wednesday (inside a week: the weekly features), the first trading day after a VIX holiday
# gap (MLK day 2015-01-19 has no VIX value), a Friday, and the day after a long weekend.
CUTS = ["2015-06-17", "2015-01-20", "2016-03-04", "2017-09-05", "2018-07-11"]


@pytest.fixture(scope="module")
def sample_raw(_sample_project_template: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    project = Project(_sample_project_template)
    raw = project.sql("select * from raw.ohlcv where ticker = '^GSPC' order by date").to_pandas()
    vix = project.sql("select date, close from raw.ohlcv where ticker = '^VIX' order by date").to_pandas()
    return raw, vix


@pytest.fixture(scope="module")
def full_tiers(sample_raw) -> dict[str, pd.DataFrame]:
    raw, vix = sample_raw
    return {t: compute_tier(FEATURES, t, raw, vix) for t in ("vix", "a100", "a200")}


def test_cut_dates_cover_the_cases(sample_raw) -> None:
    raw, vix = sample_raw
    vix_dates = set(pd.to_datetime(vix.date))
    assert pd.Timestamp("2015-01-19") not in vix_dates  # the VIX gap before a cut
    assert pd.Timestamp("2015-06-17").day_of_week == 2  # inside a week


@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("tier", ["vix", "a100", "a200"])
def test_every_column_is_unchanged_by_truncating_the_future(sample_raw, full_tiers, tier, cut) -> None:
    raw, vix = sample_raw
    cut_ts = pd.Timestamp(cut)
    truncated = compute_tier(
        FEATURES, tier, raw[pd.to_datetime(raw.date) <= cut_ts],
        vix[pd.to_datetime(vix.date) <= cut_ts],
    )
    full = full_tiers[tier]
    before = full[pd.to_datetime(full.date) <= cut_ts].reset_index(drop=True)
    assert len(truncated) == len(before) > 0
    for col in full.columns[2:]:
        a, b = before[col].to_numpy(dtype=float), truncated[col].to_numpy(dtype=float)
        assert np.array_equal(np.isnan(a), np.isnan(b)), f"{col}: nulls differ before {cut}"
        assert np.allclose(a, b, rtol=1e-12, atol=1e-12, equal_nan=True), f"{col} changed before {cut}"
