"""Tier a200 through the product (the shipped declarations in features_sql/): every column
against the independent reference (tests/reference/_a200.py: TA-Lib where the spec names it,
loops written from the spec for the rest), hand-worked edge cases (equal-price runs, zero
ranges, ties in the permutation entropy, month ends and holidays), the declared warm-ups,
kinds and nulls, missing volume, and a real build (validation, Parquet, manifest, up to date).
Causality (truncation) for every column is in test_causality.py."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import talib
import yaml
from click.testing import CliRunner

from fts.cli import cli as cli_main
from fts.features import load_feature_project
from fts.features.compute import compute_tier
from fts.project import Project
from tests.reference.features import (
    A200_EXTRA,
    TIER_COLUMNS,
    VOLUME_COLUMNS,
    a200_warmups,
    first_complete_row,
    reference_features,
    synthetic_history,
)

REPO = Path(__file__).resolve().parents[2]
FEATURES = REPO / "features_sql"
COLUMNS = TIER_COLUMNS["a200"]


def _assert_columns_match(ours: pd.DataFrame, ref: pd.DataFrame, columns: list[str]) -> None:
    bad = []
    for col in columns:
        a = ours[col].to_numpy(dtype=float)
        b = ref[col].to_numpy(dtype=float)
        ok = np.isclose(a, b, rtol=1e-9, atol=1e-9) | (np.isnan(a) & np.isnan(b))
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            bad.append(f"{col} at row {i} ({(~ok).sum()} rows): ours {a[i]!r} reference {b[i]!r}")
    assert not bad, "columns differ from the reference:\n" + "\n".join(bad)


def _compare(raw: pd.DataFrame, vix: pd.DataFrame) -> pd.DataFrame:
    """Product vs reference on one ticker; returns the product's rows."""
    ours = compute_tier(FEATURES, "a200", raw.assign(ticker="T"), vix)
    ref = reference_features(raw[["date", "open", "high", "low", "close", "volume"]], vix, "a200")
    ref = ref.iloc[first_complete_row(ref, COLUMNS):].reset_index(drop=True)
    assert list(ours.columns) == ["ticker", "date", *COLUMNS]
    assert len(ours) == len(ref) > 0
    assert (pd.to_datetime(ours["date"]).to_numpy() == pd.to_datetime(ref["date"]).to_numpy()).all()
    _assert_columns_match(ours, ref, COLUMNS)
    return ours


# --------------------------------------------------------------------------- the reference
def test_a200_matches_the_reference_on_the_sample(_sample_project_template: Path) -> None:
    project = Project(_sample_project_template)
    raw = project.sql("select * from raw.ohlcv where ticker = '^GSPC' order by date").to_pandas()
    vix = project.sql("select date, close from raw.ohlcv where ticker = '^VIX' order by date").to_pandas()
    ours = _compare(raw, vix)
    assert len(ours) > 1000


def ticked_history(n: int, seed: int, tick: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A synthetic history with prices on a grid of `tick`, so that equal closes, equal
    highs and lows and equal tuples in the entropy windows occur."""
    ohlcv, vix = synthetic_history(n, seed=seed)
    for c in ("open", "high", "low", "close"):
        ohlcv[c] = np.maximum(np.round(ohlcv[c] / tick) * tick, tick)
    ohlcv["high"] = ohlcv[["open", "close", "high"]].max(axis=1)
    ohlcv["low"] = ohlcv[["open", "close", "low"]].min(axis=1)
    return ohlcv, vix


@pytest.mark.parametrize(("seed", "tick"), [(1, 1 / 100), (2, 1 / 16), (3, 1 / 4), (4, 1.0)])
def test_a200_matches_the_reference_with_price_ties(seed: int, tick: float) -> None:
    ohlcv, vix = ticked_history(700, seed, tick)
    if tick == 1.0:  # whole-lot volumes: equal volumes too
        ohlcv["volume"] = np.round(ohlcv["volume"] / 1e5) * 1e5
    assert (np.diff(ohlcv["close"]) == 0).sum() >= 3  # ties do occur
    _compare(ohlcv, vix)


# --------------------------------------------------------------------------- declarations
def _yaml_columns() -> list[dict]:
    return yaml.safe_load((FEATURES / "a200" / "a200.yml").read_text())["columns"]


PRICE_LEVEL = {
    "tema_9", "tema_20", "tema_50", "tema_100", "wma_10", "wma_20", "wma_50", "wma_200",
    "kama_10", "kama_20", "kama_50", "hma_9", "hma_21", "hma_50", "vwma_10", "vwma_50",
    "tenkan_sen", "kijun_sen", "senkou_span_a", "senkou_span_b", "donchian_upper_20",
    "donchian_lower_20",
}  # fmt: skip
PRICE_DIFFERENCE = {"tema_20_slope", "macd_signal", "macd_histogram_slope"}
NULL_WITHOUT_VOLUME = {
    "vwma_10", "vwma_50", "days_above_vwma_20", "days_below_vwma_20", "volume_trend_5d",
    "consecutive_volume_increase", "volume_price_confluence", "high_volume_direction_bias",
    "price_obv_divergence", "divergence_streak", "divergence_magnitude",
}  # fmt: skip


def test_declared_columns_kinds_and_nulls_follow_the_spec() -> None:
    project = load_feature_project(FEATURES)
    assert [c.name for c in project.columns("a200")] == COLUMNS
    assert project.tier("a200").extends == "a100"
    raw = _yaml_columns()
    assert [c["name"] for c in raw] == A200_EXTRA
    kinds = {c["name"]: c.get("kind") for c in raw}
    assert {n for n, k in kinds.items() if k == "price_level"} == PRICE_LEVEL
    assert {n for n, k in kinds.items() if k == "price_difference"} == PRICE_DIFFERENCE
    scale_free = {n for n, k in kinds.items() if k == "scale_free"}
    assert len(scale_free) == 76 and scale_free | PRICE_LEVEL | PRICE_DIFFERENCE == set(A200_EXTRA)
    assert all(c.get("description") for c in raw)
    nullable = {c.name for c in project.tier("a200").own_columns if c.nullable == "missing_volume"}
    assert nullable == NULL_WITHOUT_VOLUME == (VOLUME_COLUMNS & set(A200_EXTRA))


def test_declared_warmups_equal_the_first_defined_row() -> None:
    declared = {c.name: c.warmup for c in load_feature_project(FEATURES).tier("a200").own_columns}
    assert declared == a200_warmups()


def test_the_shipped_studies_can_name_a200() -> None:
    from fts.experiments import load_experiment

    study = load_experiment(REPO / "studies" / "scaling.toml")
    assert "a200" in study.tiers


# --------------------------------------------------------------------------- missing volume
def test_a_ticker_without_volume_gets_null_volume_columns_and_the_rest_unchanged() -> None:
    ohlcv, vix = synthetic_history(500, seed=3)
    ours = compute_tier(
        FEATURES, "a200",
        pd.concat([ohlcv.assign(ticker="VOL"), ohlcv.assign(ticker="NOVOL", volume=np.nan)]), vix,
    )
    a = ours[ours.ticker == "VOL"].reset_index(drop=True)
    b = ours[ours.ticker == "NOVOL"].reset_index(drop=True)
    assert len(a) == len(b) > 0
    volume_cols = sorted(VOLUME_COLUMNS & set(COLUMNS))
    assert len(volume_cols) == 21
    assert b[volume_cols].isna().all().all()
    assert a[volume_cols].notna().all().all()
    other = [c for c in COLUMNS if c not in VOLUME_COLUMNS]
    _assert_columns_match(b, a, other)


# --------------------------------------------------------------------------- hand-worked cases
FALL = 320  # rows of a falling close 1000, 999, ..., 681
FLAT = 260  # then rows at 600, an exact binary sum for every SMA window
FLAT_CLOSE = 600.0


@pytest.fixture(scope="module")
def fall_then_flat() -> pd.DataFrame:
    """Closes falling by 1 a day, then flat; open = high = low = close (zero ranges); volume
    1000; one row per business day; VIX 17 every day. Indexed by raw row."""
    close = np.r_[1000.0 - np.arange(FALL), np.full(FLAT, FLAT_CLOSE)]
    n = len(close)
    dates = pd.bdate_range("2015-01-05", periods=n)
    raw = pd.DataFrame({"ticker": "FF", "date": dates, "open": close, "high": close,
                        "low": close, "close": close, "volume": 1000.0})
    vix = pd.DataFrame({"date": dates, "close": 17.0})
    out = compute_tier(FEATURES, "a200", raw, vix)
    out.index = np.searchsorted(dates.to_numpy(), pd.to_datetime(out["date"]).to_numpy())
    assert out.index[0] == 297  # tema_100's warm-up
    return out


def at(frame: pd.DataFrame, col: str, rows) -> np.ndarray:
    return frame.loc[list(rows), col].to_numpy(dtype=float)


def test_equal_price_runs_count_a_tie_with_the_sma_as_above(fall_then_flat: pd.DataFrame) -> None:
    f = fall_then_flat
    # Falling: close < SMA9 from SMA9's first row (8). The flat part starts at row 320; SMA9
    # still holds falling closes until row 328, where it is exactly 600 = close: above.
    np.testing.assert_array_equal(at(f, "days_below_sma_9", [300, 327]), [293, 320])
    np.testing.assert_array_equal(at(f, "days_above_sma_9", [327, 328, 329, 340]), [0, 1, 2, 13])
    np.testing.assert_array_equal(at(f, "days_below_sma_9", [328, 340]), [0, 0])
    # sma_50 is exactly 600 from row 369, sma_200 from row 519.
    np.testing.assert_array_equal(at(f, "days_above_sma_50", [368, 369, 379]), [0, 1, 11])
    np.testing.assert_array_equal(at(f, "days_above_sma_200", [518, 519, 579]), [0, 1, 61])
    # vwap_20 = sum(600 * 1000) / sum(1000) = 600 exactly once its 20 rows are flat (row 339):
    # a tie, above; below before, from vwap_20's first row (19).
    np.testing.assert_array_equal(at(f, "days_below_vwma_20", [338, 339]), [320, 0])
    np.testing.assert_array_equal(at(f, "days_above_vwma_20", [338, 339, 579]), [0, 1, 241])
    np.testing.assert_array_equal(at(f, "vwma_10", [579]), FLAT_CLOSE)
    # Down moves: rows 1..320 each close below the previous; from 321 unchanged: both 0.
    np.testing.assert_array_equal(at(f, "consecutive_down_days", [319, 320, 321, 400]), [319, 320, 0, 0])
    assert (f["consecutive_up_days"] == 0).all()
    # Constant volume: no increase, no day above 1.5 x its mean, z-scores 0.
    assert (f["consecutive_volume_increase"] == 0).all()
    assert (f["high_volume_direction_bias"] == 0).all()
    assert (f["volume_trend_5d"] == 0).all() and (f["volume_price_confluence"] == 0).all()


def test_signed_crosses_flip_on_the_tie_row(fall_then_flat: pd.DataFrame) -> None:
    f = fall_then_flat
    # SMA9 < sma_50 while falling and until sma_50 reaches 600 at row 369 (a tie: +1). The
    # negative run started on sma_50's first row, 49.
    np.testing.assert_array_equal(
        at(f, "days_since_sma_9_50_cross", [300, 368, 369, 370, 579]), [-252, -320, 1, 2, 211]
    )
    np.testing.assert_array_equal(
        at(f, "days_since_sma_50_200_cross", [518, 519, 520]), [-320, 1, 2]
    )
    np.testing.assert_array_equal(
        at(f, "days_since_sma_9_200_cross", [518, 519]), [-320, 1]
    )


def test_zero_ranges_give_the_neutral_values(fall_then_flat: pd.DataFrame) -> None:
    f = fall_then_flat
    everywhere = f.index[f.index >= 297]
    for col, value in {
        "body_to_range_ratio": 0.5, "upper_wick_pct": 0.0, "lower_wick_pct": 0.0,
        "doji_indicator": 0.0, "range_vs_avg_range": 0.0, "range_compression_5d": 1.0,
        "candle_body_pct": 0.0,
    }.items():  # fmt: skip
        np.testing.assert_array_equal(at(f, col, everywhere), value, err_msg=col)
    flat20 = range(FALL + 19, FALL + FLAT)  # 20 flat rows: the 20-row windows are flat
    for col, value in {
        "zscore_from_20d_mean": 0.0, "donchian_position": 0.5, "donchian_width_pct": 0.0,
        "pct_to_donchian_breakout": 0.0, "donchian_upper_20": FLAT_CLOSE,
        "donchian_lower_20": FLAT_CLOSE, "permutation_entropy_order3": 0.0,
        "permutation_entropy_order4": 0.0, "permutation_entropy_order5": 0.0,
        "price_obv_divergence": 0.0,
    }.items():  # fmt: skip
        np.testing.assert_array_equal(at(f, col, flat20), value, err_msg=col)
    flat52 = range(FALL + 51, FALL + FLAT)
    for col in ("tenkan_sen", "kijun_sen", "senkou_span_a", "senkou_span_b"):
        np.testing.assert_array_equal(at(f, col, flat52), FLAT_CLOSE, err_msg=col)
    np.testing.assert_array_equal(at(f, "price_vs_cloud", flat52), 0.0)  # on the edge
    np.testing.assert_array_equal(at(f, "cloud_thickness_pct", flat52), 0.0)
    last = [FALL + FLAT - 1]  # 252 flat closes: H = L
    np.testing.assert_array_equal(at(f, "percentile_in_52wk_range", last), 0.5)
    np.testing.assert_array_equal(at(f, "distance_from_52wk_high_pct", last), 0.0)
    np.testing.assert_array_equal(at(f, "days_since_52wk_high", last), 251)  # the earliest
    np.testing.assert_array_equal(at(f, "days_since_52wk_low", last), 251)
    # While falling, today is the 252-row low and the high was 251 rows ago.
    np.testing.assert_array_equal(at(f, "days_since_52wk_low", [300, 319]), 0)
    np.testing.assert_array_equal(at(f, "days_since_52wk_high", [300, 319]), 251)
    np.testing.assert_array_equal(at(f, "percentile_in_52wk_range", [300, 319]), 0.0)


def test_permutation_entropy_ranks_ties_by_position() -> None:
    # After a falling history, ALT: closes alternating 50, 51. Its last window of 20 has 18
    # order-3 tuples, 9 of pattern (0, 2, 1) and 9 of (1, 0, 2): ln 2 / ln 6; order 4, 17
    # tuples in two patterns 9 + 8; order 5, 16 tuples, 8 + 8.
    # PAIRS: closes 50, 50, 51, 51, 52, 52, ...: with ties ranked by position (the earlier
    # lower) every tuple, (50, 50, 51) or (50, 51, 51), has the rising pattern: entropy 0 (a
    # later-lower rule, or numpy's unstable argsort, would see two or more patterns).
    fall = 400.0 - np.arange(300)
    closes = {"ALT": np.r_[fall, np.tile([50.0, 51.0], 20)],
              "PAIRS": np.r_[fall, np.repeat(50.0 + np.arange(20), 2)]}
    dates = pd.bdate_range("2015-01-05", periods=340)
    raw = pd.concat([pd.DataFrame({"ticker": t, "date": dates, "open": c, "high": c + 1,
                                   "low": c - 1, "close": c, "volume": 1000.0})
                     for t, c in closes.items()])
    out = compute_tier(FEATURES, "a200", raw, pd.DataFrame({"date": dates, "close": 17.0}))
    alt = out[out.ticker == "ALT"].iloc[-1]
    assert math.isclose(alt["permutation_entropy_order3"], math.log(2) / math.log(6), rel_tol=1e-12)
    pe4 = -(9 / 17 * math.log(9 / 17) + 8 / 17 * math.log(8 / 17)) / math.log(24)
    assert math.isclose(alt["permutation_entropy_order4"], pe4, rel_tol=1e-12)
    assert math.isclose(alt["permutation_entropy_order5"], math.log(2) / math.log(120), rel_tol=1e-12)
    pairs = out[out.ticker == "PAIRS"].iloc[-1]
    for m in (3, 4, 5):
        assert pairs[f"permutation_entropy_order{m}"] == 0.0, m


def test_calendar_columns_at_month_ends_and_holidays() -> None:
    holidays = pd.to_datetime(["2020-11-26", "2020-12-25", "2021-01-01", "2021-01-18",
                               "2021-02-15", "2021-04-02", "2021-05-31", "2021-07-05"])
    dates = pd.bdate_range("2019-09-02", "2021-07-30").difference(holidays)
    close = 100.0 + np.sin(np.arange(len(dates)) / 7.0) * 5
    raw = pd.DataFrame({"ticker": "CAL", "date": dates, "open": close, "high": close + 1,
                        "low": close - 1, "close": close, "volume": 1000.0})
    out = compute_tier(FEATURES, "a200", raw, pd.DataFrame({"date": dates, "close": 17.0}))
    out = out.set_index(pd.to_datetime(out["date"]).dt.strftime("%Y-%m-%d"))
    expected = {  # date: (weekday, days_to_month_end, month, quarter-end month)
        "2020-11-25": (2, 3, 11, 0),  # Thanksgiving (26th) still counts: 26, 27, 30
        "2020-12-24": (3, 5, 12, 1),  # Dec 25 (holiday), 28, 29, 30, 31
        "2020-12-31": (3, 0, 12, 1),
        "2021-01-29": (4, 0, 1, 0),  # Friday before a month-end weekend
        "2021-02-26": (4, 0, 2, 0),
        "2021-03-01": (0, 22, 3, 1),  # Monday of a 31-day month: the most there can be
        "2021-03-31": (2, 0, 3, 1),
        "2021-04-01": (3, 21, 4, 0),  # before the Good Friday holiday: 2, 5-9, ..., 26-30
        "2021-05-28": (4, 1, 5, 0),  # Memorial Day (31st, a holiday) still counts
        "2021-07-02": (4, 20, 7, 0),
    }
    for day, (weekday, left, month, quarter) in expected.items():
        row = out.loc[day]
        assert row["trading_day_of_week"] == weekday, day
        assert row["days_to_month_end"] == left, day
        assert row["month_of_year"] == month and row["is_quarter_end_month"] == quarter, day
        assert row["is_monday"] == (weekday == 0) and row["is_friday"] == (weekday == 4), day
    assert "2020-12-25" not in out.index


# --------------------------------------------------------------------------- properties
def test_run_pairs_and_signed_runs_obey_their_rules(_sample_project_template: Path) -> None:
    project = Project(_sample_project_template)
    raw = project.sql("select * from raw.ohlcv where ticker = '^GSPC' order by date").to_pandas()
    vix = project.sql("select date, close from raw.ohlcv where ticker = '^VIX' order by date").to_pandas()
    out = compute_tier(FEATURES, "a200", raw, vix)
    for level in ("sma_9", "sma_50", "sma_200", "tema_20", "kama_20", "vwma_20"):
        above, below = out[f"days_above_{level}"], out[f"days_below_{level}"]
        assert ((above > 0) ^ (below > 0)).all(), level  # exactly one of the pair
    # Signed runs: never 0; +-1 exactly where the sign flips, else |k| grows by one.
    sma9 = talib.SMA(raw["close"].to_numpy(float), 9)[-len(out):]
    sign = np.where(sma9 >= out["sma_50"].to_numpy(), 1, -1)
    k = out["days_since_sma_9_50_cross"].to_numpy()
    assert (np.sign(k) == sign).all() and (k != 0).all()
    flips = sign[1:] != sign[:-1]
    assert (np.abs(k[1:][flips]) == 1).all()
    assert (np.abs(k[1:][~flips]) == np.abs(k[:-1][~flips]) + 1).all()
    assert flips.sum() > 10


# --------------------------------------------------------------------------- a real build
CSV_TICKER = "ACME"


def _write_csv(path: Path) -> None:
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2013-01-02", "2018-12-31")
    n = len(dates)
    close = np.round(40 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, n))), 2)
    open_ = np.round(close * np.exp(rng.normal(0, 0.004, n)), 2)
    high = np.round(np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.006, n))), 2)
    low = np.round(np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.006, n))), 2)
    pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Open": open_, "High": high, "Low": low,
                  "Close": close, "Volume": rng.integers(100_000, 10_000_000, n)}).to_csv(
        path, index=False)


def test_build_tier_a200_on_the_sample_and_a_csv_ticker(sample_project_dir: Path) -> None:
    shutil.copytree(FEATURES, sample_project_dir / "features_sql")
    project = Project(sample_project_dir)
    first = project.build_tier("a200")
    assert [t.tier for t in first.tiers][-1] == "a200" and not first.up_to_date
    assert project.build_tier("a200").up_to_date
    csv = sample_project_dir / "acme.csv"
    _write_csv(csv)
    project.ingest_csv(csv, CSV_TICKER)
    second = project.build_tier("a200")
    assert not second.up_to_date
    again = project.build_tier("a200")
    assert again.up_to_date and again.target.manifest_id == second.target.manifest_id
    table = pq.read_table(sample_project_dir / second.target.parquet_path)  # its ticker files
    assert table.column_names == ["ticker", "date", *COLUMNS]
    manifest = json.loads(
        (sample_project_dir / "manifests" / "tier" / f"{second.target.manifest_id}.json").read_text())
    for out in manifest["body"]["outputs"]:  # each file's footer names its ticker's build key
        footer = pq.read_schema(sample_project_dir / out["path"]).metadata
        assert footer[b"fts.key"].decode() == out["key"]
    assert manifest["body"]["row_count"] == table.num_rows
    starts = project.sql("select ticker, min(date) as d, count(*) as n from a200 group by ticker "
                         "order by ticker").to_pylist()
    # ACME's rows start after its 297-row warm-up (tema_100), ^GSPC's at the first VIX date
    # a50's vrp columns can use.
    acme = next(r for r in starts if r["ticker"] == CSV_TICKER)
    assert str(acme["d"]) == str(pd.bdate_range("2013-01-02", periods=298)[-1].date())
    result = CliRunner().invoke(cli_main, ["--project-dir", str(sample_project_dir),
                                           "describe", "a200"])
    assert result.exit_code == 0, result.output
    assert "tier a200 v1" in result.output and "permutation_entropy_order5" in result.output
    assert "tema_100" in result.output and "297" in result.output


# --------------------------------------------------------------------------- lineage
def test_a200_columns_have_a_lineage_down_to_raw_columns() -> None:
    # A few columns of each model (sqlglot's lineage over the wide SQL models is slow: every
    # column would take minutes).
    from fts.audit.lineage import LineageGraph
    from fts.features.graph import plan

    project = load_feature_project(FEATURES)
    graph = LineageGraph(project, plan(project, "a200"))
    expected = {
        "a200.permutation_entropy_order5": {"raw.ohlcv.close"},  # a200_windows
        "a200.hma_21": {"raw.ohlcv.close"},  # a200_talib (the AST sees all it reads)
        "a200.days_above_vwma_20": {"raw.ohlcv.close", "raw.ohlcv.volume"},
        "a200.regime_transition_prob": {"raw.ohlcv.high", "raw.ohlcv.low", "raw.ohlcv.close"},
    }
    for target, raw in expected.items():
        lin = graph.trace(*target.split("."))
        assert raw <= set(lin.raw_columns), (target, lin.raw_columns)
        assert not lin.notes, (target, lin.notes)
    calendar = graph.trace("a200", "days_to_month_end")
    assert calendar.raw_columns == [] and "raw.ohlcv.date" in calendar.raw_keys
