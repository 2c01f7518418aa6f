"""Ticker batches sized to a memory budget, so that a build's peak memory does not grow with
the universe: each batch is run, validated and staged to disk before the next one starts.

The budget is `--memory-limit` (by default a quarter of the machine's RAM, or of the
container's limit where that is smaller); DuckDB's `memory_limit` in each batch's session is a
share of it (`DUCKDB_SHARE`). A batch holds at most `budget / BYTES_PER_RAW_ROW` raw rows, so
that its peak (every model's output, the trimmed tiers, their Arrow and pandas copies for
validation) stays near half the budget. A ticker is never split (its features are computed on its whole
history), so one ticker larger than the budget makes a batch of its own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from fts.core.errors import FtsError

# A batch's raw rows are at most budget / this: with DuckDB's share below, batches of 136
# tickers x 30 years (1.03M raw rows at the 6 GiB default) peaked at 3.39 GiB building 500
# tickers and 3.53 GiB building 5,000 (bench/build_tier.py --scale; docs/features.md "Scale").
BYTES_PER_RAW_ROW = 6 * 1024
DEFAULT_RAM_FRACTION = 0.25
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]I?B|B)?\s*$", re.IGNORECASE)
MIN_LIMIT = 64 * 2**20  # DuckDB and one small ticker need at least this much


class MemoryLimitError(FtsError):
    """A --memory-limit that is not a size, or too small to build anything."""


def parse_memory_limit(text: str) -> int:
    """Bytes of a size such as `4GB`, `512MiB` or `2.5 GB` (decimal and binary units)."""
    m = _SIZE.match(text)
    if not m:
        raise MemoryLimitError(f"--memory-limit {text!r}: not a size (examples: 4GB, 512MB, 2GiB)")
    value = int(float(m[1]) * _UNITS[(m[2] or "").upper()])
    if value < MIN_LIMIT:
        raise MemoryLimitError(f"--memory-limit {text!r}: at least {MIN_LIMIT // 2**20}MiB is "
                               "needed to build a tier")
    return value


def default_memory_limit(root: Path = Path("/")) -> int:
    """A safe share of the memory this process may use: a quarter of the machine's RAM or of
    its control group's limit (a container's), whichever is smaller. DuckDB's own default is
    80 % of RAM."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        total = 8 * 2**30
    cap = cgroup_memory_limit(root)
    if cap is not None:
        total = min(total, cap)
    return max(MIN_LIMIT, int(total * DEFAULT_RAM_FRACTION))


def cgroup_memory_limit(root: Path = Path("/")) -> int | None:
    """The memory limit of this process's control group (v2 `memory.max`, v1
    `memory.limit_in_bytes`), or None where there is none (`root`: for tests)."""
    try:
        lines = (root / "proc/self/cgroup").read_text().splitlines()
    except (OSError, ValueError):  # ValueError: not text
        return None
    candidates = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        rel = Path(path.lstrip("/"))
        # The group's own limit and its parents' (a limit set on a parent binds too).
        for group in (rel, *rel.parents):
            if controllers == "":  # v2: one unified hierarchy
                candidates.append(root / "sys/fs/cgroup" / group / "memory.max")
            elif "memory" in controllers.split(","):
                candidates.append(root / "sys/fs/cgroup/memory" / group / "memory.limit_in_bytes")
    limits = []
    for f in candidates:
        try:
            text = f.read_text().strip()
        except (OSError, ValueError):
            continue
        # "max" (v2) or a huge page-rounded number (v1) means no limit.
        if text.isdigit() and int(text) < 2**60:
            limits.append(int(text))
    return min(limits) if limits else None


#: DuckDB's share of the budget: its memory_limit in each batch's session, past which it spills
#: table blocks and operator state to disk. The rest of a batch lives outside DuckDB (the Python
#: models' frames, each tier's Arrow table and the pandas chunk pandera checks), and DuckDB held
#: to a limit also hands back what it freed: 100 tickers x 30 years of a100 in one batch peaked
#: at 3.00 GiB with DuckDB allowed the whole 6 GiB budget and at 2.04 GiB with 1 GiB
#: (bench/build_memory.py; docs/features.md). Too small a share makes DuckDB spill the wide
#: tier joins to disk: a batch of 163 tickers took 47.9 s with a quarter (1.5 GiB) and 41.6 s
#: with 0.4 (2.4 GiB), peaking 0.8 GiB higher; batches are sized (BYTES_PER_RAW_ROW) so that
#: the peak stays near half the budget.
DUCKDB_SHARE = 0.4
DUCKDB_MIN = 256 * 2**20  # below this DuckDB cannot hold one window partition's state


def duckdb_limit(limit: int) -> str:
    """DuckDB's memory_limit for a batch of a build whose budget is `limit` bytes."""
    return duckdb_size(min(limit, max(DUCKDB_MIN, int(limit * DUCKDB_SHARE))))


def duckdb_size(limit: int) -> str:
    """The budget as DuckDB's memory_limit setting takes it."""
    return f"{max(1, limit // 2**20)}MiB"


def plan_batches(tickers: Sequence[str], rows: Mapping[str, int], limit: int) -> list[list[str]]:
    """Split `tickers` (in order) into batches of at most `limit / BYTES_PER_RAW_ROW` raw rows."""
    budget = max(1, limit // BYTES_PER_RAW_ROW)
    batches: list[list[str]] = []
    current: list[str] = []
    used = 0
    for t in tickers:
        n = int(rows.get(t, 0))
        if current and used + n > budget:
            batches.append(current)
            current, used = [], 0
        current.append(t)
        used += n
    if current:
        batches.append(current)
    return batches
