"""Turn a tier table and raw prices into the dataset arrays (pure: no files, no warehouse).

Row model: the dataset's rows are the tier rows of its tickers, ticker by ticker (sorted),
each ticker's rows ordered by date. Row e can END a sample when
  - the ctx rows e-ctx+1..e belong to the same ticker and none has a null feature
    (a null, e.g. a stale VIX value, is a declared gap: every window containing it is dropped
    and counted, never filled), and
  - the target at its date is known (h raw rows of the ticker follow it).
Samples are then assigned to the split regions by date and purged (see splits.py). Non-null
NaN/inf values inside a selected window are a data error, not a gap, and stop the build.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fts.core.errors import NotFoundError, ValidationError
from fts.datasets.inputs import manifest_entry, scale_free
from fts.datasets.normalize import apply_zscore, zscore_stats
from fts.datasets.spec import DatasetSpec
from fts.datasets.splits import (
    NEVER,
    SplitPlan,
    assign_regions,
    check_min_positives,
    check_min_samples,
    plan_splits,
    to_date,
    to_days,
)
from fts.datasets.windows import covered_rows, full_window_ends

NO_LABEL = -1


@dataclass(frozen=True)
class PriceSeries:
    """One ticker's raw rows, ordered by date: int days, high and close (NaN for null)."""

    dates: np.ndarray
    high: np.ndarray
    close: np.ndarray


@dataclass(frozen=True)
class Assembled:
    """The arrays to store and the facts the manifest records about them."""

    arrays: dict[str, np.ndarray]
    tickers: list[str]
    plan: SplitPlan
    counts: dict[str, dict[str, Any]]
    dropped: dict[str, Any]
    normalization: dict[str, Any]
    inputs: dict[str, Any]
    selection: dict[str, Any]


@dataclass
class _Rows:
    """The dataset rows before windows are chosen (all arrays of length n_rows)."""

    tickers: list[str]
    offsets: np.ndarray
    codes: np.ndarray
    dates: np.ndarray
    features: np.ndarray  # float64, NaN where null
    row_null: np.ndarray
    nulls_by_feature: dict[str, int]
    labels: np.ndarray  # float64, NaN where missing
    guard: np.ndarray  # int days of the ticker's row t+h+embargo, NEVER past the data
    close: np.ndarray  # the raw close at each row's date (scale-free inputs divide by it)


def select_rows(table: pa.Table, feature_names: list[str], spec: DatasetSpec, source: str) -> pa.Table:
    missing = [c for c in ["ticker", "date", *feature_names] if c not in table.column_names]
    if missing:
        raise ValidationError(f"missing column(s) {', '.join(missing)}", source=source)
    for name in feature_names:
        t = table.schema.field(name).type
        if not (pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t)):
            raise ValidationError(f"feature {name!r} has type {t}, not a number", source=source)
    available = sorted(set(table.column("ticker").to_pylist()))
    tickers = list(spec.tickers) if spec.tickers is not None else available
    absent = [t for t in tickers if t not in available]
    if absent:
        raise NotFoundError(
            f"{source}: ticker(s) {', '.join(absent)} not in the tier (it has {', '.join(available)})"
        )
    if not tickers:
        raise ValidationError("the tier has no rows", source=source)
    table = table.filter(pc.is_in(table.column("ticker"), value_set=pa.array(tickers)))
    table = table.select(["ticker", "date", *feature_names])
    table = table.set_column(1, "date", table.column("date").cast(pa.date32()))
    if table.column("date").null_count:
        raise ValidationError("null date", source=source)
    return table.sort_by([("ticker", "ascending"), ("date", "ascending")])


def _rows(
    table: pa.Table, feature_names: list[str], prices: dict[str, PriceSeries], spec: DatasetSpec, source: str
) -> _Rows:
    table = select_rows(table, feature_names, spec, source)
    ticker_col = np.asarray(table.column("ticker").to_pylist(), dtype=object)
    dates = np.asarray(table.column("date").cast(pa.int32()).to_numpy(), dtype=np.int64)
    tickers = sorted(set(ticker_col.tolist()))
    offsets = np.searchsorted(ticker_col, np.asarray(tickers, dtype=object)).astype(np.int64)
    offsets = np.append(offsets, len(ticker_col))
    codes = np.repeat(np.arange(len(tickers), dtype=np.int32), np.diff(offsets))
    dup = (np.diff(dates) <= 0) & (codes[1:] == codes[:-1])
    if dup.any():
        i = int(np.flatnonzero(dup)[0]) + 1
        raise ValidationError("duplicate (ticker, date) row", source=source, row=f"{ticker_col[i]} {to_date(dates[i])}")

    n, f = len(dates), len(feature_names)
    features = np.empty((n, f), dtype=np.float64)
    row_null = np.zeros(n, dtype=bool)
    nulls_by_feature: dict[str, int] = {}
    for j, name in enumerate(feature_names):
        col = table.column(name)
        null = np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        features[:, j] = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
        features[null, j] = np.nan  # a null stays a gap whatever value sits under it
        row_null |= null
        if null.any():
            nulls_by_feature[name] = int(null.sum())

    labels = np.full(n, np.nan)
    close = np.full(n, np.nan)
    guard = np.full(n, NEVER, dtype=np.int64)
    h, step = spec.horizon, spec.horizon + spec.split.embargo
    for k, ticker in enumerate(tickers):
        series = prices.get(ticker)
        if series is None or series.dates.size == 0:
            raise NotFoundError(f"no raw prices for ticker {ticker} (needed for the target); ingest it first")
        n_raw = series.dates.size
        if h >= n_raw:
            raise ValidationError(
                f"horizon h={h} rows is longer than the data: {ticker} has {n_raw} raw rows, so no "
                f"row has {h} rows after it; use a shorter horizon",
                source="target",
            )
        if np.isnan(series.high).all():
            raise ValidationError(
                f"{ticker} has no high prices (a close-only load); the high-based target needs OHLC",
                source="target",
            )
        raw_labels = spec.target.labels(series.high, series.close)
        lo, hi = offsets[k], offsets[k + 1]
        idx = np.searchsorted(series.dates, dates[lo:hi])
        found = (idx < n_raw) & (series.dates[np.minimum(idx, n_raw - 1)] == dates[lo:hi])
        if not found.all():
            bad = int(np.flatnonzero(~found)[0])
            raise ValidationError(
                "tier row has no raw price row (the tier and raw.ohlcv disagree; rebuild the tier)",
                source=source,
                row=f"{ticker} {to_date(dates[lo + bad])}",
            )
        labels[lo:hi] = raw_labels[idx]
        close[lo:hi] = series.close[idx]
        g = idx + step
        inside = g < n_raw
        guard[lo:hi][inside] = series.dates[g[inside]]
    return _Rows(tickers, offsets, codes, dates, features, row_null, nulls_by_feature, labels, guard,
                 close)


def _check_finite(rows: _Rows, values: np.ndarray, covered: np.ndarray, names: list[str], what: str) -> None:
    bad_rows = covered & ~np.isfinite(values).all(axis=1)
    if bad_rows.any():
        i = int(np.flatnonzero(bad_rows)[0])
        j = int(np.flatnonzero(~np.isfinite(values[i]))[0])
        raise ValidationError(
            f"feature {names[j]!r} is {values[i, j]}{what} inside a selected window; a missing value "
            "must be null in the tier (then its windows are dropped), not NaN/inf",
            source="features",
            row=f"{rows.tickers[rows.codes[i]]} {to_date(rows.dates[i])}",
        )


def assemble(
    table: pa.Table,
    feature_names: list[str],
    prices: dict[str, PriceSeries],
    spec: DatasetSpec,
    *,
    common_start: dt.date | None = None,
    source: str = "tier",
    kinds: list[str] | None = None,
) -> Assembled:
    """Build the dataset arrays from a tier table (ticker, date, features...) and raw prices.

    `kinds` (each feature's declared kind) are required when `spec.inputs` is "scale_free".
    Raises ValidationError (nothing is returned, so nothing gets written) when a split has
    fewer than 50 samples, the selection data has fewer than `spec.min_val_positives`
    positives, the horizon exceeds the data, or a selected window holds NaN/inf.
    """
    rows = _rows(table, feature_names, prices, spec, source)
    undefined = _make_inputs(rows, spec, feature_names, kinds)
    ctx, n = spec.ctx_len, rows.dates.size
    ends_ok = full_window_ends(~rows.row_null, rows.offsets, ctx)
    has_label = ~np.isnan(rows.labels)
    cand = ends_ok & has_label
    if common_start is not None:
        cand &= rows.dates >= to_days(common_start)
    if not cand.any():
        raise ValidationError(
            f"no row has {ctx} full feature rows and a label; shorten ctx_len or check the tier",
            source=source,
        )
    span_start = to_days(common_start) if common_start is not None else int(rows.dates[cand].min())
    calendar = np.unique(np.concatenate([prices[t].dates for t in rows.tickers]))
    plan = plan_splits(spec.split, calendar, span_start)

    cand_idx = np.flatnonzero(cand)
    members, purged = assign_regions(rows.dates[cand_idx], rows.guard[cand_idx], plan)
    ends = {name: cand_idx[m] for name, m in members.items()}
    check_min_samples({name: e.size for name, e in ends.items()})
    selection = check_min_positives({name: int((rows.labels[e] == 1).sum()) for name, e in ends.items()},
                                    plan, spec.min_val_positives)

    covered = covered_rows(np.concatenate(list(ends.values())), ctx, n)
    _check_finite(rows, rows.features, covered, feature_names, "")
    features = rows.features
    norm: dict[str, Any] = {"method": spec.normalization}
    if spec.normalization == "train_zscore":
        stats_split = plan.folds[0][0] if plan.folds else "train"
        norm["stats"] = {"split": stats_split, **zscore_stats(features, ends[stats_split], ctx, feature_names)}
        features = apply_zscore(features, norm["stats"])
    elif spec.normalization == "revin":
        norm["note"] = "features stored raw; each window is normalised inside the model"
    features32 = np.ascontiguousarray(features, dtype=np.float32)
    _check_finite(rows, features32, covered, feature_names, " after normalisation/float32")

    labels8 = np.where(has_label, rows.labels, NO_LABEL).astype(np.int8)
    arrays: dict[str, np.ndarray] = {
        "features": features32,
        "dates": rows.dates.astype(np.int32),
        "labels": labels8,
        "ticker_codes": rows.codes,
        "ticker_offsets": rows.offsets,
        "tickers": np.asarray(rows.tickers, dtype=str),
        "feature_names": np.asarray(feature_names, dtype=str),
    }
    counts: dict[str, dict[str, Any]] = {}
    for name, e in ends.items():
        arrays[f"ends.{name}"] = e.astype(np.int64)
        counts[name] = {
            "samples": int(e.size),
            "positives": int((labels8[e] == 1).sum()),
            "first_date": to_date(rows.dates[e].min()).isoformat(),
            "last_date": to_date(rows.dates[e].max()).isoformat(),
            "purged": purged[name],
        }
    in_span = (rows.dates >= span_start) & (rows.dates < plan.region("test").stop)
    position = np.arange(n) - rows.offsets[rows.codes]
    warmup = position < ctx - 1
    dropped = {
        "scope": "tier rows dated within the split span",
        "warmup_rows": int((in_span & warmup).sum()),
        "windows_with_null_features": int((in_span & ~warmup & ~ends_ok).sum()),
        "rows_without_label": int((in_span & ends_ok & ~has_label).sum()),
        "null_rows_by_feature": rows.nulls_by_feature,
        "undefined_input_rows_by_feature": undefined,
        "purged": {name: c for name, c in purged.items() if c},
    }
    inputs = manifest_entry(spec.inputs, feature_names, kinds)
    return Assembled(arrays, rows.tickers, plan, counts, dropped, norm, inputs, selection)


def _make_inputs(rows: _Rows, spec: DatasetSpec, feature_names: list[str],
                 kinds: list[str] | None) -> dict[str, int]:
    """Turn `rows.features` into the model inputs `spec.inputs` asks for, in place.

    Rows where an input is not defined (a rolling z-score before its window is full) become
    gaps like a null: every window containing one is dropped. Returns their count per feature.
    """
    if spec.inputs == "raw":
        return {}
    if kinds is None or len(kinds) != len(feature_names):
        raise ValidationError("scale-free inputs need the declared kind of every feature", source="dataset")
    was_nan = np.isnan(rows.features)
    rows.features = scale_free(rows.features, rows.close, rows.offsets, kinds)
    new = np.isnan(rows.features) & ~was_nan
    rows.row_null |= new.any(axis=1)
    return {name: int(new[:, j].sum()) for j, name in enumerate(feature_names) if new[:, j].any()}


@dataclass(frozen=True)
class ModelRows:
    """Every tier row as a trained model sees it (for prediction): `features` float32 with the
    dataset's input rules applied, `window_ok` where a full window of ctx rows ends."""

    features: np.ndarray
    window_ok: np.ndarray
    dates: np.ndarray  # int days
    codes: np.ndarray
    tickers: list[str]


def model_rows(
    table: pa.Table, feature_names: list[str], prices: dict[str, PriceSeries], spec: DatasetSpec,
    normalization: dict[str, Any], *, kinds: list[str] | None = None, source: str = "tier",
) -> ModelRows:
    """The tier rows through the same row model as `assemble` (`_rows`: selection, order, null
    gaps, full windows) and the dataset's stored normalization (the train split's z-score
    statistics, never recomputed), for predictions on any date of the tier's current build.
    `kinds` are the features' kinds the dataset recorded (its `model_inputs`), needed when the
    spec asks for scale-free inputs: they are transformed exactly as for training."""
    rows = _rows(table, feature_names, prices, spec, source)
    _make_inputs(rows, spec, feature_names, kinds)
    window_ok = full_window_ends(~rows.row_null, rows.offsets, spec.ctx_len)
    features = rows.features
    if normalization.get("method") == "train_zscore":
        features = apply_zscore(features, normalization["stats"])
    features32 = np.ascontiguousarray(features, dtype=np.float32)
    covered = covered_rows(np.flatnonzero(window_ok), spec.ctx_len, rows.dates.size)
    _check_finite(rows, features32, covered, feature_names, " after normalisation/float32")
    return ModelRows(features32, window_ok, rows.dates, rows.codes, rows.tickers)
