"""The in-memory form of one ticker's daily series, shared by every source and the loader.

Every source (the sample, a CSV file, a yfinance download) produces a `SourceSeries`: a pandas
frame with the canonical columns below, one row per trading date, already validated. The loader
only ever sees this shape, so the three sources cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

#: The columns of a series frame, in order (the contract table minus the ticker).
SERIES_COLUMNS = ["date", "open", "high", "low", "close", "volume"]
#: The canonical table that `content_sha256` hashes and `raw.ohlcv` shows.
CANONICAL_COLUMNS = ["ticker", *SERIES_COLUMNS]
PRICE_COLUMNS = ["open", "high", "low", "close"]

#: Bumped whenever the way a source is turned into rows changes (recorded in raw manifests).
LOADER_VERSION = "1"


@dataclass(frozen=True)
class SourceSeries:
    """One ticker's validated rows from one source, plus what the manifest says about them.

    `frame` has SERIES_COLUMNS: `date` as naive datetime64[ns] (the exchange's trading date),
    prices and volume as float64. `label` names the source in error messages (a path or
    "yfinance:AAPL"); `source` is the manifest's description of where the rows came from;
    `options` holds loader choices worth recording (adjusted close or raw, ...).
    """

    ticker: str
    frame: pd.DataFrame
    source_kind: str
    label: str
    source: dict[str, Any]
    close_only: bool = False
    options: dict[str, Any] = field(default_factory=dict)


def empty_series_frame() -> pd.DataFrame:
    """A series frame with no rows and the canonical dtypes."""
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in SERIES_COLUMNS})
    frame["date"] = pd.Series(dtype="datetime64[ns]")
    return frame


def canonical_table(ticker: str, frame: pd.DataFrame) -> pa.Table:
    """The Arrow table that is stored and hashed: CANONICAL_COLUMNS, sorted by date.

    Dates become date32 and numbers float64, the same types DuckDB hands back, so the content
    hash of this table equals the hash of the rows read back from the warehouse.
    """
    ordered = frame.sort_values("date", kind="stable")
    return pa.table(
        {
            "ticker": pa.array([ticker] * len(ordered), type=pa.string()),
            "date": pa.array(ordered["date"].dt.date, type=pa.date32()),
            **{
                c: pa.array(ordered[c].to_numpy(dtype="float64"), type=pa.float64(),
                            from_pandas=True)
                for c in SERIES_COLUMNS[1:]
            },
        }
    )
