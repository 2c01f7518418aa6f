"""Readers for file sources: Yahoo-style CSV files and the embedded sample (fts/ingest/sample/).

A reader turns bytes into a validated `SourceSeries`. It checks the bytes are a text CSV (not
empty, not binary, no line cut short), validates the text with `file_schema`, parses it, then
validates the typed rows with `series_schema`, so a bad file is rejected before the warehouse
is even opened.
"""

from __future__ import annotations

import csv
import gzip
import importlib.resources
import io
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fts.core.errors import NotFoundError, ValidationError
from fts.core.hashing import sha256_bytes
from fts.ingest.series import SourceSeries
from fts.ingest.validate import (
    check,
    file_schema,
    normalize_ticker,
    parse_dates,
    parse_numbers,
    series_schema,
)

#: Canonical name -> the Yahoo header shown in messages. Headers match case-insensitively,
#: ignoring spaces and underscores ("Adj Close", "adj_close", "AdjClose").
YAHOO_COLUMNS = {
    "date": "Date", "open": "Open", "high": "High", "low": "Low", "close": "Close",
    "adj_close": "Adj Close", "volume": "Volume",
}
CLOSE_ONLY_COLUMNS = {"date": "Date", "close": "Close"}

#: The embedded sample: files copied from the `arch` package, with their provenance (source
#: package, version, file names, SHA-256, licence) in sample/provenance.json.
SAMPLE_RESOURCE = "sample"
#: (ticker, file in fts/ingest/sample/, header aliases, close-only, no-observation marker).
#: vix.csv.gz comes from FRED, which writes "." on days without a value (US market holidays).
SAMPLE_FILES: list[tuple[str, str, dict[str, str], bool, str | None]] = [
    ("^GSPC", "sp500.csv.gz", {}, False, None),
    ("^VIX", "vix.csv.gz", {"vix": "close"}, True, "."),
]


def sample_provenance() -> dict[str, Any]:
    """Where the embedded sample files come from (sample/provenance.json)."""
    text = importlib.resources.files(__package__).joinpath(SAMPLE_RESOURCE, "provenance.json")
    return dict(json.loads(text.read_text(encoding="utf-8")))


def _header_key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch not in " _")


def _text_lines(data: bytes, label: str) -> list[str]:
    """Decode CSV bytes (gzip allowed) into lines, rejecting empty, binary and cut-off files."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValidationError(f"corrupt gzip file ({exc})", source=label) from None
    if not data.strip():
        raise ValidationError("file is empty", source=label)
    if b"\x00" in data:
        raise ValidationError("binary file, not a CSV text file", source=label)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"not UTF-8 text (byte {exc.start}): binary file, not a CSV text file", source=label
        ) from None
    lines = text.splitlines()
    # Count fields per line with the csv module (it honours quotes); a line with fewer fields
    # than the header is what a download or copy cut short leaves behind.
    counts = np.array(_field_counts(lines, label))
    width = counts[0]
    bad = np.flatnonzero((counts != width) & (counts != 0))
    if len(bad):
        number = int(bad[0])  # line index = 1-based data row (the header is line 0)
        cut = number == len(counts) - 1 and not text.endswith(("\n", "\r"))
        why = ("the file ends in the middle of a line (truncated?)" if cut
               else "a stray or missing comma?")
        raise ValidationError(
            f"has {counts[number]} fields but the header has {width}: {why}",
            source=label, row=number,
        )
    return lines


def _field_counts(lines: list[str], label: str) -> list[int]:
    """Fields per line; a line the csv module cannot read is a one-line ValidationError."""
    counts: list[int] = []
    try:
        for fields in csv.reader(lines):
            counts.append(len(fields))
    except csv.Error as exc:
        # Typically one stray '"': the quoted field runs on over the following lines until it
        # passes the csv module's 131,072-character field limit. Name the line it started on.
        raise ValidationError(f"unreadable CSV from this row on ({exc}): an unbalanced '\"'?",
                              source=label, row=len(counts)) from None
    return counts


def _read_text_frame(lines: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The CSV as a frame of strings, and each row's 1-based data row number in the file."""
    frame = pd.read_csv(io.StringIO("\n".join(lines)), dtype=str, keep_default_na=False,
                        skip_blank_lines=True)
    row_numbers = np.array([i for i, line in enumerate(lines[1:], start=1) if line.strip()])
    return frame.reset_index(drop=True), row_numbers


@dataclass(frozen=True)
class ParsedCsv:
    """A parsed price CSV: typed rows, each row's 1-based data row in the file, rows skipped."""

    frame: pd.DataFrame
    row_numbers: np.ndarray
    skipped: int = 0


def parse_price_csv(
    data: bytes,
    label: str,
    *,
    close_only: bool = False,
    aliases: dict[str, str] | None = None,
    no_observation: str | None = None,
) -> ParsedCsv:
    """Validate and parse a Yahoo-style CSV into a typed frame (with `adj_close` if present).

    The frame has date, open, high, low, close, [adj_close], volume. Raises `ValidationError` naming `label`, the row and the reason.
    `no_observation` is a close cell that means "no value that day" (FRED writes "."): such
    rows are dropped rather than rejected.
    """
    lines = _text_lines(data, label)
    raw, row_numbers = _read_text_frame(lines)
    if raw.empty:
        raise ValidationError("no data rows after the header", source=label)
    expected = CLOSE_ONLY_COLUMNS if close_only else YAHOO_COLUMNS
    by_key = {_header_key(v): k for k, v in expected.items()}
    by_key.update({_header_key(a): k for a, k in (aliases or {}).items()})
    raw = raw.rename(columns={c: by_key.get(_header_key(c), c) for c in raw.columns})
    skipped = 0
    if no_observation is not None and "close" in raw:
        keep = (raw["close"].str.strip() != no_observation).to_numpy()
        skipped = int((~keep).sum())
        raw, row_numbers = raw[keep].reset_index(drop=True), row_numbers[keep]
    optional = [] if close_only else ["adj_close"]
    check(file_schema(expected, optional), raw, source=label, row_labels=row_numbers,
          display_names=expected)

    typed = pd.DataFrame({"date": parse_dates(raw["date"])})
    for name in ("open", "high", "low", "close", "adj_close", "volume"):
        if name in raw:
            typed[name] = parse_numbers(raw[name])
        elif name != "adj_close":
            typed[name] = np.nan  # a close-only file has no open/high/low/volume
    check(series_schema(close_only=close_only, with_adj_close="adj_close" in typed),
          typed, source=label, row_labels=row_numbers, display_names=expected)
    return ParsedCsv(typed, row_numbers, skipped)


def choose_close(frame: pd.DataFrame, *, adjusted: bool) -> tuple[pd.DataFrame, str]:
    """Pick the close: `Adj Close` (scaling open/high/low by the same factor) or the raw Close.

    Returns the series frame and the name of the column used as close.
    """
    if "adj_close" not in frame or not adjusted:
        return frame.drop(columns=["adj_close"], errors="ignore"), "Close"
    factor = frame["adj_close"] / frame["close"]
    out = frame.drop(columns=["adj_close"]).assign(
        open=frame["open"] * factor,
        high=frame["high"] * factor,
        low=frame["low"] * factor,
        close=frame["adj_close"],
    )
    # high*factor can land one rounding step below adj_close when high == close; clamp so the
    # adjusted bar keeps high >= close >= low exactly, as the raw bar did.
    out["high"] = np.maximum(out["high"], out["close"])
    out["low"] = np.minimum(out["low"], out["close"])
    return out, "Adj Close"


def read_csv_source(path: Path, ticker: str, *, adjusted: bool) -> SourceSeries:
    """Read a Yahoo-style CSV file (Date, Open, High, Low, Close, [Adj Close], Volume)."""
    path = Path(path).expanduser().absolute()
    label = str(path)
    ticker = normalize_ticker(ticker, source=label)
    if not path.exists():
        raise NotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise ValidationError("is a directory, not a CSV file", source=label)
    data = path.read_bytes()
    parsed = parse_price_csv(data, label)
    frame, close_column = choose_close(parsed.frame, adjusted=adjusted)
    return SourceSeries(
        ticker=ticker,
        frame=frame,
        source_kind="csv",
        label=label,
        source={"kind": "csv", "path": label, "sha256": sha256_bytes(data)},
        options={"adjusted": close_column == "Adj Close", "close_column": close_column},
    )


def read_sample_sources() -> list[SourceSeries]:
    """The sample series (^GSPC OHLCV, ^VIX closes) read from the files shipped in fts.

    Each file's SHA-256 is checked against its provenance record, so a damaged install is an
    error instead of a silently different sample.
    """
    provenance = sample_provenance()
    root = importlib.resources.files(__package__).joinpath(SAMPLE_RESOURCE)
    out = []
    for ticker, name, aliases, close_only, marker in SAMPLE_FILES:
        data = root.joinpath(name).read_bytes()
        record = provenance["files"][name]
        label = f"fts:ingest/{SAMPLE_RESOURCE}/{name}"
        if sha256_bytes(data) != record["sha256"]:
            raise ValidationError(f"SHA-256 {sha256_bytes(data)} differs from the provenance "
                                  f"record {record['sha256']}; reinstall fts", source=label)
        parsed = parse_price_csv(data, label, close_only=close_only, aliases=aliases,
                                 no_observation=marker)
        frame, close_column = choose_close(parsed.frame, adjusted=True)
        source: dict[str, Any] = {
            "kind": "sample", "file": f"ingest/{SAMPLE_RESOURCE}/{name}",
            "sha256": sha256_bytes(data),
            "origin": {"package": provenance["source_package"],
                       "package_version": provenance["source_version"],
                       "file": record["source_file"]},
            "rows_without_value_skipped": parsed.skipped,
        }
        out.append(SourceSeries(
            ticker=ticker, frame=frame, source_kind="sample", label=label, source=source,
            close_only=close_only,
            options={"adjusted": close_column == "Adj Close", "close_column": close_column},
        ))
    return out
