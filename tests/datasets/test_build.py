"""build_dataset / load_dataset end to end on a synthetic warehouse."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from fts.core.errors import ManifestMismatch
from fts.datasets import DatasetSpec, SplitPolicy, build_dataset, common_sample_start, load_dataset
from fts.warehouse import connect
from tests.datasets.helpers import FEATURES, naive_labels

SPLITS = ("train", "val", "test")


def _label_end_days(ds, name, prices, h):
    """Date of raw row t+h of every sample of split `name` (computed from the raw bars)."""
    days = ds.split(name).dates.astype(np.int64)
    out = []
    for ticker, day in zip(ds.sample_tickers(name), days, strict=True):
        p = prices[ticker]
        out.append(p.days[p.index_of(day) + h])
    return np.array(out)


def test_counts_and_labels_match_arrays_and_raw(project) -> None:
    paths, prices = project
    ds = build_dataset(paths, DatasetSpec("t20", 5, 1.0))
    again = load_dataset(paths, ds.id)
    naive = {t: naive_labels(p.high, p.close, 5, 1.0) for t, p in prices.items()}
    for name in SPLITS:
        _, y, d = again.split(name)
        c = again.manifest["counts"][name]
        assert c["samples"] == len(y) == again.counts[name] >= 250
        assert c["positives"] == int((y == 1).sum()) == again.positives[name]
        assert (c["first_date"], c["last_date"]) == (str(d.min()), str(d.max()))
        expected = [naive[t][prices[t].index_of(day)]
                    for t, day in zip(again.sample_tickers(name), d.astype(np.int64), strict=True)]
        np.testing.assert_array_equal(y, expected)
    assert ds.manifest["target"]["name"] == "threshold_1pct"
    assert (ds.manifest["target"]["horizon"], ds.manifest["target"]["definition"]) == (5, "high-based, >=")
    tier_input = ds.manifest.inputs[0]
    assert tier_input.kind == "tier" and tier_input.id == ds.manifest["tier"]["manifest_id"]
    with connect(paths.warehouse, read_only=True) as con:
        assert con.execute("SELECT kind FROM meta.manifests WHERE id = ?", [ds.id]).fetchone() == ("dataset",)


def test_windows_are_views_and_end_at_the_sample_date(project) -> None:
    paths, prices = project
    ds = build_dataset(paths, DatasetSpec("t20", 1, 1.0, ctx_len=32))
    tier = pq.read_table(paths.root / ds.manifest["tier"]["path"]).to_pandas().set_index(["ticker", "date"])
    day = ds.feature_names.index("day")
    assert np.shares_memory(ds.all_windows(), ds.features)
    for name in SPLITS:
        w, _, d = ds.split(name)
        assert w.shape == (len(d), 32, len(FEATURES))
        assert np.shares_memory(w[0], ds.features) and np.shares_memory(w[len(w) - 1], ds.features)
        batch = w[np.arange(len(w))]
        days = d.astype(np.int64)
        np.testing.assert_array_equal(batch[:, -1, day], days)  # last row = the sample's own date
        assert (batch[:, :, day] <= days[:, None]).all()  # never a row after t
        for i in range(0, len(w), 97):  # the window is the ticker's 32 tier rows up to t
            p = prices[ds.sample_tickers(name)[i]]
            k = p.index_of(days[i])
            np.testing.assert_array_equal(w[i][:, day], p.days[k - 31 : k + 1])
            row = tier.loc[(ds.sample_tickers(name)[i], d[i].astype(object))]
            np.testing.assert_array_equal(w[i][-1], row[ds.feature_names].to_numpy(np.float32))


@pytest.mark.parametrize("policy", [SplitPolicy(embargo=2), SplitPolicy(folds=3, fold_val_days=150, embargo=2)])
def test_purge_no_label_window_reaches_the_next_split(project, policy) -> None:
    paths, prices = project
    h = 5
    ds = build_dataset(paths, DatasetSpec("t20", h, 1.0, split=policy))
    pairs = [("train", "val"), ("val", "test"), *ds.folds]
    assert len(ds.folds) == (3 if policy.folds == 3 else 0)
    for early, late in pairs:
        first_late = ds.split(late).dates.astype(np.int64).min()
        boundary = np.datetime64(ds.manifest["split"]["regions"][late]["first_date"]).astype(np.int64)
        ends = _label_end_days(ds, early, prices, h + policy.embargo)
        assert ends.max() < boundary <= first_late
    if ds.folds:
        sizes = [ds.counts[tr] for tr, _ in ds.folds]
        assert sizes == sorted(sizes) and len(set(sizes)) == 3
        np.testing.assert_array_equal(ds.ends("fold2.train"), ds.ends("train"))
        for _, va in ds.folds:
            assert ds.split(va).dates.max() < ds.split("test").dates.min()


def test_test_span_identical_for_tiers_with_different_starts(project) -> None:
    paths, _ = project
    spec20, spec50 = DatasetSpec("t20", 1, 1.0), DatasetSpec("t50", 1, 1.0)
    a, b = build_dataset(paths, spec20), build_dataset(paths, spec50)
    assert a.split("train").dates.min() < b.split("train").dates.min()  # t50 starts later
    for name in ("val", "test"):
        assert a.manifest["split"]["regions"][name] == b.manifest["split"]["regions"][name]
        np.testing.assert_array_equal(a.split(name).dates, b.split(name).dates)
        np.testing.assert_array_equal(a.sample_tickers(name), b.sample_tickers(name))
    start = common_sample_start(paths, ["t20", "t50"], ctx_len=64)
    assert start == b.split("train").dates.min().astype(object)
    a2 = build_dataset(paths, spec20, common_start=start)
    b2 = build_dataset(paths, spec50, common_start=start)
    assert a2.manifest["common_start"] == start.isoformat()
    for name in SPLITS:
        np.testing.assert_array_equal(a2.split(name).dates, b2.split(name).dates)


def test_rebuild_is_idempotent(project) -> None:
    paths, _ = project
    spec = DatasetSpec("t20", 3, 2.0)
    first = build_dataset(paths, spec)
    stamp = first.path.stat().st_mtime_ns
    second = build_dataset(paths, spec)
    assert second.id == first.id and second.path == first.path
    assert first.path.stat().st_mtime_ns == stamp
    with connect(paths.warehouse, read_only=True) as con:
        n = con.execute(
            "SELECT count(*) FROM meta.manifests WHERE json_extract_string(body, '$.fingerprint') = ?",
            [first.manifest["fingerprint"]],
        ).fetchone()[0]
    assert n == 1


def test_flipped_byte_is_detected_on_load_and_repaired_by_rebuild(project) -> None:
    paths, _ = project
    spec = DatasetSpec("t20", 2, 3.0, min_val_positives=0)  # a rare target: not about positives
    ds = build_dataset(paths, spec)
    data = bytearray(ds.path.read_bytes())
    data[len(data) // 2] ^= 0x01
    ds.path.write_bytes(bytes(data))
    with pytest.raises(ManifestMismatch, match="does not match"):
        load_dataset(paths, ds.id)
    repaired = build_dataset(paths, spec)
    assert repaired.id == ds.id
    load_dataset(paths, ds.id)  # verified again


def test_ticker_subset(project) -> None:
    paths, _ = project
    ds = build_dataset(paths, DatasetSpec("t20", 1, 1.0, tickers=("BBB",)))
    assert ds.tickers == ["BBB"] and set(ds.sample_tickers("train")) == {"BBB"}
    assert [i.kind for i in ds.manifest.inputs] == ["tier", "raw"]


def test_spec_round_trip() -> None:
    spec = DatasetSpec("a50", 5, 0.5, ctx_len=32, split=SplitPolicy(folds=2),
                       normalization="train_zscore", tickers=("B", "A"), inputs="scale_free",
                       min_val_positives=7)
    assert spec.tickers == ("A", "B")
    assert DatasetSpec.from_dict(spec.to_dict()) == spec
    # A manifest written before the options existed reads back as what it was: raw inputs.
    old = {k: v for k, v in spec.to_dict().items() if k not in ("inputs", "min_val_positives")}
    assert DatasetSpec.from_dict(old).inputs == "raw"
    assert spec.label == "a50-threshold_0.5pct-h5-ctx32"


def test_datasets_never_import_torch() -> None:
    code = "import sys, fts.datasets; bad = {'torch', 'optuna', 'models_torch'} & set(sys.modules); assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True)
