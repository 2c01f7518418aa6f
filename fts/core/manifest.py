"""Manifests: immutable JSON records of artefacts, identified by the hash of their content.

A manifest's body is canonical JSON; its id is the SHA-256 of that text. Files live at
`manifests/<kind>/<id>.json` and are written atomically; the warehouse keeps a copy in
`meta.manifests` (see `fts.warehouse.manifests`) so that lineage can be queried with SQL.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fts.core.atomic import atomic_write_text
from fts.core.errors import ManifestMismatch, NotFoundError
from fts.core.hashing import canonical_json, sha256_json

KINDS = ("raw", "tier", "dataset", "run", "baseline", "study", "report")


def utc_now() -> str:
    """The current UTC time as an ISO-8601 string with seconds precision."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Input:
    """A reference from one manifest to another: its id, kind and the content hash it pinned."""

    id: str
    kind: str
    sha256: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "kind": self.kind, "sha256": self.sha256}


@dataclass(frozen=True)
class Manifest:
    """An immutable artefact record. Build it with `Manifest.create`, never by hand."""

    body: Mapping[str, Any]
    id: str = field(default="")

    @classmethod
    def create(
        cls,
        *,
        kind: str,
        name: str,
        version: str | int,
        inputs: list[Input] | None = None,
        created_at: str | None = None,
        **fields: Any,
    ) -> Manifest:
        """Assemble a manifest body and compute its id.

        `fields` holds the kind-specific content (fingerprint, row_count, schema, outputs with
        their SHA-256, source, ...). They are round-tripped through JSON so that what is hashed
        is exactly what is stored.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown manifest kind {kind!r}")
        body: dict[str, Any] = {
            "kind": kind,
            "name": name,
            "version": version,
            "created_at": created_at or utc_now(),
            "inputs": [i.to_dict() for i in (inputs or [])],
            **fields,
        }
        body = json.loads(canonical_json(body))
        return cls(body=body, id=sha256_json(body))

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["name"])

    @property
    def inputs(self) -> list[Input]:
        return [Input(**i) for i in self.body.get("inputs", [])]

    def __getitem__(self, key: str) -> Any:
        return self.body[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.body.get(key, default)

    def to_json(self) -> str:
        """The file content: `{"id": ..., "body": ...}`, pretty-printed for humans."""
        return json.dumps({"id": self.id, "body": self.body}, indent=2, sort_keys=True) + "\n"

    def path_in(self, manifests_dir: Path) -> Path:
        return manifests_dir / self.kind / f"{self.id}.json"

    def write(self, manifests_dir: Path) -> Path:
        """Write the manifest file atomically (a no-op when it already exists)."""
        path = self.path_in(manifests_dir)
        if not path.exists():
            atomic_write_text(path, self.to_json())
        return path


def parse_manifest(text: str, origin: str = "manifest") -> Manifest:
    """Parse a manifest file's text and check that its id is the hash of its body."""
    try:
        doc = json.loads(text)
        body, stored_id = doc["body"], doc["id"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ManifestMismatch(f"{origin}: not a manifest file ({exc})") from exc
    actual = sha256_json(body)
    if actual != stored_id:
        raise ManifestMismatch(
            f"{origin}: content hash {actual[:12]} does not match its id {stored_id[:12]}"
        )
    return Manifest(body=body, id=stored_id)


def read_manifest(manifests_dir: Path, manifest_id: str, kind: str | None = None) -> Manifest:
    """Load manifest `manifest_id` (searching every kind unless `kind` is given) and verify it."""
    kinds = [kind] if kind else list(KINDS)
    for k in kinds:
        path = manifests_dir / k / f"{manifest_id}.json"
        if path.exists():
            return parse_manifest(path.read_text(encoding="utf-8"), origin=str(path))
    raise NotFoundError(f"manifest {manifest_id} not found under {manifests_dir}")
