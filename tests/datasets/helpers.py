"""Synthetic projects for dataset tests: random-walk OHLCV written straight into raw tables and
hand-made tier builds (Parquet + manifest + current pointer), independent of the tier builder."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fts.core.hashing import sha256_bytes, table_content_sha256
from fts.core.manifest import Input, Manifest
from fts.core.paths import ProjectPaths
from fts.warehouse import connect, register_manifest, set_current_tier, transaction

EPOCH = dt.date(1970, 1, 1)
START = dt.date(2012, 1, 2)
FEATURES = ["day", "ret1", "hl_range", "ma_ratio"]  # "day" = the row's date as days: locates rows


@dataclass
class Prices:
    """One ticker's raw bars (dates as int days)."""

    ticker: str
    days: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    load: Input | None = field(default=None)

    def index_of(self, day: int) -> int:
        i = int(np.searchsorted(self.days, day))
        assert self.days[i] == day
        return i


def random_walk(ticker: str, n: int = 1500, seed: int = 0, start: dt.date = START) -> Prices:
    """n business days of a random-walk OHLCV series."""
    rng = np.random.default_rng(seed)
    days = np.busday_offset(np.datetime64(start, "D"), np.arange(n), roll="forward")
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.003, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.008, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.008, n)))
    volume = rng.integers(1_000, 10_000, n).astype(float)
    return Prices(ticker, days.astype(np.int64), open_, high, low, close, volume)


def new_project(root: Path) -> ProjectPaths:
    """An empty project with its warehouse schema."""
    paths = ProjectPaths(root)
    with connect(paths.warehouse, project_root=root):
        pass
    return paths


def insert_raw(paths: ProjectPaths, prices: Prices, seq: int) -> Input:
    """Insert one raw load (raw.loads + raw.ohlcv_history) and return it as an Input."""
    table = pa.table(
        {
            "ticker": pa.array([prices.ticker] * len(prices.days)),
            "date": pa.array(prices.days.astype(np.int32), pa.int32()).cast(pa.date32()),
            "open": prices.open, "high": prices.high, "low": prices.low,
            "close": prices.close, "volume": prices.volume,
        }
    )
    content = table_content_sha256(table)
    m = Manifest.create(kind="raw", name=prices.ticker, version=1, content_sha256=content, seq=seq)
    m.write(paths.manifests)
    with connect(paths.warehouse, project_root=paths.root) as con, transaction(con):
        con.execute(
            "INSERT INTO raw.loads VALUES (?, ?, ?, 'test', now(), ?, ?, ?, ?, ?, 0, false)",
            [m.id, seq, prices.ticker, len(prices.days), _date(prices.days[0]),
             _date(prices.days[-1]), content, len(prices.days)],
        )
        con.register("bars", table)
        con.execute(
            "INSERT INTO raw.ohlcv_history SELECT ?, ticker, date, open, high, low, close, volume FROM bars",
            [m.id],
        )
        con.unregister("bars")
        register_manifest(con, m)
    prices.load = Input(m.id, "raw", content)
    return prices.load


def _date(days: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(days))


def tier_columns(p: Prices, warmup: int) -> dict[str, np.ndarray]:
    """Feature columns of one ticker (float64), rows from `warmup` on."""
    close = p.close
    ret1 = np.concatenate([[np.nan], close[1:] / close[:-1] - 1])
    ma = np.convolve(close, np.ones(10) / 10, mode="full")[: len(close)]
    ma[:9] = np.nan
    cols = {
        "day": p.days.astype(np.float64),
        "ret1": ret1,
        "hl_range": p.high / p.low - 1,
        "ma_ratio": close / ma - 1,
    }
    return {k: v[warmup:] for k, v in cols.items()}


def tier_table(prices: list[Prices], warmup: int, extra: dict[str, dict[str, np.ndarray]] | None = None) -> pa.Table:
    """A tier table (ticker, date, FEATURES...) skipping each ticker's first `warmup` rows."""
    parts = []
    for p in prices:
        cols = tier_columns(p, warmup)
        n = len(cols["day"])
        parts.append(
            pa.table(
                {
                    "ticker": pa.array([p.ticker] * n),
                    "date": pa.array(p.days[warmup:].astype(np.int32), pa.int32()).cast(pa.date32()),
                    **{k: pa.array(v, pa.float64()) for k, v in cols.items()},
                }
            )
        )
    return pa.concat_tables(parts)


def with_values(table: pa.Table, column: str, mask: np.ndarray, value: float | None) -> pa.Table:
    """A copy of `table` with `column` set to `value` (None: null, nan: a non-null NaN) on `mask`."""
    values = table.column(column).to_numpy().copy()
    if value is None:
        arr = pa.array(values, pa.float64(), mask=mask)
    else:
        values[mask] = value
        arr = pa.array(values, pa.float64())  # from numpy: NaN stays a NaN, not a null
    return table.set_column(table.column_names.index(column), column, arr)


def register_tier(paths: ProjectPaths, name: str, table: pa.Table, loads: list[Input]) -> Manifest:
    """Write `table` as the tier's new current build: Parquet file, manifest, registry rows."""
    content = table_content_sha256(table)
    rel = f"data/tiers/{name}-{content[:16]}.parquet"
    path = paths.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    columns = [c for c in table.column_names if c not in ("ticker", "date")]
    m = Manifest.create(
        kind="tier", name=name, version=1, inputs=loads, tier=name, columns=columns,
        outputs=[{"path": rel, "content_sha256": content}],
        fingerprint=sha256_bytes(name.encode()),
    )
    m.write(paths.manifests)
    with connect(paths.warehouse, project_root=paths.root) as con, transaction(con):
        register_manifest(con, m)
        set_current_tier(con, name, m.id, rel)
    return m


def make_project(
    root: Path, n: int = 1500, tickers: tuple[str, ...] = ("AAA", "BBB"),
    tiers: dict[str, int] | None = None,
) -> tuple[ProjectPaths, dict[str, Prices]]:
    """A project with raw bars for `tickers` and tiers {name: warm-up rows} built over them."""
    paths = new_project(root)
    prices = {t: random_walk(t, n, seed=i + 1) for i, t in enumerate(tickers)}
    for seq, p in enumerate(prices.values()):
        insert_raw(paths, p, seq)
    for name, warmup in (tiers or {"t20": 20, "t50": 300}).items():
        register_tier(paths, name, tier_table(list(prices.values()), warmup), [p.load for p in prices.values()])
    return paths, prices


def naive_labels(high: np.ndarray, close: np.ndarray, h: int, p: float) -> list[float]:
    """The target by the definition, one row at a time."""
    out: list[float] = []
    for t in range(len(close)):
        if t + h >= len(close):
            out.append(np.nan)
            continue
        peak = max(high[t + 1 : t + h + 1])
        out.append(1.0 if peak >= close[t] * (1 + p / 100) else 0.0)
    return out


def row_mask(table: pa.Table, ticker: str | None, day: int) -> np.ndarray:
    """Rows of `table` dated `day` (int days), of `ticker` (None: every ticker)."""
    days = table.column("date").cast(pa.int32()).to_numpy()
    mask = days == day
    if ticker is not None:
        mask &= np.asarray(table.column("ticker").to_pylist()) == ticker
    return mask
