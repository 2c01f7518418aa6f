"""Resumes and races of `run_study`: exactly N finished trials, new draws in every process, every
extreme queued, and only failures in a row stop a search."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from fts.core.errors import FtsError
from fts.core.paths import ProjectPaths
from fts.hpo import journal_storage, search
from fts.hpo.search import claim_trial, open_study, run_study
from fts.hpo.study import StudySpec
from fts.project import Project
from fts.train.dryrun import n_features_of
from fts.train.request import RunRequest
from tests.hpo.conftest import Spawn, wait_for

SETTINGS = ("lr", "weight_decay", "dropout", "warmup_frac")


def _spec(name: str) -> StudySpec:
    return StudySpec(tier="a20", budget="20K", ctx_len=32, max_epochs=1, max_train_batches=1,
                     name=name)


def _trials(project: Path, study: str) -> list[dict]:
    return Project(project).sql(
        f"select number, state, params, user_attrs, fail_reason from hpo_trials "
        f"where study = '{study}' order by number").to_pylist()


def test_a_resumed_study_draws_new_settings_and_searches(built_project_dir: Path) -> None:
    paths = Project(built_project_dir).paths
    run_study(paths, _spec("r"), 2, show_bar=False)
    resumed = run_study(paths, _spec("r"), 4, show_bar=False)
    assert resumed.ran_now == 2 and resumed.finished == 4
    rows = _trials(built_project_dir, "r")
    settings = [tuple(json.loads(r["params"])[k] for k in SETTINGS) for r in rows]
    assert not set(settings[:2]) & set(settings[2:])  # not the first run's draws again
    labels = [json.loads(r["user_attrs"]).get("extreme") for r in rows]
    # 4 trials leave no room for TPE after the 4 extremes: the centre, then sampled trials.
    _, space = open_study(paths, _spec("r"), None, resumed.dataset_manifest_id,
                          n_features_of(paths, "a20"), 4)
    assert len(space.extremes) == 4 and labels == ["centre", None, None, None]
    assert json.loads(rows[0]["params"])["arch"] == space.centre


def test_opening_a_study_queues_the_first_trials_it_has_room_for(built_project_dir: Path) -> None:
    paths = Project(built_project_dir).paths
    n_features = n_features_of(paths, "a20")

    def labels(n_trials: int) -> list[str]:
        study, _ = open_study(paths, _spec("e"), None, "ds", n_features, n_trials)
        return [t.user_attrs["extreme"] for t in study.get_trials(states=(TrialState.WAITING,))]

    first = labels(1)
    _, space = open_study(paths, _spec("e"), None, "ds", n_features, 1)
    extremes = [label for label, _ in space.extremes]
    assert len(extremes) == 4 and first == ["centre"]
    assert labels(7) == ["centre"]  # 7 < 2 x 4: still no room for the extremes and TPE
    assert labels(8) == ["centre", *extremes]  # resumed with room: the extremes too
    assert labels(8) == ["centre", *extremes]  # nothing queued twice
    study = optuna.load_study(study_name="e", storage=journal_storage(paths))
    study.tell(study.ask(), state=TrialState.FAIL)  # the centre's trial failed
    assert labels(8) == extremes  # not queued again: 8 trials start from the extremes
    study.tell(study.ask(), state=TrialState.FAIL)  # the first extreme's trial failed
    assert labels(8) == [*extremes[1:], extremes[0]]  # so it is queued again


def test_a_trial_asked_when_the_study_is_full_is_surplus_and_never_trains(
        paths: ProjectPaths) -> None:
    study = optuna.create_study(study_name="full", storage=journal_storage(paths))
    study.tell(study.ask(), 1.0)
    study.ask()  # another worker's trial, still running: together they make 2
    assert claim_trial(study, 2) is None
    surplus = study.trials[2]
    assert surplus.state == TrialState.FAIL and not surplus.params
    assert surplus.user_attrs["fail_reason"] == "surplus: the study already has 2 trials"
    trial = claim_trial(study, 3)  # the FAIL does not count: room for one more
    assert trial is not None and trial.number == 3


def test_a_worker_dying_mid_search_does_not_leave_the_study_short(
        built_project_dir: Path, spawn: Spawn, tmp_path: Path) -> None:
    paths = Project(built_project_dir).paths
    run_study(paths, _spec("d"), 1, show_bar=False)
    marker = tmp_path / "running"
    other = spawn("hang", project=built_project_dir, study="d", marker=marker, ask=True)
    assert wait_for(marker, other) == "1"  # a second worker runs trial 1

    def progress(line: str) -> None:
        if line.startswith("trial ") and other.poll() is None:
            other.kill()  # ... and dies after the survivor's first trial, mid-search
            other.wait()

    outcome = run_study(paths, _spec("d"), 3, progress=progress, show_bar=False)
    assert outcome.finished == 3 and outcome.stale_failed == [1]
    rows = _trials(built_project_dir, "d")
    assert rows[1]["state"] == "FAIL" and "died" in rows[1]["fail_reason"]
    assert sum(r["state"] in ("COMPLETE", "PRUNED") for r in rows) == 3


def test_only_failures_in_a_row_stop_a_search(built_project_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    paths = Project(built_project_dir).paths
    real = search.run_training

    def two_in_three_fail(paths_: ProjectPaths, request: RunRequest, **kw: Any) -> Any:
        if request.trial_number % 3 != 2:
            raise RuntimeError("injected failure")
        return real(paths_, request, **kw)

    monkeypatch.setattr(search, "run_training", two_in_three_fail)
    outcome = run_study(paths, _spec("f"), 2, show_bar=False)
    assert (outcome.finished, outcome.failed_now) == (2, 4)  # 4 failures, at most 2 in a row

    def always_fail(*_a: Any, **_kw: Any) -> Any:
        raise RuntimeError("injected failure")

    monkeypatch.setattr(search, "run_training", always_fail)
    with pytest.raises(FtsError, match="4 trials failed in a row"):
        run_study(paths, _spec("g"), 1, show_bar=False)
