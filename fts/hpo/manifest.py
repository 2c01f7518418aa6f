"""The study manifest: what a finished search found, pinned by the hash of its trials.

Written by `run_study` once the study holds its N finished trials. It names the dataset and
every trial's stored run as inputs, lists each finished trial (number, state, params, value,
run id) and the best one, and pins the list by `trials_sha256`: final runs of an experiment
cell pin that hash, and `fts audit` recomputes it from the Optuna journal in the warehouse.

A study resumed to more trials gets a new manifest that `supersedes` the study's current ones;
one whose finished trials have not changed is not written again.
"""

from __future__ import annotations

import json
from typing import Any

import optuna

from fts.core.hashing import sha256_json
from fts.core.manifest import Input, Manifest
from fts.core.paths import ProjectPaths
from fts.hpo.study import StudySpec
from fts.hpo.views import best_finished_trial, finished_trial_records
from fts.warehouse import connect, current_manifests
from fts.warehouse.publish import project_lock, publish

STUDY_FORMAT = 1


def current_studies(con: Any, name: str) -> list[Manifest]:
    """The study manifests of `name` that no later one supersedes."""
    return current_manifests(con, "study", name)


def write_study_manifest(paths: ProjectPaths, spec: StudySpec, dataset: Any,
                         study: optuna.Study, external: bool) -> Manifest:
    """Write (or find) the manifest of the study's finished trials; returns it.

    Under the project lock from reading the current manifests to publishing the new one, so
    that two workers of one study finishing together supersede in a chain, never both the same.
    """
    with project_lock(paths):
        return _write_study_manifest(paths, spec, dataset, study, external)


def _write_study_manifest(paths: ProjectPaths, spec: StudySpec, dataset: Any,
                          study: optuna.Study, external: bool) -> Manifest:
    with connect(paths.warehouse, read_only=True, project_root=paths.root) as con:
        # PostgreSQL: the trials are not in the warehouse; record what Optuna says of them.
        trials = (_records_from_optuna(study) if external
                  else finished_trial_records(con, spec.name))
        # Every run a trial's value rests on: one per walk-forward fold (the last is `run_id`).
        run_ids = list(dict.fromkeys(r for t in trials
                                     for r in [*t.get("fold_run_ids", []), t["run_id"]] if r))
        checkpoints = dict(con.execute(
            "SELECT run_id, checkpoint_sha256 FROM train.runs WHERE list_contains(?, run_id)",
            [run_ids]).fetchall()) if run_ids else {}
        current = current_studies(con, spec.name)
    trials_sha = sha256_json(trials)
    identity = _jsonable(spec, dataset.id)
    for m in current:
        if m.get("trials_sha256") == trials_sha and m.get("spec") == identity:
            return m  # nothing new since the last manifest
    inputs = [Input(dataset.id, "dataset", dataset.manifest["arrays_content_sha256"])]
    inputs += [Input(rid, "run", checkpoints[rid]) for rid in run_ids if rid in checkpoints]
    manifest = Manifest.create(
        kind="study", name=spec.name, version=STUDY_FORMAT, inputs=inputs,
        spec=identity, storage="postgresql" if external else "warehouse",
        n_trials=len(trials), trials=trials, trials_sha256=trials_sha,
        best_trial=best_finished_trial(trials),
        supersedes=sorted(m.id for m in current),
    )
    publish(paths, [manifest])
    return manifest


def _jsonable(spec: StudySpec, dataset_id: str) -> dict[str, Any]:
    """The study's identity (what a resume must match), as JSON stores it."""
    identity = dict(spec.identity(dataset_id), split=spec.split.to_dict(),
                    common_start=str(spec.common_start) if spec.common_start else None,
                    tickers=list(spec.tickers) if spec.tickers else None)
    return json.loads(json.dumps(identity, sort_keys=True))


def _records_from_optuna(study: optuna.Study) -> list[dict[str, Any]]:
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    trials = sorted(study.get_trials(deepcopy=False, states=states), key=lambda t: t.number)
    return [{"number": t.number, "state": t.state.name, "params": dict(t.params),
             "value": t.value, "run_id": t.user_attrs.get("run_id"),
             **({"fold_run_ids": t.user_attrs["fold_run_ids"]}
                if t.user_attrs.get("fold_run_ids") else {})} for t in trials]
