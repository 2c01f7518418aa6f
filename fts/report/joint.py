"""The interval of a scaling fit: one bootstrap over the test dates and the seeds, jointly.

Every final run of a target (tier, horizon, threshold, channel mode) is scored on the SAME test
samples, so the points of its L(N) curve are not independent: a hard stretch of test dates
raises every size's loss together, and a seed-only bootstrap (the earlier scheme) treats the
one test set as if it were the population. Here each replicate

1. draws one circular block resample of the distinct test dates (blocks of `block_len`
   consecutive trading dates, `fts.report.bootstrap.circular_date_counts`), the SAME one for
   every run and size, since they share the test set;
2. rescores every run's per-sample test predictions under those date weights (the metric is
   recomputed from the predictions, not read from a stored number);
3. resamples the seeds within each cell (k of k with replacement, re-expanded by
   sqrt(k/(k-1)) around the cell's replicate mean, as `fts.report.scaling` does, so k seeds
   carry their full spread); grouped by cell, not by size, so two cells whose models happen to
   have the same parameter count are never pooled;
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
    circular_date_counts,
    date_ranks,
    expanded_tail,
    get_metric,
    jsonable,
    score_in_chunks,
)
from fts.report.scaling import PowerLawFit, fit_power_law, refit_power_law

#: Trading dates per block: about a month, longer than the horizons (1-5 days) and the label
#: overlap they cause; 270 test dates give 13 blocks.
BLOCK_LEN = 21
COVERS = ("test dates (circular blocks of {block_len} consecutive trading dates, the same "
          "blocks for every size) and seeds (resampled within each cell), jointly; not the "
          "hyperparameter search, which chose each cell's configuration")


@dataclass(frozen=True)
class JointPoints:
    """Per group of runs (one cell: a model retrained with several seeds), the seed-mean metric
    and its joint (dates x seeds) interval."""

    groups: np.ndarray  # distinct group keys, sorted
    mean: np.ndarray  # per group: mean over its runs of each run's metric on the full test set
    lo: np.ndarray
    hi: np.ndarray
    run_values: np.ndarray  # each run's metric on the full test set, in the input order
    replicates: np.ndarray  # (n_boot, n_runs): resampled run values (seeds and dates)
    n_blocks: int
    block_len: int
    level: float
    group_index: np.ndarray  # (n_runs,): index into `groups` of each run
    # Models that have no seeds (baselines), scored on the SAME date resamples: their metric on
    # the full test set (n_extra,) and per replicate (n_boot, n_extra).
    extra_values: np.ndarray = field(default_factory=lambda: np.empty(0))
    extra_replicates: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))


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


def _check(y: Any, probs: Any, groups: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype=float).ravel()
    p_arr = np.atleast_2d(np.asarray(probs, dtype=float))
    g_arr = np.asarray(groups).ravel()
    if p_arr.shape != (g_arr.size, y_arr.size):
        raise ValidationError(f"probs must be (runs, samples) = ({g_arr.size}, {y_arr.size}), "
                              f"got {p_arr.shape}")
    if not np.all((y_arr == 0) | (y_arr == 1)):
        raise ValidationError("y must hold only 0/1 labels")
    if not np.all(np.isfinite(p_arr)) or p_arr.min() < 0 or p_arr.max() > 1:
        raise ValidationError("probs must hold finite probabilities in [0, 1]")
    if g_arr.dtype.kind in "fiu" and not (np.all(np.isfinite(g_arr)) and np.all(g_arr > 0)):
        raise ValidationError("sizes must be finite and positive")
    return y_arr, p_arr, g_arr


def resample_seeds(scored: np.ndarray, group_index: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Step 3: per replicate row of `scored` (n_boot, runs), the runs of each group (the seeds
    of one cell) drawn k of k with replacement and re-expanded by sqrt(k/(k-1)) around the
    group's replicate mean (k of k draws keep only (k-1)/k of the spread); a one-run group
    keeps its value."""
    star = np.empty_like(scored)
    for g in np.unique(group_index):
        cols = np.flatnonzero(group_index == g)
        k = cols.size
        pick = cols[rng.integers(0, k, size=(scored.shape[0], k))]
        values = np.take_along_axis(scored, pick, axis=1)
        if k >= 2:
            centre = scored[:, cols].mean(axis=1, keepdims=True)
            values = centre + math.sqrt(k / (k - 1)) * (values - centre)
        star[:, cols] = values
    return star


def joint_points(y: Any, probs: Any, dates: Any, groups: Any, metric: str = "log_loss", *,
                 n_boot: int = 500, block_len: int = BLOCK_LEN, level: float = 0.95,
                 seed: int = 0, extra: Any = None) -> JointPoints:
    """Each run's metric and its replicates under the joint bootstrap (steps 1-3 above).

    y (n,): labels of the shared test samples; probs (runs, n): each run's probabilities of
    them; dates (n,): each sample's date; groups (runs,): which runs are the seeds of one model
    (the report passes each run's cell: two cells of equal size are still two models; numeric
    sizes work too). `extra` (k, n): probabilities of models without seeds (baselines), scored
    on the same date resamples (`extra_values`, `extra_replicates`). Deterministic for a given
    `seed`.
    """
    if n_boot < 1:
        raise ValidationError(f"n_boot must be >= 1, got {n_boot}")
    m = get_metric(metric)
    y_arr, p_arr, g_arr = _check(y, probs, groups)
    e_arr = np.empty((0, y_arr.size)) if extra is None else np.atleast_2d(
        np.asarray(extra, dtype=float))
    if e_arr.shape[1:] != (y_arr.size,) or not np.all((e_arr >= 0) & (e_arr <= 1)):
        raise ValidationError(f"extra must be (models, {y_arr.size}) probabilities in [0, 1]")
    rank, n_dates = date_ranks(dates)
    if rank.size != y_arr.size:
        raise ValidationError(f"dates has {rank.size} values, y has {y_arr.size}")
    rng = np.random.default_rng(seed)
    counts = circular_date_counts(rng, n_boot, n_dates, block_len)
    ones = np.ones((1, y_arr.size))
    full = np.array([m.weighted(y_arr, p, ones)[0] for p in p_arr])
    scored = score_in_chunks(m, y_arr, p_arr, counts, rank)  # (n_boot, runs)
    distinct, index = np.unique(g_arr, return_inverse=True)
    index = index.ravel()
    star = resample_seeds(scored, index, rng)
    n_blocks = math.ceil(n_dates / min(block_len, n_dates))
    tail = expanded_tail(level, n_blocks)
    means = np.stack([star[:, index == g].mean(axis=1) for g in range(distinct.size)], axis=1)
    lo, hi = np.nanquantile(means, [tail, 1 - tail], axis=0)
    mean = np.array([full[index == g].mean() for g in range(distinct.size)])
    extra_full = np.array([m.weighted(y_arr, p, ones)[0] for p in e_arr])
    extra_star = score_in_chunks(m, y_arr, e_arr, counts, rank)
    return JointPoints(distinct, mean, lo, hi, full, star, n_blocks, block_len, level, index,
                       extra_full, extra_star)


def joint_fit(points: JointPoints, sizes: Any, *, min_sizes: int = 4, seed: int = 0) -> JointFit:
    """Fit L(N) to every run's metric at `sizes` (the same runs as `points`, on any size axis:
    total, non-head or encoder parameters) and refit it on every replicate (step 4 above)."""
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
    singles = int(np.count_nonzero(np.bincount(points.group_index) == 1))
    if singles:
        notes.append(f"{singles} cell(s) have one seed: their seed-to-seed spread is not in "
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
