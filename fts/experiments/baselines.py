"""Baselines on exactly the models' windows and labels: the class prior, logistic regression and
histogram gradient boosting (scikit-learn) on each window's latest row of features."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fts.datasets import Dataset
from fts.train.metrics import choose_threshold, classification_metrics

BASELINES = ("class_prior", "logistic_regression", "hist_gradient_boosting")


def _latest_rows(dataset: Dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    arrays = dataset.split(split)
    ends = dataset.ends(split)
    return np.asarray(dataset.features[ends], dtype=np.float64), arrays.labels.astype(int)


def fit_baselines(dataset: Dataset, seed: int = 0) -> list[dict[str, Any]]:
    """Fit each baseline on train; evaluate on val (threshold chosen there) and test.

    Returns one record per baseline with metrics and the per-sample predictions.
    """
    x_train, y_train = _latest_rows(dataset, "train")
    out = []
    for name in BASELINES:
        if name == "class_prior":
            rate = float(y_train.mean())
            predict = lambda x, rate=rate: np.full(len(x), rate)  # noqa: E731
            n_params = 1
        else:
            if name == "logistic_regression":
                model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
            else:
                model = HistGradientBoostingClassifier(random_state=seed, max_iter=200)
            model.fit(x_train, y_train)
            predict = lambda x, m=model: m.predict_proba(x)[:, 1]  # noqa: E731
            n_params = _size(model)
        record: dict[str, Any] = {"model": name, "n_params": n_params, "predictions": {}}
        x_val, y_val = _latest_rows(dataset, "val")
        p_val = predict(x_val)
        threshold = choose_threshold(y_val, p_val)
        for split in ("val", "test"):
            x, y = _latest_rows(dataset, split)
            p = p_val if split == "val" else predict(x)
            record[f"{split}_metrics"] = classification_metrics(y, p, threshold)
            record["predictions"][split] = pd.DataFrame({
                "date": pd.to_datetime(dataset.split(split).dates).date,
                "ticker": dataset.sample_tickers(split), "label": y, "prob": p})
        out.append(record)
    return out


def _size(model: Any) -> int:
    """Fitted parameter count (coefficients; tree nodes for boosting) for the report."""
    if hasattr(model, "_predictors"):
        return int(sum(p[0].nodes.shape[0] for p in model._predictors))
    lr = model[-1]
    return int(lr.coef_.size + lr.intercept_.size)
