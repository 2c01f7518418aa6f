"""`sync_study`: PostgreSQL study -> warehouse journal, refreshed by replacement."""

from __future__ import annotations

import json

import optuna
import pytest

from fts.core.errors import ConfigError, NotFoundError
from fts.core.paths import ProjectPaths
from fts.hpo import journal_storage, study_storage, sync_study
from fts.project import Project
from fts.warehouse import connect


def _objective(trial: optuna.Trial) -> float:
    trial.set_user_attr("n_params", 100 * (trial.number + 1))
    trial.set_user_attr("dataset_manifest_id", "ds-9")
    return trial.suggest_float("x", 0, 1) + len(trial.suggest_categorical("arch", ["s", "mm"]))


def _pg_study(url: str, paths: ProjectPaths, n: int) -> optuna.Study:
    study = optuna.create_study(study_name="remote", storage=study_storage(paths, url),
                                load_if_exists=True)
    study.set_user_attr("tier", "a100")
    study.optimize(_objective, n_trials=n)
    return study


def _journal_rows(paths: ProjectPaths) -> int:
    with connect(paths.warehouse, read_only=True) as con:
        return con.execute("SELECT count(*) FROM hpo.journal").fetchall()[0][0]


def test_sync_copies_then_replaces(pg_url: str, paths: ProjectPaths) -> None:
    remote = _pg_study(pg_url, paths, 3)
    running = remote.ask()  # a trial still running in PostgreSQL
    running.suggest_float("x", 0, 1)
    assert sync_study(paths, pg_url, "remote") == 4

    project = Project(paths.root)
    rows = project.sql("SELECT number, state, params, value, n_params, dataset_manifest_id, "
                       "worker_pid FROM hpo_trials WHERE study = 'remote' ORDER BY number"
                       ).to_pylist()
    source = {t.number: t for t in remote.trials}
    assert [r["state"] for r in rows] == ["COMPLETE"] * 3 + ["RUNNING"]
    for r in rows[:3]:
        assert json.loads(r["params"]) == source[r["number"]].params  # categorical decoded
        assert r["value"] == source[r["number"]].value
        assert r["n_params"] == 100 * (r["number"] + 1) and r["dataset_manifest_id"] == "ds-9"
    assert all(r["worker_pid"] is None for r in rows)  # copied trials belong to no local pid
    study = project.sql("SELECT tier, n_trials FROM hpo_studies").to_pylist()
    assert study == [{"tier": "a100", "n_trials": 4}]

    # unchanged: a re-sync appends nothing
    before = _journal_rows(paths)
    assert sync_study(paths, pg_url, "remote") == 4
    assert _journal_rows(paths) == before

    # the running trial finished and two more ran: the copy is replaced as a whole
    remote.tell(running, 0.5)
    remote.optimize(_objective, n_trials=2)
    assert sync_study(paths, pg_url, "remote") == 6
    states = project.sql("SELECT number, state FROM hpo_trials ORDER BY number").to_pylist()
    assert states == [{"number": n, "state": "COMPLETE"} for n in range(6)]
    copy = optuna.load_study(study_name="remote", storage=journal_storage(paths))
    assert [(t.params, t.value, t.user_attrs) for t in copy.trials] == [
        (t.params, t.value, t.user_attrs) for t in remote.trials]
    assert copy.user_attrs == {"tier": "a100"}
    assert [s.study_name for s in optuna.get_all_study_summaries(journal_storage(paths))] == [
        "remote"]


def test_sync_refuses_a_different_study_of_that_name(pg_url: str, paths: ProjectPaths) -> None:
    local = optuna.create_study(study_name="remote", storage=journal_storage(paths))
    local.optimize(lambda t: t.suggest_float("y", 0, 1), n_trials=1)
    _pg_study(pg_url, paths, 1)
    before = _journal_rows(paths)
    with pytest.raises(ConfigError, match="different study named 'remote' \\(run locally\\)"):
        sync_study(paths, pg_url, "remote")
    assert _journal_rows(paths) == before

    # a PostgreSQL study deleted and created again under the same name is another study
    other = ProjectPaths(paths.root.parent / "other")
    other.root.mkdir()
    assert sync_study(other, pg_url, "remote") == 1
    optuna.delete_study(study_name="remote", storage=study_storage(paths, pg_url))
    _pg_study(pg_url, paths, 2)
    with pytest.raises(ConfigError, match="synced from PostgreSQL database"):
        sync_study(other, pg_url, "remote")
    rows = Project(other.root).sql("SELECT count(*) AS n FROM hpo_trials").to_pylist()
    assert rows == [{"n": 1}]


def test_sync_of_a_missing_study(pg_url: str, paths: ProjectPaths) -> None:
    _pg_study(pg_url, paths, 1)
    with pytest.raises(NotFoundError, match="no study 'nope' in PostgreSQL; it has: remote"):
        sync_study(paths, pg_url, "nope")
    with pytest.raises(ConfigError, match="unsupported storage URL scheme"):
        sync_study(paths, "sqlite:///x.db", "remote")
    assert not paths.warehouse.exists()  # nothing was touched


def test_sync_refuses_to_hide_trials_run_on_the_copy(pg_url: str, paths: ProjectPaths) -> None:
    remote = _pg_study(pg_url, paths, 1)
    assert sync_study(paths, pg_url, "remote") == 1
    copy = optuna.load_study(study_name="remote", storage=journal_storage(paths))
    copy.optimize(_objective, n_trials=1)  # someone searched on the warehouse copy
    remote.optimize(_objective, n_trials=1)
    with pytest.raises(ConfigError, match="1 trial\\(s\\) that did not come from PostgreSQL"):
        sync_study(paths, pg_url, "remote")
    assert Project(paths.root).sql("SELECT count(*) AS n FROM hpo_trials").to_pylist() == [
        {"n": 2}]


def test_sync_from_a_database_without_optuna_tables(pg_server, paths: ProjectPaths) -> None:
    import sqlalchemy

    url = pg_server.create_database()
    with pytest.raises(NotFoundError, match="no Optuna studies in PostgreSQL database"):
        sync_study(paths, url, "remote")
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as con:  # still empty: sync created nothing there
        assert con.execute(sqlalchemy.text(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )).scalar() == 0
    engine.dispose()
