"""The dataset arrays file: a byte-for-byte reproducible .npz and two hashes that pin it.

- `arrays_content_sha256`: a hash of the arrays themselves (names, dtypes, shapes, values),
  independent of the file format; it names the file.
- the SHA-256 of the file's bytes. The .npz is written with fixed zip timestamps and no
  compression, so the same arrays always give the same file, and a rebuild is a no-op.
Both hashes are stored in the dataset manifest and checked on load.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from fts.core.errors import ManifestMismatch, NotFoundError
from fts.core.hashing import sha256_file

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _canonical(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    return np.ascontiguousarray(a)


def arrays_content_sha256(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over the arrays in name order: name, dtype, shape and little-endian bytes."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = _canonical(arrays[name])
        h.update(f"{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def write_npz_file(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write `arrays` to `path` as an uncompressed, reproducible .npz (not atomic: write to a
    staged temporary name, see `fts.warehouse.publish`)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3  # fixed, so the bytes do not depend on the OS
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, _canonical(arrays[name]), allow_pickle=False)


def read_npz(path: Path, file_sha256: str, content_sha256: str) -> dict[str, np.ndarray]:
    """Read the arrays after checking the file's SHA-256, then check their content hash."""
    if not path.exists():
        raise NotFoundError(f"{path}: dataset arrays file is missing; rebuild the dataset")
    actual = sha256_file(path)
    if actual != file_sha256:
        raise ManifestMismatch(
            f"{path}: file SHA-256 {actual[:12]} does not match the manifest's {file_sha256[:12]}; "
            "the file was modified or corrupted, rebuild the dataset"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ManifestMismatch(f"{path}: unreadable dataset arrays ({exc})") from exc
    got = arrays_content_sha256(arrays)
    if got != content_sha256:
        raise ManifestMismatch(
            f"{path}: arrays content hash {got[:12]} does not match the manifest's {content_sha256[:12]}"
        )
    return arrays
