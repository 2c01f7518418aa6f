"""The interval of a scaling fit: one bootstrap over the test dates and the seeds, jointly.

Every final run of a target (tier, horizon, threshold, channel mode) is scored on the SAME test
samples, so the points of its L(N) curve are not independent: a hard stretch of test dates
raises every size's loss together, and a seed-only bootstrap (the earlier scheme) treats the
one test set as if it were the population. Here each replicate

1. draws one circular block resample of the distinct test dates (blocks of `block_len`
   consecutive trading dates, `fts.report.bootstrap.circular_block_weights`), the SAME one for
   every run and size, since they share the test set;
2. rescores every run's per-sample test predictions under those date weights (the metric is
   recomputed from the predictions, not read from a stored number);
3. resamples the seeds within each size (k of k with replacement, re-expanded by
   sqrt(k/(k-1)) around the size's replicate mean, as `fts.report.scaling` does, so k seeds
   carry their full spread);
4. refits L(N) = E + A N^-alpha from the full-data fit (`refit_power_law`).

Percentile intervals of E, A and alpha over the replicates, read at the expanded tail for the
number of date blocks (`expanded_tail`: few blocks make plain percentiles too narrow). The
interval covers sampling of test dates and of seeds; it does NOT cover the hyperparameter search
(each cell's configuration is taken as given) nor the choice of study design.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from fts.core.errors import ValidationError
from fts.report.bootstrap import (
    circular_block_weights,
    date_ranks,
    expanded_tail,
    get_metric,
    jsonable,
)
from fts.report.scaling import PowerLawFit, fit_power_law, refit_power_law

#: Trading dates per block: about a month, longer than the horizons (1-5 days) and the label
#: overlap they cause; 270 test dates give 13 blocks.
BLOCK_LEN = 21
COVERS = ("test dates (circular blocks of {block_len} consecutive trading dates, the same "
          "blocks for every size) and seeds (resampled within each size), jointly; not the "
          "hyperparameter search, which chose each cell's configuration")


@dataclass(frozen=True)
class JointPoints:
    """Per distinct size: the seed-mean metric and its joint (dates x seeds) interval."""

    sizes: np.ndarray  # distinct sizes, ascending
    mean: np.ndarray  # mean over the size's runs of each run's metric on the full test set
    lo: np.ndarray
    hi: np.ndarray
    run_values: np.ndarray  # each run's metric on the full test set, in the input order
    replicates: np.ndarray  # (n_boot, n_runs): resampled run values (seeds and dates)
    n_blocks: int
    block_len: int
    level: float


@dataclass(frozen=True)
class JointFit:
    """A power-law fit of the test metric with intervals from the joint bootstrap."""

    fit: PowerLawFit
    E_ci: tuple[float, float] = (math.nan, math.nan)
    A_ci: tuple[float, float] = (math.nan, math.nan)
    alpha_ci: tuple[float, float] = (math.nan, math.nan)
    n_boot: int = 0
    n_failed: int = 0
    covers: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form the report prints (`fit` null with a `reason` when refused)."""
        if not self.fit.ok:
            return {"fit": None, "reason": self.fit.reason}
        f = self.fit
        return jsonable({"fit": {
            "E": f.E, "A": f.A, "alpha": f.alpha, "E_ci95": self.E_ci, "A_ci95": self.A_ci,
            "alpha_ci95": self.alpha_ci, "n_sizes": f.n_sizes, "n_points": f.n_points,
            "n_boot": self.n_boot, "n_boot_failed": self.n_failed, "robust_loss": f.loss,
            "interval_covers": self.covers, "notes": list(f.notes + self.notes),
            "residuals": asdict(f.residuals) if f.residuals else None}, "reason": None})


def _check(y: Any, probs: Any, sizes: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype=float).ravel()
    p_arr = np.atleast_2d(np.asarray(probs, dtype=float))
    s_arr = np.asarray(sizes, dtype=float).ravel()
    if p_arr.shape != (s_arr.size, y_arr.size):
        raise ValidationError(f"probs must be (runs, samples) = ({s_arr.size}, {y_arr.size}), "
                              f"got {p_arr.shape}")
    if not np.all((y_arr == 0) | (y_arr == 1)):
        raise ValidationError("y must hold only 0/1 labels")
    if not np.all(np.isfinite(p_arr)) or p_arr.min() < 0 or p_arr.max() > 1:
        raise ValidationError("probs must hold finite probabilities in [0, 1]")
    if not (np.all(np.isfinite(s_arr)) and np.all(s_arr > 0)):
        raise ValidationError("sizes must be finite and positive")
    return y_arr, p_arr, s_arr


def joint_points(y: Any, probs: Any, dates: Any, sizes: Any, metric: str = "log_loss", *,
                 n_boot: int = 500, block_len: int = BLOCK_LEN, level: float = 0.95,
                 seed: int = 0) -> JointPoints:
    """Each run's metric and its replicates under the joint bootstrap (steps 1-3 above).

    y (n,): labels of the shared test samples; probs (runs, n): each run's probabilities of
    them; dates (n,): each sample's date; sizes (runs,): each run's parameter count (runs of
    one size are its seeds). Deterministic for a given `seed`.
    """
    if n_boot < 1:
        raise ValidationError(f"n_boot must be >= 1, got {n_boot}")
    m = get_metric(metric)
    y_arr, p_arr, s_arr = _check(y, probs, sizes)
    rank, n_dates = date_ranks(dates)
    if rank.size != y_arr.size:
        raise ValidationError(f"dates has {rank.size} values, y has {y_arr.size}")
    rng = np.random.default_rng(seed)
    w = circular_block_weights(rng, n_boot, rank, n_dates, block_len)
    ones = np.ones((1, y_arr.size))
    full = np.array([m.weighted(y_arr, p, ones)[0] for p in p_arr])
    scored = np.stack([m.weighted(y_arr, p, w) for p in p_arr], axis=1)  # (n_boot, runs)
    star = np.empty_like(scored)
    distinct = np.unique(s_arr)
    for s in distinct:
        g = np.flatnonzero(s_arr == s)
        k = g.size
        pick = g[rng.integers(0, k, size=(n_boot, k))]
        values = np.take_along_axis(scored, pick, axis=1)
        if k >= 2:  # re-expand the within-size spread: k of k draws keep (k-1)/k of it
            centre = scored[:, g].mean(axis=1, keepdims=True)
            values = centre + math.sqrt(k / (k - 1)) * (values - centre)
        star[:, g] = values
    n_blocks = math.ceil(n_dates / min(block_len, n_dates))
    tail = expanded_tail(level, n_blocks)
    means = np.stack([star[:, s_arr == s].mean(axis=1) for s in distinct], axis=1)
    lo, hi = np.nanquantile(means, [tail, 1 - tail], axis=0)
    mean = np.array([full[s_arr == s].mean() for s in distinct])
    return JointPoints(distinct, mean, lo, hi, full, star, n_blocks, block_len, level)


def joint_fit(points: JointPoints, sizes: Any, *, min_sizes: int = 4, seed: int = 0) -> JointFit:
    """Fit L(N) to every run's metric at `sizes` (the same runs as `points`, possibly another
    size axis, e.g. non-head parameters) and refit it on every replicate (step 4 above)."""
    s_arr = np.asarray(sizes, dtype=float).ravel()
    if s_arr.size != points.run_values.size:
        raise ValidationError(f"{s_arr.size} sizes for {points.run_values.size} runs")
    # n_boot=0: the intervals come from the joint replicates below, not fit_power_law's own
    # bootstrap ("across" only keeps its notes from describing a residual bootstrap).
    fit = fit_power_law(s_arr, points.run_values, n_boot=0, seed=seed, min_sizes=min_sizes,
                        level=points.level, resample="across")
    covers = covers_text(points.block_len)
    if not fit.ok:
        return JointFit(fit, covers=covers)
    keep = ~np.isnan(points.replicates).any(axis=1)
    params = [refit_power_law(fit, s_arr, row) for row in points.replicates[keep]]
    good = np.array([p for p in params if p is not None])
    n_boot = points.replicates.shape[0]
    failed = n_boot - len(good)
    notes: list[str] = []
    nan2 = (math.nan, math.nan)
    if failed > 0.1 * n_boot:
        notes.append(f"{failed} of {n_boot} bootstrap refits failed: no interval is given")
        return JointFit(fit, nan2, nan2, nan2, n_boot, failed, covers, tuple(notes))
    if failed:
        notes.append(f"{failed} of {n_boot} bootstrap refits failed and were skipped")
    singles = int(sum(np.count_nonzero(s_arr == s) == 1 for s in np.unique(s_arr)))
    if singles:
        notes.append(f"{singles} size(s) have one seed: their seed-to-seed spread is not in "
                     "the interval")
    if points.n_blocks < 10:
        notes.append(f"only {points.n_blocks} date blocks: the interval is coarse")
    tail = expanded_tail(points.level, points.n_blocks)

    def bounds(col: int) -> tuple[float, float]:
        lo, hi = np.quantile(good[:, col], [tail, 1 - tail])
        return float(lo), float(hi)

    return JointFit(fit, bounds(0), bounds(1), bounds(2), n_boot, failed, covers,
                    tuple(notes))


def covers_text(block_len: int = BLOCK_LEN) -> str:
    """What the joint interval covers, in words (printed beside every fit)."""
    return COVERS.format(block_len=block_len)
