"""Power-law scaling fit L(N) = E + A * N^(-alpha) with a robust loss and a bootstrap CI on alpha.

Parametrisation. N is centred on the geometric mean size N0, u = log(N / N0), and we fit
theta = (E, a, alpha) in  L = E + exp(a - alpha * u).  Working with log A (a) keeps A > 0 without
a bound and puts it on a scale comparable to alpha; centring at N0 makes a the loss gap at a
typical size, which decorrelates it from alpha (with raw N, A and alpha are nearly collinear and
A spans many orders of magnitude). A is reported in raw units, A = exp(a) * N0^alpha.
Bounds: E >= 0, alpha in [1e-6, 10], a in [-50, 50] (finite bounds keep the solver sane).

Loss. scipy's least_squares with a robust loss ("soft_l1" by default, "huber" or "linear" for
plain least squares) and scale `f_scale`: residuals well below f_scale count quadratically,
larger ones linearly, so a diverged run does not drag the curve. By default f_scale is the
replicate noise: 1.4826 x the median absolute deviation of losses from their size's median
(pooled over sizes with >= 2 runs); with no replicates, a tenth of the standard deviation of the
losses. The best of `n_starts` starts (smallest robust cost) is kept.

Bootstrap (percentile CI on alpha and E), scheme `resample`:

* "within" (default when every size has >= 2 runs): runs (seeds) at the same N are replicates, so
  we resample runs *within* each size, keeping every size in every resample (resampling across
  sizes would sometimes drop sizes and leave too few to fit). With k runs per size a plain
  within-size resample has (k-1)/k of the true variance, so resampled values are re-expanded
  around their size's mean by sqrt(k/(k-1)) (the usual small-stratum correction).
* "residual" (default otherwise, e.g. one run per size): resample the fit's residuals over all
  points, inflated by sqrt(n/(n-3)) for the 3 fitted parameters, and add them to the fitted
  curve. This assumes homoscedastic noise; with n = 4 points it rests on 1 degree of freedom and
  the result says so in `notes`.
* "across": plain case resampling of all points; resamples with fewer than `min_sizes` distinct
  sizes are skipped and counted.

Each bootstrap refit starts from the full-data fit (one start: fast, and the resample is close).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from fts.core.errors import ValidationError
from fts.report.bootstrap import jsonable, percentile_bounds

_LOWER = np.array([0.0, -50.0, 1e-6])  # E, a = log A at N0, alpha
_UPPER = np.array([np.inf, 50.0, 10.0])
_N_PARAMS = 3
_MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class ResidualSummary:
    """Residuals (observed - fitted) of the full-data fit."""

    rmse: float
    mad: float  # 1.4826 x median absolute deviation: a robust noise SD
    max_abs: float
    n_outliers: int  # points with |residual| > 3 x max(mad, f_scale)


@dataclass(frozen=True)
class PowerLawFit:
    """Result of `fit_power_law`. When `ok` is False only `reason` and the counts are meaningful."""

    ok: bool
    reason: str
    E: float = math.nan
    A: float = math.nan
    alpha: float = math.nan
    alpha_ci: tuple[float, float] = (math.nan, math.nan)
    E_ci: tuple[float, float] = (math.nan, math.nan)
    level: float = 0.95
    n_points: int = 0
    n_sizes: int = 0
    n_ref: float = math.nan  # N0, the geometric mean size the fit is centred on
    loss: str = "soft_l1"
    f_scale: float = math.nan
    resample: str = ""
    n_boot: int = 0
    n_boot_failed: int = 0
    residuals: ResidualSummary | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def predict(self, n: Any) -> np.ndarray | float:
        """Fitted loss at size(s) n (NaN when the fit was refused)."""
        n_arr = np.asarray(n, dtype=float)
        if not self.ok:
            out = np.full(n_arr.shape, math.nan)
        else:
            log_a = math.log(self.A) - self.alpha * math.log(self.n_ref)
            out = self.E + np.exp(log_a - self.alpha * (np.log(n_arr) - math.log(self.n_ref)))
        return float(out) if out.ndim == 0 else out

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


def _model(theta: np.ndarray, u: np.ndarray) -> np.ndarray:
    return theta[0] + np.exp(theta[1] - theta[2] * u)


def _jac(theta: np.ndarray, u: np.ndarray, _y: np.ndarray) -> np.ndarray:
    g = np.exp(theta[1] - theta[2] * u)
    return np.column_stack([np.ones_like(u), g, -u * g])


def _solve(u: np.ndarray, y: np.ndarray, x0: np.ndarray, loss: str, f_scale: float):
    """One robust fit; returns (theta, cost) or None when the solver fails."""
    x0 = np.clip(x0, _LOWER + 1e-9, np.minimum(_UPPER - 1e-9, 1e300))
    try:
        res = least_squares(
            lambda t: _model(t, u) - y, x0, jac=lambda t: _jac(t, u, y), bounds=(_LOWER, _UPPER),
            loss=loss, f_scale=f_scale, x_scale="jac", method="trf",
        )  # fmt: skip
    except (ValueError, FloatingPointError):
        return None
    if not np.all(np.isfinite(res.x)):
        return None
    return res.x, float(res.cost)


def _starts(u: np.ndarray, y: np.ndarray, n_starts: int, rng: np.random.Generator) -> list:
    """Starting points: a default guess then random (E, alpha) with a fitted by least squares."""
    y_min = max(float(y.min()), 0.0)
    e0 = np.r_[0.5 * y_min, rng.uniform(0.0, 0.99, n_starts - 1) * y_min]
    alpha0 = np.r_[0.3, np.exp(rng.uniform(math.log(0.02), math.log(2.0), n_starts - 1))]
    out = []
    for e, al in zip(e0, alpha0, strict=True):
        z = np.exp(-al * u)
        a_lin = float(z @ (y - e) / (z @ z))  # best A for this (E, alpha), linear in A
        floor = 1e-9 * max(float(np.abs(y).max()), 1e-12)
        out.append(np.array([e, math.log(max(a_lin, floor)), al]))
    return out


def _best_fit(u, y, starts, loss, f_scale):
    fits = [f for f in (_solve(u, y, s, loss, f_scale) for s in starts) if f is not None]
    return min(fits, key=lambda f: f[1])[0] if fits else None


def _size_groups(n_params: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero(n_params == s) for s in np.unique(n_params)]


def _default_f_scale(y: np.ndarray, groups: list[np.ndarray]) -> float:
    devs = [y[g] - np.median(y[g]) for g in groups if g.size >= 2]
    scale = _MAD_TO_SD * float(np.median(np.abs(np.concatenate(devs)))) if devs else 0.0
    if scale <= 0:
        scale = 0.1 * float(np.std(y))
    return max(scale, 1e-9 * max(float(np.abs(y).max()), 1e-12))


def _resampler(scheme: str, y: np.ndarray, fitted: np.ndarray, groups: list[np.ndarray]):
    """Function rng -> (indices into the points, resampled losses)."""
    n = y.size
    if scheme == "within":

        def draw(rng):
            idx, vals = [], []
            for g in groups:
                pick = g[rng.integers(0, g.size, g.size)]
                mean = y[g].mean()
                idx.append(pick)
                vals.append(mean + math.sqrt(g.size / (g.size - 1)) * (y[pick] - mean))
            return np.concatenate(idx), np.concatenate(vals)

    elif scheme == "residual":
        resid = y - fitted
        resid = (resid - resid.mean()) * math.sqrt(n / (n - _N_PARAMS))

        def draw(rng):
            return np.arange(n), fitted + resid[rng.integers(0, n, n)]

    else:  # across

        def draw(rng):
            pick = rng.integers(0, n, n)
            return pick, y[pick]

    return draw


def _check_inputs(n_params: Any, loss_values: Any) -> tuple[np.ndarray, np.ndarray]:
    n_arr = np.asarray(n_params, dtype=float).ravel()
    y = np.asarray(loss_values, dtype=float).ravel()
    if n_arr.size != y.size:
        raise ValidationError(f"n_params has {n_arr.size} values, loss has {y.size}")
    if not (np.all(np.isfinite(n_arr)) and np.all(n_arr > 0)):
        raise ValidationError("n_params must be finite and positive")
    if not np.all(np.isfinite(y)):
        raise ValidationError("loss must be finite")
    return n_arr, y


def fit_power_law(
    n_params: Sequence[float] | np.ndarray,
    loss: Sequence[float] | np.ndarray,
    *,
    n_starts: int = 20,
    n_boot: int = 1000,
    seed: int = 0,
    min_sizes: int = 4,
    level: float = 0.95,
    robust_loss: str = "soft_l1",
    f_scale: float | None = None,
    resample: str = "auto",
) -> PowerLawFit:
    """Fit L(N) = E + A N^-alpha to (model size, loss) points; see the module docstring.

    Several points may share a size (seeds). Fewer than `min_sizes` distinct sizes -> a result
    with ok=False and the reason (never an exception: the report prints it). `n_boot=0` skips
    the bootstrap (NaN intervals). Deterministic for a given `seed`.
    """
    if robust_loss not in {"soft_l1", "huber", "linear", "cauchy", "arctan"}:
        raise ValidationError(f"unknown robust_loss {robust_loss!r}")
    if resample not in {"auto", "within", "residual", "across"}:
        raise ValidationError(f"resample must be auto, within, residual or across: {resample!r}")
    if min_sizes < _N_PARAMS:
        raise ValidationError(f"min_sizes must be >= {_N_PARAMS} for a 3-parameter fit")
    n_arr, y = _check_inputs(n_params, loss)
    groups = _size_groups(n_arr)
    n_sizes = len(groups)
    if n_sizes < min_sizes:
        word = "size" if n_sizes == 1 else "sizes"
        reason = f"{n_sizes} distinct model {word}; a power-law fit needs at least {min_sizes}"
        return PowerLawFit(False, reason, n_points=y.size, n_sizes=n_sizes, loss=robust_loss)
    if resample == "within" and min(g.size for g in groups) < 2:
        raise ValidationError('resample="within" needs at least 2 runs at every size')
    scheme = resample
    if scheme == "auto":
        scheme = "within" if min(g.size for g in groups) >= 2 else "residual"

    n_ref = float(np.exp(np.mean(np.log(np.unique(n_arr)))))
    u = np.log(n_arr / n_ref)
    scale = f_scale if f_scale is not None else _default_f_scale(y, groups)
    rng = np.random.default_rng(seed)
    theta = _best_fit(u, y, _starts(u, y, max(1, n_starts), rng), robust_loss, scale)
    if theta is None:
        return PowerLawFit(False, "the optimiser failed from every start", n_points=y.size,
                           n_sizes=n_sizes, loss=robust_loss)  # fmt: skip
    fitted = _model(theta, u)
    alphas, es, failed = _bootstrap(u, y, n_arr, theta, fitted, groups, scheme, n_boot,
                                    min_sizes, robust_loss, scale, rng)  # fmt: skip
    resid = _residual_summary(y - fitted, scale)
    drop = float(_model(theta, np.array([u.min(), u.max()])) @ [1.0, -1.0])
    notes = _notes(theta, scheme, y.size, failed, n_boot, drop, resid.mad)
    enough = alphas.size >= max(1, 0.9 * n_boot) and n_boot > 0
    nan2 = (math.nan, math.nan)
    return PowerLawFit(
        ok=True, reason="", E=float(theta[0]), A=float(math.exp(theta[1]) * n_ref ** theta[2]),
        alpha=float(theta[2]),
        alpha_ci=percentile_bounds(alphas, level) if enough else nan2,
        E_ci=percentile_bounds(es, level) if enough else nan2,
        level=level, n_points=y.size, n_sizes=n_sizes, n_ref=n_ref, loss=robust_loss,
        f_scale=scale, resample=scheme, n_boot=n_boot, n_boot_failed=failed,
        residuals=resid, notes=notes,
    )  # fmt: skip


def refit_power_law(fit: PowerLawFit, n_params: Any, loss: Any) -> tuple[float, float, float] | None:
    """(E, A, alpha) of the model of `fit` refitted to other losses, for bootstrap replicates.

    One start, from `fit`'s parameters, with its centring size, robust loss and scale, so a
    replicate differs from the full-data fit only by its data. None when the solver fails or
    `fit` was refused.
    """
    if not fit.ok:
        return None
    n_arr, y = _check_inputs(n_params, loss)
    theta0 = np.array([fit.E, math.log(fit.A) - fit.alpha * math.log(fit.n_ref), fit.alpha])
    solved = _solve(np.log(n_arr / fit.n_ref), y, theta0, fit.loss, fit.f_scale)
    if solved is None:
        return None
    theta = solved[0]
    return float(theta[0]), float(math.exp(theta[1]) * fit.n_ref ** theta[2]), float(theta[2])


def _bootstrap(u, y, n_arr, theta, fitted, groups, scheme, n_boot, min_sizes, loss, scale, rng):
    draw = _resampler(scheme, y, fitted, groups)
    alphas, es, failed = [], [], 0
    for _ in range(n_boot):
        idx, y_star = draw(rng)
        if np.unique(n_arr[idx]).size < min_sizes:
            failed += 1
            continue
        fit = _solve(u[idx], y_star, theta, loss, scale)
        if fit is None:
            failed += 1
            continue
        es.append(fit[0][0])
        alphas.append(fit[0][2])
    return np.asarray(alphas), np.asarray(es), failed


def _residual_summary(resid: np.ndarray, scale: float) -> ResidualSummary:
    mad = _MAD_TO_SD * float(np.median(np.abs(resid - np.median(resid))))
    return ResidualSummary(
        rmse=float(np.sqrt(np.mean(resid**2))), mad=mad, max_abs=float(np.abs(resid).max()),
        n_outliers=int(np.count_nonzero(np.abs(resid) > 3 * max(mad, scale))),
    )  # fmt: skip


def _notes(theta, scheme, n, failed, n_boot, drop, noise) -> tuple[str, ...]:
    """Caveats the report must print next to the fit."""
    notes = []
    if drop < 2 * noise:
        notes.append(f"the fitted loss falls by only {drop:.3g} across the sizes, within the run "
                     f"noise ({noise:.3g}): no scaling trend is identified")  # fmt: skip
    if theta[2] <= 1e-3 or theta[2] >= _UPPER[2] * 0.999:
        notes.append(f"alpha is at its bound ({theta[2]:.3g}): E and A are not separately identified")
    if theta[0] <= 1e-9:
        notes.append("E is at its bound 0: the irreducible loss is not identified")
    if scheme == "residual" and n - _N_PARAMS < 3:
        df = n - _N_PARAMS
        notes.append(f"residual bootstrap on {df} degree(s) of freedom: the interval is unreliable")
    if failed > 0.1 * n_boot:
        notes.append(f"{failed} of {n_boot} bootstrap fits failed: no interval is given")
    elif failed:
        notes.append(f"{failed} of {n_boot} bootstrap fits failed and were skipped")
    return tuple(notes)
