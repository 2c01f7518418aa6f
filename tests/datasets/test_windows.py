"""Windows: views over one matrix, ending at the sample's row, never crossing tickers or nulls."""

from __future__ import annotations

import numpy as np

from fts.datasets.windows import WindowSet, covered_rows, full_window_ends, window_view


def test_window_view_is_a_view_ending_at_its_row() -> None:
    feats = np.arange(40, dtype=np.float32).reshape(20, 2)
    win = window_view(feats, 5)
    assert win.shape == (16, 5, 2)
    assert np.shares_memory(win, feats)
    for e in range(4, 20):
        np.testing.assert_array_equal(win[e - 4], feats[e - 4 : e + 1])
        assert win[e - 4][-1, 0] == feats[e, 0]


def test_full_window_ends_respects_tickers_and_nulls() -> None:
    offsets = np.array([0, 10, 25])
    ok = np.ones(25, dtype=bool)
    ok[15] = False  # a null row of the second ticker
    got = full_window_ends(ok, offsets, 4)
    expected = np.zeros(25, dtype=bool)
    expected[3:10] = True  # first ticker: rows 3..9
    expected[13:15] = True  # second ticker starts at 10: rows 13, 14 end before the null
    expected[19:25] = True  # windows after the null start at 16 -> end at 19..
    np.testing.assert_array_equal(got, expected)


def test_covered_rows() -> None:
    got = covered_rows(np.array([4, 5, 12]), 3, 15)
    np.testing.assert_array_equal(np.flatnonzero(got), [2, 3, 4, 5, 10, 11, 12])


def test_window_set_items_are_views_batches_are_gathers() -> None:
    feats = np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32)
    ends = np.array([5, 9, 20, 29])
    ws = WindowSet(window_view(feats, 6), ends, 6)
    assert ws.shape == (4, 6, 3) and len(ws) == 4
    for i, e in enumerate(ends):
        assert np.shares_memory(ws[i], feats)
        np.testing.assert_array_equal(ws[i], feats[e - 5 : e + 1])
    batch = ws[np.array([3, 0])]
    np.testing.assert_array_equal(batch, np.stack([feats[24:30], feats[0:6]]))
    np.testing.assert_array_equal(np.asarray(ws[1:3]), np.stack([ws[1], ws[2]]))
    assert np.asarray(ws).shape == (4, 6, 3)
