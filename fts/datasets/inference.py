"""The windows a stored model predicts on: any date of its tier's CURRENT build.

Rows go through the same dataset functions as training (`fts.datasets.assemble`: row
selection and order, null gaps, full windows of ctx rows) with the run's stored
normalization, so a window here equals the window of the same (ticker, date) in the run's
dataset whenever the tier rows under it are the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fts.core.errors import NotFoundError, ValidationError
from fts.core.paths import ProjectPaths
from fts.datasets import sources
from fts.datasets.assemble import model_rows
from fts.datasets.spec import DatasetSpec
from fts.datasets.splits import to_date, to_days
from fts.datasets.windows import WindowSet, window_view
from fts.warehouse import connect


@dataclass(frozen=True)
class PredictionWindows:
    """The windows to predict, with the (ticker, date) each ends on, and the tier build."""

    windows: WindowSet
    tickers: np.ndarray  # object, one per window
    dates: np.ndarray  # datetime64[D], one per window
    tier_manifest_id: str


def prediction_windows(
    paths: ProjectPaths, spec: DatasetSpec, feature_names: list[str],
    normalization: dict[str, Any], *, dates: Sequence[dt.date] | None = None,
    since: dt.date | None = None, kinds: list[str] | None = None,
) -> PredictionWindows:
    """Windows ending on `dates`, or on every date from `since`, or (neither) on each ticker's
    latest date with a full window; the tier's columns must be `feature_names`, in order.
    `kinds` (the training dataset's recorded kinds) drive scale-free inputs, as in training."""
    with connect(paths.warehouse, read_only=True, project_root=paths.root) as con:
        tier = sources.tier_build(con, paths, spec.tier)
        if tier.feature_names != feature_names:
            raise ValidationError(
                f"tier {spec.tier}'s current build has other columns than the model was "
                f"trained on ({len(tier.feature_names)} vs {len(feature_names)}, or another "
                "order); rebuild the tier at the run's version", source="predict")
        table = tier.read(verify=True, tickers=spec.tickers)
        loads = sources.raw_loads(con, tier, sources.ticker_list(table, spec.tickers))
        prices = sources.price_series(con, loads)
    rows = model_rows(table, feature_names, prices, spec, normalization, kinds=kinds,
                      source=f"tier {spec.tier}")
    ends = _chosen_ends(rows.window_ok, rows.dates, rows.codes, dates, since)
    return PredictionWindows(
        WindowSet(window_view(rows.features, spec.ctx_len), ends, spec.ctx_len),
        np.asarray(rows.tickers, dtype=object)[rows.codes[ends]],
        rows.dates[ends].astype("datetime64[D]"),
        tier.manifest.id,
    )


def _chosen_ends(ok: np.ndarray, days: np.ndarray, codes: np.ndarray,
                 dates: Sequence[dt.date] | None, since: dt.date | None) -> np.ndarray:
    if dates is not None:
        wanted = np.asarray(sorted({to_days(d) for d in dates}), dtype=np.int64)
        ends = np.flatnonzero(ok & np.isin(days, wanted))
        missing = sorted(set(wanted.tolist()) - set(days[ends].tolist()))
        if missing:
            shown = ", ".join(to_date(d).isoformat() for d in missing[:5])
            raise NotFoundError(
                f"no full window ends on {shown}{' ...' if len(missing) > 5 else ''} (not a "
                "row of the tier, or inside its warm-up or a null gap)")
        return ends
    if since is not None:
        ends = np.flatnonzero(ok & (days >= to_days(since)))
        if not ends.size:
            raise NotFoundError(f"no full window ends on or after {since.isoformat()}")
        return ends
    # The latest full window of each ticker.
    ends = [int(np.flatnonzero(ok & (codes == k))[-1])
            for k in np.unique(codes) if (ok & (codes == k)).any()]
    if not ends:
        raise NotFoundError("the tier has no full window to predict on")
    return np.asarray(ends, dtype=np.int64)
