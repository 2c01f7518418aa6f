"""A toy project for engine tests: the toy tiers in tests/resources/toy_project and synthetic raw
rows written straight into the warehouse (the ingestion stage has its own tests)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from fts.project import Project
from fts.warehouse import connect

TOY = Path(__file__).resolve().parent.parent / "resources" / "toy_project"


def make_toy_project(root: Path, n: int = 60, tickers: tuple[str, ...] = ("AAA",),
                     vix: bool = True) -> Project:
    """Copy the toy declarations into `root` and load random-walk bars for `tickers`."""
    shutil.copytree(TOY, root, dirs_exist_ok=True)
    project = Project(root)
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2020-01-01", periods=n).date
    with connect(project.paths.warehouse) as con:
        series = [(t, False) for t in tickers] + ([("^VIX", True)] if vix else [])
        for seq, (ticker, close_only) in enumerate(series):
            close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
            put_load(con, f"L-{ticker}-{seq}", seq, ticker, dates, close, close_only)
    return project


def put_load(con, load_id: str, seq: int, ticker: str, dates, close, close_only: bool) -> None:
    """Insert one load (raw.loads row + its bars) directly."""
    con.execute(
        "INSERT INTO raw.loads VALUES (?, ?, ?, 'test', now(), ?, NULL, NULL, ?, 0, 0, ?)",
        [load_id, seq, ticker, len(dates), load_id, close_only],
    )
    frame = pd.DataFrame({
        "load_id": load_id, "ticker": ticker, "date": dates,
        "open": None if close_only else close, "high": None if close_only else close * 1.01,
        "low": None if close_only else close * 0.99, "close": close,
        "volume": None if close_only else 1000.0,
    })
    con.register("frame", frame)
    con.execute("INSERT INTO raw.ohlcv_history SELECT * FROM frame")
    con.unregister("frame")


def tree_snapshot(root: Path) -> dict[str, bytes]:
    """Every file under data/ and manifests/ and the warehouse tables that builds write."""
    files = {
        str(p.relative_to(root)): p.read_bytes()
        for d in ("data", "manifests") if (root / d).exists()
        for p in sorted((root / d).rglob("*")) if p.is_file()
    }
    project = Project(root)
    with project.connect() as con:
        for table in ("meta.manifests", "meta.tier_current", "meta.artifacts"):
            files[table] = repr(con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()).encode()
    return files
