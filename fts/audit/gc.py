"""`fts gc`: list (and with `delete=True` remove) garbage and superseded builds.

Dry run by default, like `git clean -n`. Runs under the project's publish lock, so it never
sees (let alone removes) the files of a publication between its first rename and its COMMIT.
Order with `delete=True`, so that a kill at any point leaves nothing registered without its
files: 1. in one transaction, unregister the superseded builds (`meta.manifests` and
`meta.artifacts` rows); 2. remove their files and manifest files, then the garbage. A kill
between 1 and 2 leaves only files that nothing references: garbage for the next run.
See `fts.audit.garbage` for what counts as garbage and as superseded.
"""

from __future__ import annotations

from fts.audit.garbage import (
    GcPlan,
    committed_references,
    garbage_files,
    garbage_manifests,
    remove,
    superseded_builds,
)
from fts.core.errors import NotFoundError
from fts.core.paths import ProjectPaths
from fts.warehouse import connect, transaction
from fts.warehouse.publish import project_lock
from fts.warehouse.tier_files import move_out, superseded_rel, untidy_files


def collect_garbage(paths: ProjectPaths, *, delete: bool = False) -> GcPlan:
    """Find garbage files and superseded builds; remove them when `delete`."""
    if not paths.warehouse.exists():
        raise NotFoundError(f"{paths.warehouse}: no warehouse yet; nothing to collect")
    with project_lock(paths):
        with connect(paths.warehouse, read_only=not delete, session_views=False) as con:
            refs = committed_references(con)
            # A build killed after its COMMIT leaves superseded files in a tier folder: those
            # move out (files nothing registers are garbage, removed below).
            untidy = [f for f in untidy_files(paths, con) if f in refs.files]
            if delete:
                move_out(paths, untidy)
            plan = GcPlan(garbage=garbage_manifests(paths, refs) + garbage_files(paths, refs),
                          superseded=superseded_builds(paths, refs), untidy=untidy)
            if delete and plan.superseded:
                ids = [s.id for s in plan.superseded]
                with transaction(con):
                    con.execute("DELETE FROM meta.artifacts WHERE list_contains(?, manifest_id)",
                                [ids])
                    con.execute("DELETE FROM meta.manifests WHERE list_contains(?, id)", [ids])
        removable = list(plan.garbage) + [
            f for s in plan.superseded
            for f in [*s.files, f"manifests/{s.kind}/{s.id}.json"]]
        if delete:
            plan.bytes = sum(remove(paths, rel) for rel in removable)
            plan.deleted = True
        else:
            plan.bytes = sum(_size(paths, rel) for rel in removable)
    return plan


def _size(paths: ProjectPaths, rel: str) -> int:
    path = paths.root / rel
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def format_gc(plan: GcPlan) -> list[str]:
    """The plan as lines (`Would remove` / `Removed`, as `git clean` says it)."""
    verb = "Removed" if plan.deleted else "Would remove"
    if plan.empty:
        return ["fts gc: nothing to collect"]
    moved = "Moved" if plan.deleted else "Would move"
    lines = [f"{moved} {rel} to {superseded_rel(rel)} (not part of the tier's current build)"
             for rel in plan.untidy]
    lines += [f"{verb} {rel} (garbage: no committed registration references it)"
              for rel in plan.garbage]
    for s in plan.superseded:
        lines.append(f"{verb} {s.label} (superseded: nothing current was made from it)")
        lines += [f"{verb} {rel}" for rel in s.files]
    total = f"{plan.bytes / 1e6:.1f} MB"
    lines.append(f"fts gc: {len(plan.garbage)} garbage file(s), {len(plan.superseded)} "
                 f"superseded build(s), {total}" + ("" if plan.deleted else
                                                    "; run `fts gc --delete` to remove them"))
    return lines
