"""Date-based train / validation / test splits with purging, embargo and walk-forward folds.

Every boundary is a DATE, resolved once from the raw trading calendar of the dataset's tickers
(not from the tier), so two tiers with different first dates get the same validation and test
spans. A sample belongs to the region that contains its date t; it is then PURGED when its
label window t+1..t+h (plus `embargo` more rows) reaches the first date of the next region,
so no label of an earlier region is computed from prices of a later one.

Dates are handled as int days since 1970-01-01 (the same encoding as Arrow's date32), which
keeps the assignment vectorised.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from fts.core.errors import ConfigError, ValidationError

EPOCH = dt.date(1970, 1, 1)
MODES = ("tail_days", "fraction", "dates")
# One trading year plus margin: with h <= 20 both spans keep >= 250 labelled samples.
DEFAULT_VAL_DAYS = 270
DEFAULT_TEST_DAYS = 270
MIN_SAMPLES = 50
# The selection data (validation, summed over walk-forward folds) must hold this many positives:
# search, early stopping and the decision threshold are chosen on them (see docs/datasets.md).
MIN_VAL_POSITIVES = 50
# Every sample before the test region: what final runs and final baselines train on (no block
# is held out from them, since their epoch count and threshold come from the folds).
PRETEST_SPLITS = ("train", "val")
# Sentinel for "the guard row lies beyond the data": purged from any region that has a successor.
NEVER = np.iinfo(np.int64).max


def to_days(d: dt.date) -> int:
    """A date as int days since 1970-01-01."""
    return (d - EPOCH).days


def to_date(days: int) -> dt.date:
    """Inverse of `to_days`."""
    return EPOCH + dt.timedelta(days=int(days))


def _parse_date(value: Any, what: str) -> dt.date | None:
    if value is None or isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(f"split {what}: {value!r} is not an ISO date (YYYY-MM-DD)") from exc


@dataclass(frozen=True)
class SplitPolicy:
    """How the split dates are chosen.

    mode "tail_days" (default): test = the last `test_days` trading days of the raw calendar,
      validation = the `val_days` trading days before it, train = everything earlier.
    mode "fraction": the same, with `val_frac`/`test_frac` of the trading days of the span that
      starts at `common_start` (or at the dataset's first sample date when none is given).
    mode "dates": explicit `val_start`, `test_start` and optional `test_end` (default: the last
      raw date).
    `embargo`: extra rows purged after each label window. `folds` > 1: walk-forward folds of
    expanding train then a validation block of `fold_val_days` trading days (default: the
    validation span's length); the last fold is the plain train/val split; test is shared.
    """

    mode: str = "tail_days"
    val_days: int = DEFAULT_VAL_DAYS
    test_days: int = DEFAULT_TEST_DAYS
    val_frac: float = 0.15
    test_frac: float = 0.15
    val_start: dt.date | None = None
    test_start: dt.date | None = None
    test_end: dt.date | None = None
    embargo: int = 0
    folds: int = 1
    fold_val_days: int | None = None

    def __post_init__(self) -> None:
        for name in ("val_start", "test_start", "test_end"):
            object.__setattr__(self, name, _parse_date(getattr(self, name), name))
        if self.mode not in MODES:
            raise ConfigError(f"split mode {self.mode!r} is not one of {', '.join(MODES)}")
        for name in ("val_days", "test_days", "folds"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"split {name} must be >= 1, got {getattr(self, name)}")
        if self.embargo < 0:
            raise ConfigError(f"split embargo must be >= 0 rows, got {self.embargo}")
        if self.fold_val_days is not None and self.fold_val_days < 1:
            raise ConfigError(f"split fold_val_days must be >= 1, got {self.fold_val_days}")
        if not (0 < self.val_frac < 1 and 0 < self.test_frac < 1 and self.val_frac + self.test_frac < 1):
            raise ConfigError(
                f"split fractions must be in (0, 1) and sum below 1, got val {self.val_frac}, "
                f"test {self.test_frac}"
            )
        if self.mode == "dates":
            if self.val_start is None or self.test_start is None:
                raise ConfigError("split mode 'dates' needs val_start and test_start")
            if not self.val_start < self.test_start:
                raise ConfigError(f"split val_start {self.val_start} must precede test_start {self.test_start}")
            if self.test_end is not None and self.test_end < self.test_start:
                raise ConfigError(f"split test_end {self.test_end} precedes test_start {self.test_start}")

    @classmethod
    def dates(cls, val_start: Any, test_start: Any, test_end: Any = None, **kw: Any) -> SplitPolicy:
        """Explicit split dates (ISO strings or dates)."""
        return cls(mode="dates", val_start=val_start, test_start=test_start, test_end=test_end, **kw)

    @classmethod
    def fractions(cls, val_frac: float = 0.15, test_frac: float = 0.15, **kw: Any) -> SplitPolicy:
        """Split by fractions of the trading days of the common span."""
        return cls(mode="fraction", val_frac=val_frac, test_frac=test_frac, **kw)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (dates as ISO strings)."""
        d = asdict(self)
        for name in ("val_start", "test_start", "test_end"):
            d[name] = d[name].isoformat() if d[name] else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SplitPolicy:
        """Inverse of `to_dict`; unknown keys are a ConfigError."""
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown split option(s): {', '.join(sorted(unknown))}")
        return cls(**d)


@dataclass(frozen=True)
class Region:
    """Samples with start <= date < stop; purged unless their guard date < purge_before."""

    name: str
    start: int | None
    stop: int
    purge_before: int | None

    def to_manifest(self) -> dict[str, str | None]:
        return {
            "first_date": to_date(self.start).isoformat() if self.start is not None else None,
            "end_date_exclusive": to_date(self.stop).isoformat(),
            "purge_before": to_date(self.purge_before).isoformat() if self.purge_before else None,
        }


@dataclass(frozen=True)
class SplitPlan:
    """The resolved regions (train, val, test and fold regions) of one dataset."""

    regions: tuple[Region, ...]
    folds: tuple[tuple[str, str], ...] = field(default=())

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.regions)

    def region(self, name: str) -> Region:
        for r in self.regions:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_manifest(self, policy: SplitPolicy, horizon: int) -> dict[str, Any]:
        """Split dates, purge and embargo as recorded in the dataset manifest."""
        return {
            "policy": policy.to_dict(),
            "calendar": "raw trading dates of the dataset's tickers",
            "regions": {r.name: r.to_manifest() for r in self.regions},
            "folds": [list(f) for f in self.folds],
            "purge": {
                "horizon_rows": horizon,
                "embargo_rows": policy.embargo,
                "rule": "a sample at t is kept only if the ticker's row t+h+embargo is dated "
                "before the next region's first date",
            },
        }


def _tail_bounds(cal: np.ndarray, val_n: int, test_n: int, what: str) -> tuple[int, int, int]:
    if cal.size < val_n + test_n + 1:
        raise ValidationError(
            f"{what}: the calendar has {cal.size} trading days, fewer than validation "
            f"({val_n}) + test ({test_n}) + 1 for training; lower val/test days or add data",
            source="split",
        )
    return int(cal[-test_n - val_n]), int(cal[-test_n]), int(cal[-1])


def plan_splits(policy: SplitPolicy, calendar: np.ndarray, span_start: int | None) -> SplitPlan:
    """Resolve `policy` against the sorted unique trading `calendar` (int days).

    `span_start` (int days or None) is the first date a sample may have; it bounds the first
    training region and anchors the fraction mode.
    """
    cal = np.unique(np.asarray(calendar, dtype=np.int64))
    if cal.size == 0:
        raise ValidationError("no trading dates for the dataset's tickers", source="split")
    if policy.mode == "tail_days":
        val_start, test_start, test_end = _tail_bounds(cal, policy.val_days, policy.test_days, "tail_days split")
    elif policy.mode == "fraction":
        span = cal[cal >= span_start] if span_start is not None else cal
        n = span.size
        test_n = max(1, round(n * policy.test_frac))
        val_n = max(1, round(n * policy.val_frac))
        val_start, test_start, test_end = _tail_bounds(span, val_n, test_n, "fraction split")
    else:
        assert policy.val_start and policy.test_start
        val_start, test_start = to_days(policy.val_start), to_days(policy.test_start)
        test_end = to_days(policy.test_end) if policy.test_end else int(cal[-1])
    if span_start is not None and span_start >= val_start:
        raise ValidationError(
            f"the sample span starts {to_date(span_start)}, not before the validation start "
            f"{to_date(val_start)}: no training samples are possible",
            source="split",
        )
    test = Region("test", test_start, test_end + 1, None)
    if policy.folds == 1:
        return SplitPlan(
            (Region("train", span_start, val_start, val_start), Region("val", val_start, test_start, test_start), test)
        )
    return _walk_forward(policy, cal, span_start, val_start, test_start, test)


def _walk_forward(
    policy: SplitPolicy, cal: np.ndarray, span_start: int | None, val_start: int, test_start: int, test: Region
) -> SplitPlan:
    """k folds: fold j trains on [span_start, b_j) and validates on [b_j, b_{j+1}).

    b_{k-1} = val_start and b_k = test_start, so the last fold is the plain split; earlier
    blocks are `fold_val_days` trading days each, stepping back from val_start.
    """
    k = policy.folds
    iv = int(np.searchsorted(cal, val_start))
    block = policy.fold_val_days or int(np.searchsorted(cal, test_start) - iv)
    first = iv - (k - 1) * block
    if block < 1 or first < 1:
        raise ValidationError(
            f"{k} walk-forward folds of {block} trading days do not fit before {to_date(val_start)} "
            f"({iv} trading days available); use fewer folds or shorter fold_val_days",
            source="split",
        )
    bounds = [int(cal[iv - (k - 1 - j) * block]) for j in range(k - 1)] + [val_start, test_start]
    if span_start is not None and span_start >= bounds[0]:
        raise ValidationError(
            f"the sample span starts {to_date(span_start)}, not before the first fold's validation "
            f"start {to_date(bounds[0])}: fold0 has no training samples",
            source="split",
        )
    regions: list[Region] = []
    folds: list[tuple[str, str]] = []
    for j in range(k):
        tr, va = f"fold{j}.train", f"fold{j}.val"
        regions.append(Region(tr, span_start, bounds[j], bounds[j]))
        regions.append(Region(va, bounds[j], bounds[j + 1], bounds[j + 1]))
        folds.append((tr, va))
    regions.append(Region("train", span_start, val_start, val_start))
    regions.append(Region("val", val_start, test_start, test_start))
    regions.append(test)
    return SplitPlan(tuple(regions), tuple(folds))


def assign_regions(
    sample_days: np.ndarray, guard_days: np.ndarray, plan: SplitPlan
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Indices of the samples in each region, and how many each region purged.

    `guard_days[i]` is the date of the last row sample i must not see in a later region: the
    ticker's row t+h+embargo (`NEVER` when that row is past the end of the data).
    """
    days = np.asarray(sample_days, dtype=np.int64)
    guard = np.asarray(guard_days, dtype=np.int64)
    members: dict[str, np.ndarray] = {}
    purged: dict[str, int] = {}
    for r in plan.regions:
        inside = days < r.stop
        if r.start is not None:
            inside &= days >= r.start
        keep = inside if r.purge_before is None else inside & (guard < r.purge_before)
        members[r.name] = np.flatnonzero(keep)
        purged[r.name] = int(inside.sum() - keep.sum())
    return members, purged


def selection_splits(plan: SplitPlan) -> list[str]:
    """The splits models are selected on: every fold's validation block, else "val"."""
    return [va for _, va in plan.folds] if plan.folds else ["val"]


def check_min_positives(positives: dict[str, int], plan: SplitPlan, minimum: int) -> dict[str, Any]:
    """The selection data's positives; ValidationError when fewer than `minimum` (0: no rule)."""
    names = selection_splits(plan)
    total = sum(positives[n] for n in names)
    where = (f"validation summed over {len(names)} walk-forward folds ({', '.join(names)})"
             if plan.folds else "validation split 'val'")
    if total < minimum:
        raise ValidationError(
            f"{where} has {total} positive labels, fewer than min_val_positives {minimum}: "
            "lengthen the validation (val_days, fold_val_days), add folds or tickers, lower the "
            "threshold or lengthen the horizon, or set min_val_positives = 0 to accept it",
            source="dataset",
        )
    return {"splits": names, "positives": total, "min_val_positives": minimum,
            "rule": "the selection data must hold at least min_val_positives positive labels "
            "(0: rule disabled)"}


def check_min_samples(counts: dict[str, int], minimum: int = MIN_SAMPLES) -> None:
    """Raise ValidationError naming the first split with fewer than `minimum` samples."""
    for name, n in counts.items():
        if n < minimum:
            raise ValidationError(
                f"split {name!r} has {n} samples, fewer than the minimum {minimum}; move the split "
                f"dates, shorten ctx_len/horizon or use a longer common span",
                source="dataset",
            )


# The split of `fts train`, `fts hpo` and the shipped studies: test = the last 270 trading days
# (evaluated once); models are selected on 3 walk-forward validation blocks of 200 trading days
# before it (the last block is "val"; final runs train on train + val for an epoch count and
# with a threshold taken from the folds). On the embedded sample at h = 1, +1 % the blocks
# hold >= 50 positives together for a20, a50 and a100 (docs/datasets.md).
SELECTION_SPLIT = SplitPolicy(val_days=200, test_days=DEFAULT_TEST_DAYS, folds=3, fold_val_days=200)
