"""Classification targets computed from raw prices, never stored in a tier.

`threshold_{p}pct` at horizon h: the label at row t of a ticker's price series is 1 when the
highest high of the next h rows reaches the close of t raised by p percent,

    max(high[t+1], ..., high[t+h]) >= close[t] * (1 + p / 100)

and 0 otherwise. Rows are the ticker's own trading rows (ordered by date), not calendar days.
The label is missing (NaN) when fewer than h rows follow t or when a price it needs is null.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fts.core.errors import ConfigError

DEFINITION = "high-based, >="
FORMULA = "max(high[t+1..t+h]) >= close[t] * (1 + p/100)"


@dataclass(frozen=True)
class TargetSpec:
    """A threshold target: horizon `h` in trading rows, threshold `p` in percent."""

    horizon: int
    threshold_pct: float

    def __post_init__(self) -> None:
        if isinstance(self.horizon, bool) or not isinstance(self.horizon, int | np.integer):
            raise ConfigError(f"target horizon must be an integer number of rows, got {self.horizon!r}")
        if self.horizon < 1:
            raise ConfigError(f"target horizon must be >= 1 row, got {self.horizon}")
        p = float(self.threshold_pct)
        if not np.isfinite(p) or p <= 0:
            raise ConfigError(f"threshold_pct must be a positive percentage, got {self.threshold_pct!r}")
        object.__setattr__(self, "horizon", int(self.horizon))
        object.__setattr__(self, "threshold_pct", p)

    @property
    def name(self) -> str:
        """`threshold_1pct`, `threshold_0.5pct`, ... (the percentage in its shortest form)."""
        return f"threshold_{self.threshold_pct:g}pct"

    def to_manifest(self) -> dict[str, Any]:
        """The target definition as recorded in a dataset manifest."""
        return {
            "name": self.name,
            "horizon": self.horizon,
            "threshold_pct": self.threshold_pct,
            "definition": DEFINITION,
            "formula": FORMULA,
            "missing": f"no label when fewer than {self.horizon} rows follow t or a price is null",
        }

    def labels(self, high: np.ndarray, close: np.ndarray) -> np.ndarray:
        """Labels of one ticker's series (see `threshold_labels`)."""
        return threshold_labels(high, close, self.horizon, self.threshold_pct)


def future_max(values: np.ndarray, horizon: int) -> np.ndarray:
    """max(values[t+1 .. t+horizon]) for every t; NaN where fewer than `horizon` values follow.

    A NaN inside the look-ahead window propagates (np.max does), so a missing high gives a
    missing label rather than a label computed from a partial window.
    """
    v = np.asarray(values, dtype=np.float64)
    out = np.full(v.shape[0], np.nan)
    n_full = v.shape[0] - horizon
    if n_full <= 0:
        return out
    # Windows over v[1:]: window t covers v[t+1 .. t+horizon]. A view, no copy of the data.
    windows = np.lib.stride_tricks.sliding_window_view(v[1:], horizon)
    out[:n_full] = windows.max(axis=1)
    return out


def threshold_labels(
    high: np.ndarray, close: np.ndarray, horizon: int, threshold_pct: float
) -> np.ndarray:
    """Vectorised `threshold_{p}pct` labels of one ticker's rows, ordered by date.

    Returns float64: 1.0, 0.0, or NaN where the label is missing (the last `horizon` rows,
    or a null high/close involved). The comparison is `>=` on float64, with the threshold
    computed exactly as `close * (1 + threshold_pct / 100)`.
    """
    high = np.asarray(high, dtype=np.float64)
    close = np.asarray(close, dtype=np.float64)
    if high.shape != close.shape or high.ndim != 1:
        raise ValueError(f"high and close must be 1-D of equal length, got {high.shape} and {close.shape}")
    if horizon < 1:
        raise ConfigError(f"target horizon must be >= 1 row, got {horizon}")
    peak = future_max(high, horizon)
    level = close * (1.0 + float(threshold_pct) / 100.0)
    with np.errstate(invalid="ignore"):
        hit = (peak >= level).astype(np.float64)
    hit[np.isnan(peak) | np.isnan(level)] = np.nan
    return hit
