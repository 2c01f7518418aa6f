"""Statistics for the fts reports: every number a report prints comes with its uncertainty.

This module is the entry point. It holds the paired comparison of two models, the
multiple-comparison correction (Holm-Bonferroni) and the calibration table, and re-exports the
date-block bootstrap (`fts.report.bootstrap`, which also documents the block scheme) and the
power-law scaling fit (`fts.report.scaling`). Everything is pure numpy/scipy/pandas;
results are frozen dataclasses with `to_dict()` giving plain JSON (NaN -> null).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import beta as beta_dist
from scipy.stats import t as student_t

from fts.core.errors import ValidationError
from fts.report.bootstrap import (
    METRICS,
    BootstrapCI,
    Metric,
    block_bootstrap_ci,
    block_ids,
    check_options,
    check_yp,
    get_metric,
    jsonable,
    percentile_bounds,
    resample_metric,
    rows_blocks,
    skip_warning,
)
from fts.report.scaling import PowerLawFit, ResidualSummary, fit_power_law

__all__ = [
    "METRICS",
    "BootstrapCI",
    "HolmComparison",
    "Metric",
    "PairedResult",
    "PowerLawFit",
    "ResidualSummary",
    "block_bootstrap_ci",
    "block_ids",
    "bootstrap_p_value",
    "calibration_table",
    "expected_calibration_error",
    "fit_power_law",
    "get_metric",
    "holm",
    "holm_labels",
    "paired_bootstrap_test",
]

SIGNIFICANT = "significant"
NOT_SIGNIFICANT = "not significant"
NOT_TESTED = "not tested"


def _label(adjusted: float, reject: bool) -> str:
    if math.isnan(adjusted):
        return NOT_TESTED
    return SIGNIFICANT if reject else NOT_SIGNIFICANT


# ---------------------------------------------------------------- paired comparison


@dataclass(frozen=True)
class PairedResult:
    """Difference `metric(a) - metric(b)` on the same samples, its interval and two-sided p-value.

    The sign is raw (a minus b): for brier/log_loss a negative diff favours a; see `favours`.
    """

    metric: str
    diff: float
    lo: float
    hi: float
    p_value: float
    estimate_a: float
    estimate_b: float
    level: float
    n_boot: int
    n_skipped: int
    n_blocks: int
    block: str
    higher_is_better: bool
    warning: str | None = None

    @property
    def favours(self) -> str:
        """Which model the point estimate favours ("a", "b" or "neither"), given the direction."""
        if not self.diff or math.isnan(self.diff):
            return "neither"
        return "a" if (self.diff > 0) == self.higher_is_better else "b"

    def to_dict(self) -> dict[str, Any]:
        return jsonable({**asdict(self), "favours": self.favours})


def bootstrap_p_value(d_star: np.ndarray, diff: float, n_units: int,
                      df: float | None = None) -> float:
    """Two-sided p-value for "no difference" from the bootstrap standard error of the difference.

    t = diff / (sqrt(b/(b-1)) * sd(d_star)), referred to a t(b-1) distribution, b = number of
    blocks: the bootstrap analogue of DeLong's z-test (pROC's `roc.test(method="bootstrap")` does
    the same with a normal), with the small-b correction of `expanded_tail`. For a symmetric
    bootstrap distribution "p < 1 - level" matches "the expanded percentile interval excludes 0".
    Why not count resamples beyond 0 (percentile inversion or centred proportions)? Those
    p-values cannot go below ~1/n_boot (below 0.006 at all with 1000 resamples and the t
    correction), and after Holm over a dozen comparisons even a decisive difference would then
    read "not significant". A zero observed difference gives 1; fewer than 2 blocks give NaN.
    `df` replaces b-1 as the t distribution's degrees of freedom where the variance has other
    parts than the blocks' (the seeds of `fts.report.yardstick`: `satterthwaite_df`).
    """
    if diff == 0:
        return 1.0
    if n_units < 2 or d_star.size < 2:
        return math.nan
    se = math.sqrt(n_units / (n_units - 1.0)) * float(np.std(d_star, ddof=1))
    if se == 0:
        return 0.0
    dof = n_units - 1.0 if df is None else df
    return float(min(1.0, 2.0 * student_t.cdf(-abs(diff) / se, dof)))


def satterthwaite_df(var_a: float, df_a: float, var_b: float, df_b: float) -> float:
    """Welch-Satterthwaite degrees of freedom of var_a + var_b, two independent variance
    estimates with df_a and df_b degrees of freedom: (a + b)^2 / (a^2/df_a + b^2/df_b).

    It lies between min(df_a, df_b) (one part dominates) and df_a + df_b (equal parts); a part
    that is zero (or has no degrees of freedom) drops out, leaving the other's df.
    """
    parts = [(max(v, 0.0), d) for v, d in ((var_a, df_a), (var_b, df_b)) if d > 0]
    denom = sum(v * v / d for v, d in parts)
    if denom == 0:
        return float(max((d for _, d in parts), default=1.0))
    return float(sum(v for v, _ in parts) ** 2 / denom)


def paired_bootstrap_test(
    y: Any,
    p_a: Any,
    p_b: Any,
    dates: Any,
    metric: str | Metric,
    *,
    block: str | int = "month",
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    max_skip_frac: float = 0.1,
) -> PairedResult:
    """Paired date-block bootstrap comparison of two models scored on the same rows.

    Each resample draws one set of blocks and scores BOTH models on it, so the difference keeps
    the pairing (days hard for both cancel out). Interval: expanded percentile interval of the
    resampled differences; p-value: bootstrap-SE t-test (`bootstrap_p_value`), which agrees with
    the interval when the bootstrap distribution is symmetric. Deterministic for a given `seed`.
    """
    check_options(n_boot, level, max_skip_frac)
    m = get_metric(metric)
    y_arr, a = check_yp(y, p_a, "p_a")
    _, b = check_yp(y, p_b, "p_b")
    blocks = rows_blocks(dates, block, y_arr.size)
    n_blocks = int(blocks.max()) + 1
    est_a, est_b = m(y_arr, a), m(y_arr, b)
    diff = est_a - est_b

    def result(lo: float, hi: float, p: float, skipped: int, warning: str | None) -> PairedResult:
        return PairedResult(m.name, diff, lo, hi, p, est_a, est_b, level, n_boot, skipped,
                            n_blocks, str(block), m.higher_is_better, warning)  # fmt: skip

    if math.isnan(diff):
        return result(math.nan, math.nan, math.nan, n_boot,
                      f"{m.name} is undefined on these samples (one class only)")  # fmt: skip
    va, vb = resample_metric(y_arr, [a, b], blocks, m, n_boot, seed)
    d_star = (va - vb)[~(np.isnan(va) | np.isnan(vb))]
    n_skipped = n_boot - d_star.size
    warning = skip_warning(n_skipped, n_boot, max_skip_frac, n_blocks)
    if n_skipped > max_skip_frac * n_boot:
        return result(math.nan, math.nan, math.nan, n_skipped, warning)
    lo, hi = percentile_bounds(d_star, level, n_blocks)
    return result(lo, hi, bootstrap_p_value(d_star, diff, n_blocks), n_skipped, warning)


# ---------------------------------------------------------------- Holm-Bonferroni


def holm(p_values: Sequence[float], alpha: float = 0.05) -> list[tuple[float, bool]]:
    """Holm's step-down adjustment: (adjusted p, reject at family level `alpha`) per input p.

    With the m p-values sorted ascending, p_(1) <= ... <= p_(m), the adjusted value of the i-th
    is max over j <= i of min(1, (m - j + 1) p_(j)): the running maximum makes the adjusted
    values monotone in the raw ones (which is what "step-down" means: once a hypothesis is kept,
    every larger p is kept too) and they never exceed 1. Reject iff adjusted p <= alpha. This
    controls the family-wise error rate at alpha under any dependence between the tests. Ties
    keep their input order and get equal adjusted values. Output is in the input's order.
    A NaN p-value (a comparison that could not be made) is left out of the family (it does not
    count in m) and comes back as (NaN, False).
    """
    if not 0 < alpha < 1:
        raise ValidationError(f"alpha must lie in (0, 1), got {alpha}")
    p = np.asarray(p_values, dtype=float).ravel()
    tested = ~np.isnan(p)
    if np.any(np.isinf(p)) or np.any(p[tested] < 0) or np.any(p[tested] > 1):
        raise ValidationError("p-values must lie in [0, 1] (or be NaN for 'not tested')")
    adjusted = np.full(p.size, math.nan)
    m = int(tested.sum())
    if m:
        where = np.flatnonzero(tested)
        order = where[np.argsort(p[where], kind="mergesort")]  # stable: ties keep input order
        scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
        adjusted[order] = np.maximum.accumulate(scaled)
    return [(float(a), bool(a <= alpha)) for a in adjusted]


@dataclass(frozen=True)
class HolmComparison:
    """One comparison of a family, with its Holm-adjusted p-value and family-level verdict."""

    name: str
    p_value: float
    adjusted_p: float
    reject: bool
    label: str  # "significant" / "not significant" at family level `alpha`, or "not tested"
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


def holm_labels(
    p_values: Sequence[float], names: Sequence[str] | None = None, alpha: float = 0.05
) -> list[HolmComparison]:
    """Label each comparison of a family "significant" / "not significant" after Holm.

    `names` default to "comparison 1", "comparison 2", ... ; output keeps the input order.
    A NaN p-value is labelled "not tested" (see `holm`).
    """
    if names is None:
        names = [f"comparison {i + 1}" for i in range(len(p_values))]
    if len(names) != len(p_values):
        raise ValidationError(f"{len(names)} names for {len(p_values)} p-values")
    return [
        HolmComparison(name, float(p), adj, rej, _label(adj, rej), alpha)
        for name, p, (adj, rej) in zip(names, p_values, holm(p_values, alpha), strict=True)
    ]


# ---------------------------------------------------------------- calibration


def _bin_edges(p: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    if strategy == "quantile":
        # Ties can merge quantiles (e.g. many equal predictions): fewer, but non-empty, bins.
        return np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    raise ValidationError(f'strategy must be "quantile" or "uniform", got {strategy!r}')


def _clopper_pearson(k: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    tail = (1.0 - level) / 2.0
    with np.errstate(invalid="ignore"):
        lo = np.where(k > 0, beta_dist.ppf(tail, k, n - k + 1), 0.0)
        hi = np.where(k < n, beta_dist.ppf(1.0 - tail, k + 1, n - k), 1.0)
    return lo, hi


def calibration_table(
    y: Any, p: Any, n_bins: int = 10, strategy: str = "quantile", level: float = 0.95
) -> pd.DataFrame:
    """Reliability table for the calibration plot: one row per non-empty bin of predictions.

    Columns: bin (0-based), p_lo / p_hi (bin edges), mean_predicted, observed_rate, count, and
    obs_lo / obs_hi, an exact (Clopper-Pearson) interval on the observed rate at `level`. The
    interval treats the rows of a bin as independent, which overlapping label windows are not,
    so it is a lower bound on the real uncertainty. "quantile" bins hold about equal counts;
    "uniform" bins split [0, 1] evenly. Bins are closed on the right, the first also on the left.
    """
    y_arr = np.asarray(y, dtype=float).ravel()
    p_arr = np.asarray(p, dtype=float).ravel()
    if y_arr.size == 0 or y_arr.size != p_arr.size:
        raise ValidationError(f"need equal, non-zero numbers of labels and predictions "
                              f"({y_arr.size} and {p_arr.size})")  # fmt: skip
    if not np.all((y_arr == 0) | (y_arr == 1)):
        raise ValidationError("y must hold only 0/1 labels")
    if not np.all(np.isfinite(p_arr)) or p_arr.min() < 0 or p_arr.max() > 1:
        raise ValidationError("p must hold finite probabilities in [0, 1]")
    if n_bins < 1:
        raise ValidationError(f"n_bins must be >= 1, got {n_bins}")
    edges = _bin_edges(p_arr, n_bins, strategy)
    if edges.size < 2:  # every prediction equal: one bin
        edges = np.array([edges[0], edges[0]])
    idx = np.clip(np.searchsorted(edges, p_arr, side="left") - 1, 0, edges.size - 2)
    n_edges = edges.size - 1
    count = np.bincount(idx, minlength=n_edges)
    positives = np.bincount(idx, weights=y_arr, minlength=n_edges)
    pred_sum = np.bincount(idx, weights=p_arr, minlength=n_edges)
    keep = count > 0
    k, n = positives[keep], count[keep]
    obs_lo, obs_hi = _clopper_pearson(k, n, level)
    return pd.DataFrame({
        "bin": np.arange(int(keep.sum())),
        "p_lo": edges[:-1][keep],
        "p_hi": edges[1:][keep],
        "mean_predicted": pred_sum[keep] / n,
        "observed_rate": k / n,
        "count": n.astype(int),
        "obs_lo": obs_lo,
        "obs_hi": obs_hi,
    })  # fmt: skip


def expected_calibration_error(table: pd.DataFrame) -> float:
    """Count-weighted mean |observed - predicted| over the bins of a `calibration_table`."""
    gap = np.abs(table["observed_rate"] - table["mean_predicted"])
    return float(math.fsum(gap * table["count"]) / table["count"].sum())
