"""What a report reads: SQL over the warehouse only (stored runs, predictions, manifests)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from fts.core.errors import NotFoundError
from fts.core.paths import ProjectPaths
from fts.warehouse import connect


@dataclass
class ReportData:
    """Everything a report shows, as read from the warehouse."""

    experiment: str
    cells: pd.DataFrame  # experiments.cells
    runs: pd.DataFrame  # final runs: tier, budget, seed, n_params, metrics, dataset_id, ...
    predictions: pd.DataFrame  # run_id, split, date, ticker, label, prob (final runs + baselines)
    baselines: pd.DataFrame  # experiments.baselines
    datasets: dict[str, dict]  # dataset manifest bodies by id
    manifests: pd.DataFrame  # id, kind, name of every manifest the numbers came from


def load_report_data(paths: ProjectPaths, experiment: str) -> ReportData:
    """Read the experiment's finished cells, their final runs, predictions and manifests."""
    with connect(paths.warehouse, read_only=True, project_root=paths.root) as con:
        cells = con.sql("SELECT * FROM experiments.cells WHERE experiment = ? ORDER BY cell",
                        params=[experiment]).df()
        if cells.empty:
            raise NotFoundError(f"experiment {experiment!r} has no finished cells; run "
                                f"`fts run studies/{experiment}.toml` first")
        run_ids = [r for ids in cells["final_run_ids"] for r in json.loads(ids)]
        runs = con.sql("SELECT * FROM train.runs WHERE list_contains(?, run_id)",
                       params=[run_ids]).df()
        baselines = con.sql("SELECT * FROM experiments.baselines WHERE experiment = ?",
                            params=[experiment]).df()
        all_ids = run_ids + baselines["baseline_id"].tolist()
        predictions = con.sql("SELECT * FROM train.predictions WHERE list_contains(?, run_id)",
                              params=[all_ids]).df()
        dataset_ids = sorted(set(cells["dataset_id"]))
        datasets = {i: json.loads(b) for i, b in con.sql(
            "SELECT id, body FROM meta.manifests WHERE list_contains(?, id)",
            params=[dataset_ids]).fetchall()}
        upstream = sorted({i["id"] for d in datasets.values() for i in d["inputs"]})
        manifests = con.sql(
            "SELECT id, kind, name, created_at FROM meta.manifests WHERE list_contains(?, id) "
            "ORDER BY kind, name", params=[run_ids + dataset_ids + upstream]).df()
    cell_of = {r: row.cell for row in cells.itertuples() for r in json.loads(row.final_run_ids)}
    runs["cell"] = runs["run_id"].map(cell_of)
    for col in ("val_metrics", "test_metrics", "config"):
        runs[col] = runs[col].map(json.loads)
    for col in ("val_metrics", "test_metrics"):
        baselines[col] = baselines[col].map(json.loads)
    return ReportData(experiment, cells, runs, predictions, baselines, datasets, manifests)
