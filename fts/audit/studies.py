"""Experiment cells against the study manifests behind them.

A cell (`experiments.cells`) reports its study's best trial and dataset. The study manifest it
rests on is the one its final runs pin as an input; for a cell whose final runs pin none (made
before studies had manifests), the study's current manifest (superseded by none).
"""

from __future__ import annotations

from collections.abc import Collection

from fts.audit.findings import WARNING, Issue
from fts.audit.inventory import Inventory


def check_study_cells(inv: Inventory, selected: Collection[str]) -> list[Issue]:
    """`study_cell_disagrees` for each selected study manifest whose best trial or dataset a
    cell row contradicts."""
    chosen = set(selected)
    studies = {mid: e for mid, e in inv.entries.items()
               if e.kind == "study" and e.manifest is not None}
    issues = []
    for row in inv.snapshot.cells:
        pinned = {i.id for rid in row["final_run_ids"]
                  if (run := inv.entries.get(rid)) is not None and run.manifest is not None
                  for i in run.manifest.inputs if i.kind == "study"}
        behind = pinned or {mid for mid, e in studies.items()
                            if e.name == row["study"] and e.superseded_by is None}
        where = f"experiments.cells {row['experiment']}/{row['cell']}"
        for mid in sorted(behind & chosen & set(studies)):
            m = studies[mid].manifest
            assert m is not None
            best = (m.get("best_trial") or {}).get("number")
            datasets = [i.id for i in m.inputs if i.kind == "dataset"]
            if best != row["best_trial"]:
                issues.append(Issue(
                    "study_cell_disagrees", f"{where}: best_trial {row['best_trial']}, but study "
                    f"{m.name} {mid[:12]} found trial {best} best", subject=mid, kind="study",
                    name=m.name, expected=str(best), found=str(row["best_trial"]),
                    path="experiments.cells"))
            if datasets and row["dataset_id"] not in datasets:
                issues.append(Issue(
                    "study_cell_disagrees", f"{where}: dataset_id differs from the dataset of "
                    f"study {m.name} {mid[:12]}", subject=mid, kind="study", name=m.name,
                    expected=datasets[0], found=row["dataset_id"], path="experiments.cells"))
    return issues


def cells_without_study_manifest(inv: Inventory) -> list[Issue]:
    """Warnings: cells whose study has no manifest (searched before studies had one)."""
    named = {e.name for e in inv.entries.values() if e.kind == "study" and e.manifest}
    return [Issue("study_without_manifest", f"experiments.cells {row['experiment']}/"
                  f"{row['cell']}: study {row['study']} has no study manifest, so its best "
                  "trial cannot be checked", kind="study", name=row["study"],
                  path="experiments.cells", severity=WARNING)
            for row in inv.snapshot.cells if row["study"] not in named]
