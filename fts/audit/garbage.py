"""Garbage and superseded builds: what `fts audit` warns about and `fts gc` removes.

- **Garbage**: a manifest file or a data file that no committed row references: the leftovers
  of a process killed while publishing (see `fts.warehouse.publish`): temporary files whose
  writer has exited, files and manifests renamed into place before the COMMIT that would have
  registered them. It is not tampering: nothing committed depends on it.
- **Superseded builds**: registered tier builds that are not current and datasets that nothing
  current was made from (no stored run, baseline or study, and not on a current tier build).
  They are intact, just no longer needed; `fts gc --delete` unregisters them and removes their
  files.

"Committed references": the ids in `meta.manifests`, `meta.artifacts`, `meta.tier_current`,
`raw.loads` and `train.runs` and the inputs of every registered manifest; the files named by
`meta.artifacts`, `meta.tier_current`, `train.runs` and the outputs of registered manifests.
Only `manifests/<kind>/` and the artefact folders `data/{tiers,datasets,runs,reports}/` are
scanned; a temporary file of a process that still runs is never garbage.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from fts.core.paths import ProjectPaths
from fts.warehouse.publish import TEMP_PATTERN, temp_owner_alive
from fts.warehouse.tier_files import SUPERSEDED_DIR, locate, logical_rel

ARTEFACT_DIRS = ("tiers", "datasets", "runs", "reports")
COLLECTABLE_KINDS = ("tier", "dataset")


@dataclass
class References:
    """What the committed warehouse state references."""

    ids: set[str]
    files: set[str]  # relative paths
    registered: dict[str, dict[str, Any]]  # manifest id -> body
    current_tiers: set[str]  # manifest ids


@dataclass
class Superseded:
    """A registered build that nothing current needs."""

    id: str
    kind: str
    name: str
    files: list[str]  # relative paths removed with it (those no live manifest shares)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name} {self.id[:12]}"


@dataclass
class GcPlan:
    """What `fts gc` found (and, with `deleted`, removed)."""

    garbage: list[str] = field(default_factory=list)  # relative paths (files or temp folders)
    # Files of the tier folders that no current build lists (moved out with `delete`).
    untidy: list[str] = field(default_factory=list)
    superseded: list[Superseded] = field(default_factory=list)
    deleted: bool = False
    bytes: int = 0

    @property
    def empty(self) -> bool:
        return not self.garbage and not self.superseded and not self.untidy

    def to_dict(self) -> dict[str, Any]:
        return {"deleted": self.deleted, "bytes": self.bytes, "garbage": self.garbage,
                "untidy": self.untidy,
                "superseded": [{"id": s.id, "kind": s.kind, "name": s.name, "files": s.files}
                               for s in self.superseded]}


def committed_references(con: duckdb.DuckDBPyConnection) -> References:
    """Read every committed reference to a manifest id or a file (one read-only pass)."""
    registered = {mid: json.loads(body) for mid, body in
                  con.execute("SELECT id, body FROM meta.manifests").fetchall()}
    ids = set(registered)
    files: set[str] = set()
    for path, mid in con.execute("SELECT path, manifest_id FROM meta.artifacts").fetchall():
        files.add(path)
        ids.add(mid)
    current = set()
    for mid, path in con.execute("SELECT manifest_id, parquet_path FROM meta.tier_current"
                                 ).fetchall():
        ids.add(mid)
        current.add(mid)
        files.add(path)
    ids |= {r[0] for r in con.execute("SELECT load_id FROM raw.loads").fetchall()}
    for rid, ckpt in con.execute("SELECT run_id, checkpoint_path FROM train.runs").fetchall():
        ids.add(rid)
        if ckpt:
            files.add(ckpt)
    for body in registered.values():
        ids |= {str(i.get("id")) for i in body.get("inputs") or []}
        files |= {str(o["path"]) for o in body.get("outputs") or [] if o.get("path")}
    return References(ids, files, registered, current)


def garbage_manifests(paths: ProjectPaths, refs: References) -> list[str]:
    """Manifest files (and dead temporaries) under manifests/ that nothing committed names."""
    out = []
    if not paths.manifests.is_dir():
        return out
    for kind_dir in sorted(p for p in paths.manifests.iterdir() if p.is_dir()):
        for path in sorted(kind_dir.iterdir()):
            alive = temp_owner_alive(path)
            if alive is False or (alive is None and path.suffix == ".json"
                                  and path.stem not in refs.ids):
                out.append(paths.relative(path))
    return out


def garbage_files(paths: ProjectPaths, refs: References) -> list[str]:
    """Files under the artefact folders that nothing committed names (a dead writer's
    temporary folder is listed as one entry)."""
    out: list[str] = []
    for name in ARTEFACT_DIRS:
        out += _walk(paths, paths.data / name, refs)
    # Superseded tier files are named by their path in the tier folder (`tier_files`).
    out += _walk(paths, paths.absolute(SUPERSEDED_DIR), refs)
    return out


def _walk(paths: ProjectPaths, folder: Path, refs: References) -> Iterator[str]:
    if not folder.is_dir():
        return
    for path in sorted(folder.iterdir()):
        alive = temp_owner_alive(path)
        if alive is True:
            continue  # a running publication's staged file or folder
        if alive is False:
            yield paths.relative(path)
        elif path.is_dir():
            yield from _walk(paths, path, refs)
        elif logical_rel(paths.relative(path)) not in refs.files:
            yield paths.relative(path)


def superseded_builds(paths: ProjectPaths, refs: References) -> list[Superseded]:
    """Registered tier builds and datasets that nothing current was made from."""
    bodies = refs.registered
    live = {mid for mid, b in bodies.items() if b.get("kind") not in COLLECTABLE_KINDS}
    live |= refs.current_tiers
    live |= {mid for mid, b in bodies.items() if b.get("kind") == "dataset"
             and any(i.get("id") in refs.current_tiers for i in b.get("inputs") or [])}
    by_tier = {str(bodies[m].get("tier", bodies[m].get("name"))): bodies[m]
               for m in refs.current_tiers if m in bodies}
    live |= {mid for mid, b in bodies.items() if b.get("kind") == "dataset"
             and _reads_current_rows(b, bodies, by_tier)}
    stack = list(live)
    while stack:  # everything a live manifest was made from is live
        body = bodies.get(stack.pop()) or {}
        for i in body.get("inputs") or []:
            if i.get("id") in bodies and i["id"] not in live:
                live.add(i["id"])
                stack.append(i["id"])
    live_files = {str(o["path"]) for mid in live if mid in bodies
                  for o in bodies[mid].get("outputs") or [] if o.get("path")}
    dead = sorted((mid for mid in bodies if mid not in live),
                  key=lambda m: (bodies[m].get("kind"), bodies[m].get("name"), m))
    return [Superseded(mid, str(bodies[mid]["kind"]), str(bodies[mid].get("name")),
                       sorted({str(o["path"]) for o in bodies[mid].get("outputs") or []
                               if o.get("path") and str(o["path"]) not in live_files}))
            for mid in dead]


def _reads_current_rows(dataset: dict[str, Any], bodies: dict[str, dict[str, Any]],
                        by_tier: dict[str, dict[str, Any]]) -> bool:
    """Whether a dataset made from an earlier build of its tier reads rows the current build
    still has: the same definition and the same content for each of its tickers. Such a
    dataset is what `build_dataset` returns today (it is keyed on its own tickers' rows), so
    it is not superseded. `by_tier`: the current build's manifest body of each tier."""
    for i in dataset.get("inputs") or []:
        old = bodies.get(str(i.get("id")))
        if old is None or old.get("kind") != "tier":
            continue
        now = by_tier.get(str(old.get("tier", old.get("name"))))
        if now is None or now.get("fingerprint") != old.get("fingerprint"):
            return False
        rows_then = {o.get("ticker"): o.get("content_sha256") for o in old.get("outputs") or []}
        rows_now = {o.get("ticker"): o.get("content_sha256") for o in now.get("outputs") or []}
        tickers = dataset.get("tickers") or []
        return bool(tickers) and all(
            rows_then.get(t) is not None and rows_then.get(t) == rows_now.get(t) for t in tickers)
    return False


def remove(paths: ProjectPaths, rel: str) -> int:
    """Delete a file or a (temporary) folder; returns the bytes freed."""
    path = paths.root / rel
    if path.is_dir() and TEMP_PATTERN.match(path.name):
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        shutil.rmtree(path, ignore_errors=True)
        return size
    if not path.exists():  # a tier file moved to the superseded folder since
        path = locate(paths, rel)
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return 0
    return size
