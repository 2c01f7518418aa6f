"""Hashes that do not depend on file formats: files, canonical JSON and tables of columns."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of a byte string."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace: equal content, equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_json(obj: Mapping[str, Any] | list[Any]) -> str:
    """Hex SHA-256 of the canonical JSON of `obj`."""
    return sha256_bytes(canonical_json(obj).encode("utf-8"))


def _column_bytes(col: pa.ChunkedArray | pa.Array) -> bytes:
    """Canonical bytes of one column: its type name, its validity and its values.

    Numbers are little-endian 8-byte values (float64, or int64 for integers and dates as days),
    with nulls zeroed so that whatever sits under a null does not count; strings are UTF-8,
    each prefixed by its length.
    """
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    t = col.type
    valid = np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=np.uint8)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        kind = b"str"
        payload = _length_prefixed_utf8(col)
    elif pa.types.is_date(t) or pa.types.is_timestamp(t):
        kind = b"date"
        days = col.cast(pa.date32()).cast(pa.int32()).fill_null(0)
        payload = np.asarray(days.to_numpy(zero_copy_only=False), dtype="<i8").tobytes()
    elif pa.types.is_integer(t) or pa.types.is_boolean(t):
        kind = b"int"
        payload = np.asarray(
            col.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False), dtype="<i8"
        ).tobytes()
    elif pa.types.is_floating(t) or pa.types.is_decimal(t):
        kind = b"float"
        arr = np.asarray(col.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False))
        arr = np.where(valid.astype(bool), arr, 0.0).astype("<f8")
        payload = arr.tobytes()
    else:
        raise TypeError(f"no canonical hash for column type {t}")
    return kind + b"\0" + valid.tobytes() + payload


def _length_prefixed_utf8(col: pa.Array) -> bytes:
    """Each value's UTF-8 bytes prefixed by its length (8 bytes, little-endian), null as "".

    The same bytes as joining `len(b).to_bytes(8, "little") + b` over the values, built by
    Arrow without a Python loop over the rows (3x faster on a 500-ticker tier).
    """
    col = col.fill_null("").cast(pa.large_binary())  # int64 offsets, nulls gone
    n = len(col)
    if n == 0:
        return b""
    offsets = np.frombuffer(col.buffers()[1], dtype=np.int64)[col.offset : col.offset + n + 1]
    lengths = pa.py_buffer(np.diff(offsets).astype("<i8").tobytes())
    prefixes = pa.FixedSizeBinaryArray.from_buffers(pa.binary(8), n, [None, lengths])
    joined = pc.binary_join_element_wise(prefixes.cast(pa.large_binary()), col,
                                         pa.scalar(b"", pa.large_binary()))
    bounds = np.frombuffer(joined.buffers()[1], dtype=np.int64)[joined.offset : joined.offset + n + 1]
    return joined.buffers()[2][bounds[0] : bounds[-1]].to_pybytes()  # slice first: one copy


def table_content_sha256(table: pa.Table, columns: list[str] | None = None) -> str:
    """SHA-256 of a table's content, independent of the format it is stored in.

    The caller fixes the row order (sort by key first). The hash covers column names, kinds,
    nulls and values, so it is the same whether the rows came from DuckDB, Parquet or pandas.
    """
    h = hashlib.sha256()
    names = columns or table.column_names
    h.update(canonical_json({"columns": names, "rows": table.num_rows}).encode())
    for name in names:
        h.update(name.encode("utf-8") + b"\0")
        h.update(_column_digest(table.column(name)))
    return h.hexdigest()


def _column_digest(col: pa.ChunkedArray | pa.Array) -> bytes:
    """SHA-256 of `_column_bytes(col)`. A float64 column without nulls (most feature columns)
    is hashed from its own buffer, without the copies `_column_bytes` makes: the same digest
    (its bytes are the values as they are, every validity byte 1), a fifth of a build's
    staging time."""
    if isinstance(col, pa.ChunkedArray) and col.num_chunks == 1:
        col = col.chunk(0)
    if (isinstance(col, pa.Array) and pa.types.is_float64(col.type) and col.null_count == 0
            and sys.byteorder == "little"):
        h = hashlib.sha256(b"float\0")
        h.update(b"\1" * len(col))
        h.update(memoryview(col.to_numpy(zero_copy_only=True)))
        return h.digest()
    return hashlib.sha256(_column_bytes(col)).digest()
