"""What a build refuses (and writes nothing for), declared gaps, and train-only statistics."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow.parquet as pq
import pytest

from fts.core.errors import NotFoundError, ValidationError
from fts.datasets import DatasetSpec, SplitPolicy, build_dataset
from fts.datasets.splits import to_date
from tests.datasets.helpers import make_project, register_tier, row_mask, tier_table, with_values


def _written(paths) -> set[str]:
    dirs = [paths.datasets_data, paths.manifests / "dataset"]
    return {str(p) for d in dirs if d.exists() for p in d.iterdir()}


def _tier(paths, name: str):
    from fts.warehouse import connect, current_tiers

    with connect(paths.warehouse, read_only=True) as con:
        return pq.read_table(paths.root / current_tiers(con)[name][1])


def test_too_few_samples_names_the_split_and_writes_nothing(project) -> None:
    paths, prices = project
    last = prices["AAA"].days
    policy = SplitPolicy.dates(to_date(last[-400]), to_date(last[-20]))  # test: 2 x 19 labelled
    before = _written(paths)
    with pytest.raises(ValidationError, match=r"split 'test' has 38 samples"):
        build_dataset(paths, DatasetSpec("t20", 1, 1.0, split=policy))
    with pytest.raises(ValidationError, match=r"split 'val' has \d+ samples"):
        build_dataset(paths, DatasetSpec("t20", 1, 1.0, split=SplitPolicy(val_days=20)))
    assert _written(paths) == before


def test_horizon_longer_than_the_data(project) -> None:
    paths, _ = project
    with pytest.raises(ValidationError, match="longer than the data"):
        build_dataset(paths, DatasetSpec("t20", 5000, 1.0))


def test_unknown_tier_or_ticker(project) -> None:
    paths, _ = project
    with pytest.raises(NotFoundError, match="no current build"):
        build_dataset(paths, DatasetSpec("nope", 1, 1.0))
    with pytest.raises(NotFoundError, match="ZZZ"):
        build_dataset(paths, DatasetSpec("t20", 1, 1.0, tickers=("ZZZ",)))


def test_nan_inside_a_selected_window_is_an_error(project) -> None:
    paths, prices = project
    table = tier_table(list(prices.values()), 20)
    day = prices["BBB"].days[700]
    mask = row_mask(table, "BBB", day)
    register_tier(paths, "tnan", with_values(table, "ma_ratio", mask, np.nan), [p.load for p in prices.values()])
    before = _written(paths)
    with pytest.raises(ValidationError, match="feature 'ma_ratio' is nan inside a selected window") as err:
        build_dataset(paths, DatasetSpec("tnan", 1, 1.0))
    assert f"BBB {to_date(day)}" in str(err.value)
    assert _written(paths) == before


def test_nan_outside_every_window_is_harmless(project) -> None:
    paths, prices = project
    table = tier_table(list(prices.values()), 20)
    mask = row_mask(table, None, int(prices["AAA"].days[-1]))
    register_tier(paths, "tnanlast", with_values(table, "ret1", mask, np.nan), [p.load for p in prices.values()])
    ds = build_dataset(paths, DatasetSpec("tnanlast", 1, 1.0))  # the last rows have no label
    assert ds.counts["test"] > 250


def test_null_rows_drop_their_windows_and_are_counted(project) -> None:
    paths, prices = project
    table = tier_table(list(prices.values()), 20)
    day = prices["AAA"].days[600]
    mask = row_mask(table, "AAA", day)
    register_tier(paths, "tnull", with_values(table, "ret1", mask, None), [p.load for p in prices.values()])
    base = build_dataset(paths, DatasetSpec("t20", 1, 1.0))
    ds = build_dataset(paths, DatasetSpec("tnull", 1, 1.0))
    assert ds.manifest["dropped"]["windows_with_null_features"] == 64
    assert ds.manifest["dropped"]["null_rows_by_feature"] == {"ret1": 1}
    assert ds.counts["train"] == base.counts["train"] - 64
    w, _, _ = ds.split("train")
    assert not np.isnan(w[np.arange(len(w))]).any()
    aaa = np.flatnonzero(ds.sample_tickers("train") == "AAA")
    assert not (w[aaa][:, :, ds.feature_names.index("day")] == day).any()


def test_train_zscore_uses_only_training_rows(tmp_path) -> None:
    paths, prices = make_project(tmp_path, tiers={"t20": 20})
    loads = [p.load for p in prices.values()]
    spec = DatasetSpec("t20", 1, 1.0, normalization="train_zscore")
    ds = build_dataset(paths, spec)
    stats = ds.manifest["normalization"]["stats"]
    assert stats["split"] == "train"

    # Independent computation: rows of the tier inside some train window (ctx rows ending at t).
    raw = tier_table(list(prices.values()), 20)
    tick, days = np.asarray(raw.column("ticker").to_pylist()), raw.column("date").cast("int32").to_numpy()
    covered = np.zeros(raw.num_rows, dtype=bool)
    for t, d in zip(ds.sample_tickers("train"), ds.split("train").dates.astype(np.int64), strict=True):
        e = int(np.flatnonzero((tick == t) & (days == d))[0])
        covered[e - 63 : e + 1] = True
    values = np.column_stack([raw.column(c).to_numpy() for c in ds.feature_names])
    np.testing.assert_allclose(stats["mean"], values[covered].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats["std"], values[covered].std(axis=0), rtol=1e-9)
    np.testing.assert_allclose(ds.features, (values - stats["mean"]) / stats["std"], rtol=1e-5, atol=1e-5)

    # Scramble every validation/test-era value: the statistics must not move.
    val_start = np.datetime64(ds.manifest["split"]["regions"]["val"]["first_date"]).astype(np.int64)
    later = days >= val_start
    scrambled = raw
    for c in ("ret1", "ma_ratio"):
        scrambled = with_values(scrambled, c, later, 123.0)
    register_tier(paths, "t20", scrambled, loads)
    ds2 = build_dataset(paths, spec)
    assert ds2.id != ds.id
    assert ds2.manifest["normalization"]["stats"] == stats
    assert not np.array_equal(ds2.features, ds.features)

    # ...whereas touching one training row does (so the check above can fail).
    early = days == days[covered][5]
    register_tier(paths, "t20", with_values(raw, "ret1", early, 5.0), loads)
    ds3 = build_dataset(paths, spec)
    assert ds3.manifest["normalization"]["stats"]["mean"] != stats["mean"]


def test_train_zscore_with_folds_uses_fold0_train(tmp_path) -> None:
    paths, _ = make_project(tmp_path, tiers={"t20": 20})
    spec = DatasetSpec("t20", 1, 1.0, normalization="train_zscore",
                       split=SplitPolicy(folds=2, fold_val_days=150))
    ds = build_dataset(paths, spec)
    stats = ds.manifest["normalization"]["stats"]
    assert stats["split"] == "fold0.train"
    last_row = ds.split("fold0.train").dates.max()
    assert last_row < ds.split("fold0.val").dates.min()
    assert stats["rows"] < ds.counts["train"] + 2 * 63  # fewer rows than the full train split


def test_common_start_after_validation_is_an_error(project) -> None:
    paths, prices = project
    late = to_date(prices["AAA"].days[-300])
    with pytest.raises(ValidationError, match="no training samples"):
        build_dataset(paths, DatasetSpec("t20", 1, 1.0), common_start=late)
    with pytest.raises(ValidationError):
        build_dataset(paths, DatasetSpec("t20", 1, 1.0), common_start=dt.date(2030, 1, 1))
