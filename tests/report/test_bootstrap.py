"""Date-block bootstrap: weighted metrics, blocks, interval coverage on data with known truth,
the paired test's pairing, size and power."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import lfilter
from scipy.stats import binom, norm
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from fts.core.errors import ValidationError
from fts.report.bootstrap import METRICS, block_bootstrap_ci, block_ids, expanded_tail
from fts.report.stats import bootstrap_p_value, paired_bootstrap_test

SKLEARN = {
    "roc_auc": roc_auc_score,
    "pr_auc": average_precision_score,
    "brier": brier_score_loss,
    "log_loss": log_loss,
}
D = 1.0  # separation of the class-conditional score normals
TRUE_AUC = float(norm.cdf(D / math.sqrt(2.0)))  # P(N(D,1) > N(0,1)) = Phi(D / sqrt 2)


def coverage_band(reps: int, level: float) -> tuple[float, float]:
    """Central 99.9% binomial range of the empirical coverage if the true rate is `level`."""
    lo, hi = binom.ppf([0.0005, 0.9995], reps, level)
    return lo / reps, hi / reps


def normal_scores(rng: np.random.Generator, n: int, prevalence: float = 0.3):
    """iid labels; score | y ~ N(D*y, 1), mapped to (0, 1) monotonically (AUC unchanged)."""
    y = (rng.random(n) < prevalence).astype(float)
    return y, 1.0 / (1.0 + np.exp(-(D * y + rng.standard_normal(n))))


def ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """Stationary AR(1) with unit marginal variance."""
    z = rng.standard_normal(n) * math.sqrt(1.0 - phi**2)
    z[0] = rng.standard_normal()
    return lfilter([1.0], [1.0, -phi], z)


def serial_scores(rng: np.random.Generator, n: int):
    """Persistent labels (a thresholded AR(1), P(y=1) = 0.3) and AR(1) score noise independent
    of them: marginally score | y ~ N(D*y, 1) still, so the AUC is Phi(D/sqrt 2), but neighbouring
    days move together, as overlapping label windows and market regimes do."""
    y = (ar1(rng, n, 0.95) > norm.ppf(0.7)).astype(float)
    return y, 1.0 / (1.0 + np.exp(-(D * y + ar1(rng, n, 0.9))))


def dates_for(n: int) -> pd.DatetimeIndex:
    return pd.bdate_range("2001-01-01", periods=n)


def coverage(gen, n: int, metric: str, truth: float, *, reps: int, block, level=0.9) -> float:
    rng = np.random.default_rng(12345)
    dates, hits = dates_for(n), 0
    for r in range(reps):
        y, p = gen(rng, n)
        ci = block_bootstrap_ci(y, p, dates, metric, block=block, n_boot=200, level=level, seed=r)
        hits += ci.lo <= truth <= ci.hi
    return hits / reps


# ---------------------------------------------------------------- metrics


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 10), st.integers(1, 3)), min_size=2, max_size=40
    ).filter(lambda rows: len({r[0] for r in rows}) == 2)
)
def test_weighted_metrics_equal_sklearn_with_sample_weight(data):
    # Scores on a coarse grid so ties (the tricky case for AUC and AP) are frequent.
    y = np.array([r[0] for r in data], dtype=float)
    p = np.array([r[1] / 10 for r in data])
    w = np.array([[r[2] for r in data], [1] * len(data)], dtype=float)
    for name, ref in SKLEARN.items():
        got = METRICS[name].weighted(y, p, w)
        want = [ref(y, p, sample_weight=row) for row in w]
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=name)


def test_metrics_are_undefined_on_one_class():
    y, p = np.zeros(5), np.linspace(0.1, 0.9, 5)
    assert math.isnan(METRICS["roc_auc"](y, p))
    assert math.isnan(METRICS["pr_auc"](y, p))  # no positive: precision/recall meaningless
    assert METRICS["brier"](y, p) == pytest.approx(np.mean(p**2))


def test_block_ids_month_and_fixed_length():
    dates = pd.to_datetime(["2020-02-03", "2020-01-02", "2020-01-31", "2020-03-02", "2020-02-03"])
    assert block_ids(dates, "month").tolist() == [1, 0, 0, 2, 1]
    # 2-date blocks over the distinct dates (01-02, 01-31 | 02-03 | 03-02): repeats share a block.
    assert block_ids(dates, 2).tolist() == [1, 0, 0, 1, 1]
    assert block_ids(dates, 1).tolist() == [2, 0, 1, 3, 2]
    with pytest.raises(ValidationError):
        block_ids(dates, 0)
    with pytest.raises(ValidationError):
        block_ids(dates, "week")


# ---------------------------------------------------------------- intervals


def test_expanded_tail_widens_for_few_blocks_only():
    # 24 blocks at 90%: Phi(-sqrt(24/23) * t23_0.95) = Phi(-1.0215 * 1.7139) = Phi(-1.7507) = 0.0400
    assert expanded_tail(0.9, 24) == pytest.approx(0.0400, abs=2e-4)
    assert expanded_tail(0.9, 10_000) == pytest.approx(0.05, abs=2e-4)
    assert expanded_tail(0.95, 8) < expanded_tail(0.95, 30) < 0.025
    assert expanded_tail(0.9, 1) == pytest.approx(0.05)  # one block: nothing to correct with


def test_ci_is_deterministic_and_unpacks():
    rng = np.random.default_rng(0)
    y, p = normal_scores(rng, 300)
    a = block_bootstrap_ci(y, p, dates_for(300), "roc_auc", n_boot=200, seed=3)
    b = block_bootstrap_ci(y, p, dates_for(300), "roc_auc", n_boot=200, seed=3)
    est, lo, hi = a
    assert a == b and lo < est < hi
    assert est == pytest.approx(roc_auc_score(y, p))
    assert json.loads(json.dumps(a.to_dict(), allow_nan=False))["metric"] == "roc_auc"


def test_auc_ci_covers_at_nominal_rate_iid():
    cov = coverage(normal_scores, 500, "roc_auc", TRUE_AUC, reps=500, block="month")
    lo, hi = coverage_band(500, 0.9)
    assert lo - 0.02 <= cov <= hi, cov  # a little narrow with 24 blocks even when expanded


def test_brier_ci_covers_at_nominal_rate():
    # q ~ U(0.1, 0.9), p = q, y ~ Bernoulli(q): E[(p - y)^2] = E[q(1 - q)] = 0.5 - (0.8^2/12 + 0.25).
    truth = 0.5 - (0.8**2 / 12 + 0.25)

    def gen(rng, n):
        q = rng.uniform(0.1, 0.9, n)
        return (rng.random(n) < q).astype(float), q

    cov = coverage(gen, 500, "brier", truth, reps=500, block="month")
    lo, hi = coverage_band(500, 0.9)
    assert lo - 0.02 <= cov <= hi, cov


def test_blocks_are_needed_under_serial_correlation():
    # Resampling single dates ignores the dependence and under-covers badly; quarter-long
    # blocks (longer than the dependence) restore roughly nominal coverage.
    cov_days = coverage(serial_scores, 1000, "roc_auc", TRUE_AUC, reps=300, block=1)
    cov_blocks = coverage(serial_scores, 1000, "roc_auc", TRUE_AUC, reps=300, block=63)
    assert cov_days < 0.6, cov_days  # measured 0.38
    assert 0.8 <= cov_blocks <= 0.95, cov_blocks  # measured 0.85 (16 blocks of 63 days)


def test_too_many_one_class_resamples_give_nan_bounds_and_a_warning():
    n = 504  # 24 months; the single positive sits in one month, absent from ~36% of resamples
    y = np.zeros(n)
    y[100] = 1
    p = np.full(n, 0.2)
    ci = block_bootstrap_ci(y, p, dates_for(n), "roc_auc", n_boot=200)
    assert ci.estimate == 0.5 and math.isnan(ci.lo) and math.isnan(ci.hi)
    assert 40 < ci.n_skipped < 110 and "undefined" in ci.warning
    brier = block_bootstrap_ci(y, p, dates_for(n), "brier", n_boot=200)  # always defined
    assert brier.n_skipped == 0 and brier.warning is None and brier.lo <= brier.hi


def test_one_class_sample_and_bad_inputs():
    ci = block_bootstrap_ci(np.zeros(50), np.full(50, 0.3), dates_for(50), "roc_auc", n_boot=50)
    assert math.isnan(ci.estimate) and "one class" in ci.warning
    few = block_bootstrap_ci(*normal_scores(np.random.default_rng(1), 60), dates_for(60), "brier")
    assert "only 3 date blocks" in few.warning and not math.isnan(few.lo)
    with pytest.raises(ValidationError, match="unknown metric"):
        block_bootstrap_ci([0, 1], [0.1, 0.9], dates_for(2), "accuracy")
    with pytest.raises(ValidationError, match="probabilities"):
        block_bootstrap_ci([0, 1], [0.1, 1.2], dates_for(2), "brier")
    with pytest.raises(ValidationError, match="dates has 3"):
        block_bootstrap_ci([0, 1], [0.1, 0.9], dates_for(3), "brier")


# ---------------------------------------------------------------- paired test


def test_paired_identical_models_have_no_difference():
    rng = np.random.default_rng(2)
    y, p = normal_scores(rng, 400)
    for metric in METRICS:
        r = paired_bootstrap_test(y, p, p.copy(), dates_for(400), metric, n_boot=200)
        assert r.diff == 0 and r.lo <= 0 <= r.hi and r.p_value == 1.0 and r.favours == "neither"


def test_paired_clearly_better_model_is_significant():
    rng = np.random.default_rng(3)
    y, p_good = normal_scores(rng, 500)
    p_noise = rng.uniform(0.05, 0.95, 500)  # uninformative
    auc = paired_bootstrap_test(y, p_good, p_noise, dates_for(500), "roc_auc", n_boot=500)
    assert auc.lo > 0 and auc.p_value < 0.01 and auc.favours == "a"
    brier = paired_bootstrap_test(y, p_noise, p_good, dates_for(500), "brier", n_boot=500)
    assert brier.diff > 0 and brier.lo > 0 and brier.p_value < 0.01 and brier.favours == "b"
    assert json.loads(json.dumps(auc.to_dict(), allow_nan=False))["favours"] == "a"


def test_paired_keeps_the_pairing():
    # b = a plus a little noise: both AUCs vary a lot across resamples, their difference little.
    # Scored on the same resamples the interval is narrow; scored on independent resamples it
    # would be about as wide as either model's own interval.
    rng = np.random.default_rng(4)
    y, p_a = normal_scores(rng, 500)
    p_b = np.clip(p_a + 0.02 * rng.standard_normal(500), 0, 1)
    r = paired_bootstrap_test(y, p_a, p_b, dates_for(500), "roc_auc", n_boot=300)
    single = block_bootstrap_ci(y, p_a, dates_for(500), "roc_auc", n_boot=300)
    assert (r.hi - r.lo) < 0.25 * (single.hi - single.lo)


def test_bootstrap_p_value_is_a_t_test_on_the_bootstrap_se():
    z = np.random.default_rng(6).standard_normal(4000)
    d_star = 0.02 + 0.01 * (z - z.mean()) / z.std(ddof=1)  # mean 0.02, sd exactly 0.01
    # t = 0.02 / (sqrt(24/23) * 0.01) = 1.9579; two-sided t(23) tail: 2 * 0.03126 = 0.0625.
    p = bootstrap_p_value(d_star, 0.02, 24)
    assert p == pytest.approx(0.0625, abs=5e-4)
    assert bootstrap_p_value(-d_star, -0.02, 24) == pytest.approx(p)  # symmetric in sign
    assert bootstrap_p_value(d_star, 0.0, 24) == 1.0
    assert math.isnan(bootstrap_p_value(d_star, 0.02, 1))
    # No floor at 1/n_boot: a difference 10 bootstrap SEs from 0 gets a tiny p.
    assert bootstrap_p_value(d_star, 0.1, 24) < 1e-8
    # Agrees with the expanded percentile interval for a symmetric d*: p = 0.0625 means the
    # 95% interval contains 0 and the 90% one does not.
    for level, contains in ((0.95, True), (0.90, False)):
        tail = expanded_tail(level, 24)
        lo, hi = np.quantile(d_star, [tail, 1 - tail])
        assert bool(lo <= 0 <= hi) == contains


def test_paired_test_has_its_nominal_size():
    # Two models of equal true AUC (independent noise): p < 0.1 should happen ~10% of the time.
    rng, reps, n = np.random.default_rng(5), 500, 400
    dates, rejections = dates_for(n), 0
    for r in range(reps):
        y = (rng.random(n) < 0.3).astype(float)
        p_a, p_b = (1 / (1 + np.exp(-(D * y + rng.standard_normal(n)))) for _ in range(2))
        res = paired_bootstrap_test(y, p_a, p_b, dates, "roc_auc", n_boot=200, seed=r)
        rejections += res.p_value < 0.1
    lo, hi = coverage_band(reps, 0.1)
    assert lo <= rejections / reps <= hi, rejections / reps
