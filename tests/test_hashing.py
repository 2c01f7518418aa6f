"""Content hashes of tables: the string path (built by Arrow) matches its row-by-row definition."""

from __future__ import annotations

import hashlib

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from fts.core.hashing import _column_bytes, table_content_sha256


def _by_definition(values: list[str | None]) -> bytes:
    """The documented canonical bytes of a string column, one value at a time."""
    valid = bytes(0 if v is None else 1 for v in values)
    payload = b"".join(
        len(b).to_bytes(8, "little") + b for b in ((v or "").encode("utf-8") for v in values)
    )
    return b"str\0" + valid + payload


def test_a_small_string_column_by_hand() -> None:
    got = _column_bytes(pa.array(["ab", None, "é"]))
    assert got == (b"str\0" + b"\x01\x00\x01"
                   + b"\x02\x00\x00\x00\x00\x00\x00\x00ab"
                   + b"\x00" * 8
                   + b"\x02\x00\x00\x00\x00\x00\x00\x00\xc3\xa9")


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.text(max_size=12)), max_size=40),
       start=st.integers(0, 5), large=st.booleans())
def test_string_columns_hash_by_their_definition(
    values: list[str | None], start: int, large: bool
) -> None:
    arr = pa.array(values, type=pa.large_string() if large else pa.string())
    assert _column_bytes(arr) == _by_definition(values)
    # A slice (non-zero offset into the buffers) and a chunked column hash the same way.
    start = min(start, len(values))
    assert _column_bytes(arr.slice(start)) == _by_definition(values[start:])
    chunked = pa.chunked_array([arr.slice(0, start), arr.slice(start)], type=arr.type)
    assert _column_bytes(chunked) == _by_definition(values)


def test_table_hash_depends_on_every_string_byte() -> None:
    base = pa.table({"ticker": ["AAA", "BBB"], "x": [1.0, 2.0]})
    same = pa.table({"ticker": pa.array(["AAA", "BBB"], pa.large_string()), "x": [1.0, 2.0]})
    moved = pa.table({"ticker": ["AA", "ABBB"], "x": [1.0, 2.0]})  # same bytes, other split
    assert table_content_sha256(base) == table_content_sha256(same)
    assert table_content_sha256(base) != table_content_sha256(moved)
    assert hashlib.sha256(_column_bytes(base.column("ticker"))).hexdigest() != hashlib.sha256(
        _column_bytes(moved.column("ticker"))).hexdigest()


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.none(), max_size=40),
       start=st.integers(0, 10), split=st.integers(0, 40))
def test_the_float_fast_path_digests_what_the_canonical_bytes_do(
        values: list[float | None], start: int, split: int) -> None:
    from fts.core.hashing import _column_digest

    arr = pa.array(values, type=pa.float64())
    # Sliced (an offset into the buffer), chunked in two, with and without nulls, -0.0 and NaN.
    for col in (arr, arr.slice(min(start, len(arr))),
                pa.chunked_array([arr[:split], arr[split:]], type=pa.float64()),
                pa.chunked_array([arr.fill_null(-0.0)]), arr.fill_null(float("nan"))):
        whole = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        assert _column_digest(col) == hashlib.sha256(_column_bytes(whole)).digest()
