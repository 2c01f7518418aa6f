"""Tier definitions against the version lock, and the tier pointers against the manifests.

A version must name one definition: `features_sql/versions.lock` records the fingerprint of each
tier's own definition per version (`fts.features.versions`). A definition edited without a
version bump is exactly the change a researcher cannot see from a manifest's `version`, so it is
an audit failure naming the tier. The builds made under that version are listed as unproven:
the declarations in the repository no longer reproduce them.
"""

from __future__ import annotations

from fts.audit.findings import WARNING, Issue
from fts.audit.inventory import Inventory
from fts.core.errors import FtsError
from fts.core.paths import ProjectPaths
from fts.features.declarations import load_feature_project
from fts.features.graph import plan
from fts.features.versions import LOCK_NAME, read_lock, tier_fingerprints
from fts.warehouse.tier_files import folder_files, is_per_ticker, tier_folder


def check_definitions(paths: ProjectPaths, inv: Inventory,
                      tiers: set[str] | None = None) -> tuple[list[Issue], int]:
    """Issues (errors and warnings) about tier definitions; returns (issues, tiers checked).

    `tiers`: only these (default: every declared tier).
    """
    if not paths.features_sql.is_dir():
        return [Issue("definitions_missing", f"{paths.relative(paths.features_sql)}: no feature "
                      "declarations; tier definitions were not checked", severity=WARNING)], 0
    try:
        project = load_feature_project(paths.features_sql)
        lock = read_lock(project.root)
    except FtsError as exc:
        return [Issue("definitions_unreadable", f"features_sql: {exc}")], 0
    issues: list[Issue] = []
    stale: list[Issue] = []
    builds = _builds_by_tier(inv)
    names = sorted(t for t in project.tiers if tiers is None or t in tiers)
    for tier in names:
        version = str(project.tier(tier).version)
        try:
            own, full = tier_fingerprints(project, plan(project, tier))
        except FtsError as exc:
            issues.append(Issue("definitions_unreadable", f"tier {tier}: {exc}", name=tier))
            continue
        current = own[tier]
        recorded = lock.get(tier, {}).get(version)
        yml = paths.relative(project.tier(tier).path)
        if recorded is not None and recorded != current:
            made_before = [mid for mid, m in builds.get(tier, []) if str(m["version"]) == version
                           and m.get("definition_fingerprint") != current]
            issues.append(Issue(
                "definition_changed",
                f"tier {tier}: its definition changed but its version is still {version}; "
                f"bump the version in {yml} (features_sql/{LOCK_NAME} records {recorded[:12]} "
                f"for v{version}, the source now gives {current[:12]})",
                kind="tier", name=tier, expected=recorded, found=current, path=yml,
                unproven=made_before))
        elif recorded is None:
            issues.append(Issue(
                "version_unrecorded", f"tier {tier}: version {version} is not in "
                f"features_sql/{LOCK_NAME} yet (recorded by its first build)",
                kind="tier", name=tier, path=yml, severity=WARNING))
        for mid, m in builds.get(tier, []):
            pinned = lock.get(tier, {}).get(str(m["version"]))
            if pinned is not None and m.get("definition_fingerprint") not in (None, pinned):
                issues.append(Issue(
                    "lock_disagrees",
                    f"tier {tier} build {mid[:12]} was made from definition "
                    f"{str(m.get('definition_fingerprint'))[:12]} as v{m['version']}, but "
                    f"features_sql/{LOCK_NAME} says v{m['version']} is {pinned[:12]}",
                    kind="tier", name=tier, expected=pinned, found=m.get("definition_fingerprint"),
                    path=f"features_sql/{LOCK_NAME}", unproven=[mid]))
        stale.extend(_stale_current(inv, tier, full[tier]))
    # A stale build is secondary while a definition is inconsistent (no rebuild is allowed yet).
    if not any(i.code == "definition_changed" for i in issues):
        issues.extend(stale)
    return issues, len(names)


def _builds_by_tier(inv: Inventory) -> dict[str, list[tuple[str, dict]]]:
    out: dict[str, list[tuple[str, dict]]] = {}
    for mid, e in inv.entries.items():
        if e.manifest is not None and e.kind == "tier":
            tier = str(e.manifest.get("tier", e.manifest.name))
            out.setdefault(tier, []).append((mid, e.manifest.body))
    return out


def _stale_current(inv: Inventory, tier: str, full_fp: str) -> list[Issue]:
    """A current build made from an older definition (or upstream) is stale: a warning."""
    cur = inv.snapshot.tier_current.get(tier)
    entry = inv.entries.get(cur[0]) if cur else None
    if entry is None or entry.manifest is None or entry.manifest.get("fingerprint") == full_fp:
        return []
    return [Issue("tier_stale", f"tier {tier}: the current build {entry.id[:12]} was made from "
                  "an older definition (its own or upstream); `fts build-tier "
                  f"{tier}` rebuilds it", subject=entry.id, kind="tier", name=tier,
                  expected=full_fp, found=entry.manifest.get("fingerprint"), severity=WARNING)]


def check_tier_current(inv: Inventory, paths: ProjectPaths,
                       tiers: set[str] | None = None) -> tuple[list[Issue], int]:
    """Each `meta.tier_current` pointer names an existing tier manifest and its output file."""
    issues: list[Issue] = []
    pointers = {t: v for t, v in inv.snapshot.tier_current.items() if tiers is None or t in tiers}
    for tier, (mid, rel) in sorted(pointers.items()):
        entry = inv.entries.get(mid)
        where = f"meta.tier_current[{tier}]"
        if entry is None or entry.manifest is None:
            issues.append(Issue("tier_current_missing", f"{where}: manifest {mid[:12]} does not "
                                "exist (neither file nor meta.manifests row is usable)",
                                kind="tier", name=tier, expected=mid, found=None, path=rel))
            continue
        m = entry.manifest
        paths_out = [o.get("path") for o in m.get("outputs") or []]
        if m.kind != "tier" or m.get("tier", m.name) != tier:
            issues.append(Issue("tier_current_wrong", f"{where}: points at {m.kind} {m.name} "
                                f"{mid[:12]}", kind="tier", name=tier, path=rel, unproven=[mid]))
        elif is_per_ticker(m):
            issues += _folder_issues(paths, tier, mid, rel, {str(p) for p in paths_out})
        elif rel not in paths_out:
            issues.append(Issue("tier_current_wrong", f"{where}: points at {rel}, but manifest "
                                f"{mid[:12]} wrote {', '.join(map(str, paths_out))}",
                                kind="tier", name=tier, expected=str(paths_out[:1]),
                                found=rel, path=rel, unproven=[mid]))
    return issues, len(pointers)


def _folder_issues(paths: ProjectPaths, tier: str, mid: str, rel: str,
                   listed: set[str]) -> list[Issue]:
    """A per-ticker build: the pointer names the tier folder, which holds exactly its files."""
    where = f"meta.tier_current[{tier}]"
    if rel != tier_folder(tier):
        return [Issue("tier_current_wrong", f"{where}: points at {rel}, but manifest {mid[:12]} "
                      f"is a per-ticker build in {tier_folder(tier)}", kind="tier", name=tier,
                      expected=tier_folder(tier), found=rel, path=rel, unproven=[mid])]
    present = folder_files(paths, tier)
    issues = []
    if listed - present:
        gone = sorted(listed - present)
        issues.append(Issue("tier_folder_incomplete", f"{rel}: {len(gone)} file(s) of the current "
                            f"build are not in the tier folder (first: {gone[0]}); readers of the "
                            f"folder miss those tickers; `fts build-tier {tier}` rebuilds them",
                            kind="tier", name=tier, path=gone[0], unproven=[mid]))
    if present - listed:
        extra = sorted(present - listed)
        issues.append(Issue("tier_folder_extra", f"{rel}: {len(extra)} file(s) the current build "
                            f"does not list (first: {extra[0]}); readers of the folder see their "
                            f"rows too; `fts gc --delete` clears them (as does the next "
                            f"`fts build-tier {tier}` that publishes a build)",
                            kind="tier", name=tier, path=extra[0], severity=WARNING))
    return issues
