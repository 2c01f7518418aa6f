"""Power-law scaling fit L(N) = E + A N^-alpha: recovery of known parameters, robustness to
diverged runs, refusal with too few sizes, bootstrap schemes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fts.core.errors import ValidationError
from fts.report.scaling import fit_power_law

TRUE_E, TRUE_A, TRUE_ALPHA = 0.5, 3.0, 0.3
SIZES = np.logspace(5, 9, 6)  # 1e5 .. 1e9
SEEDS = 5


def curve(n: np.ndarray) -> np.ndarray:
    return TRUE_E + TRUE_A * n ** (-TRUE_ALPHA)


def runs(noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """6 sizes x 5 seeds of losses on the true curve plus Gaussian noise."""
    n = np.repeat(SIZES, SEEDS)
    return n, curve(n) + noise * np.random.default_rng(seed).standard_normal(n.size)


def test_recovers_known_alpha_with_a_covering_interval():
    n, loss = runs(noise=0.002)
    fit = fit_power_law(n, loss, n_boot=300)
    assert fit.ok and fit.reason == "" and fit.resample == "within"
    assert fit.alpha == pytest.approx(TRUE_ALPHA, abs=0.03)
    assert abs(fit.E - TRUE_E) < 0.005
    lo, hi = fit.alpha_ci
    assert lo < TRUE_ALPHA < hi and hi - lo < 0.15
    assert fit.E_ci[0] < TRUE_E < fit.E_ci[1]
    assert (fit.n_points, fit.n_sizes, fit.n_boot_failed) == (30, 6, 0)
    # Residuals look like the noise we added (sd 0.002), with no outlier.
    assert 0.001 < fit.residuals.rmse < 0.003 and fit.residuals.n_outliers == 0
    np.testing.assert_allclose(fit.predict(SIZES), curve(SIZES), atol=0.003)


def test_robust_loss_resists_diverged_runs_where_least_squares_does_not():
    # Three runs (one seed at each of the three smallest sizes) diverged: loss far too high.
    n, loss = runs(noise=0.001)
    loss[[0, 5, 10]] += [0.10, 0.08, 0.05]
    robust = fit_power_law(n, loss, n_boot=0)
    plain = fit_power_law(n, loss, n_boot=0, robust_loss="linear")
    assert abs(robust.alpha - TRUE_ALPHA) < 0.01
    assert abs(plain.alpha - TRUE_ALPHA) > 3 * abs(robust.alpha - TRUE_ALPHA)
    assert abs(robust.E - TRUE_E) < abs(plain.E - TRUE_E)
    assert robust.residuals.n_outliers == 3  # the three diverged runs, flagged for the report


def test_three_sizes_are_refused_with_a_reason():
    n, loss = runs(noise=0.001)
    keep = n <= SIZES[2]
    fit = fit_power_law(n[keep], loss[keep])
    assert not fit.ok
    assert fit.reason == "3 distinct model sizes; a power-law fit needs at least 4"
    assert (fit.n_points, fit.n_sizes) == (15, 3)
    assert math.isnan(fit.alpha) and np.isnan(fit.predict([1e6, 1e7])).all()
    assert json.loads(json.dumps(fit.to_dict(), allow_nan=False))["alpha"] is None
    one = fit_power_law([1e6, 1e6], [0.6, 0.61])
    assert one.reason == "1 distinct model size; a power-law fit needs at least 4"
    assert not fit_power_law(SIZES[:5], curve(SIZES[:5]), min_sizes=6).ok


def test_one_run_per_size_uses_the_residual_bootstrap_and_says_how_thin_it_is():
    sizes = SIZES[:4]  # 4 points, 3 parameters: 1 degree of freedom left
    fit = fit_power_law(sizes, curve(sizes) + [0.001, -0.001, 0.0005, 0.0], n_boot=100)
    assert fit.ok and fit.resample == "residual"
    assert any("1 degree(s) of freedom" in note for note in fit.notes)
    with pytest.raises(ValidationError, match="at least 2 runs"):
        fit_power_law(sizes, curve(sizes), resample="within")


def test_across_sizes_scheme_and_determinism():
    n, loss = runs(noise=0.002, seed=1)
    a = fit_power_law(n, loss, n_boot=150, resample="across", seed=7)
    b = fit_power_law(n, loss, n_boot=150, resample="across", seed=7)
    assert a == b and a.resample == "across"
    assert a.alpha_ci[0] < TRUE_ALPHA < a.alpha_ci[1]


def test_flat_losses_are_flagged_not_fitted_as_a_trend():
    n = np.repeat(SIZES, 3)
    loss = 0.6 + 0.001 * np.random.default_rng(2).standard_normal(n.size)
    fit = fit_power_law(n, loss, n_boot=100)
    assert fit.ok
    # The fitted curve is flat, and the result says that no trend is identified.
    assert fit.predict(1e5) - fit.predict(1e9) < 0.002
    assert any("no scaling trend" in note for note in fit.notes), fit.notes
    n, loss = runs(noise=0.002)
    assert fit_power_law(n, loss, n_boot=0).notes == ()  # a real trend gets no such note


def test_predict_and_to_dict():
    n, loss = runs(noise=0.0)
    fit = fit_power_law(n, loss, n_boot=50)
    assert fit.predict(1e7) == pytest.approx(curve(np.array(1e7)), abs=1e-6)
    assert abs(fit.A / TRUE_A - 1) < 1e-3
    assert fit.alpha == pytest.approx(TRUE_ALPHA, abs=1e-4)
    d = json.loads(json.dumps(fit.to_dict(), allow_nan=False))
    assert d["ok"] is True and len(d["alpha_ci"]) == 2 and "rmse" in d["residuals"]


def test_bad_inputs_raise():
    with pytest.raises(ValidationError, match="n_params has 2"):
        fit_power_law([1e6, 1e7], [0.5, 0.4, 0.3])
    with pytest.raises(ValidationError, match="positive"):
        fit_power_law([-1e6, 1e7, 1e8, 1e9], [0.5, 0.4, 0.3, 0.2])
    with pytest.raises(ValidationError, match="finite"):
        fit_power_law([1e6, 1e7, 1e8, 1e9], [0.5, np.nan, 0.3, 0.2])
    with pytest.raises(ValidationError, match="min_sizes"):
        fit_power_law([1e6, 1e7], [0.5, 0.4], min_sizes=2)
