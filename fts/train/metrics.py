"""Classification metrics of a probabilistic forecast, and the decision threshold chosen on
validation only."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    precision_recall_curve,
    roc_auc_score,
)


def log_loss_safe(y: np.ndarray, p: np.ndarray) -> float:
    """Binary log-loss with probabilities clipped away from 0 and 1."""
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return float(log_loss(y, p, labels=[0, 1]))


def choose_threshold(y_val: np.ndarray, p_val: np.ndarray) -> float:
    """The probability threshold that maximises F1 on validation (0.5 if undefined)."""
    if y_val.min() == y_val.max():
        return 0.5
    precision, recall, thresholds = precision_recall_curve(y_val, p_val)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = int(np.argmax(f1[:-1])) if len(thresholds) else 0
    return float(thresholds[best]) if len(thresholds) else 0.5


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    """log-loss, ROC-AUC, PR-AUC, Brier, positive rate and precision/recall at `threshold`.

    AUCs are None when only one class is present (they are undefined, not 0.5).
    """
    y = np.asarray(y).astype(np.int64)
    p = np.asarray(p, dtype=np.float64)
    both = y.min() != y.max()
    pred = p >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    return {
        "n": int(len(y)),
        "positives": int(y.sum()),
        "log_loss": log_loss_safe(y, p),
        "roc_auc": float(roc_auc_score(y, p)) if both else None,
        "pr_auc": float(average_precision_score(y, p)) if both else None,
        "brier": float(brier_score_loss(y, p)),
        "threshold": float(threshold),
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
    }


def is_finite(x: float) -> bool:
    return x is not None and math.isfinite(x)
