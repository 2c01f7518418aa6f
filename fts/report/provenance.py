"""The report's provenance: which manifest each number came from, and what the report pins.

Runs are listed per cell and seed, baselines per tier and target, then every manifest upstream
of them (datasets, tier builds, raw loads) as walked through their inputs by
`fts.report.data.upstream_manifests`.
"""

from __future__ import annotations

import duckdb

from fts.core.manifest import Input
from fts.report.data import ReportData
from fts.warehouse import current_manifests


def provenance_lines(data: ReportData) -> list[str]:
    """Markdown tables: final runs by cell and seed, baselines, then the upstream manifests."""
    lines = ["### Final runs", "", "| cell | seed | run manifest | dataset manifest |",
             "|---|---|---|---|"]
    for r in data.runs.sort_values(["cell", "seed"]).itertuples():
        lines.append(f"| {r.cell} | {r.seed} | `{r.run_id}` | `{r.dataset_id}` |")
    lines += ["", "### Baselines", "",
              "| tier | target | model | baseline manifest | dataset manifest |",
              "|---|---|---|---|---|"]
    unproven = []
    for b in data.baselines.itertuples():
        mid = b.manifest_id if isinstance(b.manifest_id, str) else None
        if mid is None:
            unproven.append(b.baseline_id)
        lines.append(f"| {b.tier} | h{b.horizon} p{b.threshold_pct:g} | {b.model} | "
                     f"{f'`{mid}`' if mid else f'none ({b.baseline_id})'} | `{b.dataset_id}` |")
    if unproven:
        lines += ["", f"{len(unproven)} baseline(s) have no manifest (fitted before baselines "
                  "had one), so `fts audit` cannot prove their numbers; `fts audit` says how to "
                  "re-fit them."]
    upstream = data.manifests[~data.manifests["kind"].isin(["run", "baseline"])]
    lines += ["", "### What they were made from", "", "| kind | name | manifest |", "|---|---|---|"]
    lines += [f"| {r.kind} | {r.name} | `{r.id}` |" for r in upstream.itertuples()]
    return lines


def report_inputs(data: ReportData) -> list[Input]:
    """The report manifest's inputs: every final run (its checkpoint), dataset (its arrays'
    content) and baseline (its stored test predictions) behind the numbers."""
    inputs = [Input(r.run_id, "run", r.checkpoint_sha256)
              for r in data.runs.sort_values(["cell", "seed"]).itertuples()]
    inputs += [Input(did, "dataset", body["arrays_content_sha256"])
               for did, body in sorted(data.datasets.items())]
    inputs += [Input(mid, "baseline", body["predictions_sha256"]["test"])
               for mid, body in sorted(data.baseline_manifests.items())]
    return inputs


def current_reports(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    """Ids of the report manifests of `name` that no later report supersedes: the ones whose
    files a new report of the same name overwrites (and must therefore supersede)."""
    return [m.id for m in current_manifests(con, "report", name)]
