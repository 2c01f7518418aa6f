"""The baseline family's Holm correction (statsmodels) against a hand-worked family, and the
choice of the best baseline."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fts.report.stats import holm
from fts.report.yardstick import best_baseline, holm_adjusted


def test_holm_adjusted_hand_worked_family_and_untested_comparisons():
    # Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04; running max
    # lifts the last to 0.06. Rejected at 0.05: the first two only.
    got = holm_adjusted([0.01, 0.04, math.nan, 0.03, 0.005])
    adjusted = [a for a, _ in got]
    assert adjusted[:2] == pytest.approx([0.03, 0.06]) and math.isnan(adjusted[2])
    assert adjusted[3:] == pytest.approx([0.06, 0.02])
    assert [r for _, r in got] == [True, False, False, False, True]
    assert holm_adjusted([]) == []


def test_the_report_s_two_holm_corrections_agree():
    # Cell-vs-cell comparisons use fts.report.stats.holm; the baseline family statsmodels.
    rng = np.random.default_rng(0)
    for size in (1, 3, 8):
        p = list(rng.uniform(0, 0.2, size))
        assert [a for a, _ in holm_adjusted(p)] == pytest.approx([a for a, _ in holm(p)])


def frame(losses_or_probs: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"label": y, "prob": losses_or_probs})


def test_best_baseline_is_the_non_prior_one_with_the_lowest_log_loss():
    y = np.array([0, 1, 0, 1, 0, 0])
    frames = {"class_prior": frame(np.full(6, 1 / 3), y),  # 0.637: never the "best baseline"
              "sharp": frame(np.array([0.1, 0.9, 0.1, 0.9, 0.1, 0.1]), y),  # 0.105
              "vague": frame(np.array([0.4, 0.6, 0.4, 0.6, 0.4, 0.4]), y)}  # 0.511
    assert best_baseline(frames) == "sharp"
    assert best_baseline(frames, "roc_auc") in {"sharp", "vague"}  # both rank perfectly
    assert best_baseline({"class_prior": frames["class_prior"]}) is None
