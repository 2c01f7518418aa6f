"""Context windows as views over one contiguous feature matrix.

The dataset stores the features of all its tickers as ONE float32 matrix (n_rows, n_features),
tickers one after another (rows of ticker k are `offsets[k]:offsets[k+1]`, ordered by date),
and for each split the END row of each sample. The window of a sample ending at row e is
rows e-ctx+1 .. e inclusive: the ctx most recent tier rows up to and including its own date.
`sliding_window_view` exposes every window without copying; a `WindowSet` picks a split's
windows out of it lazily, so a single window is a view and only a batch is ever copied.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np


def window_view(features: np.ndarray, ctx: int) -> np.ndarray:
    """All windows of `ctx` consecutive rows: a read-only view of shape (n_rows-ctx+1, ctx, F).

    Window w covers rows w .. w+ctx-1, so the window ending at row e is `view[e - ctx + 1]`.
    """
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (rows, features), got shape {features.shape}")
    if features.shape[0] < ctx:
        return np.empty((0, ctx, features.shape[1]), dtype=features.dtype)
    # sliding_window_view puts the window axis last: (n-ctx+1, F, ctx) -> transpose, still a view.
    return np.lib.stride_tricks.sliding_window_view(features, ctx, axis=0).transpose(0, 2, 1)


def full_window_ends(row_ok: np.ndarray, offsets: np.ndarray, ctx: int) -> np.ndarray:
    """Boolean mask over rows: True where a window of `ctx` rows can end at that row.

    A window must lie inside one ticker (at least ctx-1 earlier rows of the same ticker) and
    contain only rows with `row_ok` (no null feature).
    """
    ok = np.asarray(row_ok, dtype=bool)
    n = ok.size
    bad_before = np.concatenate([[0], np.cumsum(~ok, dtype=np.int64)])  # bad rows in [0, i)
    rows = np.arange(n)
    start = rows - ctx + 1
    ticker_start = np.repeat(offsets[:-1], np.diff(offsets))
    inside = start >= ticker_start
    clean = np.zeros(n, dtype=bool)
    clean[inside] = (bad_before[rows[inside] + 1] - bad_before[start[inside]]) == 0
    return inside & clean


def covered_rows(ends: np.ndarray, ctx: int, n_rows: int) -> np.ndarray:
    """Boolean mask of the rows that lie inside at least one of the windows ending at `ends`."""
    delta = np.zeros(n_rows + 1, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    np.add.at(delta, ends - ctx + 1, 1)
    np.add.at(delta, ends + 1, -1)
    return np.cumsum(delta[:-1]) > 0


class WindowSet:
    """The windows of one split, shape (n, ctx, F), without materialising them.

    `ws[i]` is a (ctx, F) VIEW of the feature matrix; `ws[a:b]` is a smaller WindowSet;
    `ws[index_array]` gathers a batch (a copy of just that batch, ready for torch.from_numpy);
    `np.asarray(ws)` materialises the whole split (a copy: avoid for large splits).
    """

    def __init__(self, all_windows: np.ndarray, ends: np.ndarray, ctx: int):
        self._all = all_windows
        self.ends = np.asarray(ends, dtype=np.int64)
        self.ctx = ctx
        self._starts = self.ends - ctx + 1

    @property
    def shape(self) -> tuple[int, int, int]:
        return (int(self.ends.size), self.ctx, int(self._all.shape[2]))

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._all.dtype

    def __len__(self) -> int:
        return int(self.ends.size)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int | np.integer):
            return self._all[self._starts[key]]
        if isinstance(key, slice):
            return WindowSet(self._all, self.ends[key], self.ctx)
        return self._all[self._starts[np.asarray(key)]]

    def __iter__(self) -> Iterator[np.ndarray]:
        for s in self._starts:
            yield self._all[s]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self._all[self._starts]
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        return f"WindowSet(shape={self.shape}, dtype={self.dtype})"
