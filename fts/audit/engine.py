"""`audit_project`: records, artefacts, chains and definitions, in one report.

Order: read the manifests and one warehouse snapshot (`inventory`), re-hash every artefact
(`checks`), check every input link (`links`), check the tier definitions and pointers
(`definitions`) and the experiment cells against their studies (`studies`), then let doubt
flow downstream (`links.propagate`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection

from fts.audit.checks import Verification, verify
from fts.audit.definitions import check_definitions, check_tier_current
from fts.audit.describe import summarize
from fts.audit.findings import ERROR, WARNING, AuditReport, Issue, NodeState
from fts.audit.inventory import Entry, Inventory, load_inventory
from fts.audit.links import check_links, propagate
from fts.audit.stale_trials import stale_trial_warnings
from fts.audit.studies import cells_without_study_manifest, check_study_cells
from fts.core.paths import ProjectPaths

KIND_ORDER = ("raw", "tier", "dataset", "run", "baseline", "study", "report")


def audit_project(paths: ProjectPaths, *, only: Collection[str] | None = None) -> AuditReport:
    """Verify every manifest of the project (or, with `only`, those ids/prefixes and their
    inputs, transitively) and return the report. Never raises for a mismatch: a mismatch is an
    issue in the report; raises `NotFoundError` when there is no warehouse or `only` names no
    manifest."""
    inv = load_inventory(paths, only=only)
    selected = _ordered(inv, inv.selected)
    verifications = {i: verify(inv.entries[i], inv.snapshot, paths) for i in selected}
    nodes = {i: _node(inv.entries[i], verifications[i]) for i in selected}
    issues: list[Issue] = [p for i in selected for p in inv.entries[i].problems]
    issues += [p for i in selected for p in verifications[i].issues]
    links, link_issues = check_links(inv.entries, verifications, selected)
    issues += link_issues
    tiers = None if only is None else {
        str(inv.entries[i].manifest.get("tier", inv.entries[i].name))
        for i in selected if inv.entries[i].kind == "tier" and inv.entries[i].manifest}
    definition_issues, n_definitions = check_definitions(paths, inv, tiers)
    pointer_issues, n_pointers = check_tier_current(inv, paths, tiers)
    issues += definition_issues + pointer_issues
    issues += check_study_cells(inv, selected)
    if only is None:
        issues += _orphan_rows(inv) + cells_without_study_manifest(inv) + _garbage(inv)
        issues += stale_trial_warnings(paths)
    _explain_found_hashes(issues, inv)
    propagate(nodes, links, issues)
    checked = dict(Counter(n.kind for n in nodes.values()))
    checked.update({
        "artefact files": sum(v.files for v in verifications.values()),
        "raw loads re-hashed": len(inv.snapshot.raw_hashes),
        "prediction sets re-hashed": len(inv.snapshot.prediction_hashes),
        "input links": len(links),
        "tier definitions": n_definitions,
        "tier pointers": n_pointers,
    })
    return AuditReport(
        nodes=nodes,
        issues=[i for i in issues if i.severity == ERROR],
        warnings=[i for i in issues if i.severity == WARNING],
        checked=checked,
    )


def _ordered(inv: Inventory, ids: list[str]) -> list[str]:
    """Raw loads first, then tiers, datasets, runs, others; oldest first within a kind."""
    def key(mid: str) -> tuple[int, str, str]:
        e = inv.entries[mid]
        rank = KIND_ORDER.index(e.kind) if e.kind in KIND_ORDER else len(KIND_ORDER)
        created = str(e.manifest.get("created_at", "")) if e.manifest else ""
        return rank, created, mid
    return sorted(ids, key=key)


def _node(entry: Entry, v: Verification) -> NodeState:
    m = entry.manifest
    return NodeState(
        id=entry.id, kind=entry.kind, name=entry.name,
        version=str(m.get("version")) if m else None,
        created_at=str(m.get("created_at")) if m else None,
        summary=(summarize(dict(m.body)) if m else "no readable manifest") + (
            f" (superseded by {entry.kind} {entry.superseded_by[:12]})"
            if entry.superseded_by else ""),
        artefacts=list(v.artefacts),
        inputs=[i.to_dict() for i in m.inputs] if m else [],
        verified_hashes=dict(v.hashes),
    )


def _orphan_rows(inv: Inventory) -> list[Issue]:
    """Warehouse rows that report results or data without a manifest behind them."""
    issues = []
    for lid, load in sorted(inv.snapshot.loads.items()):
        if lid not in inv.entries:
            issues.append(Issue("raw_load_without_manifest", f"raw.loads row {lid[:12]} "
                                f"({load['ticker']}) has no manifest", kind="raw",
                                name=load["ticker"], expected=lid, path="raw.loads"))
    for rid in sorted(inv.snapshot.runs):
        if rid not in inv.entries:
            issues.append(Issue("run_without_manifest", f"train.runs row {rid[:12]} has no "
                                "manifest: its metrics cannot be traced", kind="run",
                                expected=rid, path="train.runs"))
    proven = {str(e.manifest.get("baseline_id")) for e in inv.entries.values()
              if e.kind == "baseline" and e.manifest is not None}
    for bid in sorted(set(inv.snapshot.baselines) - proven):
        issues.append(Issue("baseline_without_manifest", f"experiments.baselines row {bid} "
                            "has no manifest: its metrics and predictions cannot be proven "
                            "(fitted before baselines had manifests: delete the experiment's "
                            "experiments.cells and experiments.baselines rows and the baselines' "
                            "train.predictions, then `fts run` the study again; stored runs are "
                            "reused)", kind="baseline",
                            name=inv.snapshot.baselines[bid]["model"], expected=bid,
                            path="experiments.baselines"))
    for (path, _), row in sorted(inv.snapshot.artifacts.items()):
        if row["manifest_id"] not in inv.entries:
            issues.append(Issue("artefact_without_manifest", f"meta.artifacts row {path} names "
                                f"manifest {row['manifest_id'][:12]}, which does not exist",
                                expected=row["manifest_id"], path=path, severity=WARNING))
    return issues


def _garbage(inv: Inventory) -> list[Issue]:
    """Files no committed row references: an interrupted command's leftovers, not tampering."""
    return [Issue("garbage", f"{rel}: no committed registration references it (left by an "
                  "interrupted command); `fts gc --delete` removes it", path=rel,
                  severity=WARNING) for rel in inv.garbage]


def _explain_found_hashes(issues: list[Issue], inv: Inventory) -> None:
    """When a changed file now hashes to ANOTHER manifest's artefact, say whose (a swapped
    checkpoint, a file copied over another)."""
    owners: dict[str, str] = {}
    for mid, e in inv.entries.items():
        m = e.manifest
        if m is None:
            continue
        hashes = [m.get("content_sha256")] + [
            o.get(k) for o in m.get("outputs") or [] for k in ("sha256", "content_sha256")]
        for h in hashes:
            if h:
                owners.setdefault(str(h), f"{m.kind} {m.name} {mid[:12]}")
    for issue in issues:
        owner = owners.get(issue.found or "")
        if owner and issue.subject and not owner.endswith(issue.subject[:12]):
            issue.message += f" (it is now the artefact of {owner})"
