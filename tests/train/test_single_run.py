"""A single run (`fts train`: no fold, no final plan) is held to the data it chooses on.

It early-stops and picks its threshold on `val` alone (review finding 5 of issue 15), so the
positives rule must count `val`, not the sum over a dataset's walk-forward folds.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from fts.core.errors import FtsError
from fts.datasets import SELECTION_SPLIT
from fts.project import Project
from fts.train.config import TrainConfig
from fts.train.request import RunRequest
from fts.train.run import check_single_run_positives


def test_a_single_run_counts_only_the_block_it_chooses_on() -> None:
    # A run with no fold and no final plan early-stops and thresholds on `val` alone: on a
    # dataset with folds, the folds' sum (75 on the sample) must not pass it with 8 in `val`.
    folded = SimpleNamespace(id="d" * 64, folds=[("fold0.train", "fold0.val")] * 3,
                             positives={"fold0.val": 50, "fold1.val": 17, "val": 8})
    with pytest.raises(FtsError, match=r"'val' alone, which has 8 positive labels, fewer than "
                                       r"min_val_positives 50"):
        check_single_run_positives(folded, 50)
    check_single_run_positives(folded, 8)  # exactly enough
    check_single_run_positives(folded, 0)  # the rule switched off
    # Without folds the dataset's own rule counted `val` already.
    check_single_run_positives(SimpleNamespace(id="d" * 64, folds=[], positives={"val": 0}), 50)


def test_fts_trains_default_split_selects_on_one_block_of_the_fold_days() -> None:
    split = RunRequest(tier="a20", budget="20K", horizon=1, threshold_pct=1).split
    assert split.folds == 1 and split.test_days == SELECTION_SPLIT.test_days
    assert split.val_days == SELECTION_SPLIT.folds * SELECTION_SPLIT.fold_val_days



def test_training_once_on_the_studies_split_is_refused_on_its_last_block(built_project_dir) -> None:
    # The 3-fold split's folds hold 75 positives together, its last block 8 (the sample,
    # h = 1, +1 %): the dataset passes its rule, the single run must not.
    request = RunRequest(tier="a20", budget="20K", horizon=1, threshold_pct=1, ctx_len=16,
                         split=SELECTION_SPLIT, train=TrainConfig(max_epochs=1,
                                                                  max_train_batches=1))
    with pytest.raises(FtsError, match=r"'val' alone, which has 8 positive labels"):
        Project(built_project_dir).train(request)
