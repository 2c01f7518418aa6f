"""The chain check: every input a manifest names exists and still hashes to what was pinned.

Then doubt flows downstream: a broken or missing manifest, or a broken link, makes every
manifest made from it (transitively) `unproven`, and each issue lists the ids it leaves unproven.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass

from fts.audit.checks import Verification
from fts.audit.findings import BROKEN, ERROR, MISSING, OK, UNPROVEN, Issue, NodeState
from fts.audit.inventory import Entry

#: Issues about a link (the consumer is intact but can no longer prove its input).
LINK_CODES = frozenset({"input_missing", "pin_mismatch", "input_kind_mismatch"})


@dataclass(frozen=True)
class Link:
    """One `inputs[*]` reference: consumer -> input, the pinned hash and what it is now."""

    consumer: str
    input_id: str
    kind: str
    pinned: str
    found: str | None
    ok: bool


def check_links(
    entries: dict[str, Entry], verifications: dict[str, Verification], selected: Iterable[str]
) -> tuple[list[Link], list[Issue]]:
    """Check the inputs of every selected manifest against the input's recomputed hashes."""
    links: list[Link] = []
    issues: list[Issue] = []
    for cid in selected:
        consumer = entries[cid].manifest
        if consumer is None:
            continue
        for inp in consumer.inputs:
            target = entries.get(inp.id)
            label = f"{consumer.kind} {consumer.name} {cid[:12]} -> {inp.kind} {inp.id[:12]}"
            common = {"subject": cid, "kind": consumer.kind, "name": consumer.name}
            if target is None:
                links.append(Link(cid, inp.id, inp.kind, inp.sha256, None, False))
                issues.append(Issue("input_missing", f"{label}: no such manifest (file or "
                                    "meta.manifests row)", expected=inp.sha256, found=None,
                                    **common))
                continue
            found = _current_hash(verifications.get(inp.id), inp.sha256)
            ok = found == inp.sha256
            links.append(Link(cid, inp.id, inp.kind, inp.sha256, found, ok))
            if target.kind != inp.kind:
                issues.append(Issue("input_kind_mismatch", f"{label}: the input is a "
                                    f"{target.kind} manifest", expected=inp.kind,
                                    found=target.kind, **common))
            if not ok:
                what = (f"pinned {target.kind} {target.name} with a hash it no longer has"
                        if found else f"cannot re-hash its {target.kind} input {target.name}")
                issues.append(Issue("pin_mismatch", f"{label}: {what}", expected=inp.sha256,
                                    found=found, **common))
    return links, issues


def _current_hash(v: Verification | None, pinned: str) -> str | None:
    """What the input's artefact hashes to now, for the hash the consumer pinned.

    If the input's manifest declares the pinned hash, the recomputed value of that hash;
    otherwise the consumer pinned something the input never declared, and the input's first
    recomputed hash is what it is now.
    """
    if v is None:
        return None
    if pinned in v.hashes:
        return v.hashes[pinned]
    return next(iter(v.hashes.values()), None)


def propagate(nodes: dict[str, NodeState], links: list[Link], issues: list[Issue]) -> None:
    """Set node statuses (broken / missing / unproven) and each issue's `unproven` list.

    `nodes` is in display order (raw, tier, dataset, run); `unproven` lists keep that order.
    """
    order = list(nodes)
    consumers: dict[str, set[str]] = defaultdict(set)
    for link in links:
        consumers[link.input_id].add(link.consumer)
        if link.input_id not in nodes:
            nodes[link.input_id] = NodeState(link.input_id, link.kind, "?", status=MISSING,
                                             problems=["no manifest with this id exists"])
    for issue in issues:
        node = nodes.get(issue.subject or "")
        if node is None or issue.severity != ERROR:
            continue
        node.problems.append(issue.message)
        if issue.code not in LINK_CODES:
            node.status = BROKEN

    def downstream(start: Iterable[str]) -> list[str]:
        seen: set[str] = set()
        queue = deque(start)
        while queue:
            for c in consumers.get(queue.popleft(), ()):
                if c not in seen:
                    seen.add(c)
                    queue.append(c)
        return sorted(seen)

    for issue in issues:
        if issue.severity != ERROR:
            continue
        if issue.subject is None:  # project-level (definitions): the engine named the builds
            affected = set(issue.unproven) | set(downstream(issue.unproven))
        elif issue.code in LINK_CODES:  # the consumer itself can no longer prove its input
            affected = {issue.subject, *downstream([issue.subject])}
        else:
            affected = set(downstream([issue.subject]))
        issue.unproven = [i for i in order if i in affected] + sorted(affected - set(order))
        for i in issue.unproven:
            if i in nodes and nodes[i].status == OK:
                nodes[i].status = UNPROVEN
