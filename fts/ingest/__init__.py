"""Ingestion: validated, append-only loads of daily OHLCV into the warehouse's `raw` schema.

Sources: the embedded sample (`ingest_sample`, files from `arch` shipped in fts/ingest/sample), Yahoo-style CSV files
(`ingest_csv`) and Yahoo Finance downloads (`ingest_yfinance`). See docs/ingest.md.
"""

from fts.ingest.api import ingest_csv, ingest_sample, ingest_yfinance
from fts.ingest.load import LoadResult
from fts.ingest.validate import normalize_ticker

__all__ = ["LoadResult", "ingest_csv", "ingest_sample", "ingest_yfinance", "normalize_ticker"]
