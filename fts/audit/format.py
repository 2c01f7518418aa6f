"""Human-readable text for audit reports, chains and column lineage (the CLI prints these)."""

from __future__ import annotations

from fts.audit.chain import Chain, ChainNode
from fts.audit.findings import OK, AuditReport, Issue
from fts.audit.lineage import ColumnLineage

_PLURAL = {"raw": "raw loads", "tier": "tier builds", "dataset": "datasets", "run": "runs",
           "baseline": "baselines"}


def short(h: str | None, n: int = 16) -> str:
    return "(none)" if not h else h[:n]


def format_report(report: AuditReport) -> list[str]:
    """The audit as lines: verdict, what was checked, then each issue with what changed."""
    total = len(report.nodes)
    if report.ok:
        lines = [f"fts audit: OK, every check holds ({total} manifests)"]
    else:
        lines = [f"fts audit: FAILED, {len(report.issues)} problem(s); "
                 f"{len(report.broken)} broken and {len(report.unproven)} unproven of "
                 f"{total} manifests"]
    lines.append("checked: " + checked_text(report.checked))
    for issue in report.issues:
        lines += ["", *format_issue(issue, report, "FAIL")]
    for warning in report.warnings:
        lines += ["", *format_issue(warning, report, "WARN")]
    return lines


def checked_text(checked: dict[str, int]) -> str:
    """"2 raw loads, 3 tier builds, ...; 5 artefact files, ..." (kinds never contain a space)."""
    kinds = [f"{n} {k if n == 1 else _PLURAL.get(k, k + ' manifests')}"
             for k, n in checked.items() if " " not in k]
    rest = [f"{n} {k}" for k, n in checked.items() if " " in k]
    return ", ".join(kinds) + ("; " if kinds and rest else "") + ", ".join(rest)


def format_issue(issue: Issue, report: AuditReport, tag: str) -> list[str]:
    lines = [f"{tag} [{issue.code}] {issue.message}"]
    if issue.subject:
        node = report.nodes.get(issue.subject)
        lines.append(f"    manifest: {node.label if node else issue.subject}")
    if issue.expected is not None or issue.found is not None:
        lines.append(f"    expected: {short(issue.expected)}  found: {short(issue.found)}")
    if issue.unproven:
        names = [report.nodes[i].label if i in report.nodes else i[:12] for i in issue.unproven]
        lines.append(f"    now unproven ({len(names)}): " + ", ".join(names))
    return lines


def format_chain(chain: Chain) -> list[str]:
    """The chain as a tree, root first, each node with its status and the link it came by."""
    lines = _tree(chain.root, "", "", True)
    raws = ", ".join(f"{n.name} {n.id[:12]}" for n in chain.raw_loads) or "none"
    verdict = "chain holds" if chain.ok else "chain does NOT hold"
    count = len({n.id for n in chain.root.walk()})
    lines.append(f"{verdict}: {count} manifests; raw loads: {raws}")
    lines += [f"note: {n}" for n in chain.notes]
    for issue in chain.report.issues:
        lines += ["", *format_issue(issue, chain.report, "FAIL")]
    for warning in chain.report.warnings:
        lines += ["", *format_issue(warning, chain.report, "WARN")]
    return lines


def _tree(node: ChainNode, prefix: str, child_prefix: str, root: bool) -> list[str]:
    status = node.status.upper() if node.status != OK else "ok"
    head = f"{prefix}{node.kind} {node.name} {node.id[:12]}  [{status}]"
    if node.pinned is not None:
        head += f"  pinned {short(node.pinned, 12)} " + (
            "= now" if node.link_ok else f"!= now {short(node.found, 12)}")
    if node.repeat:
        return [head + "  (see above)"]
    lines = [head + ("" if not node.summary else f"\n{child_prefix}    {node.summary}")]
    lines += [f"{child_prefix}    ! {p}" for p in node.problems]
    for i, child in enumerate(node.children):
        last = i == len(node.children) - 1
        lines += _tree(child, child_prefix + ("`-- " if last else "|-- "),
                       child_prefix + ("    " if last else "|   "), False)
    return lines


def format_lineage(lin: ColumnLineage) -> list[str]:
    """Raw columns first, then the models on the way and the column-to-column edges."""
    lines = [f"{lin.target}",
             f"  raw columns: {', '.join(lin.raw_columns) or '(none)'}",
             f"  row keys:    {', '.join(lin.raw_keys) or '(none)'}",
             "  models:"]
    for m in lin.models:
        how = ("sqlglot column lineage" if m.method == "sql"
               else f"python AST, model level: reads {', '.join(m.reads) or 'nothing visible'}")
        lines.append(f"    {m.name} ({m.kind}, {m.path}): {', '.join(m.columns)}  [{how}]")
    lines.append("  edges (column <- what it is computed from):")
    grouped: dict[str, list[str]] = {}
    for consumer, producer in lin.edges:
        grouped.setdefault(consumer, []).append(producer)
    for consumer, producers in grouped.items():
        lines.append(f"    {consumer} <- {', '.join(producers)}")
    lines += [f"  note: {n}" for n in lin.notes]
    return lines
