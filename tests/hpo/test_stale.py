"""RUNNING trials of SIGKILLed workers are found and failed; live workers' trials are not."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from fts.core.errors import NotFoundError
from fts.core.paths import ProjectPaths
from fts.hpo import fail_stale_running_trials, journal_storage, stale_running_trials, worker_tag
from fts.hpo.stale import Worker, is_alive, parse_worker_tag, this_worker
from fts.hpo.storage import study_storage
from fts.project import Project
from tests.hpo.conftest import wait_for


def _states(storage: optuna.storages.BaseStorage, name: str) -> dict[int, str]:
    study = optuna.load_study(study_name=name, storage=storage)
    return {t.number: t.state.name for t in study.trials}


def test_killed_journal_worker_is_failed_and_live_one_kept(
    paths: ProjectPaths, tmp_path: Path, spawn
) -> None:
    """No help from the objective: the journal knows which process made each trial RUNNING."""
    study = optuna.create_study(study_name="s", storage=journal_storage(paths))
    study.enqueue_trial({"x": 0.25})  # made WAITING here, popped (made RUNNING) by `doomed`
    doomed = spawn("hang", project=paths.root, study="s", marker=tmp_path / "doomed")
    doomed_number = int(wait_for(tmp_path / "doomed", doomed))
    alive = spawn("hang", project=paths.root, study="s", marker=tmp_path / "alive")
    alive_number = int(wait_for(tmp_path / "alive", alive))

    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait()
    storage = journal_storage(paths)
    assert _states(storage, "s") == {doomed_number: "RUNNING", alive_number: "RUNNING"}
    assert stale_running_trials(storage, "s") == {
        doomed_number: f"worker process {os.uname().nodename}:{doomed.pid} is gone"}

    assert fail_stale_running_trials(storage, "s", "worker was killed") == [doomed_number]
    assert _states(storage, "s") == {doomed_number: "FAIL", alive_number: "RUNNING"}
    row = Project(paths.root).sql(
        "SELECT state, fail_reason, worker_pid, params->>'x' AS x FROM hpo_trials "
        f"WHERE number = {doomed_number}").to_pylist()
    assert row == [{"state": "FAIL", "fail_reason": "worker was killed",
                    "worker_pid": doomed.pid, "x": "0.25"}]
    assert fail_stale_running_trials(storage, "s", "again") == []  # idempotent
    with pytest.raises(NotFoundError, match="no study named 'nope'"):
        fail_stale_running_trials(storage, "nope", "x")

    # killed but not yet reaped by its parent (a zombie) is dead too
    os.kill(alive.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while is_alive(Worker(os.uname().nodename, alive.pid, None)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fail_stale_running_trials(journal_storage(paths), "s", "zombie") == [alive_number]
    alive.wait()


def test_killed_postgres_worker_found_by_its_worker_tag(pg_url: str, tmp_path: Path, spawn,
                                                        paths: ProjectPaths) -> None:
    storage = study_storage(paths, pg_url)
    optuna.create_study(study_name="pg", storage=storage)
    proc = spawn("hang", url=pg_url, study="pg", marker=tmp_path / "m", set_worker=True)
    number = int(wait_for(tmp_path / "m", proc))
    assert fail_stale_running_trials(storage, "pg", "killed") == []  # still alive
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert fail_stale_running_trials(storage, "pg", "killed") == [number]
    trial = optuna.load_study(study_name="pg", storage=storage).trials[number]
    assert trial.state == TrialState.FAIL and trial.user_attrs["fail_reason"] == "killed"


@pytest.mark.parametrize("ask", [False, True], ids=["optimize", "ask-tell"])
def test_killed_postgres_worker_found_by_optuna_heartbeat(
    pg_url: str, tmp_path: Path, spawn, paths: ProjectPaths, ask: bool
) -> None:
    """Without a worker tag (say another host), Optuna's heartbeat tells: no beat for 2 s."""
    optuna.create_study(study_name="hb", storage=study_storage(paths, pg_url))
    proc = spawn("hang", url=pg_url, study="hb", marker=tmp_path / "m", heartbeat=1, ask=ask)
    number = int(wait_for(tmp_path / "m", proc))
    storage = study_storage(paths, pg_url, heartbeat_interval=1, grace_period=2)
    time.sleep(2.5)  # alive and beating past the grace period: not stale
    assert fail_stale_running_trials(storage, "hb", "no heartbeat") == []
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 15
    failed: list[int] = []
    while not failed and time.monotonic() < deadline:
        time.sleep(0.5)
        failed = fail_stale_running_trials(storage, "hb", "no heartbeat")
    assert failed == [number]


def test_worker_tags() -> None:
    me = this_worker()
    assert parse_worker_tag(worker_tag()) == me and is_alive(me) is True
    assert is_alive(Worker(me.host, me.pid, me.started + 100)) is False  # a reused pid
    assert is_alive(Worker("some-other-host", me.pid, me.started)) is None  # cannot tell
    assert parse_worker_tag("garbage") is None and parse_worker_tag(None) is None
    assert json.dumps(worker_tag())  # a plain string, fit for a user attr
