"""The audit's vocabulary: issues (what does not hold), node states and the report.

Statuses of a manifest (a node of the lineage graph):
- `ok`: its record is intact, its artefact re-hashes to what it pins, and so does everything
  it was made from;
- `broken`: its own record or artefact does not match (it is the cause of a failure);
- `unproven`: intact itself, but something it was made from is broken, missing, or no longer
  hashes to what it pinned: the number it reports can no longer be traced to verified inputs;
- `missing`: referenced as an input, but no manifest with that id exists anywhere.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

OK, BROKEN, UNPROVEN, MISSING = "ok", "broken", "unproven", "missing"
ERROR, WARNING = "error", "warning"


@dataclass
class Issue:
    """One thing that does not hold. `expected`/`found` are hashes (or ids) where that applies.

    `subject` is the manifest id the issue is about (None for project-level issues such as a
    tier definition); `unproven` lists the ids that this issue leaves unproven (filled in by the
    engine once the whole graph is known).
    """

    code: str
    message: str
    subject: str | None = None
    kind: str | None = None
    name: str | None = None
    expected: str | None = None
    found: str | None = None
    path: str | None = None
    severity: str = ERROR
    unproven: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class NodeState:
    """What the audit found about one manifest."""

    id: str
    kind: str
    name: str
    version: str | None = None
    created_at: str | None = None
    status: str = OK
    summary: str = ""
    artefacts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    inputs: list[dict[str, str]] = field(default_factory=list)
    verified_hashes: dict[str, str | None] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name} {self.id[:12]}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AuditReport:
    """The result of `audit_project`: what was checked, every node's state and every issue."""

    nodes: dict[str, NodeState]
    issues: list[Issue]
    warnings: list[Issue]
    checked: dict[str, int]

    @property
    def ok(self) -> bool:
        """True when every record, artefact, link and definition holds."""
        return not self.issues

    def ids_with(self, status: str) -> list[str]:
        return [i for i, n in self.nodes.items() if n.status == status]

    @property
    def unproven(self) -> list[str]:
        return self.ids_with(UNPROVEN)

    @property
    def broken(self) -> list[str]:
        return self.ids_with(BROKEN)

    def issues_with(self, code: str) -> list[Issue]:
        return [i for i in self.issues + self.warnings if i.code == code]

    def status_counts(self) -> dict[str, int]:
        return dict(Counter(n.status for n in self.nodes.values()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "status_counts": self.status_counts(),
            "issues": [i.to_dict() for i in self.issues],
            "warnings": [w.to_dict() for w in self.warnings],
            "nodes": {i: n.to_dict() for i, n in self.nodes.items()},
        }
