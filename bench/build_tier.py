"""Benchmark: building a tier from raw with fts against computing the same columns directly
with TA-Lib and pandas / numpy (the independent reference in tests/reference), in the same run.

Without --scale (the sample; --tier a200 by default): seconds for each and the headline ratio of
the full `build-tier TIER` (every tier, pandera validation, Parquet, manifests) to the reference
(target: a100 no worse than 2x, a200 no worse than 1.5x at 100 tickers), the in-memory engine
alone, and the up-to-date check (target: under 0.5 s).

With --scale N[,N...] (tier a100 by default: the issue's scale targets were measured on it):
for each N, a synthetic universe of N tickers x --years years (bench/_universe.py) is ingested
through the library's batched load into a fresh project and built for real in a child process
under --memory-limit (default: the build's own default). One block per scale: ingest time, raw
rows per second, seconds per million rows, peak RSS of the build's process tree and the ratio
to the reference; the reference runs on every ticker up to 20 and, above that, on the first 20
and is scaled per raw row (it is linear in rows: one ticker at a time). Then one line that
checks linearity: seconds per million raw rows at each scale. Targets: 500 tickers at most
4 GiB peak and no slower than the reference; 5,000 tickers (about 38M raw rows) with a peak of
at most 6 GiB, in time linear in rows. The builds' progress lines, each with the seconds and the
peak RSS so far, go to --log (a long run can be followed batch by batch).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from _common import REPO, best_of, sample_project
from _universe import INGEST_BATCH, ingest_universe, ticker_frame, vix_frame

from fts.features.compute import compute_tier
from fts.project import Project

TARGETS = {"a100": 2.0, "a200": 1.5}  # full build / reference, at most


def reference_tier(raw: pd.DataFrame, vix: pd.DataFrame, tier: str) -> pd.DataFrame:
    from tests.reference.features import reference_features

    return reference_features(raw[["date", "open", "high", "low", "close", "volume"]], vix, tier)


def sample_comparison(repeat: int, tier: str) -> None:
    root = sample_project()
    project = Project(root)
    raw = project.sql("select * from raw.ohlcv where ticker = '^GSPC' order by date").to_pandas()
    vix = project.sql("select date, close from raw.ohlcv where ticker = '^VIX' order by date").to_pandas()
    # Every figure is for a warm process: imports done (hence the untimed first reference run),
    # and the engine's cached template compiles / fingerprints reused from the earlier calls.
    reference_tier(raw, vix, tier)
    t_ref = best_of(lambda: reference_tier(raw, vix, tier), repeat)
    t_engine = best_of(lambda: compute_tier(REPO / "features_sql", tier, raw, vix), repeat)
    # The full build, best of `repeat` fresh projects (each starts with nothing built).
    builds = []
    for i in range(repeat):
        fresh = root if i == 0 else sample_project()
        t0 = time.perf_counter()
        Project(fresh).build_tier(tier)
        builds.append(time.perf_counter() - t0)
        if fresh != root:
            shutil.rmtree(fresh)
    t_build = min(builds)
    t_check = best_of(lambda: project.build_tier(tier), repeat)
    print(f"sample {tier} ({len(raw)} rows of ^GSPC):")
    print(f"  reference (TA-Lib + pandas)      {t_ref:8.3f} s")
    print(f"  fts build-tier {tier:<4}             {t_build:8.3f} s   ratio {t_build / t_ref:5.2f}x")
    print(f"    (vix, a20, ..., {tier}: run, pandera validation, Parquet, manifests, registration)")
    print(f"  fts engine only, in memory       {t_engine:8.3f} s   ratio {t_engine / t_ref:5.2f}x")
    print(f"  up-to-date check                 {t_check:8.3f} s   (target < 0.5 s)")
    shutil.rmtree(root)


REF_TICKERS = 20  # the reference's fixed sample of a large universe (T0000..T0019)
# The tier of the scale targets: it peaked at about 4.7 KiB per raw row on 100 tickers
# x 20 years (a100 measured 4.4 KiB here, a200 8.0 KiB: bench/build_memory.py).
SCALE_TIER = "a100"

_BUILD_CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[4])
from _universe import PeakRss
from fts.project import Project
limit = sys.argv[3] or None
log = open(sys.argv[5], "a", encoding="utf-8")
with PeakRss() as rss:
    t0 = time.perf_counter()
    result = Project(sys.argv[1]).build_tier(
        sys.argv[2], memory_limit=limit,
        progress=lambda line: print(f"{time.perf_counter() - t0:8.1f}s peak "
                                    f"{rss.peak / 2**30:5.2f} GiB {line}", file=log, flush=True))
    seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "peak": rss.peak, "rows": result.target.rows,
                  "tiers": [[t.tier, t.rows] for t in result.tiers]}))
"""


@dataclass
class ScaleResult:
    """One scale's figures (for the linearity line)."""

    tickers: int
    rows: int
    seconds: float


def reference_seconds(n_tickers: int, years: int, tier: str) -> tuple[float, int, int]:
    """The reference's time for the whole universe: measured on all tickers up to REF_TICKERS,
    else on the first REF_TICKERS and scaled by raw rows (every ticker has the same rows, and
    the reference works one ticker at a time, so its time is linear in rows).
    Returns (seconds for the universe, tickers measured, rows measured)."""
    vix = vix_frame(years)
    k = min(n_tickers, REF_TICKERS)
    frames = [ticker_frame(i, years) for i in range(k)]
    reference_tier(frames[0], vix, tier)  # warm: imports and TA-Lib's first call untimed
    t0 = time.perf_counter()
    for frame in frames:
        reference_tier(frame, vix, tier)
    measured = time.perf_counter() - t0
    rows = sum(len(f) for f in frames)
    return measured * (n_tickers * len(frames[0])) / rows, k, rows


def scale(n_tickers: int, years: int, tier: str, memory_limit: str | None,
          log: Path) -> ScaleResult:
    """The real `build_tier(tier)` (every tier, validation, Parquet, manifests) on a synthetic
    universe ingested into a fresh project; the build runs in a child process whose peak
    memory (with any process it starts) is sampled on its own."""
    t_ref, k, ref_rows = reference_seconds(n_tickers, years, tier)
    root = Path(tempfile.mkdtemp(prefix="fts-bench-scale-"))
    try:
        shutil.copytree(REPO / "features_sql", root / "features_sql")
        t0 = time.perf_counter()
        n_raw = ingest_universe(root, n_tickers, years)
        t_ingest = time.perf_counter() - t0
        with log.open("a", encoding="utf-8") as f:
            f.write(f"== {n_tickers} tickers x {years} years: ingested in {t_ingest:.1f} s\n")
        done = subprocess.run(
            [sys.executable, "-c", _BUILD_CHILD, str(root), tier, memory_limit or "",
             str(REPO / "bench"), str(log)],
            check=True, capture_output=True, text=True, cwd=REPO)
        out = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    seconds = out["seconds"]
    tiers = ", ".join(f"{t} {n:,}" for t, n in out["tiers"])
    how = ("all tickers" if k == n_tickers else
           f"measured on {k} of {n_tickers} tickers ({ref_rows:,} rows) and scaled per raw row")
    print(f"scale: {n_tickers:,} tickers x {years} years = {n_raw:,} raw rows, tier {tier}")
    print(f"  ingest (load_many, {INGEST_BATCH} tickers per transaction): {t_ingest:.1f} s, "
          f"{n_raw / t_ingest:,.0f} rows/s")
    print(f"  reference (TA-Lib + pandas, per ticker): {t_ref:.1f} s ({how})")
    print(f"  fts build-tier {tier} (all tiers, validation, Parquet, manifests; memory limit "
          f"{memory_limit or 'default'}): {seconds:.1f} s, {n_raw / seconds:,.0f} raw rows/s, "
          f"{seconds / n_raw * 1e6:.1f} s per million rows, ratio {seconds / t_ref:.2f}x")
    print(f"  peak RSS of the build (its process tree, sampled every 50 ms): "
          f"{out['peak'] / 2**30:.2f} GiB ({out['peak'] / n_raw / 1024:.2f} KiB per raw row)")
    print(f"  rows written: {tiers}", flush=True)
    return ScaleResult(n_tickers, n_raw, seconds)


def linearity(results: list[ScaleResult]) -> None:
    """One line: seconds per million raw rows at each scale, and the largest / smallest."""
    per = [r.seconds / r.rows * 1e6 for r in results]
    parts = ", ".join(f"{r.tickers:,} tickers {p:.1f}" for r, p in zip(results, per, strict=True))
    print(f"linearity: seconds per million raw rows: {parts} "
          f"(largest / smallest {max(per) / min(per):.2f}; 1.00 is exactly linear)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", default="",
                        help="tickers of the synthetic universes, comma-separated (e.g. 50,500,5000)")
    parser.add_argument("--years", type=int, default=30)
    parser.add_argument("--tier", default=None, choices=sorted(TARGETS),
                        help=f"default: a200 for the sample, {SCALE_TIER} for --scale")
    parser.add_argument("--memory-limit", default=None, help="the scale builds' --memory-limit")
    parser.add_argument("--log", type=Path, default=Path(tempfile.gettempdir()) / "fts-bench-scale.log",
                        help="where the scale builds' progress lines go")
    args = parser.parse_args()
    if not args.scale:
        sample_comparison(args.repeat, args.tier or "a200")
        return
    results = [scale(int(n), args.years, args.tier or SCALE_TIER, args.memory_limit, args.log)
               for n in args.scale.split(",")]
    if len(results) > 1:
        linearity(results)


if __name__ == "__main__":
    main()
