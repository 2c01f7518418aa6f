"""Training: the loop, architecture choice within a budget, stored runs and dry-run estimates.

`run_training(paths, RunRequest(...))` goes tier -> dataset -> architecture -> fit -> metrics ->
stored run; `fit` is the loop alone, for callers that bring their own arrays.
"""

from fts.train.arch import budget_grid, select_architecture
from fts.train.config import TrainConfig
from fts.train.dryrun import DryRun, dry_run
from fts.train.loop import FitResult, TrainingDiverged, fit, predict
from fts.train.request import RunRequest
from fts.train.run import DoesNotFit, prepare_dataset, run_training
from fts.train.store import RunRecord

__all__ = [
    "DoesNotFit",
    "DryRun",
    "FitResult",
    "RunRecord",
    "RunRequest",
    "TrainConfig",
    "TrainingDiverged",
    "budget_grid",
    "dry_run",
    "fit",
    "predict",
    "prepare_dataset",
    "run_training",
    "select_architecture",
]
