"""Read what a dataset is built from: a tier's current build and the raw prices behind it.

Everything here happens inside one short read-only warehouse connection opened by the caller.
The raw prices for the target come from the raw loads the tier build pinned (its manifest's
"raw" inputs), so the labels match the prices the features were computed from even when a
newer load has arrived since; a ticker the tier did not pin falls back to its latest load.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fts.core.errors import ManifestMismatch, NotFoundError
from fts.core.hashing import sha256_file, sha256_json, table_content_sha256
from fts.core.manifest import Input, Manifest, parse_manifest, read_manifest
from fts.core.paths import ProjectPaths
from fts.datasets.assemble import PriceSeries
from fts.warehouse import current_tiers
from fts.warehouse.tier_files import content_sha256_of, is_per_ticker, locate


@dataclass(frozen=True)
class TierBuild:
    """The current build of a tier: its manifest, Parquet file and feature column names."""

    name: str
    manifest: Manifest
    path: Path
    relpath: str
    feature_names: list[str]
    paths: ProjectPaths

    def output_hashes(self) -> list[str]:
        """The hashes the manifest pins for this build's rows (a per-ticker build: the
        tier-level content hash over its tickers' files)."""
        if is_per_ticker(self.manifest):
            return [content_sha256_of(self.manifest)]
        outs = self.manifest.get("outputs") or []
        chosen = [o for o in outs if o.get("path") == self.relpath] or outs[:1]
        return [o[k] for o in chosen for k in ("content_sha256", "sha256") if o.get(k)]

    def input(self) -> Input:
        """The tier build as an input of a dataset manifest."""
        hashes = self.output_hashes()
        return Input(self.manifest.id, "tier", hashes[0] if hashes else sha256_file(self.path))

    def read(self, verify: bool = True, tickers: Sequence[str] | None = None) -> pa.Table:
        """The tier's rows; with `verify`, check them against the hash the manifest pins.

        The pinned hash may be the file's SHA-256 or the table content hash; either matches.
        A per-ticker build is read file by file, each checked against its ticker's hash; with
        `tickers`, only those tickers' files (a one-ticker dataset of a 5,000-ticker tier reads
        one file). A wanted ticker the build lacks reads every file, so the caller's error can
        name what the tier has.
        """
        if is_per_ticker(self.manifest):
            return self._read_per_ticker(verify, tickers)
        if not self.path.exists():
            raise NotFoundError(f"{self.path}: tier {self.name}'s current build file is missing; rebuild it")
        table = pq.read_table(self.path)
        hashes = self.output_hashes()
        if (
            verify
            and hashes
            and sha256_file(self.path) not in hashes
            and table_content_sha256(table) not in hashes
        ):
            raise ManifestMismatch(
                f"{self.path}: tier {self.name} file does not match the hash its manifest "
                f"{self.manifest.id[:12]} pins; rebuild the tier"
            )
        return table

    def _read_per_ticker(self, verify: bool, tickers: Sequence[str] | None) -> pa.Table:
        outputs = list(self.manifest["outputs"])  # sorted by ticker, each file by date
        if tickers and set(tickers) <= {str(o["ticker"]) for o in outputs}:
            outputs = [o for o in outputs if str(o["ticker"]) in set(tickers)]
        parts = []
        for out in outputs:
            path = locate(self.paths, str(out["path"]))
            if not path.exists():
                raise NotFoundError(f"{out['path']}: tier {self.name}'s file of {out['ticker']} "
                                    "is missing; rebuild the tier")
            table = pq.read_table(path).replace_schema_metadata(None)
            if verify and table_content_sha256(table) != out["content_sha256"]:
                raise ManifestMismatch(
                    f"{out['path']}: tier {self.name}'s rows of {out['ticker']} do not match the "
                    f"hash its manifest {self.manifest.id[:12]} pins; rebuild the tier")
            parts.append(table)
        return pa.concat_tables(parts)


def _manifest(con: duckdb.DuckDBPyConnection, paths: ProjectPaths, manifest_id: str, kind: str) -> Manifest:
    """A manifest from its file, else from the warehouse registry (both verified by id)."""
    try:
        return read_manifest(paths.manifests, manifest_id, kind=kind)
    except NotFoundError:
        row = con.execute("SELECT id, body FROM meta.manifests WHERE id = ?", [manifest_id]).fetchone()
        if row is None:
            raise
        return parse_manifest(json.dumps({"id": row[0], "body": json.loads(row[1])}), origin=f"meta.manifests {manifest_id[:12]}")


def feature_columns(manifest: Manifest) -> list[str]:
    """The ordered feature names of a tier manifest (`columns`: names or {name: ...} dicts)."""
    cols = manifest.get("columns")
    if not cols:
        raise ManifestMismatch(f"tier manifest {manifest.id[:12]} lists no feature columns")
    names = [c["name"] if isinstance(c, dict) else str(c) for c in cols]
    return [n for n in names if n not in ("ticker", "date")]  # the keys, if listed, are not features


def tier_build(con: duckdb.DuckDBPyConnection, paths: ProjectPaths, tier: str) -> TierBuild:
    """The tier's current build (meta.tier_current) and its manifest."""
    current = current_tiers(con)
    if tier not in current:
        built = ", ".join(sorted(current)) or "none"
        raise NotFoundError(f"tier {tier!r} has no current build (built: {built}); run `fts build-tier {tier}`")
    manifest_id, relpath = current[tier]
    manifest = _manifest(con, paths, manifest_id, "tier")
    return TierBuild(tier, manifest, paths.root / relpath, relpath, feature_columns(manifest),
                     paths)


def raw_loads(con: duckdb.DuckDBPyConnection, tier: TierBuild, tickers: list[str]) -> dict[str, Input]:
    """{ticker: raw load Input} used for the target: the tier's pinned load, else the latest."""
    pinned = [i.id for i in tier.manifest.inputs if i.kind == "raw"]
    chosen: dict[str, Input] = {}
    if pinned:
        rows = con.execute(
            """SELECT ticker, load_id, content_sha256 FROM raw.loads
               WHERE list_contains(CAST(? AS VARCHAR[]), load_id)
                 AND list_contains(CAST(? AS VARCHAR[]), ticker)
               ORDER BY seq""",
            [pinned, tickers],
        ).fetchall()
        for ticker, load_id, sha in rows:  # the newest pinned load of a ticker wins
            chosen[ticker] = Input(load_id, "raw", sha)
    rest = [t for t in tickers if t not in chosen]
    if rest:
        for ticker, load_id, sha in con.execute(
            "SELECT ticker, load_id, content_sha256 FROM raw.latest_loads "
            "WHERE list_contains(CAST(? AS VARCHAR[]), ticker)",
            [rest],
        ).fetchall():
            chosen[ticker] = Input(load_id, "raw", sha)
    return chosen


def price_series(con: duckdb.DuckDBPyConnection, loads: dict[str, Input]) -> dict[str, PriceSeries]:
    """Each ticker's (date as int days, high, close) from its chosen load, ordered by date."""
    out: dict[str, PriceSeries] = {}
    for ticker, load in loads.items():
        res = con.execute(
            """SELECT CAST(date - DATE '1970-01-01' AS BIGINT) AS d,
                      CAST(high AS DOUBLE) AS high, CAST(close AS DOUBLE) AS close
               FROM raw.ohlcv_history WHERE load_id = ? ORDER BY date""",
            [load.id],
        ).fetchnumpy()
        out[ticker] = PriceSeries(
            dates=np.asarray(res["d"], dtype=np.int64),
            high=np.ma.filled(np.ma.asarray(res["high"], dtype=np.float64), np.nan),
            close=np.ma.filled(np.ma.asarray(res["close"], dtype=np.float64), np.nan),
        )
    return out


def find_datasets(con: duckdb.DuckDBPyConnection, fingerprint: str) -> list[Manifest]:
    """Registered dataset manifests with this fingerprint, newest first."""
    rows = con.execute(
        """SELECT id, body FROM meta.manifests
           WHERE kind = 'dataset' AND json_extract_string(body, '$.fingerprint') = ?
           ORDER BY created_at DESC, id""",
        [fingerprint],
    ).fetchall()
    out = []
    for mid, body in rows:
        b = json.loads(body)
        if sha256_json(b) == mid:  # a tampered registry row is ignored, not trusted
            out.append(Manifest(body=b, id=mid))
    return out


def dataset_manifest(con: duckdb.DuckDBPyConnection | None, paths: ProjectPaths, manifest_id: str) -> Manifest:
    """A dataset manifest by id, from its file or (given a connection) the registry."""
    if con is None:
        return read_manifest(paths.manifests, manifest_id, kind="dataset")
    return _manifest(con, paths, manifest_id, "dataset")


def ticker_list(table: pa.Table, wanted: tuple[str, ...] | None) -> list[str]:
    """The tickers a dataset will use: `wanted` or every ticker of the tier, sorted."""
    if wanted is not None:
        return list(wanted)
    return sorted(set(table.column("ticker").to_pylist()))

