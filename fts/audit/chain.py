"""`trace`: one result's full chain, run -> dataset -> tier(s) -> raw loads, each node checked
(a trial's chain starts at its study manifest).

The chain is the audit restricted to the target and what it was made from, laid out as a tree
(inputs as children). A node reached twice (a raw load behind both a tier and a dataset) is
expanded the first time and marked `repeat` afterwards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fts.audit.engine import audit_project
from fts.audit.findings import MISSING, OK, AuditReport, NodeState
from fts.audit.inventory import open_read_only
from fts.core.errors import ConfigError, NotFoundError
from fts.core.paths import ProjectPaths


@dataclass
class ChainNode:
    """One manifest in a chain; `pinned`/`found` describe the link from its consumer."""

    id: str
    kind: str
    name: str
    status: str
    summary: str
    problems: list[str] = field(default_factory=list)
    pinned: str | None = None
    found: str | None = None
    repeat: bool = False
    children: list[ChainNode] = field(default_factory=list)

    @property
    def link_ok(self) -> bool:
        return self.pinned is None or self.pinned == self.found

    def walk(self) -> list[ChainNode]:
        return [self, *(n for c in self.children for n in c.walk())]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "name": self.name, "status": self.status,
            "summary": self.summary, "problems": self.problems, "pinned": self.pinned,
            "found": self.found, "link_ok": self.link_ok, "repeat": self.repeat,
            "inputs": [c.to_dict() for c in self.children],
        }


@dataclass
class Chain:
    """The traced chain of one target, with the restricted audit behind it."""

    root: ChainNode
    report: AuditReport
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.report.ok and all(n.status == OK and n.link_ok for n in self.root.walk())

    @property
    def raw_loads(self) -> list[ChainNode]:
        seen: dict[str, ChainNode] = {}
        for n in self.root.walk():
            if n.kind == "raw" and not n.repeat:
                seen.setdefault(n.id, n)
        return list(seen.values())

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "notes": self.notes, "chain": self.root.to_dict(),
                "issues": [i.to_dict() for i in self.report.issues],
                "warnings": [w.to_dict() for w in self.report.warnings]}


def trace(paths: ProjectPaths, target: str, *, kind: str | None = None) -> Chain:
    """Trace a manifest: a run id or any manifest id (a unique prefix is enough); with `kind`,
    the target must be a manifest of that kind."""
    report = audit_project(paths, only=[target])
    root_id = next(i for i in report.nodes if i.startswith(target))  # unique: audit checked
    if kind is not None and report.nodes[root_id].kind != kind:
        node = report.nodes[root_id]
        raise NotFoundError(f"{target!r} is {node.kind} {node.name} {root_id[:12]}, not a {kind}")
    return Chain(_build(root_id, report, None, set()), report)


def trace_trial(paths: ProjectPaths, study: str, number: int) -> Chain:
    """Trace the run of trial `number` of `study` (`train.runs WHERE study AND trial_number`).

    When a study manifest lists that trial, the chain starts at the study manifest (the current
    one when there is one): study -> the trial's run -> dataset -> ...; the study's other
    trials' runs are audited but not drawn."""
    with open_read_only(paths) as con:
        rows = con.execute(
            """SELECT run_id FROM train.runs WHERE study = ? AND trial_number = ?
               ORDER BY created_at DESC, run_id""", [study, number]).fetchall()
        manifests = con.execute("SELECT id, body FROM meta.manifests WHERE kind = 'study' AND "
                                "name = ?", [study]).fetchall()
    if not rows:
        raise NotFoundError(f"study {study!r} has no run for trial {number} in train.runs")
    run_id = rows[0][0]
    holder = _study_listing(manifests, number, run_id)
    if holder is None:
        chain = trace(paths, run_id, kind="run")
    else:
        chain = trace(paths, holder, kind="study")
        chain.root.children = [c for c in chain.root.children
                               if c.kind != "run" or c.id == run_id]
    if len(rows) > 1:
        others = ", ".join(r[0][:12] for r in rows[1:])
        chain.notes.append(f"trial {study}:{number} has {len(rows)} runs; traced the newest "
                           f"({rows[0][0][:12]}); the others: {others}")
    return chain


def _study_listing(manifests: list[tuple[str, str]], number: int, run_id: str) -> str | None:
    """The study manifest that lists trial `number` with run `run_id`: one superseded by no
    other first, then the newest."""
    bodies = {mid: json.loads(body) for mid, body in manifests}
    superseded = {s for b in bodies.values() for s in b.get("supersedes") or []}
    listing = [mid for mid, b in bodies.items()
               if any(t.get("number") == number and t.get("run_id") == run_id
                      for t in b.get("trials") or [])]
    if not listing:
        return None
    return max(listing, key=lambda mid: (mid not in superseded, bodies[mid]["created_at"], mid))


def parse_trial(text: str) -> tuple[str, int]:
    """`"STUDY:N"` -> (study, n)."""
    study, sep, number = text.rpartition(":")
    if not sep or not study or not number.isdigit():
        raise ConfigError(f"--trial {text!r}: expected STUDY:N, e.g. --trial search_a20:7")
    return study, int(number)


def _build(mid: str, report: AuditReport, link: dict[str, str] | None,
           seen: set[str]) -> ChainNode:
    node = report.nodes.get(mid) or NodeState(mid, link["kind"] if link else "?", "?",
                                              status=MISSING, problems=["no such manifest"])
    pinned = link["sha256"] if link else None
    found = node.verified_hashes.get(pinned) if pinned else None
    if pinned and pinned not in node.verified_hashes:
        found = next(iter(node.verified_hashes.values()), None)
    out = ChainNode(mid, node.kind, node.name, node.status, node.summary,
                    list(node.problems), pinned, found, repeat=mid in seen)
    if out.repeat:
        return out
    seen.add(mid)
    out.children = [_build(i["id"], report, i, seen) for i in node.inputs]
    return out
