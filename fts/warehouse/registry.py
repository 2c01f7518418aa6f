"""The manifest registry inside the warehouse (`meta.manifests`) and the current-tier pointers."""

from __future__ import annotations

import json

import duckdb

from fts.core.hashing import canonical_json
from fts.core.manifest import Manifest
from fts.warehouse.views import create_tier_view, database_root


def register_manifest(con: duckdb.DuckDBPyConnection, manifest: Manifest) -> None:
    """Insert a manifest row (idempotent: the id is the content hash)."""
    con.execute(
        """INSERT INTO meta.manifests (id, kind, name, version, created_at, body)
           VALUES (?, ?, ?, ?, CAST(? AS TIMESTAMPTZ) AT TIME ZONE 'UTC', ?)
           ON CONFLICT (id) DO NOTHING""",
        [
            manifest.id,
            manifest.kind,
            manifest.name,
            str(manifest.body["version"]),
            manifest.body["created_at"],
            canonical_json(manifest.body),
        ],
    )


def list_manifests(con: duckdb.DuckDBPyConnection, kind: str | None = None) -> list[Manifest]:
    """Every registered manifest (of one kind), oldest first."""
    sql = "SELECT id, body FROM meta.manifests"
    params: list[str] = []
    if kind:
        sql += " WHERE kind = ?"
        params.append(kind)
    import json

    rows = con.execute(sql + " ORDER BY created_at, id", params).fetchall()
    return [Manifest(body=json.loads(body), id=mid) for mid, body in rows]


def current_manifests(con: duckdb.DuckDBPyConnection, kind: str, name: str) -> list[Manifest]:
    """The manifests of `kind` and `name` that no other one lists in its `supersedes`, by id:
    the current ones of a name that is rewritten in place (a study, a report)."""
    rows = con.execute("SELECT id, body FROM meta.manifests WHERE kind = ? AND name = ?",
                       [kind, name]).fetchall()
    bodies = {mid: json.loads(body) for mid, body in rows}
    superseded = {s for body in bodies.values() for s in body.get("supersedes") or []}
    return [Manifest(body=b, id=mid) for mid, b in sorted(bodies.items()) if mid not in superseded]


def set_current_tier(
    con: duckdb.DuckDBPyConnection, tier: str, manifest_id: str, parquet_path: str,
    files: list[str] | None = None,
) -> None:
    """Point the tier at a new build, and its stored view (`fts.warehouse.views`) with it.

    `parquet_path`: the build's file, or its tier folder with `files` (relative paths), the
    per-ticker files of the build."""
    con.execute(
        """INSERT INTO meta.tier_current VALUES (?, ?, ?, now())
           ON CONFLICT (tier) DO UPDATE SET manifest_id = excluded.manifest_id,
               parquet_path = excluded.parquet_path, built_at = excluded.built_at""",
        [tier, manifest_id, parquet_path],
    )
    root = database_root(con)
    create_tier_view(con, tier, [(root / f).resolve() for f in files or [parquet_path]])


def current_tiers(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
    """{tier: (manifest_id, parquet_path)} for every built tier."""
    return {
        t: (m, p)
        for t, m, p in con.execute(
            "SELECT tier, manifest_id, parquet_path FROM meta.tier_current"
        ).fetchall()
    }


def register_artifact(
    con: duckdb.DuckDBPyConnection, path: str, manifest_id: str, sha256: str, size: int
) -> None:
    """Record the file-level SHA-256 of an artefact file (relative path) and its manifest."""
    con.execute(
        """INSERT INTO meta.artifacts VALUES (?, ?, ?, ?, now())
           ON CONFLICT (path, manifest_id) DO UPDATE SET sha256 = excluded.sha256,
               bytes = excluded.bytes, written_at = excluded.written_at""",
        [path, manifest_id, sha256, size],
    )


def register_artifacts(
    con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, str, int]]
) -> None:
    """`register_artifact` for many files in one statement: rows of (relative path,
    manifest id, sha256, bytes). One upsert per file costs milliseconds each, so a tier of
    thousands of tickers took half a minute; one bulk statement takes a fraction of a second."""
    # The last row of a (path, manifest) wins, as one upsert after another would have it; a
    # repeated key inside one INSERT ... ON CONFLICT is an error in DuckDB.
    unique = {(path, mid): (path, mid, sha, size) for path, mid, sha, size in rows}
    if not unique:
        return
    paths, mids, shas, sizes = (list(c) for c in zip(*unique.values(), strict=True))
    con.execute(
        """INSERT INTO meta.artifacts (path, manifest_id, sha256, bytes, written_at)
           SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]),
                  unnest(?::BIGINT[]), now()
           ON CONFLICT (path, manifest_id) DO UPDATE SET sha256 = excluded.sha256,
               bytes = excluded.bytes, written_at = excluded.written_at""",
        [paths, mids, shas, sizes],
    )


def get_manifest(con: duckdb.DuckDBPyConnection, manifest_id: str) -> Manifest | None:
    """One registered manifest, or None."""
    import json

    rows = con.execute("SELECT body FROM meta.manifests WHERE id = ?", [manifest_id]).fetchall()
    return Manifest(body=json.loads(rows[0][0]), id=manifest_id) if rows else None
