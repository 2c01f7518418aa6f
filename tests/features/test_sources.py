"""Declared sources on the real engine: a second market-wide series ingested from a CSV with
`fts ingest csv`, declared in project.yml and read by a new tier (the walk-through of
docs/features.md), checked against pandas' merge_asof, for causality and for staleness; and the
build key of each tier follows exactly the series it reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fts.features.compute import compute_tier
from fts.project import Project
from tests.conftest import REPO
from tests.ingest.helpers import run_fts

RATES_TIER = REPO / "tests" / "resources" / "rates_tier"
STALENESS = 4
# ^TNX has no rows from 2016-03-01 to 2016-03-20: its 2016-02-29 yield is fresh up to 03-04
# (4 days) and stale from 03-07 (7 days) until the next row on 03-21.
GAP = ("2016-03-01", "2016-03-20")
RATES_SOURCE = {"name": "rates", "kind": "series", "description": "10-year Treasury yield",
                "ticker": "^TNX", "columns": ["close"], "max_staleness_days": STALENESS}


def _tnx_csv(path: Path, bump: float = 0.0) -> pd.DataFrame:
    """A Yahoo-style ^TNX file (yield as O=H=L=C, volume 0) with the GAP; returns date, close."""
    dates = pd.bdate_range("2014-01-02", "2018-12-31")
    dates = dates[(dates < GAP[0]) | (dates > GAP[1])]
    close = 2.5 + np.cumsum(np.random.default_rng(11).normal(0, 0.03, len(dates)))
    close = np.round(close, 3)
    close[-1] += bump
    pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Open": close, "High": close, "Low": close,
                  "Close": close, "Volume": 0}).to_csv(path, index=False)
    return pd.DataFrame({"date": dates, "close": close})


def _add_rates(root: Path) -> None:
    """Declare the rates source and copy the rates tier, as docs/features.md tells a user."""
    shutil.copytree(REPO / "features_sql", root / "features_sql")
    project_yml = root / "features_sql" / "project.yml"
    settings = yaml.safe_load(project_yml.read_text())
    settings["sources"].append(RATES_SOURCE)
    project_yml.write_text(yaml.safe_dump(settings, sort_keys=False))
    shutil.copytree(RATES_TIER, root / "features_sql" / "rates")


@pytest.fixture
def rates_project(sample_project_dir: Path) -> tuple[Path, pd.DataFrame]:
    csv = sample_project_dir.parent / "tnx.csv"
    tnx = _tnx_csv(csv)
    result = run_fts(sample_project_dir, "ingest", "csv", str(csv), "--ticker", "^TNX")
    assert result.exit_code == 0, result.output
    _add_rates(sample_project_dir)
    return sample_project_dir, tnx


def _reference(project: Project, tnx: pd.DataFrame) -> pd.DataFrame:
    """The rates columns from pandas alone: merge_asof with the staleness as its tolerance."""
    bars = project.sql("select ticker, date, close from raw.ohlcv where ticker = '^GSPC' "
                       "order by date").to_pandas()
    bars["date"] = pd.to_datetime(bars["date"]).astype("datetime64[ns]")
    series = tnx.astype({"date": "datetime64[ns]"}).assign(tnx_change_5d=tnx["close"].diff(5)).rename(columns={"close": "tnx_yield"})
    out = pd.merge_asof(bars, series, on="date", direction="backward",
                        tolerance=pd.Timedelta(days=STALENESS))
    out["excess_return_1d"] = out["close"].pct_change() - out["tnx_yield"] / 100 / 252
    return out.drop(columns="close")


def test_a_csv_series_declared_as_a_source_feeds_a_new_tier(rates_project) -> None:
    root, tnx = rates_project
    project = Project(root)
    result = project.build_tier("rates")
    built = pd.read_parquet(root / result.target.parquet_path)
    built["date"] = pd.to_datetime(built["date"]).astype("datetime64[ns]")
    # The series' ticker has full bars but is a declared series: never rows of its own.
    assert built["ticker"].unique().tolist() == ["^GSPC"]

    ref = _reference(project, tnx)
    ref = ref[ref["date"] >= built["date"].min()].reset_index(drop=True)
    assert built["date"].tolist() == ref["date"].tolist()
    for col in ("tnx_yield", "tnx_change_5d", "excess_return_1d"):
        np.testing.assert_allclose(built[col], ref[col], rtol=1e-12, atol=1e-15, err_msg=col)

    # Stale: no ^TNX row within 4 days, every rates column NULL; 4 days old is still fresh.
    by_date = built.set_index(built["date"].dt.strftime("%Y-%m-%d"))
    stale = by_date.loc["2016-03-07":"2016-03-18"]
    assert len(stale) == 10 and stale[["tnx_yield", "tnx_change_5d", "excess_return_1d"]].isna().all().all()
    assert by_date.loc["2016-03-04", "tnx_yield"] == tnx.set_index("date").loc["2016-02-29", "close"]
    assert by_date.loc["2016-03-21", "tnx_yield"] == tnx.set_index("date").loc["2016-03-21", "close"]

    # The manifest pins the ^TNX load next to the bars it was built from.
    body = json.loads((root / "manifests" / "tier" / f"{result.target.manifest_id}.json")
                      .read_text())["body"]
    loads = dict(project.sql("select ticker, load_id from raw.latest_loads").to_pandas().values)
    assert sorted(i["id"] for i in body["inputs"]) == sorted([loads["^GSPC"], loads["^TNX"]])


def test_a_new_load_of_a_series_rebuilds_only_the_tiers_that_read_it(rates_project) -> None:
    root, _ = rates_project
    project = Project(root)
    project.build_tier("rates")
    a20 = project.build_tier("a20")
    assert "^TNX" not in pd.read_parquet(root / a20.target.parquet_path)["ticker"].unique()

    csv = root.parent / "tnx2.csv"
    tnx2 = _tnx_csv(csv, bump=0.25)  # the last yield changes: a new ^TNX load
    assert run_fts(root, "ingest", "csv", str(csv), "--ticker", "^TNX").exit_code == 0
    assert project.build_tier("a20").up_to_date
    again = project.build_tier("rates")
    assert not again.up_to_date
    last = pd.read_parquet(root / again.target.parquet_path).iloc[-1]
    assert (str(last["date"]), last["tnx_yield"]) == ("2018-12-31", tnx2["close"].iloc[-1])


@pytest.mark.parametrize("cut", ["2015-06-17", "2016-03-10", "2016-03-21", "2017-09-05"])
def test_the_rates_columns_are_causal(rates_project, cut: str) -> None:
    """Truncating the bars and the series at `cut` leaves every value up to `cut` unchanged
    (2016-03-10 lies inside the stale stretch, 2016-03-21 is the first row after it)."""
    root, tnx = rates_project
    features = root / "features_sql"
    raw = Project(root).sql("select * from raw.ohlcv where ticker = '^GSPC'").to_pandas()
    cut_ts = pd.Timestamp(cut)
    full = compute_tier(features, "rates", raw, {"rates": tnx})
    truncated = compute_tier(features, "rates", raw[pd.to_datetime(raw.date) <= cut_ts],
                             {"rates": tnx[tnx.date <= cut_ts]})
    before = full[full.date <= cut_ts].reset_index(drop=True)
    assert len(truncated) == len(before) > 0
    pd.testing.assert_frame_equal(truncated, before, check_exact=True)


def test_the_docs_walk_through_shows_the_tested_tier() -> None:
    """docs/features.md shows the files this test builds, line for line (comments aside)."""
    docs = (REPO / "docs" / "features.md").read_text()
    for name in ("rates.sql", "rates.yml"):
        for line in (RATES_TIER / name).read_text().splitlines():
            if line.strip() and not line.startswith("--"):
                assert f"   {line}" in docs, f"{name}: {line!r} is not in the walk-through"
    for key, value in RATES_SOURCE.items():
        shown = f'"{value}"' if key == "ticker" else (f"[{', '.join(value)}]"
                                                      if isinstance(value, list) else value)
        indent = "     - " if key == "name" else "       "
        assert f"{indent}{key}: {shown}\n" in docs, key


PY_TIER_YML = """tier: pyvix
version: 1
description: a Python model reading a series
extends: null
columns:
  - name: vix_level
    kind: scale_free
    description: the as-of joined close
    warmup: 0
    nullable: stale_source
  - name: vix_vs_mean
    kind: scale_free
    description: the close over the mean of the series' own rows
    warmup: 0
    nullable: stale_source
"""
PY_MODEL = '''import pandas as pd


def model(ctx):
    joined = ctx.as_of("vix")
    mean = ctx.source("vix")["close"].mean()
    return pd.DataFrame({"ticker": joined["ticker"], "date": joined["date"],
                         "vix_level": joined["close"], "vix_vs_mean": joined["close"] / mean})
'''


def test_python_models_read_a_series_with_ctx_source_and_ctx_as_of(tmp_path: Path) -> None:
    shutil.copytree(REPO / "tests" / "resources" / "toy_project" / "features_sql",
                    tmp_path / "features_sql")
    (tmp_path / "features_sql" / "pyvix").mkdir()
    (tmp_path / "features_sql" / "pyvix" / "pyvix.yml").write_text(PY_TIER_YML)
    (tmp_path / "features_sql" / "pyvix" / "pyvix.py").write_text(PY_MODEL)
    dates = pd.bdate_range("2020-01-01", periods=40)
    bars = pd.DataFrame({"ticker": "AAA", "date": dates, "open": 1.0, "high": 1.0, "low": 1.0,
                         "close": 1.0, "volume": 1.0})
    vix = pd.DataFrame({"date": dates[(dates < "2020-01-20") | (dates > "2020-01-31")]})
    # Last row before the gap 2020-01-17: fresh through 01-22 (5 days), stale 01-23 .. 01-31.
    vix["close"] = 10.0 + np.arange(len(vix))
    out = compute_tier(tmp_path / "features_sql", "pyvix", bars, vix, trimmed=False)
    ref = pd.merge_asof(bars[["date"]].astype("datetime64[ns]"),
                        vix.astype({"date": "datetime64[ns]"}), on="date",
                        tolerance=pd.Timedelta(days=5))
    np.testing.assert_array_equal(out["vix_level"], ref["close"])
    np.testing.assert_allclose(out["vix_vs_mean"], ref["close"] / vix["close"].mean())
    assert out["vix_level"].isna().sum() == 7  # 01-23, 24, 27, 28, 29, 30, 31
