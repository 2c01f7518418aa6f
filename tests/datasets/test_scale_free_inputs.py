"""Scale-free model inputs: a copy of ^GSPC with every price (or every volume) multiplied by 1000
gives the same model inputs as ^GSPC itself, for a20, a50, a100 and a200; a scale-dependent column
declared `scale_free` breaks it (the negative controls below)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fts.core.paths import ProjectPaths
from fts.datasets import DatasetSpec, SplitPolicy, build_dataset
from fts.datasets.inputs import rolling_zscore
from fts.ingest import ingest_csv
from fts.project import Project
from fts.warehouse import connect

REPO = Path(__file__).resolve().parents[2]
COPIES = {"PX1000": (1000.0, 1.0), "VX1000": (1.0, 1000.0)}  # ticker: (price, volume) factor
SPLIT = SplitPolicy(val_days=200, test_days=200)


@pytest.fixture(scope="module")
def scaled_project(tmp_path_factory: pytest.TempPathFactory, _sample_project_template: Path) -> Path:
    """The sample plus two scaled copies of ^GSPC, with a20 .. a200 built for all three."""
    root = tmp_path_factory.mktemp("scaled") / "project"
    shutil.copytree(_sample_project_template, root)
    shutil.copytree(REPO / "features_sql", root / "features_sql")
    paths = ProjectPaths(root)
    with connect(paths.warehouse, read_only=True, project_root=root) as con:
        bars = con.execute("SELECT date, open, high, low, close, volume FROM raw.ohlcv "
                           "WHERE ticker = '^GSPC' ORDER BY date").df()
    for ticker, (price, volume) in COPIES.items():
        copy = bars.copy()
        copy[["open", "high", "low", "close"]] *= price
        copy["volume"] *= volume
        csv = root / f"{ticker}.csv"
        copy.rename(columns=str.capitalize).to_csv(csv, index=False)
        ingest_csv(paths, csv, ticker)
    Project(root).build_tier("a200")  # and a100, a50, a20 below it
    return root


def _blocks(paths: ProjectPaths, tier: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    ds = build_dataset(paths, DatasetSpec(tier, 1, 1.0, ctx_len=8, split=SPLIT,
                                          inputs="scale_free", min_val_positives=0))
    off = ds.ticker_offsets
    return {t: (ds.row_dates[off[k]:off[k + 1]], ds.features[off[k]:off[k + 1]])
            for k, t in enumerate(ds.tickers)}


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True))


@pytest.mark.parametrize("tier", ["a20", "a50", "a100", "a200"])
def test_scaling_prices_or_volume_by_1000_leaves_every_input_unchanged(
        scaled_project: Path, tier: str) -> None:
    blocks = _blocks(ProjectPaths(scaled_project), tier)
    dates, base = blocks["^GSPC"]
    for ticker in COPIES:
        d, x = blocks[ticker]
        assert np.array_equal(d, dates)
        assert np.isfinite(x[100:]).all()
        np.testing.assert_allclose(x, base, rtol=1e-5, atol=1e-6, equal_nan=True,
                                   err_msg=f"{tier}: {ticker}")


@pytest.mark.parametrize("tier, column, copy", [
    ("a20", "sma_12", "PX1000"),           # a price level
    ("a20", "atr_14", "PX1000"),           # a price difference
    ("a20", "obv", "VX1000"),              # volume-scaled
    ("a50", "kvo_signal", "VX1000"),
    ("a50", "macd_histogram", "PX1000"),
    ("a100", "ema_26", "PX1000"),
    ("a100", "sma_200_slope", "PX1000"),
    ("a200", "tema_9", "PX1000"),
    ("a200", "macd_signal", "PX1000"),
])
def test_a_scale_dependent_column_declared_scale_free_breaks_the_invariance(
        tmp_path: Path, scaled_project: Path, tier: str, column: str, copy: str) -> None:
    root = tmp_path / "p"
    shutil.copytree(scaled_project, root)
    for meta in (root / "features_sql").glob("*/*.yml"):  # the column's own tier declares it
        # The column's `kind:` line, wherever it sits in the column's block.
        text = re.sub(rf"(- name: {column}\n(?:    (?!kind:).*\n)*?    kind: )(\w+)",
                      r"\1scale_free  # \2", meta.read_text())
        meta.write_text(text)
    blocks = _blocks(ProjectPaths(root), tier)
    assert not _same(blocks[copy][1], blocks["^GSPC"][1])


def test_inputs_are_recorded_and_match_hand_computed_values(scaled_project: Path) -> None:
    paths = ProjectPaths(scaled_project)
    spec = DatasetSpec("a20", 1, 1.0, ctx_len=8, split=SPLIT, inputs="scale_free",
                       min_val_positives=0)
    ds = build_dataset(paths, spec)
    raw = build_dataset(paths, DatasetSpec("a20", 1, 1.0, ctx_len=8, split=SPLIT,
                                           min_val_positives=0))
    assert raw.id != ds.id and raw.manifest["model_inputs"]["mode"] == "raw"
    record = ds.manifest["model_inputs"]
    assert record["mode"] == "scale_free"
    assert {n: f["kind"] for n, f in record["features"].items() if f["kind"] != "scale_free"} == {
        **dict.fromkeys(["dema_9", "dema_10", "dema_20", "dema_25", "dema_90", "sma_12",
                         "sma_50", "sma_100", "sma_200", "vwap_20"], "price_level"),
        "macd_line": "price_difference", "atr_14": "price_difference",
        "obv": "volume_scaled", "adosc": "volume_scaled"}
    # Every ticker's first 19 rows have no 20-row z-score of obv/adosc: counted, windows dropped.
    assert ds.manifest["dropped"]["undefined_input_rows_by_feature"] == {"obv": 57, "adosc": 57}

    with connect(paths.warehouse, read_only=True, project_root=scaled_project) as con:
        ref = con.execute("SELECT t.date, t.sma_12, t.atr_14, t.obv, t.rsi_daily, r.close FROM a20 t "
                          "JOIN raw.ohlcv r USING (ticker, date) WHERE ticker = '^GSPC' "
                          "ORDER BY date").df()
    k = ds.tickers.index("^GSPC")
    rows = slice(int(ds.ticker_offsets[k]), int(ds.ticker_offsets[k + 1]))
    x = pd.DataFrame(ds.features[rows], columns=ds.feature_names)
    np.testing.assert_allclose(x["sma_12"], ref.sma_12 / ref.close - 1, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(x["atr_14"], ref.atr_14 / ref.close, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(x["rsi_daily"], ref.rsi_daily, rtol=1e-6)
    obv = ref.obv.rolling(20).apply(lambda w: (w.iloc[-1] - w.mean()) / w.std(ddof=1), raw=False)
    np.testing.assert_allclose(x["obv"], obv, rtol=1e-4, atol=1e-5, equal_nan=True)
    assert x["obv"][:19].isna().all() and x["obv"][19:].notna().all()
    # The baselines read the very same matrix: a window's last row of scale-free inputs.
    from fts.experiments.baselines import _latest_rows

    last_rows, _ = _latest_rows(ds, "test")
    np.testing.assert_array_equal(last_rows, ds.features[ds.ends("test")])
    assert np.abs(last_rows[:, ds.feature_names.index("sma_12")]).max() < 0.2  # not a price


def test_rolling_zscore_is_per_ticker_zero_on_constant_windows_and_null_before_full() -> None:
    x = np.array([1.0, 1, 1, 2, 5, 7.0, 7, 7, 7, 9], dtype=float)
    offsets = np.array([0, 5, 10])
    z = rolling_zscore(x, offsets, window=3)
    # Hand-computed: ticker 0 rows 2..4 = windows (1,1,1) (1,1,2) (1,2,5); ticker 1 likewise.
    expected = [np.nan, np.nan, 0.0, (2 - 4 / 3) / np.std([1, 1, 2], ddof=1),
                (5 - 8 / 3) / np.std([1, 2, 5], ddof=1), np.nan, np.nan, 0.0, 0.0,
                (9 - 23 / 3) / np.std([7, 7, 9], ddof=1)]
    np.testing.assert_allclose(z, expected, equal_nan=True)
    assert np.isnan(rolling_zscore(np.array([1.0, np.nan, 2, 3]), np.array([0, 4]), 2)[1:3]).all()
