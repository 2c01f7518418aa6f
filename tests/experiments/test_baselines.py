"""Baselines select on the walk-forward folds (never on one block), refit on train + val, and
are scored on test."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, log_loss

from fts.experiments.baselines import fit_baselines


def _dataset(n: int = 1000, n_features: int = 6, seed: int = 0) -> SimpleNamespace:
    """Rows whose label depends weakly on feature 0 (mostly noise), in time order: three
    walk-forward folds of 150 rows before a test region of 150 (the last fold is train/val)."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, n_features)).astype(np.float32)
    labels = (0.6 * features[:, 0] + rng.normal(size=n) > 1.0).astype(np.int8)
    dates = pd.bdate_range("2000-01-03", periods=n).values
    bounds = {"fold0.train": (0, 400), "fold0.val": (400, 550), "fold1.train": (0, 550),
              "fold1.val": (550, 700), "fold2.train": (0, 700), "fold2.val": (700, 850),
              "train": (0, 700), "val": (700, 850), "test": (850, n)}

    def split(name: str) -> SimpleNamespace:
        a, b = bounds[name]
        return SimpleNamespace(labels=labels[a:b], dates=dates[a:b])

    return SimpleNamespace(
        features=features, split=split, ends=lambda name: np.arange(*bounds[name]),
        sample_tickers=lambda name: ["T"] * (bounds[name][1] - bounds[name][0]),
        folds=[(f"fold{j}.train", f"fold{j}.val") for j in range(3)],
        labels=labels, bounds=bounds)


def _rows(ds: SimpleNamespace, name: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = ds.bounds[name]
    return ds.features[a:b].astype(np.float64), ds.labels[a:b].astype(int)


def _best_f1(y: np.ndarray, p: np.ndarray) -> float:
    """Brute force: the F1 at every distinct predicted probability used as the threshold."""
    return max(f1_score(y, p >= t) for t in np.unique(p))


def _boost(trees: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(random_state=0, max_iter=trees, learning_rate=0.05,
                                          early_stopping=False)


def test_boosting_tree_count_is_chosen_on_the_pooled_folds() -> None:
    ds = _dataset(seed=4)
    [boost] = fit_baselines(ds, seed=0, models=("hist_gradient_boosting",))
    # Independently: every fold's 300-tree model, stage by stage on its own validation block.
    staged, ys = [], []
    for j in range(3):
        (x, y), (xv, yv) = _rows(ds, f"fold{j}.train"), _rows(ds, f"fold{j}.val")
        model = _boost(300).fit(x, y)
        staged.append(np.array([p[:, 1] for p in model.staged_predict_proba(xv)]))
        ys.append(yv)
    pooled, y_sel = np.concatenate(staged, axis=1), np.concatenate(ys)
    pooled_losses = [log_loss(y_sel, s) for s in pooled]
    trees = int(np.argmin(pooled_losses)) + 1
    last_block_trees = int(np.argmin([log_loss(ys[-1], s) for s in staged[-1]])) + 1
    assert trees != last_block_trees  # the data tell the two rules apart
    assert boost["selection"]["trees"] == trees
    # val_metrics are the pooled fold-validation ones of that tree count.
    assert np.isclose(boost["val_metrics"]["log_loss"], pooled_losses[trees - 1])
    assert boost["val_metrics"]["n"] == 450
    # The final model: that many trees fit on train + val, scored on test.
    x_pre = np.concatenate([_rows(ds, "train")[0], _rows(ds, "val")[0]])
    y_pre = np.concatenate([_rows(ds, "train")[1], _rows(ds, "val")[1]])
    x_test, y_test = _rows(ds, "test")
    p_test = _boost(trees).fit(x_pre, y_pre).predict_proba(x_test)[:, 1]
    stored = boost["predictions"]["test"]
    assert np.allclose(stored["prob"], p_test)
    assert np.isclose(log_loss(y_test, p_test), boost["test_metrics"]["log_loss"])
    # Chosen on held-out folds, it beats 200 trees run without stopping (which overfit) on test.
    fixed = _boost(200).fit(x_pre, y_pre).predict_proba(x_test)[:, 1]
    assert boost["test_metrics"]["log_loss"] < log_loss(y_test, fixed)


def test_thresholds_maximise_f1_on_the_pooled_fold_predictions() -> None:
    ds = _dataset(seed=2)
    records = {r["model"]: r for r in fit_baselines(
        ds, seed=0, models=("class_prior", "logistic_regression"))}
    logit = records["logistic_regression"]
    # Each fold's own model predicts its own block (out of sample), recomputed here.
    ps, ys = [], []
    for j in range(3):
        (x, y), (xv, yv) = _rows(ds, f"fold{j}.train"), _rows(ds, f"fold{j}.val")
        mu, sd = x.mean(axis=0), x.std(axis=0)
        model = LogisticRegression(max_iter=2000).fit((x - mu) / sd, y)
        ps.append(model.predict_proba((xv - mu) / sd)[:, 1])
        ys.append(yv)
        assert np.allclose(logit["predictions"][f"fold{j}.val"]["prob"], ps[-1], atol=1e-6)
    p, y = np.concatenate(ps), np.concatenate(ys)
    threshold = logit["val_metrics"]["threshold"]
    assert threshold == logit["test_metrics"]["threshold"] == logit["selection"]["threshold"]
    assert np.isclose(f1_score(y, p >= threshold), _best_f1(y, p))
    # ... which is not what the last block alone would choose.
    assert not np.isclose(threshold, _last_block_threshold(ys[-1], ps[-1]))
    for r in records.values():
        assert set(r["predictions"]) == {"fold0.val", "fold1.val", "fold2.val", "test"}


def _last_block_threshold(y: np.ndarray, p: np.ndarray) -> float:
    return float(max(np.unique(p), key=lambda t: f1_score(y, p >= t)))


def test_class_prior_is_the_pretest_rate() -> None:
    ds = _dataset(seed=1)
    [prior] = fit_baselines(ds, models=("class_prior",))
    assert np.allclose(prior["predictions"]["test"]["prob"], ds.labels[:850].mean())
    # Each fold's prior is that fold's training rate.
    assert np.allclose(prior["predictions"]["fold0.val"]["prob"], ds.labels[:400].mean())
