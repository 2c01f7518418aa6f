"""Baselines fit on train only, choose what they choose on validation, and are scored on test."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import log_loss

from fts.experiments.baselines import fit_baselines


def _dataset(n: int = 1500, n_features: int = 8, seed: int = 0) -> SimpleNamespace:
    """Rows whose label depends weakly on feature 0 (mostly noise), split 60/20/20 in time."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, n_features)).astype(np.float32)
    labels = (0.6 * features[:, 0] + rng.normal(size=n) > 1.0).astype(np.int8)
    dates = pd.bdate_range("2000-01-03", periods=n).values
    bounds = {"train": (0, int(0.6 * n)), "val": (int(0.6 * n), int(0.8 * n)), "test": (int(0.8 * n), n)}

    def split(name: str) -> SimpleNamespace:
        a, b = bounds[name]
        return SimpleNamespace(labels=labels[a:b], dates=dates[a:b])

    return SimpleNamespace(
        features=features, split=split, ends=lambda name: np.arange(*bounds[name]),
        sample_tickers=lambda name: ["T"] * (bounds[name][1] - bounds[name][0]),
        labels=labels, bounds=bounds)


def test_boosting_stops_on_validation_instead_of_overfitting() -> None:
    ds = _dataset()
    records = {r["model"]: r for r in fit_baselines(ds, seed=0)}
    (a, b), (va, vb), (ta, tb) = ds.bounds["train"], ds.bounds["val"], ds.bounds["test"]
    # The old baseline: 200 trees, no stopping, fitted here independently.
    fixed = HistGradientBoostingClassifier(random_state=0, max_iter=200).fit(
        ds.features[a:b], ds.labels[a:b])
    fixed_val = log_loss(ds.labels[va:vb], fixed.predict_proba(ds.features[va:vb])[:, 1])
    fixed_test = log_loss(ds.labels[ta:tb], fixed.predict_proba(ds.features[ta:tb])[:, 1])
    boost = records["hist_gradient_boosting"]
    prior = records["class_prior"]
    assert boost["val_metrics"]["log_loss"] < fixed_val
    assert boost["test_metrics"]["log_loss"] < fixed_test
    # Stopped on validation, it is no worse there than the class prior it starts from.
    assert boost["val_metrics"]["log_loss"] <= prior["val_metrics"]["log_loss"] + 0.01
    # Stored predictions are the ones scored.
    test = boost["predictions"]["test"]
    assert np.isclose(log_loss(test["label"], test["prob"]), boost["test_metrics"]["log_loss"])


def test_class_prior_is_the_training_rate() -> None:
    ds = _dataset(seed=1)
    a, b = ds.bounds["train"]
    prior = {r["model"]: r for r in fit_baselines(ds)}["class_prior"]
    assert np.allclose(prior["predictions"]["test"]["prob"], ds.labels[a:b].mean())
