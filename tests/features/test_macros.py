"""The DuckDB behaviour the SQL macros rely on, checked directly (a DuckDB upgrade that broke it
would silently change feature values)."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

W = "OVER (PARTITION BY ticker ORDER BY date ROWS BETWEEN {p} PRECEDING AND CURRENT ROW)"


@pytest.mark.parametrize("value", [0.1, 1 / 3, 1e9 + 0.3, -7.25, 1e300, 5e-324, 123456.789])
@pytest.mark.parametrize("n", [3, 5, 20, 252])
def test_windowed_stddev_is_exactly_zero_on_a_flat_window(value: float, n: int) -> None:
    # rolling_std has no max = min guard: it relies on stddev_samp giving exactly 0.0 on a
    # window of equal values, also after a jump (the window then holds only the new value).
    rng = np.random.default_rng(n)
    noisy = rng.normal(100.0, 5.0, 300)
    values = np.concatenate([noisy, np.full(n + 40, value)])
    con = duckdb.connect()
    con.execute("CREATE TABLE t (ticker VARCHAR, date INTEGER, x DOUBLE)")
    con.executemany("INSERT INTO t VALUES ('A', ?, ?)", list(enumerate(values.tolist())))
    rows = con.execute(
        f"SELECT date, stddev_samp(x) {W.format(p=n - 1)} FROM t ORDER BY date"
    ).fetchall()
    flat = [std for date, std in rows if date >= len(noisy) + n - 1]
    assert len(flat) == 41
    assert all(std == 0.0 for std in flat), sorted(set(flat))[:3]
    # ...and the windows still holding a noisy value are not 0.
    assert rows[len(noisy) + n - 2][1] > 0


def test_windowed_rank_counts_the_values_at_or_below_today() -> None:
    # percentile_rank: (n + 1 - rank(ORDER BY x DESC) OVER frame) values of the frame are <= x.
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, 400).astype(float)  # many ties
    n = 7
    con = duckdb.connect()
    con.execute("CREATE TABLE t (ticker VARCHAR, date INTEGER, x DOUBLE)")
    con.executemany("INSERT INTO t VALUES ('A', ?, ?)", list(enumerate(x.tolist())))
    got = [r[0] for r in con.execute(
        f"SELECT {n + 1} - rank(ORDER BY x DESC) {W.format(p=n - 1)} FROM t ORDER BY date"
    ).fetchall()]
    for t in range(n - 1, len(x)):
        window = x[t - n + 1 : t + 1]
        assert got[t] == int((window <= x[t]).sum()), t
