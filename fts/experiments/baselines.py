"""Baselines on exactly the models' windows and labels: the class prior, logistic regression and
histogram gradient boosting (scikit-learn) on each window's latest row of features.

Each stored baseline has a manifest (kind "baseline") like a training run: its dataset as input,
the model and seed, its metrics and the content hash of its stored predictions per split, so
that `fts audit` can prove the numbers a report prints.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fts.core.hashing import canonical_json, sha256_json, table_content_sha256
from fts.core.manifest import Input, Manifest
from fts.core.paths import ProjectPaths
from fts.datasets import Dataset
from fts.train.metrics import choose_threshold, classification_metrics
from fts.warehouse.publish import publish

BASELINES = ("class_prior", "logistic_regression", "hist_gradient_boosting")
BASELINE_FORMAT = 1


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
                model = _boosting_stopped_on_val(dataset, x_train, y_train, seed)
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


def _boosting_stopped_on_val(dataset: Dataset, x_train: np.ndarray, y_train: np.ndarray,
                             seed: int, max_iter: int = 300) -> HistGradientBoostingClassifier:
    """Gradient boosting with its number of trees chosen on the validation split.

    The transformers stop early on validation log-loss; a boosting baseline run to a fixed 200
    trees instead overfits a few hundred samples into confident mistakes (test log-loss ~2, worse
    than the class prior), which would flatter every model compared with it. Returns the
    unfitted model with `max_iter` set to the stage of lowest validation log-loss.
    """
    from sklearn.metrics import log_loss

    def make(n: int) -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(random_state=seed, max_iter=n, learning_rate=0.05,
                                              early_stopping=False)

    x_val, y_val = _latest_rows(dataset, "val")
    probe = make(max_iter).fit(x_train, y_train)
    losses = [log_loss(y_val, p[:, 1], labels=[0, 1])
              for p in probe.staged_predict_proba(x_val)]
    return make(int(np.argmin(losses)) + 1)


def _size(model: Any) -> int:
    """Fitted parameter count (coefficients; tree nodes for boosting) for the report."""
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
            n_params=r["n_params"], val_metrics=r["val_metrics"], test_metrics=r["test_metrics"],
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
