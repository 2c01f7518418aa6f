"""What a final run takes from the walk-forward folds of its study's best trial.

A final run holds no block out to stop on or to pick a threshold on: both come from the best
trial's fold runs (`fts.train.folds`), so no choice rests on the last validation block alone.

- Epochs: the median of the fold runs' best epoch counts (`best_epoch + 1`; with an even number
  of folds, the upper of the two middle values, so the count is one a fold run really stopped
  at). The final run trains exactly that many epochs on every sample before the test region.
- Threshold: the F1-maximising threshold over the fold runs' POOLED out-of-sample predictions,
  each fold model on its own validation block (stored in `train.predictions`). The pooled
  predictions' metrics at that threshold are the final run's `val_metrics`: the selection data's
  numbers (its `config["final"]["threshold_source"]` names the splits), not a held-out score.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np

from fts.core.errors import FtsError
from fts.core.paths import ProjectPaths
from fts.datasets import PRETEST_SPLITS
from fts.train.metrics import choose_threshold, classification_metrics
from fts.warehouse import connect

# 1: final runs stopped early on the last validation block and took their threshold there.
# 2: a fixed epoch count and the threshold from the best trial's folds, trained on train + val.
FINAL_FORMAT = 2
EPOCHS_RULE = ("median of the fold runs' best epoch counts (best_epoch + 1; the upper middle "
               "value for an even fold count)")
THRESHOLD_RULE = ("maximum F1 over the fold runs' pooled out-of-sample predictions, each fold "
                  "model on its own validation block")


@dataclass(frozen=True)
class FinalPlan:
    """How long a final run trains and the threshold it scores the test at, with provenance."""

    epochs: int
    threshold: float
    fold_run_ids: tuple[str, ...]
    fold_best_epochs: tuple[int, ...]  # each fold run's best_epoch (0-based), in fold order
    selection_splits: tuple[str, ...]  # the validation block of each fold run, in fold order
    selection_metrics: dict[str, Any]  # pooled fold-validation metrics at `threshold`

    def to_dict(self) -> dict[str, Any]:
        """The record stored as `config["final"]` of the run (manifest and `train.runs`)."""
        return {"format": FINAL_FORMAT, "trains_on": list(PRETEST_SPLITS),
                "epochs": self.epochs, "epochs_rule": EPOCHS_RULE,
                "fold_run_ids": list(self.fold_run_ids),
                "fold_best_epochs": list(self.fold_best_epochs),
                "threshold": self.threshold,
                "threshold_source": {"rule": THRESHOLD_RULE,
                                     "splits": list(self.selection_splits),
                                     "n": self.selection_metrics["n"],
                                     "positives": self.selection_metrics["positives"]}}


def final_epochs(best_epochs: list[int] | tuple[int, ...]) -> int:
    """The epoch count of a final run from its fold runs' best epochs (0-based)."""
    if not best_epochs:
        raise FtsError("no fold runs to take a final run's epoch count from")
    return int(statistics.median_high(b + 1 for b in best_epochs))


def plan_final(paths: ProjectPaths, study: str, trial_number: int) -> FinalPlan:
    """The `FinalPlan` of a study's trial, from its fold runs and their stored predictions."""
    with connect(paths.warehouse, read_only=True, project_root=paths.root) as con:
        runs = con.execute(
            "SELECT run_id, best_epoch, config FROM train.runs WHERE study = ? AND purpose = "
            "'trial' AND trial_number = ?", [study, trial_number]).fetchall()
        folds = sorted((_fold_of(json.loads(cfg)), run_id, int(best))
                       for run_id, best, cfg in runs)
        indices = [f[0][0] for f in folds]
        if not folds or len(set(indices)) != len(indices):
            raise FtsError(f"{study}: trial {trial_number} has {len(folds)} stored fold runs "
                           f"(folds {indices}); expected one per fold")
        labels, probs = [], []
        for (_, split), run_id, _ in folds:
            rows = con.execute("SELECT label, prob FROM train.predictions WHERE run_id = ? AND "
                               "split = ? ORDER BY date, ticker", [run_id, split]).fetchnumpy()
            if len(rows["label"]) == 0:
                raise FtsError(f"{study}: fold run {run_id[:12]} has no stored {split} "
                               "predictions to choose a threshold on")
            labels.append(np.asarray(rows["label"], dtype=np.int64))
            probs.append(np.asarray(rows["prob"], dtype=np.float64))
    y, p = np.concatenate(labels), np.concatenate(probs)
    threshold = choose_threshold(y, p)
    best = tuple(b for *_, b in folds)
    return FinalPlan(epochs=final_epochs(best), threshold=threshold,
                     fold_run_ids=tuple(r for _, r, _ in folds), fold_best_epochs=best,
                     selection_splits=tuple(s for (_, s), _, _ in folds),
                     selection_metrics=classification_metrics(y, p, threshold))


def _fold_of(config: dict[str, Any]) -> tuple[int, str]:
    """(fold index, validation split) of a trial run; a dataset without folds: (0, "val")."""
    fold = config.get("fold")
    return (int(fold["index"]), str(fold["val"])) if fold else (0, "val")
