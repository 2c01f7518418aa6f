"""Benchmark: where the memory of one tier build goes.

Ingests a synthetic universe (--tickers x --years, bench/_universe.py) into a fresh project,
then builds --tier in a child process that samples its resident memory every 20 ms. Prints one
row per progress line of the build (each model, then validation and publishing): the seconds
since the start, the peak RSS during that step, RSS at its end, and what DuckDB's engine
database (`duckdb_memory()`) and Arrow's allocator hold at its end; the rest of RSS is Python's
own objects (pandas frames, the Python models' inputs and outputs) and freed-but-kept memory.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO
from _universe import PeakRss, ingest_universe

GIB = 2**30


def child(root: str, tier: str, memory_limit: str | None) -> None:
    """Build `tier` in project `root`, printing one JSON line per progress step."""
    import pyarrow as pa

    from fts.features.runner import engine_memory_bytes
    from fts.project import Project

    steps: list[dict[str, object]] = []
    with PeakRss(0.02) as rss:
        t0 = time.perf_counter()

        def progress(line: str) -> None:
            steps.append({"t": time.perf_counter() - t0, "step": line.strip(), "peak": rss.peak,
                          "rss": rss.now(), "duckdb": engine_memory_bytes(),
                          "arrow": pa.total_allocated_bytes()})
            rss.peak = 0  # the next step's own peak

        Project(root).build_tier(tier, memory_limit=memory_limit, progress=progress)
    steps.append({"t": time.perf_counter() - t0, "step": "(end)", "peak": rss.peak,
                  "rss": rss.now(), "duckdb": engine_memory_bytes(),
                  "arrow": pa.total_allocated_bytes()})
    print(json.dumps(steps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickers", type=int, default=20)
    parser.add_argument("--years", type=int, default=30)
    parser.add_argument("--tier", default="a100")
    parser.add_argument("--memory-limit", default=None, help="the build's --memory-limit")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # project root: run the build here
    args = parser.parse_args()
    if args.child:
        child(args.child, args.tier, args.memory_limit)
        return
    root = Path(tempfile.mkdtemp(prefix="fts-bench-memory-"))
    try:
        shutil.copytree(REPO / "features_sql", root / "features_sql")
        rows = ingest_universe(root, args.tickers, args.years)
        limit = ["--memory-limit", args.memory_limit] if args.memory_limit else []
        done = subprocess.run([sys.executable, __file__, "--tier", args.tier, *limit,
                               "--child", str(root)],
                              capture_output=True, text=True, cwd=REPO)
        if done.returncode:
            sys.exit(f"the build failed:\n{done.stderr}")
        steps = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"memory of build-tier {args.tier}: {args.tickers} tickers x {args.years} years = "
          f"{rows:,} raw rows, memory limit {args.memory_limit or 'default'}")
    print(f"  {'s':>7} {'peak GiB':>9} {'RSS GiB':>8} {'DuckDB':>7} {'Arrow':>7}  step (ends)")
    for s in steps:
        print(f"  {s['t']:7.1f} {s['peak'] / GIB:9.2f} {s['rss'] / GIB:8.2f} "
              f"{s['duckdb'] / GIB:7.2f} {s['arrow'] / GIB:7.2f}  {s['step']}")
    peak = max(s["peak"] for s in steps)
    print(f"  peak {peak / GIB:.2f} GiB = {peak / rows / 1024:.2f} KiB per raw row")


if __name__ == "__main__":
    main()
