"""Helpers shared by the benchmarks: a throw-away project with the sample, and a timer."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.reference is the independent reference implementation


def sample_project() -> Path:
    """A temporary project with the shipped declarations and the embedded sample ingested."""
    from fts.project import Project

    root = Path(tempfile.mkdtemp(prefix="fts-bench-"))
    shutil.copytree(REPO / "features_sql", root / "features_sql")
    Project(root).ingest_sample()
    return root


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best wall time of `repeat` calls (the least disturbed by the rest of the machine)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)
