"""Baselines on exactly the models' windows and labels: the class prior, logistic regression and
histogram gradient boosting (scikit-learn) on each window's latest row of features.

They select the way final runs do (fts.train.final), never on one validation block: each is
refit on every walk-forward fold's training split and predicts that fold's validation block;
the boosting tree count is the one of lowest log-loss over those pooled out-of-sample
predictions, and the decision threshold maximises F1 over them. The stored `val_metrics` are
the pooled fold-validation metrics; the final baseline is then fit on every sample before the
test region (train + val) and scored on test.

Each stored baseline has a manifest (kind "baseline") like a training run: its dataset as input,
the model and seed, how it selected, its metrics and the content hash of its stored predictions
per split, so that `fts audit` can prove the numbers a report prints.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fts.core.hashing import canonical_json, sha256_json, table_content_sha256
from fts.core.manifest import Input, Manifest
from fts.core.paths import ProjectPaths
from fts.datasets import PRETEST_SPLITS, Dataset
from fts.train.metrics import choose_threshold, classification_metrics
from fts.warehouse.publish import publish

BASELINES = ("class_prior", "logistic_regression", "hist_gradient_boosting")
# 1: tree count and threshold chosen on the last validation block, fit on train only.
# 2: both chosen on the pooled walk-forward fold validation, final fit on train + val.
BASELINE_FORMAT = 2
MAX_TREES = 300

Rows = tuple[np.ndarray, np.ndarray]


def _latest_rows(dataset: Dataset, split: str) -> Rows:
    arrays = dataset.split(split)
    ends = dataset.ends(split)
    return np.asarray(dataset.features[ends], dtype=np.float64), arrays.labels.astype(int)


def _rows_of(dataset: Dataset, splits: tuple[str, ...]) -> Rows:
    parts = [_latest_rows(dataset, s) for s in splits]
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def selection_folds(dataset: Dataset) -> list[tuple[str, str]]:
    """(train, val) split names the baselines select on: the walk-forward folds, else train/val."""
    return list(dataset.folds) or [("train", "val")]


def _model(name: str, seed: int, trees: int | None) -> Any:
    """An unfitted baseline (scikit-learn estimator)."""
    if name == "class_prior":
        return DummyClassifier(strategy="prior")
    if name == "logistic_regression":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return HistGradientBoostingClassifier(random_state=seed, max_iter=trees or MAX_TREES,
                                          learning_rate=0.05, early_stopping=False)


def boosting_trees(folds: list[tuple[Rows, Rows]], seed: int, max_trees: int = MAX_TREES) -> int:
    """The tree count of lowest log-loss over the folds' pooled validation predictions.

    Each fold's model is fit on its own training rows with `max_trees` trees; stage n's
    predictions of every fold's validation block are pooled and scored. A boosting baseline run
    to a fixed 200 trees overfits a few hundred samples into confident mistakes (test log-loss
    ~2, worse than the class prior), which would flatter every model compared with it.
    """
    staged = []  # per fold: (max_trees, n_val) stage-by-stage probabilities
    for (x_tr, y_tr), (x_va, _) in folds:
        probe = _model("hist_gradient_boosting", seed, max_trees).fit(x_tr, y_tr)
        staged.append(np.stack([p[:, 1] for p in probe.staged_predict_proba(x_va)]))
    pooled = np.concatenate(staged, axis=1)
    y = np.concatenate([y_va for _, (_, y_va) in folds])
    losses = [log_loss(y, stage, labels=[0, 1]) for stage in pooled]
    return int(np.argmin(losses)) + 1


def fit_baselines(dataset: Dataset, seed: int = 0,
                  models: tuple[str, ...] = BASELINES) -> list[dict[str, Any]]:
    """Fit each baseline of `models`: select on the folds' pooled validation, refit on train +
    val, score test. Returns one record per baseline with metrics, predictions (each fold's
    validation block and test) and how it selected."""
    names = selection_folds(dataset)
    folds = [(_latest_rows(dataset, tr), _latest_rows(dataset, va)) for tr, va in names]
    y_sel = np.concatenate([y for _, (_, y) in folds])
    x_pre, y_pre = _rows_of(dataset, PRETEST_SPLITS)
    x_test, y_test = _latest_rows(dataset, "test")
    out = []
    for name in models:
        trees = boosting_trees(folds, seed) if name == "hist_gradient_boosting" else None
        # Out of sample: each fold's model predicts only its own validation block.
        p_folds = [_model(name, seed, trees).fit(x, y).predict_proba(xv)[:, 1]
                   for (x, y), (xv, _) in folds]
        p_sel = np.concatenate(p_folds)
        threshold = choose_threshold(y_sel, p_sel)
        final = _model(name, seed, trees).fit(x_pre, y_pre)
        p_test = final.predict_proba(x_test)[:, 1]
        predictions = {va: _frame(dataset, va, y, p)
                       for (_, va), (_, (_, y)), p in zip(names, folds, p_folds, strict=True)}
        predictions["test"] = _frame(dataset, "test", y_test, p_test)
        out.append({
            "model": name, "n_params": _size(final), "predictions": predictions,
            "val_metrics": classification_metrics(y_sel, p_sel, threshold),
            "test_metrics": classification_metrics(y_test, p_test, threshold),
            "selection": {"format": BASELINE_FORMAT, "folds": [list(f) for f in names],
                          "trees": trees, "threshold": threshold,
                          "rule": "refit per fold; tree count by pooled fold-validation "
                                  "log-loss, threshold by pooled fold-validation F1",
                          "final_fit_on": list(PRETEST_SPLITS)}})
    return out


def _frame(dataset: Dataset, split: str, labels: np.ndarray, probs: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"date": pd.to_datetime(dataset.split(split).dates).date,
                         "ticker": dataset.sample_tickers(split), "label": labels, "prob": probs})


def _size(model: Any) -> int:
    """Fitted parameter count (coefficients; tree nodes for boosting; 1 for the prior rate)."""
    if isinstance(model, DummyClassifier):
        return 1
    if hasattr(model, "_predictors"):
        return int(sum(p[0].nodes.shape[0] for p in model._predictors))
    lr = model[-1]
    return int(lr.coef_.size + lr.intercept_.size)


def baseline_id(experiment: str, dataset_id: str, model: str) -> str:
    """The key of a baseline's rows (`experiments.baselines`, `train.predictions.run_id`)."""
    return "baseline:" + sha256_json([experiment, dataset_id, model])[:24]


def store_baselines(paths: ProjectPaths, experiment: str, tier: str, horizon: int,
                    threshold_pct: float, dataset: Dataset, seed: int = 0) -> list[Manifest]:
    """Fit every baseline on `dataset` and store it: its manifest (file and `meta.manifests`),
    its `experiments.baselines` row and its predictions, the rows in one transaction."""
    stored: list[tuple[dict[str, Any], str, Manifest]] = []
    for r in fit_baselines(dataset, seed=seed):
        bid = baseline_id(experiment, dataset.id, r["model"])
        manifest = Manifest.create(
            kind="baseline", name=f"{tier}-h{horizon}-p{threshold_pct:g}-{r['model']}",
            version=BASELINE_FORMAT,
            inputs=[Input(dataset.id, "dataset", dataset.manifest["arrays_content_sha256"])],
            experiment=experiment, baseline_id=bid, model=r["model"], seed=seed,
            n_params=r["n_params"], selection=r["selection"], val_metrics=r["val_metrics"],
            test_metrics=r["test_metrics"],
            predictions_sha256={
                split: table_content_sha256(pa.Table.from_pandas(frame, preserve_index=False))
                for split, frame in r["predictions"].items()})
        stored.append((r, bid, manifest))

    def rows(con: Any) -> None:
        for r, bid, _ in stored:
            con.execute(
                "INSERT INTO experiments.baselines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
                [bid, experiment, tier, horizon, threshold_pct, dataset.id, r["model"],
                 r["n_params"], canonical_json(r["val_metrics"]),
                 canonical_json(r["test_metrics"])])
            for split, frame in r["predictions"].items():
                con.register("__preds", frame.assign(run_id=bid, split=split))
                con.execute("INSERT INTO train.predictions SELECT run_id, split, date, ticker, "
                            "label, prob FROM __preds")
                con.unregister("__preds")

    publish(paths, [m for *_, m in stored], rows)
    return [m for *_, m in stored]
