"""What a report reads: SQL over the warehouse only (stored runs, predictions, manifests)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from fts.core.errors import NotFoundError
from fts.core.paths import ProjectPaths
from fts.hpo.views import create_hpo_views, finished_trial_records
from fts.warehouse import connect

#: The order provenance is listed in: what the numbers were made from first.
KIND_ORDER = ("raw", "tier", "dataset", "run", "baseline")


@dataclass
class ReportData:
    """Everything a report shows, as read from the warehouse."""

    experiment: str
    cells: pd.DataFrame  # experiments.cells + best_objective (the chosen trial's objective)
    runs: pd.DataFrame  # final runs: tier, budget, seed, n_params, metrics, dataset_id, cell, ...
    predictions: pd.DataFrame  # run_id, split, date, ticker, label, prob (final runs + baselines)
    baselines: pd.DataFrame  # experiments.baselines + manifest_id (None: fitted without one)
    datasets: dict[str, dict]  # dataset manifest bodies by id
    manifests: pd.DataFrame  # id, kind, name, created_at: the whole chain behind the numbers
    baseline_manifests: dict[str, dict]  # baseline manifest bodies by id
    # train.epochs rows of the final runs (run_id, epoch, train_loss, val_loss, lr)
    epochs: pd.DataFrame = field(default_factory=pd.DataFrame)


def load_report_data(paths: ProjectPaths, experiment: str) -> ReportData:
    """Read the experiment's finished cells, their final runs, baselines, predictions and every
    manifest upstream of them (datasets, tiers, raw loads), walked through their inputs."""
    with connect(paths.warehouse, read_only=True, project_root=paths.root) as con:
        cells = con.sql("SELECT * FROM experiments.cells WHERE experiment = ? ORDER BY cell",
                        params=[experiment]).df()
        if cells.empty:
            raise NotFoundError(f"experiment {experiment!r} has no finished cells; run "
                                f"`fts run studies/{experiment}.toml` first")
        run_ids = [r for ids in cells["final_run_ids"] for r in json.loads(ids)]
        runs = con.sql("SELECT * FROM train.runs WHERE list_contains(?, run_id)",
                       params=[run_ids]).df()
        baselines = con.sql("SELECT * FROM experiments.baselines WHERE experiment = ? "
                            "ORDER BY tier, horizon, threshold_pct, model",
                            params=[experiment]).df()
        all_ids = run_ids + baselines["baseline_id"].tolist()
        predictions = con.sql("SELECT * FROM train.predictions WHERE list_contains(?, run_id)",
                              params=[all_ids]).df()
        epochs = con.sql("SELECT * FROM train.epochs WHERE list_contains(?, run_id) "
                         "ORDER BY run_id, epoch", params=[run_ids]).df()
        baseline_manifests = _baseline_manifests(con, baselines["baseline_id"].tolist())
        cells["best_objective"] = best_objectives(con, cells)
        by_baseline = {b["baseline_id"]: mid for mid, b in baseline_manifests.items()}
        baselines["manifest_id"] = baselines["baseline_id"].map(by_baseline)
        dataset_ids = sorted(set(cells["dataset_id"]) | set(baselines["dataset_id"]))
        datasets = {i: json.loads(b) for i, b in con.sql(
            "SELECT id, body FROM meta.manifests WHERE list_contains(?, id)",
            params=[dataset_ids]).fetchall()}
        manifests = upstream_manifests(con, run_ids + dataset_ids + list(baseline_manifests))
    cell_of = {r: row.cell for row in cells.itertuples() for r in json.loads(row.final_run_ids)}
    runs["cell"] = runs["run_id"].map(cell_of)
    for col in ("val_metrics", "test_metrics", "config"):
        runs[col] = runs[col].map(json.loads)
    for col in ("val_metrics", "test_metrics"):
        baselines[col] = baselines[col].map(json.loads)
    return ReportData(experiment, cells, runs, predictions, baselines, datasets, manifests,
                      baseline_manifests, epochs)


def best_objectives(con: duckdb.DuckDBPyConnection, cells: pd.DataFrame) -> list[float | None]:
    """Per cell, the objective of the trial its search chose (`best_trial` of its study, as
    `hpo_trials` replays it from the Optuna journal): the fold-mean validation log-loss that
    selected the cell. None where the study or the trial is not in the warehouse."""
    create_hpo_views(con)  # TEMP views: allowed on a read-only connection
    out: list[float | None] = []
    for study, number in zip(cells["study"], cells["best_trial"], strict=True):
        values = {t["number"]: t["value"] for t in finished_trial_records(con, study)
                  if t["state"] == "COMPLETE"}
        value = values.get(int(number))
        out.append(None if value is None else float(value))
    return out


def _baseline_manifests(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, dict]:
    """{manifest id: body} of the baselines' manifests (the newest one per baseline)."""
    if not ids:
        return {}
    rows = con.execute(
        """SELECT id, body FROM meta.manifests
           WHERE kind = 'baseline' AND list_contains(?, body->>'baseline_id')
           ORDER BY created_at, id""", [ids]).fetchall()
    bodies = [(mid, json.loads(body)) for mid, body in rows]
    newest = {b["baseline_id"]: (mid, b) for mid, b in bodies}
    return dict(newest.values())


def upstream_manifests(con: duckdb.DuckDBPyConnection, ids: Iterable[str]) -> pd.DataFrame:
    """`ids` and every manifest they were made from (inputs of inputs, down to the raw loads),
    from `meta.manifests`: id, kind, name, created_at, in KIND_ORDER. An input that has no
    registered manifest is listed with kind '?' (the audit names it as missing)."""
    seen: dict[str, tuple[str, str, object]] = {}
    frontier = set(ids)
    while frontier:
        rows = con.execute("SELECT id, kind, name, created_at, body FROM meta.manifests "
                           "WHERE list_contains(?, id)", [sorted(frontier)]).fetchall()
        found = {r[0] for r in rows}
        seen.update({i: ("?", "(no manifest)", None) for i in frontier - found})
        nxt: set[str] = set()
        for mid, kind, name, created_at, body in rows:
            seen[mid] = (kind, name, created_at)
            nxt |= {i["id"] for i in json.loads(body).get("inputs", [])}
        frontier = nxt - set(seen)
    frame = pd.DataFrame([(i, *v) for i, v in seen.items()],
                         columns=["id", "kind", "name", "created_at"])
    rank = {k: n for n, k in enumerate(KIND_ORDER)}
    frame["rank"] = frame["kind"].map(lambda k: rank.get(k, len(rank)))
    return frame.sort_values(["rank", "name", "id"]).drop(columns="rank").reset_index(drop=True)
