"""Benchmark: building a100 from raw with fts against computing the same 100 columns directly
with TA-Lib and pandas (the independent reference in tests/reference), in the same run.

Prints: seconds for each, the ratio (target: fts no worse than 2x), the up-to-date check
(target: under 0.5 s), and with --scale N, a synthetic universe of N tickers x 30 years built
in one pass: rows per second and peak memory.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import time

import numpy as np
import pandas as pd
from _common import REPO, best_of, sample_project

from fts.features.compute import compute_tier
from fts.project import Project


def reference_a100(raw: pd.DataFrame, vix: pd.DataFrame) -> pd.DataFrame:
    from tests.reference.features import reference_features

    return reference_features(raw[["date", "open", "high", "low", "close", "volume"]], vix, "a100")


def sample_comparison(repeat: int) -> None:
    root = sample_project()
    project = Project(root)
    raw = project.sql("select * from raw.ohlcv where ticker = '^GSPC' order by date").to_pandas()
    vix = project.sql("select date, close from raw.ohlcv where ticker = '^VIX' order by date").to_pandas()
    t_ref = best_of(lambda: reference_a100(raw, vix), repeat)
    t_engine = best_of(lambda: compute_tier(REPO / "features_sql", "a100", raw, vix), repeat)
    t0 = time.perf_counter()
    project.build_tier("a100")
    t_build = time.perf_counter() - t0
    t_check = best_of(lambda: project.build_tier("a100"), repeat)
    print(f"sample a100 ({len(raw)} rows of ^GSPC):")
    print(f"  reference (TA-Lib + pandas)      {t_ref:8.3f} s")
    print(f"  fts engine, in memory            {t_engine:8.3f} s   ratio {t_engine / t_ref:5.2f}x (target <= 2x)")
    print(f"  fts build-tier a100 (all tiers,  {t_build:8.3f} s   ratio {t_build / t_ref:5.2f}x")
    print("    validation, Parquet, manifests)")
    print(f"  up-to-date check                 {t_check:8.3f} s   (target < 0.5 s)")
    shutil.rmtree(root)


def synthetic_universe(n_tickers: int, years: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("1990-01-01", periods=252 * years)
    n = len(dates)
    frames = []
    for i in range(n_tickers):
        close = 50 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, n)))
        open_ = close * np.exp(rng.normal(0, 0.004, n))
        high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.006, n)))
        low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.006, n)))
        frames.append(pd.DataFrame({"ticker": f"T{i:04d}", "date": dates, "open": open_,
                                    "high": high, "low": low, "close": close,
                                    "volume": rng.integers(1e5, 1e7, n).astype(float)}))
    vix = pd.DataFrame({"date": dates, "close": 18 * np.exp(np.cumsum(rng.normal(0, 0.05, n)) * 0.1)})
    return pd.concat(frames, ignore_index=True), vix


def scale(n_tickers: int, years: int) -> None:
    raw, vix = synthetic_universe(n_tickers, years)
    t0 = time.perf_counter()
    out = compute_tier(REPO / "features_sql", "a100", raw, vix)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    print(f"scale: {n_tickers} tickers x {years} years = {len(raw):,} raw rows -> {len(out):,} a100 rows")
    print(f"  {seconds:.1f} s, {len(raw) / seconds:,.0f} raw rows/s, peak RSS {peak:.1f} GiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=int, default=0, help="tickers in the synthetic universe (e.g. 500)")
    parser.add_argument("--years", type=int, default=30)
    args = parser.parse_args()
    sample_comparison(args.repeat)
    if args.scale:
        scale(args.scale, args.years)


if __name__ == "__main__":
    main()
