"""Date-block bootstrap for the metrics of a probabilistic classifier on time-ordered samples.

Samples are days (one or more rows per date); neighbouring days are serially correlated (their
label windows overlap when the horizon h > 1, and regimes persist), so resampling single rows
would understate the variance. We therefore resample whole **blocks of consecutive dates**:

* ``block="month"``: a block is one calendar month (all rows whose date falls in it);
* ``block=k`` (int): a block is k consecutive *distinct dates present in the data* (trading days,
  not calendar days), cut from the first date on; the last block may be shorter.

Blocks are **non-overlapping** and drawn with replacement, as many as there are blocks in the
sample (Carlstein's scheme). We chose it over the moving-block bootstrap because calendar months
are natural non-overlapping units, every date is equally likely to be drawn (the moving scheme
under-samples the two ends), and it keeps the two schemes identical. Blocks may hold different
numbers of rows, so a resample's size varies a little around n; that is part of the scheme.
A block should be longer than the label horizon h and the serial dependence (a month is ~21
trading days); too long, and too few blocks remain (a warning below `MIN_BLOCKS`).

A resample is represented by integer weights (how many times each row was drawn), so every metric
is computed as a *weighted* metric, vectorised over resamples; the weighted metrics equal
scikit-learn's with ``sample_weight`` (tested). Intervals are percentile intervals, expanded
for few blocks (see `expanded_tail`; plain ones run ~5 points short with ~24 blocks). A resample in
which the metric is undefined (ROC AUC with one class; average precision with no positive) is
skipped and counted; when more than ``max_skip_frac`` of them are skipped the bounds are NaN and
``warning`` says why (the surviving resamples would be a biased, conditional sample).
The paired two-model test built on the same resamples lives in `fts.report.stats`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm
from scipy.stats import t as student_t

from fts.core.errors import ValidationError

# Largest weight matrix (resamples x rows) built at once; bounds memory to ~32 MB per array.
_MAX_CELLS = 4_000_000
# Probabilities are clipped to [EPS, 1 - EPS] for the log loss so a certain miss stays finite
# (machine epsilon, as scikit-learn does, so both give the same numbers).
LOG_LOSS_EPS = float(np.finfo(float).eps)
# Below this many blocks the bootstrap distribution is too coarse to trust; we still answer.
MIN_BLOCKS = 10

WeightedFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def jsonable(value: Any) -> Any:
    """Turn dataclass content into plain JSON: tuples -> lists, NaN/inf -> None, numpy -> python."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ---------------------------------------------------------------- weighted metrics (rows = resamples)


def _grouped(y: np.ndarray, p: np.ndarray, w: np.ndarray, descending: bool):
    """Positive and negative weight per distinct score (ties pooled), scores sorted."""
    order = np.argsort(-p if descending else p, kind="mergesort")
    ps, ys, ws = p[order], y[order], w[:, order]
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    pos = np.add.reduceat(ws * ys, starts, axis=1)
    neg = np.add.reduceat(ws * (1.0 - ys), starts, axis=1)
    return pos, neg


def _weighted_roc_auc(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    # AUC = P(score_pos > score_neg) + 0.5 P(tie), each pair weighted by w_pos * w_neg. For each
    # positive, the negatives below it are a prefix of the sorted negatives: cumulative weights,
    # averaged between the first and the last tied negative, give "below + half the ties".
    pos = y == 1
    neg_order = np.argsort(p[~pos], kind="mergesort")
    neg_scores = p[~pos][neg_order]
    cum = np.zeros((w.shape[0], neg_scores.size + 1))
    np.cumsum(w[:, ~pos][:, neg_order], axis=1, out=cum[:, 1:])
    left = np.searchsorted(neg_scores, p[pos], side="left")
    right = np.searchsorted(neg_scores, p[pos], side="right")
    w_pos = w[:, pos]
    num = 0.5 * np.sum(w_pos * (cum[:, left] + cum[:, right]), axis=1)
    denom = w_pos.sum(axis=1) * cum[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, num / denom, np.nan)


def _weighted_average_precision(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    # sklearn's step-wise AP: sum over thresholds (descending) of recall increment x precision.
    pos, neg = _grouped(y, p, w, descending=True)
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        total_pos = pos.sum(axis=1)
        return np.where(total_pos > 0, np.sum(pos * precision, axis=1) / total_pos, np.nan)


def _weighted_mean(loss: np.ndarray, w: np.ndarray) -> np.ndarray:
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (w @ loss) / total, np.nan)


def _weighted_brier(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    return _weighted_mean((p - y) ** 2, w)


def _weighted_log_loss(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    pc = np.clip(p, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
    return _weighted_mean(-(y * np.log(pc) + (1.0 - y) * np.log1p(-pc)), w)


@dataclass(frozen=True)
class Metric:
    """A classifier metric computed under integer row weights, one row of weights per resample.

    `weighted(y, p, w)` takes y (n,), p (n,) and w (B, n) and returns B values, NaN where the
    metric is undefined for that resample. Calling the metric gives the unweighted value.
    """

    name: str
    weighted: WeightedFn
    higher_is_better: bool

    def __call__(self, y: Any, p: Any) -> float:
        y_arr, p_arr = check_yp(y, p, "p")
        return float(self.weighted(y_arr, p_arr, np.ones((1, y_arr.size)))[0])


METRICS: dict[str, Metric] = {
    "roc_auc": Metric("roc_auc", _weighted_roc_auc, higher_is_better=True),
    "pr_auc": Metric("pr_auc", _weighted_average_precision, higher_is_better=True),
    "brier": Metric("brier", _weighted_brier, higher_is_better=False),
    "log_loss": Metric("log_loss", _weighted_log_loss, higher_is_better=False),
}


def get_metric(metric: str | Metric) -> Metric:
    """The `Metric` for a registry name (or the metric itself)."""
    if isinstance(metric, Metric):
        return metric
    try:
        return METRICS[metric]
    except KeyError:
        raise ValidationError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}") from None


# ---------------------------------------------------------------- input checks and blocks


def check_yp(y: Any, p: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype=float).ravel()
    p_arr = np.asarray(p, dtype=float).ravel()
    if y_arr.size == 0:
        raise ValidationError("no samples")
    if p_arr.size != y_arr.size:
        raise ValidationError(f"{name} has {p_arr.size} values, y has {y_arr.size}")
    if not np.all((y_arr == 0) | (y_arr == 1)):
        raise ValidationError("y must hold only 0/1 labels")
    if not np.all(np.isfinite(p_arr)) or p_arr.min() < 0 or p_arr.max() > 1:
        raise ValidationError(f"{name} must hold finite probabilities in [0, 1]")
    return y_arr, p_arr


def block_ids(dates: Any, block: str | int = "month") -> np.ndarray:
    """Block index (0, 1, ... in time order) of each row; see the module docstring for the scheme."""
    idx = _date_index(dates)
    if block == "month":
        key = np.asarray(idx.year, dtype=np.int64) * 12 + np.asarray(idx.month, dtype=np.int64)
    elif isinstance(block, int | np.integer) and not isinstance(block, bool) and block >= 1:
        key = _day_ranks(idx) // int(block)
    else:
        raise ValidationError(f'block must be "month" or a positive number of dates, got {block!r}')
    return np.unique(key, return_inverse=True)[1].ravel()


def _block_weights(rng: np.random.Generator, n_draws: int, blocks: np.ndarray, n_blocks: int):
    """Row weights (n_draws, n): how often each row's block was drawn in each resample."""
    draws = rng.integers(0, n_blocks, size=(n_draws, n_blocks))
    flat = (draws + n_blocks * np.arange(n_draws)[:, None]).ravel()
    counts = np.bincount(flat, minlength=n_draws * n_blocks).reshape(n_draws, n_blocks)
    return counts.astype(float)[:, blocks]  # convert the small matrix, then expand


def date_ranks(dates: Any) -> tuple[np.ndarray, int]:
    """Rank (0, 1, ... in time order) of each row's date among the distinct dates, and their count."""
    rank = _day_ranks(_date_index(dates))
    return rank, int(rank.max()) + 1 if rank.size else 0


def _date_index(dates: Any) -> pd.DatetimeIndex:
    """`dates` as a DatetimeIndex; a ValidationError when unreadable or missing."""
    try:
        idx = pd.DatetimeIndex(pd.to_datetime(np.asarray(dates).ravel()))
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"dates could not be read as dates: {exc}") from None
    if idx.hasnans:
        raise ValidationError("dates contain missing values")
    return idx


def _day_ranks(idx: pd.DatetimeIndex) -> np.ndarray:
    """Rank of each row's calendar day among the distinct days (0 = the earliest)."""
    return np.unique(idx.normalize().asi8, return_inverse=True)[1].ravel()


def circular_block_weights(rng: np.random.Generator, n_draws: int, rank: np.ndarray,
                           n_dates: int, block_len: int) -> np.ndarray:
    """Row weights (n_draws, n) of the circular block bootstrap over the distinct dates.

    The dates are laid on a circle; a resample strings together ceil(n_dates / block_len)
    blocks of `block_len` consecutive dates, each starting at a uniformly drawn date (wrapping
    past the last date to the first), cut to n_dates dates. Unlike fixed blocks, every run of
    consecutive dates can appear, and, unlike the moving-block bootstrap, every date is
    equally likely to be drawn (Politis & Romano 1992). A row's weight is how often its date
    was drawn, so rows sharing a date (several tickers) move together.
    """
    return circular_date_counts(rng, n_draws, n_dates, block_len)[:, rank]


def circular_date_counts(rng: np.random.Generator, n_draws: int, n_dates: int,
                         block_len: int) -> np.ndarray:
    """How often each distinct date is drawn (n_draws, n_dates) by `circular_block_weights`
    (the same draws from `rng`): small, to be expanded to rows a chunk at a time."""
    if block_len < 1:
        raise ValidationError(f"block_len must be >= 1, got {block_len}")
    length = min(block_len, n_dates)
    n_blocks = math.ceil(n_dates / length)
    starts = rng.integers(0, n_dates, size=(n_draws, n_blocks))
    picked = (starts[:, :, None] + np.arange(length)).reshape(n_draws, -1)[:, :n_dates] % n_dates
    flat = (picked + n_dates * np.arange(n_draws)[:, None]).ravel()
    counts = np.bincount(flat, minlength=n_draws * n_dates).reshape(n_draws, n_dates)
    return counts.astype(float)


def score_in_chunks(metric: Metric, y: np.ndarray, probs: np.ndarray, counts: np.ndarray,
                    rank: np.ndarray) -> np.ndarray:
    """Each model's metric (n_draws, n_models) under date `counts` (n_draws, n_dates), the
    row weights built a chunk of resamples at a time so memory stays bounded (`_MAX_CELLS`)
    however many rows (tickers x dates) the test set has."""
    out = np.empty((counts.shape[0], len(probs)))
    chunk = max(1, _MAX_CELLS // max(1, y.size))
    for start in range(0, counts.shape[0], chunk):
        w = counts[start:start + chunk][:, rank]
        for k, p in enumerate(probs):
            out[start:start + chunk, k] = metric.weighted(y, p, w)
    return out


def resample_metric(
    y: np.ndarray,
    ps: Sequence[np.ndarray],
    blocks: np.ndarray,
    metric: Metric,
    n_boot: int,
    seed: int,
) -> np.ndarray:
    """Metric values (len(ps), n_boot), every p scored on the SAME resamples (keeps pairing)."""
    n_blocks = int(blocks.max()) + 1
    rng = np.random.default_rng(seed)
    chunk = max(1, _MAX_CELLS // y.size)
    out = np.empty((len(ps), n_boot))
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        w = _block_weights(rng, stop - start, blocks, n_blocks)
        for k, p in enumerate(ps):
            out[k, start:stop] = metric.weighted(y, p, w)
    return out


def check_options(n_boot: int, level: float, max_skip_frac: float) -> None:
    if n_boot < 1:
        raise ValidationError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < level < 1:
        raise ValidationError(f"level must lie in (0, 1), got {level}")
    if not 0 <= max_skip_frac < 1:
        raise ValidationError(f"max_skip_frac must lie in [0, 1), got {max_skip_frac}")


def expanded_tail(level: float, n_units: int, df: float | None = None) -> float:
    """Tail probability at which to read a percentile interval drawn from `n_units` units.

    Hesterberg's expanded percentile interval: with b resampled units (here blocks) the
    bootstrap spread is short by sqrt((b-1)/b), and the interval uses a normal quantile where a
    t(b-1) one belongs; both make it too narrow for small b (measured: 85% coverage at nominal
    90% with 24 monthly blocks). Reading the percentiles at Phi(-sqrt(b/(b-1)) t(b-1)_{1-tail})
    instead of at tail corrects both and fades away as b grows. `df` replaces b-1 where the
    variance has parts with fewer degrees of freedom (seeds: `fts.report.yardstick`).
    """
    tail = (1.0 - level) / 2.0
    if n_units < 2:
        return tail
    stretch = math.sqrt(n_units / (n_units - 1.0))
    dof = n_units - 1.0 if df is None else df
    return float(norm.cdf(-stretch * student_t.ppf(1.0 - tail, dof)))


def percentile_bounds(
    values: np.ndarray, level: float, n_units: int | None = None, df: float | None = None
) -> tuple[float, float]:
    """Percentile interval of bootstrap `values`; expanded for few units when `n_units` is given
    (with `df` degrees of freedom instead of n_units - 1 when given)."""
    tail = (1.0 - level) / 2.0 if n_units is None else expanded_tail(level, n_units, df)
    lo, hi = np.quantile(values, [tail, 1.0 - tail])
    return float(lo), float(hi)


def skip_warning(n_skipped: int, n_boot: int, max_skip_frac: float, n_blocks: int) -> str | None:
    """Why the interval is untrustworthy (None when it is fine)."""
    if n_skipped > max_skip_frac * n_boot:
        return (
            f"{n_skipped} of {n_boot} resamples had an undefined metric (one class); "
            f"more than {max_skip_frac:.0%}, so no interval is given"
        )
    if n_blocks < MIN_BLOCKS:
        return f"only {n_blocks} date blocks; the interval is coarse and likely too narrow"
    return None


# ---------------------------------------------------------------- public API


@dataclass(frozen=True)
class BootstrapCI:
    """A metric with its block-bootstrap percentile interval; unpacks as (estimate, lo, hi).

    `lo`/`hi` are NaN when too many resamples were skipped; `warning` then says why (it may also
    flag a usable but coarse interval, e.g. fewer than `MIN_BLOCKS` blocks).
    """

    metric: str
    estimate: float
    lo: float
    hi: float
    level: float
    n_boot: int
    n_skipped: int
    n_blocks: int
    block: str
    interval: str  # "expanded percentile" or "percentile"
    warning: str | None = None

    def __iter__(self) -> Iterator[float]:
        return iter((self.estimate, self.lo, self.hi))

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


def block_bootstrap_ci(
    y: Any,
    p: Any,
    dates: Any,
    metric: str | Metric,
    *,
    block: str | int = "month",
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    max_skip_frac: float = 0.1,
    expand: bool = True,
) -> BootstrapCI:
    """Point estimate and percentile interval of `metric` under the date-block bootstrap.

    y: 0/1 labels; p: predicted probabilities of label 1; dates: one date per row (any order,
    rows sharing a date share a block). The interval is the expanded percentile interval
    (`expanded_tail`, with b = number of blocks) unless `expand` is False. Deterministic for a
    given `seed`.
    """
    check_options(n_boot, level, max_skip_frac)
    m = get_metric(metric)
    y_arr, p_arr = check_yp(y, p, "p")
    blocks = rows_blocks(dates, block, y_arr.size)
    n_blocks = int(blocks.max()) + 1
    estimate = m(y_arr, p_arr)
    interval = "expanded percentile" if expand else "percentile"
    if math.isnan(estimate):
        reason = f"{m.name} is undefined on these samples (one class only)"
        return BootstrapCI(m.name, math.nan, math.nan, math.nan, level, n_boot, n_boot,
                           n_blocks, str(block), interval, reason)  # fmt: skip
    values = resample_metric(y_arr, [p_arr], blocks, m, n_boot, seed)[0]
    valid = values[~np.isnan(values)]
    n_skipped = n_boot - valid.size
    warning = skip_warning(n_skipped, n_boot, max_skip_frac, n_blocks)
    lo, hi = math.nan, math.nan
    if n_skipped <= max_skip_frac * n_boot:
        lo, hi = percentile_bounds(valid, level, n_blocks if expand else None)
    return BootstrapCI(m.name, estimate, lo, hi, level, n_boot, n_skipped, n_blocks,
                       str(block), interval, warning)  # fmt: skip


def rows_blocks(dates: Any, block: str | int, n: int) -> np.ndarray:
    blocks = block_ids(dates, block)
    if blocks.size != n:
        raise ValidationError(f"dates has {blocks.size} values, y has {n}")
    return blocks


