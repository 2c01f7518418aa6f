"""Holm-Bonferroni against hand-worked families, and the calibration table on data whose
calibration is known."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fts.core.errors import ValidationError
from fts.report.stats import (
    calibration_table,
    expected_calibration_error,
    holm,
    holm_labels,
)

# ---------------------------------------------------------------- Holm


def test_holm_hand_worked_family():
    # p = [0.01, 0.04, 0.03, 0.005], m = 4, alpha = 0.05.
    # Sorted: 0.005 (#4), 0.01 (#1), 0.03 (#3), 0.04 (#2); multipliers 4, 3, 2, 1:
    #   0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04
    # running max -> 0.02, 0.03, 0.06, 0.06 (0.04 is lifted to 0.06: monotone).
    # Step-down check: 0.005 <= 0.05/4 yes, 0.01 <= 0.05/3 yes, 0.03 <= 0.05/2 NO -> stop; so
    # #4 and #1 are rejected, #3 and #2 kept (even though 0.04 <= 0.05/1).
    got = holm([0.01, 0.04, 0.03, 0.005])
    assert [a for a, _ in got] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [r for _, r in got] == [True, False, False, True]


def test_holm_ties_get_equal_adjusted_values():
    # [0.02, 0.02, 0.04]: 0.02*3 = 0.06, 0.02*2 = 0.04 -> 0.06 (max), 0.04*1 -> 0.06.
    got = holm([0.02, 0.02, 0.04])
    assert [a for a, _ in got] == pytest.approx([0.06] * 3)
    assert [r for _, r in got] == [False] * 3
    # [0.01, 0.5, 0.01]: 0.01*3 = 0.03, 0.01*2 = 0.02 -> 0.03, 0.5*1 = 0.5.
    got = holm([0.01, 0.5, 0.01])
    assert [a for a, _ in got] == pytest.approx([0.03, 0.5, 0.03])
    assert [r for _, r in got] == [True, False, True]


def test_holm_caps_at_one_and_handles_small_families():
    # [0.4, 0.6, 0.9]: 1.2 -> 1, 1.2 -> 1, 0.9 -> max(1, 0.9) = 1.
    assert holm([0.4, 0.6, 0.9]) == [(1.0, False)] * 3
    assert holm([0.03]) == [(0.03, True)]
    assert holm([]) == []
    assert holm([0.03], alpha=0.01) == [(0.03, False)]


def test_holm_skips_untested_comparisons():
    # NaN = could not be compared: not counted in m, so [0.01, 0.02] is adjusted as a pair.
    (a0, r0), (a1, r1), (a2, r2) = holm([0.01, math.nan, 0.02])
    assert (a0, a2) == pytest.approx((0.02, 0.02)) and r0 and r2
    assert math.isnan(a1) and r1 is False


def test_holm_rejects_bad_input():
    with pytest.raises(ValidationError):
        holm([0.1, 1.5])
    with pytest.raises(ValidationError):
        holm([0.1, -0.01])
    with pytest.raises(ValidationError):
        holm([0.1], alpha=0)


def naive_holm_rejections(p: list[float], alpha: float) -> list[bool]:
    """Textbook step-down: walk up the sorted p-values until p_(k) > alpha / (m - k + 1)."""
    m, reject = len(p), [False] * len(p)
    for k, i in enumerate(sorted(range(m), key=lambda j: p[j])):
        if p[i] > alpha / (m - k):
            break
        reject[i] = True
    return reject


@settings(max_examples=200, deadline=None)
@given(
    p=st.lists(
        st.one_of(st.floats(0, 1), st.sampled_from([0.0, 0.01, 0.02, 0.05, 1.0])), max_size=15
    ),
    alpha=st.sampled_from([0.01, 0.05, 0.1]),
)
def test_holm_properties(p, alpha):
    got = holm(p, alpha)
    adjusted = [a for a, _ in got]
    assert [r for _, r in got] == naive_holm_rejections(p, alpha)
    for i in range(len(p)):
        assert p[i] <= adjusted[i] <= min(1.0, len(p) * p[i]) + 1e-12  # between raw and Bonferroni
        for j in range(len(p)):
            if p[i] <= p[j]:
                assert adjusted[i] <= adjusted[j]  # monotone in the raw p-values


def test_holm_labels():
    out = holm_labels([0.01, 0.04, 0.03, 0.005], ["a", "b", "c", "d"])
    assert [h.label for h in out] == ["significant", "not significant", "not significant",
                                      "significant"]  # fmt: skip
    assert out[1].name == "b" and out[1].p_value == 0.04 and out[1].adjusted_p == pytest.approx(0.06)
    assert holm_labels([math.nan])[0].label == "not tested"
    assert holm_labels([0.2])[0].name == "comparison 1"
    assert json.loads(json.dumps(holm_labels([math.nan])[0].to_dict(), allow_nan=False))
    with pytest.raises(ValidationError):
        holm_labels([0.1, 0.2], ["only one"])


# ---------------------------------------------------------------- calibration


def bernoulli(p: np.ndarray, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(p.size) < p).astype(float)


def test_calibration_of_calibrated_predictions():
    p = np.random.default_rng(1).uniform(0, 1, 20_000)
    table = calibration_table(bernoulli(p), p, n_bins=10)
    assert len(table) == 10 and table["count"].sum() == 20_000
    assert table["count"].between(1990, 2010).all()  # quantile bins: equal counts
    # Observed rate within 4 binomial standard errors of the mean prediction in every bin...
    se = np.sqrt(table["mean_predicted"] * (1 - table["mean_predicted"]) / table["count"])
    assert (abs(table["observed_rate"] - table["mean_predicted"]) < 4 * se + 1e-9).all()
    # ... and the exact 95% interval contains the prediction in (nearly) every bin.
    inside = (table["obs_lo"] <= table["mean_predicted"]) & (table["mean_predicted"] <= table["obs_hi"])
    assert inside.sum() >= 8
    assert expected_calibration_error(table) < 0.015


def test_calibration_detects_overconfidence():
    # Predictions p for events of probability p**2: over-confident, most of all near p = 0.5-0.7.
    p = np.random.default_rng(2).uniform(0, 1, 20_000)
    table = calibration_table(bernoulli(p**2), p, n_bins=10)
    se = np.sqrt(table["mean_predicted"] * (1 - table["mean_predicted"]) / table["count"])
    assert (abs(table["observed_rate"] - table["mean_predicted"]) > 4 * se).sum() >= 7
    assert expected_calibration_error(table) > 0.1


def test_calibration_uniform_bins_ties_and_inputs():
    p = np.random.default_rng(3).uniform(0, 0.3, 1000)
    uniform = calibration_table(bernoulli(p), p, n_bins=10, strategy="uniform")
    assert len(uniform) == 3 and uniform["p_hi"].max() == pytest.approx(0.3)  # empty bins dropped
    assert list(uniform["bin"]) == [0, 1, 2]
    same = calibration_table([0, 1, 1, 0], [0.3] * 4)  # all predictions tied: one bin
    assert len(same) == 1 and same["observed_rate"][0] == 0.5 and same["count"][0] == 4
    edges = calibration_table([0, 0, 1, 1], [0.0, 0.5, 0.5, 1.0], n_bins=2)
    assert list(edges["count"]) == [3, 1]  # bins closed on the right, first also on the left
    with pytest.raises(ValidationError):
        calibration_table([0, 2], [0.1, 0.2])
    with pytest.raises(ValidationError):
        calibration_table([0, 1], [0.1, 0.2], strategy="kmeans")
    with pytest.raises(ValidationError):
        calibration_table([0, 1], [0.1])
