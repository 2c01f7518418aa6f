"""The joint (test dates x seeds) bootstrap of a scaling fit: it recovers a known law inside its
intervals, it needs the date resampling to do so, and its pieces do what they say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss

import fts.report.bootstrap as bootstrap
import fts.report.joint as joint
from fts.core.errors import ValidationError
from fts.report.bootstrap import circular_block_weights, date_ranks
from fts.report.joint import joint_fit, joint_points
from fts.report.scaling import fit_power_law, refit_power_law
from tests.report.synthetic import ALPHA, A, E, draw_runs

#: Repetitions of the coverage tests and the bound on hits, from the binomial: with a true
#: coverage of 95 % the hits are Bin(40, 0.95) and P(hits < 34) = 0.3 % (a correct interval
#: fails by bad luck about once in 300 seed choices; the seeds are fixed, so the test is
#: deterministic), while an interval whose real coverage is 75 % or less reaches 34 with
#: probability below 10 % (the mutations below reach 8 to 9 of 40).
REPS, MIN_HITS = 40, 34
#: Replicates per repetition: small to keep the test fast (each replicate refits the law). The
#: expanded tail for 13 blocks (1.2 %) then falls between the two most extreme of 40
#: replicates, which sit on average near the 2.4 % and 4.9 % quantiles: the interval checked
#: here is NARROWER than the one the report draws from 300 replicates, so the coverage test is
#: conservative (the report's interval covers at least as often as the one tested).
N_BOOT = 40
#: Seed noise dominates: a seed effect of sd 0.03 against shared date effects of sd 0.005.
SEED_DOMINATED = {"date_sd": 0.005, "slope_sd": 0.02, "seed_sd": 0.03}


def coverage(reps: int = REPS, n_boot: int = N_BOOT, **scenario: float) -> dict[str, int]:
    """How many of `reps` synthetic targets have E, A and alpha inside their 95 % intervals."""
    hits = {"E": 0, "A": 0, "alpha": 0}
    for r in range(reps):
        y, probs, sizes, dates = draw_runs(np.random.default_rng(100 + r), **scenario)
        fit = joint_fit(joint_points(y, probs, dates, sizes, n_boot=n_boot, seed=r), sizes)
        assert fit.fit.ok and fit.n_failed == 0
        for name, truth, ci in (("E", E, fit.E_ci), ("A", A, fit.A_ci),
                                ("alpha", ALPHA, fit.alpha_ci)):
            hits[name] += ci[0] <= truth <= ci[1]
    return hits


def test_recovers_e_a_alpha_inside_the_interval_in_most_repetitions():
    hits = coverage()
    assert min(hits.values()) >= MIN_HITS, hits  # measured: E 36, A 40, alpha 40 of 40


def test_covers_when_seed_noise_dominates_the_date_effect():
    hits = coverage(**SEED_DOMINATED)
    assert min(hits.values()) >= MIN_HITS, hits  # measured: E 37, A 39, alpha 39 of 40


def test_without_date_resampling_the_interval_misses_e(monkeypatch):
    # The test dates are shared by every size: their draw shifts the whole curve. Resampling
    # seeds only (every date weight 1) gives an interval that ignores that and misses E.
    monkeypatch.setattr(joint, "circular_date_counts",
                        lambda rng, n, n_dates, block_len: np.ones((n, n_dates)))
    hits = coverage(reps=10)
    assert hits["E"] <= 6, hits  # measured: 4 of 10


def test_without_seed_resampling_the_interval_misses_when_seeds_dominate(monkeypatch):
    monkeypatch.setattr(joint, "resample_seeds", lambda scored, group_index, rng: scored)
    hits = coverage(reps=10, **SEED_DOMINATED)
    assert max(hits.values()) <= 6, hits  # measured: 8 to 9 of 40 over the full REPS


def test_seeds_are_resampled_within_their_cell_not_their_size():
    # Two cells of one size (1e5): with the dates fixed (one block), each cell's replicate
    # values come from its own seeds only, never from the other cell's.
    y, probs, sizes, dates = draw_runs(np.random.default_rng(6), sizes=np.array([1e5, 1e5]))
    cells = np.repeat(["a", "b"], 3)
    pts = joint_points(y, probs, dates, cells, n_boot=100, block_len=10_000)
    assert list(pts.groups) == ["a", "b"] and pts.mean.size == 2
    for g in range(2):
        cols = pts.group_index == g
        vals, centre = pts.run_values[cols], pts.run_values[cols].mean()
        allowed = np.round(centre + np.sqrt(1.5) * (vals - centre), 10)
        assert set(np.unique(np.round(pts.replicates[:, cols], 10))) <= set(allowed)


def test_run_values_are_each_runs_log_loss_on_the_full_test_set():
    y, probs, sizes, dates = draw_runs(np.random.default_rng(1), seeds=2)
    pts = joint_points(y, probs, dates, sizes, n_boot=20)
    want = [log_loss(y, p) for p in probs]
    np.testing.assert_allclose(pts.run_values, want, rtol=1e-10)
    np.testing.assert_allclose(pts.mean, np.reshape(want, (-1, 2)).mean(axis=1), rtol=1e-10)
    assert (pts.lo < pts.mean).all() and (pts.mean < pts.hi).all()
    assert pts.replicates.shape == (20, sizes.size)


def test_every_size_is_scored_on_the_same_resampled_dates():
    # Two runs with identical predictions at different sizes (one seed each): only the date
    # resample moves their metric, and it must move both identically in every replicate.
    y, probs, _, dates = draw_runs(np.random.default_rng(2), seeds=1)
    same = np.vstack([probs[0], probs[0]])
    pts = joint_points(y, same, dates, [1e5, 1e6], n_boot=50)
    np.testing.assert_array_equal(pts.replicates[:, 0], pts.replicates[:, 1])
    assert pts.replicates[:, 0].std() > 0


def test_seeds_are_resampled_within_their_size():
    # With every date weight 1 only seeds move; each replicate value of a size lies on the
    # size's seed values re-expanded by sqrt(k/(k-1)) around their mean.
    y, probs, sizes, dates = draw_runs(np.random.default_rng(3), seeds=3)
    pts = joint_points(y, probs, dates, sizes, n_boot=200, block_len=10_000)
    # block_len >= the dates: one block, the whole test set each time (weights all 1).
    k = 3
    for s in np.unique(sizes):
        cols = np.flatnonzero(sizes == s)
        vals, centre = pts.run_values[cols], pts.run_values[cols].mean()
        allowed = centre + np.sqrt(k / (k - 1)) * (vals - centre)
        drawn = np.unique(np.round(pts.replicates[:, cols], 10))
        assert set(drawn) <= set(np.round(allowed, 10))
        assert len(drawn) == k


def test_scoring_a_chunk_of_resamples_at_a_time_changes_nothing(monkeypatch):
    # Row weights are built a few resamples at a time (memory bounded on big test sets).
    y, probs, sizes, dates = draw_runs(np.random.default_rng(8), seeds=2)
    whole = joint_points(y, probs, dates, sizes, n_boot=30, extra=probs[:1])
    monkeypatch.setattr(bootstrap, "_MAX_CELLS", 7 * y.size)  # chunks of 7 resamples
    chunked = joint_points(y, probs, dates, sizes, n_boot=30, extra=probs[:1])
    np.testing.assert_allclose(whole.replicates, chunked.replicates, rtol=1e-12)
    np.testing.assert_allclose(whole.extra_replicates, chunked.extra_replicates, rtol=1e-12)
    # The extra model is scored on the same date resamples as the runs (scikit-learn's
    # weighted log-loss under the row weights of the same draws).
    weights = circular_block_weights(np.random.default_rng(0), 30, date_ranks(dates)[0],
                                     len(dates), joint.BLOCK_LEN)
    want = [log_loss(y, probs[0], sample_weight=w) for w in weights]
    np.testing.assert_allclose(chunked.extra_replicates[:, 0], want, rtol=1e-9)


def test_circular_blocks_are_runs_of_consecutive_dates_and_every_date_is_equally_likely():
    dates = pd.bdate_range("2021-01-01", periods=30).repeat(2)  # two tickers a date
    rank, n_dates = date_ranks(dates)
    assert n_dates == 30
    w = circular_block_weights(np.random.default_rng(0), 4000, rank, n_dates, 7)
    assert (w.sum(axis=1) == 60).all()  # 30 dates drawn, 2 rows each
    np.testing.assert_array_equal(w[:, ::2], w[:, 1::2])  # rows of a date move together
    # Unlike the moving-block bootstrap, the first and last dates are drawn as often as any.
    per_date = w[:, ::2].mean(axis=0)
    np.testing.assert_allclose(per_date, 1.0, atol=0.06)
    # A block as long as the test set is the whole circle from any start: every date once.
    whole = circular_block_weights(np.random.default_rng(1), 50, np.arange(10), 10, 10)
    np.testing.assert_array_equal(whole, 1.0)
    # Blocks of 5 over 10 dates: each resample is two runs of 5 consecutive dates, wrapping.
    runs = [np.bincount((s + np.arange(5)) % 10, minlength=10) for s in range(10)]
    possible = {tuple(a + b) for a in runs for b in runs}
    halves = circular_block_weights(np.random.default_rng(2), 200, np.arange(10), 10, 5)
    assert {tuple(row.astype(int)) for row in halves} <= possible
    with pytest.raises(ValidationError):
        circular_block_weights(np.random.default_rng(0), 1, rank, n_dates, 0)


def test_refit_power_law_reproduces_the_fit_on_its_own_data():
    y, probs, sizes, dates = draw_runs(np.random.default_rng(4))
    values = np.array([log_loss(y, p) for p in probs])
    fit = fit_power_law(sizes, values, n_boot=0)
    e, a, alpha = refit_power_law(fit, sizes, values)
    assert (e, a, alpha) == pytest.approx((fit.E, fit.A, fit.alpha), rel=1e-5)
    assert refit_power_law(fit_power_law(sizes[:3], values[:3]), sizes, values) is None


def test_a_refused_fit_carries_its_reason():
    y, probs, sizes, dates = draw_runs(np.random.default_rng(5), sizes=np.array([1e5, 1e6]))
    result = joint_fit(joint_points(y, probs, dates, sizes, n_boot=20), sizes).to_dict()
    assert result == {"fit": None,
                      "reason": "2 distinct model sizes; a power-law fit needs at least 4"}
    with pytest.raises(ValidationError, match="probs must be"):
        joint_points(y, probs[:, :5], dates, sizes)
