"""The data each diagnostic figure plots, prepared by small pure functions so that a test can
compare what is drawn with what is stored (`fts.report.figures` only draws these).

* `learning_curves`: per cell, each final run's train and validation loss per epoch
  (`train.epochs`), with the run's best epoch;
* `roc_pr_curves`: per cell, each final run's ROC and precision-recall curve on its stored
  test predictions (scikit-learn's `roc_curve` / `precision_recall_curve`);
* `running_best`: an HPO study's objective per finished trial and the best so far.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve


@dataclass(frozen=True)
class LearningCurve:
    """One run's losses per epoch, in epoch order."""

    run_id: str
    seed: int
    epoch: np.ndarray
    train_loss: np.ndarray
    val_loss: np.ndarray
    best_epoch: int


@dataclass(frozen=True)
class RunCurves:
    """One run's ROC and precision-recall curves on its test split."""

    run_id: str
    seed: int
    fpr: np.ndarray
    tpr: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    positive_rate: float
    average_precision: float

    @property
    def roc_auc(self) -> float:
        """Area under the plotted ROC curve (trapezoids over the drawn points)."""
        return float(auc(self.fpr, self.tpr))


def learning_curves(epochs: pd.DataFrame, runs: pd.DataFrame) -> dict[str, list[LearningCurve]]:
    """{cell: [one LearningCurve per final run, by seed]} from `train.epochs` rows (run_id,
    epoch, train_loss, val_loss) and the final runs (run_id, cell, seed, best_epoch). A run
    with no stored epoch is left out."""
    out: dict[str, list[LearningCurve]] = {}
    for run in runs.sort_values(["cell", "seed"]).itertuples():
        rows = epochs[epochs["run_id"] == run.run_id].sort_values("epoch")
        if rows.empty:
            continue
        out.setdefault(run.cell, []).append(LearningCurve(
            run.run_id, int(run.seed), rows["epoch"].to_numpy(int),
            rows["train_loss"].to_numpy(float), rows["val_loss"].to_numpy(float),
            int(getattr(run, "best_epoch", -1))))
    return out


def roc_pr_curves(predictions: pd.DataFrame, runs: pd.DataFrame,
                  split: str = "test") -> dict[str, list[RunCurves]]:
    """{cell: [one RunCurves per final run, by seed]} from the stored per-sample predictions.
    A run whose split holds a single class has no ROC curve and is left out."""
    preds = predictions[predictions["split"] == split]
    out: dict[str, list[RunCurves]] = {}
    for run in runs.sort_values(["cell", "seed"]).itertuples():
        rows = preds[preds["run_id"] == run.run_id]
        y, p = rows["label"].to_numpy(int), rows["prob"].to_numpy(float)
        if y.size == 0 or y.min() == y.max():
            continue
        fpr, tpr, _ = roc_curve(y, p)
        precision, recall, _ = precision_recall_curve(y, p)
        out.setdefault(run.cell, []).append(RunCurves(
            run.run_id, int(run.seed), fpr, tpr, precision, recall, float(y.mean()),
            float(average_precision_score(y, p))))
    return out


def running_best(values: np.ndarray, minimize: bool = True) -> np.ndarray:
    """The best objective reached by each trial so far (in trial order)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return values
    return np.minimum.accumulate(values) if minimize else np.maximum.accumulate(values)
