"""Selection on walk-forward folds: one model per fold, the selection metric over all folds.

A dataset with k walk-forward folds (`SplitPolicy.folds`) has validation blocks
fold0.val .. fold{k-1}.val before the test region; fold j trains on everything before its block.
A search trial trains one model per fold, each stopped early on its own fold's validation
block, and is scored by the MEAN of the folds' best-epoch validation log-losses, so a setting is
chosen on k validation periods rather than one. The test region is never touched here (it is
evaluated once, by the final runs, which train on train + val for the median of the best
trial's fold best epochs, at the threshold of its folds' pooled validation predictions:
`fts.train.final`). A dataset without folds is the single fold train/val.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from fts.core.paths import ProjectPaths
from fts.datasets import Dataset
from fts.train.loop import EpochCallback
from fts.train.request import RunRequest
from fts.train.run import run_training
from fts.train.store import RunRecord


@dataclass(frozen=True)
class FoldSelection:
    """The models of one trial, one per fold (in fold order), and its selection value."""

    records: tuple[RunRecord, ...]
    fold_values: tuple[float, ...]  # best-epoch validation log-loss of each fold's model

    @property
    def value(self) -> float:
        """The selection metric: the mean validation log-loss over the folds."""
        return sum(self.fold_values) / len(self.fold_values)

    @property
    def last(self) -> RunRecord:
        """The last fold's run: the plain train/val split."""
        return self.records[-1]


def train_on_folds(paths: ProjectPaths, request: RunRequest, dataset: Dataset, *,
                   on_epoch: EpochCallback | None = None,
                   progress: Callable[[str], None] = lambda _: None,
                   run: Callable[..., RunRecord] = run_training) -> FoldSelection:
    """Train `request` once per walk-forward fold of `dataset` and store each run.

    `on_epoch(step, metrics)` sees one step per epoch of every fold, numbered fold by fold
    (fold j's epoch e is step j * max_epochs + e), so a pruner compares trials fold by fold
    and epoch by epoch; it may raise to stop the trial (later folds then do not train).
    `run` trains and stores one run (`run_training`; the search passes its own reference).
    """
    n_folds = len(dataset.folds)
    folds: list[int | None] = list(range(n_folds)) if n_folds else [None]
    records: list[RunRecord] = []
    for j in folds:
        offset = (j or 0) * request.train.max_epochs

        def report(epoch: int, metrics: dict[str, float], offset: int = offset) -> None:
            if on_epoch is not None:
                on_epoch(offset + epoch, metrics)

        fold_request = dataclasses.replace(request, fold=j)
        records.append(run(paths, fold_request, dataset=dataset, progress=progress,
                           on_epoch=report))
    return FoldSelection(tuple(records),
                         tuple(float(r.val_metrics["log_loss"]) for r in records))
