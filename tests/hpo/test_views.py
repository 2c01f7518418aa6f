"""`hpo_trials` / `hpo_studies` replay the journal in SQL: they must agree with Optuna's replay."""

from __future__ import annotations

import json
import math

import duckdb
import optuna
import pytest

from fts.core.paths import ProjectPaths
from fts.hpo import journal_storage
from fts.hpo.study import StudySpec
from fts.project import Project
from fts.warehouse import connect


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    trial.suggest_int("n", 1, 9)
    trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    trial.suggest_categorical("act", ["relu", "gelu", None, 3])
    trial.set_user_attr("n_params", 1000 + trial.number)
    trial.set_user_attr("dataset_manifest_id", "ds-1")
    trial.set_user_attr("epochs_run", 7)
    trial.set_user_attr("best_epoch", 4)
    trial.set_user_attr("val_auc", float("nan") if trial.number == 1 else 0.5)
    trial.set_user_attr("n_params", 2000 + trial.number)  # the last write wins
    if trial.number == 2:
        raise optuna.TrialPruned()
    if trial.number == 3:
        trial.set_user_attr("fail_reason", "out of memory")
        raise RuntimeError("boom")
    return x


def _history(paths: ProjectPaths) -> None:
    """Every kind of op the views must handle."""
    storage = journal_storage(paths)
    a = optuna.create_study(study_name="a", storage=storage, direction="maximize")
    # The attributes `fts hpo` gives a study (fts.hpo.study.StudySpec.identity).
    spec = StudySpec(tier="a100", budget="1M", horizon=5, threshold_pct=0.5)
    for key, value in spec.identity("ds-1").items():
        a.set_user_attr(key, value)
    a.set_user_attr("tier", "a20")
    a.enqueue_trial({"x": 0.5, "n": 3, "lr": 0.01, "act": "gelu"}, user_attrs={"extreme": "s"})
    a.optimize(_objective, n_trials=6, catch=(RuntimeError,))
    a.enqueue_trial({"x": 0.25}, user_attrs={"extreme": "big"})  # stays WAITING
    b = optuna.create_study(study_name="b", storage=storage)
    running = b.ask()
    running.suggest_float("y", -1.0, 1.0)  # stays RUNNING
    gone = optuna.create_study(study_name="gone", storage=storage)
    gone.optimize(lambda t: t.suggest_float("z", 0, 1), n_trials=2)
    optuna.delete_study(study_name="gone", storage=storage)
    again = optuna.create_study(study_name="gone", storage=storage)  # same name, new study
    again.optimize(lambda t: t.suggest_float("z", 0, 1), n_trials=1)
    first = a.get_trials()[0]
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        storage.set_trial_user_attr(first._trial_id, "late", 1)  # logged, then ignored
    multi = optuna.create_study(study_name="c", storage=storage,
                                directions=["minimize", "maximize"])
    multi.optimize(lambda t: (t.suggest_float("q", 0, 1), 2.0), n_trials=2)
    optuna.copy_study(from_study_name="a", from_storage=storage, to_storage=storage,
                      to_study_name="a_copy")


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def test_hpo_trials_agrees_with_optuna(paths: ProjectPaths) -> None:
    _history(paths)
    table = Project(paths.root).sql("SELECT * FROM hpo_trials ORDER BY study, number")
    view = {(r["study"], r["number"]): r for r in table.to_pylist()}

    storage = journal_storage(paths)
    compared = 0
    for summary in optuna.get_all_study_summaries(storage):
        for trial in optuna.load_study(study_name=summary.study_name, storage=storage).trials:
            row = view.pop((summary.study_name, trial.number))
            assert row["state"] == trial.state.name
            assert json.loads(row["params"]) == trial.params
            assert row["value"] == (trial.values[0] if trial.values else None)
            assert json.loads(row["values"] or "null") == trial.values
            attrs = json.loads(row["user_attrs"])
            assert list(attrs) == list(trial.user_attrs)  # same keys in the same order
            assert list(json.loads(row["params"])) == list(trial.params)
            assert all(_same(attrs[k], v) for k, v in trial.user_attrs.items())
            assert row["started_at"] == trial.datetime_start  # the tests run in UTC
            assert row["completed_at"] == trial.datetime_complete
            assert row["trial_id"] == trial._trial_id
            compared += 1
    assert view == {}  # no trial of a deleted study, nothing extra
    assert compared == 7 + 1 + 1 + 2 + 7

    rows = Project(paths.root).sql(
        "SELECT number, state, params, n_params, dataset_manifest_id, epochs_run, best_epoch, "
        "fail_reason, duration_s FROM hpo_trials WHERE study = 'a' ORDER BY number").to_pylist()
    assert [r["state"] for r in rows] == [
        "COMPLETE", "COMPLETE", "PRUNED", "FAIL", "COMPLETE", "COMPLETE", "WAITING"]
    assert json.loads(rows[0]["params"]) == {"x": 0.5, "n": 3, "lr": 0.01, "act": "gelu"}
    assert rows[0]["n_params"] == 2000 and rows[0]["dataset_manifest_id"] == "ds-1"
    assert (rows[0]["epochs_run"], rows[0]["best_epoch"]) == (7, 4)
    assert rows[3]["fail_reason"] == "out of memory"
    assert all(r["duration_s"] > 0 for r in rows[:6]) and rows[6]["duration_s"] is None


def test_hpo_studies_summarises_each_live_study(paths: ProjectPaths) -> None:
    _history(paths)
    rows = {r["study"]: r for r in Project(paths.root).sql("SELECT * FROM hpo_studies")
            .to_pylist()}
    assert set(rows) == {"a", "a_copy", "b", "c", "gone"}
    a = rows["a"]
    assert (a["direction"], a["tier"], a["budget"], a["horizon"], a["threshold"],
            a["dataset_manifest_id"]) == ("MAXIMIZE", "a20", "1M", 5, 0.5, "ds-1")
    assert a["threshold"] is not None  # read from the attribute the study stores
    assert (a["n_trials"], a["n_complete"], a["n_pruned"], a["n_fail"], a["n_running"],
            a["n_waiting"]) == (7, 4, 1, 1, 0, 1)
    best = optuna.load_study(study_name="a", storage=journal_storage(paths)).best_value
    assert a["best_value"] == best
    assert rows["b"]["n_running"] == 1 and rows["b"]["direction"] == "MINIMIZE"
    assert rows["gone"]["n_trials"] == 1  # the deleted study's trials are not counted
    assert rows["c"]["direction"] == "MINIMIZE,MAXIMIZE"
    assert rows["a_copy"]["user_attrs"] == rows["a"]["user_attrs"]  # same keys, same order
    assert list(json.loads(a["user_attrs"])) == list(
        optuna.load_study(study_name="a", storage=journal_storage(paths)).user_attrs)


def test_views_exist_on_a_warehouse_without_a_journal(paths: ProjectPaths) -> None:
    """A warehouse made before hpo.journal existed, opened read-only: empty views, no error."""
    con = duckdb.connect(str(paths.warehouse))
    con.execute("CREATE SCHEMA meta")
    con.close()
    project = Project(paths.root)
    assert project.sql("SELECT count(*) AS n FROM hpo_trials").to_pylist() == [{"n": 0}]
    assert project.sql("SELECT count(*) AS n FROM hpo_studies").to_pylist() == [{"n": 0}]


def test_views_follow_the_journal_without_refresh(paths: ProjectPaths) -> None:
    storage = journal_storage(paths)
    study = optuna.create_study(study_name="live", storage=storage)
    with connect(paths.warehouse, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM hpo_trials").fetchall() == [(0,)]
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    with connect(paths.warehouse, read_only=True) as con:
        assert con.execute(
            "SELECT count(*) FROM hpo_trials WHERE state = 'COMPLETE'").fetchall() == [(2,)]


def test_empty_views_have_the_columns_of_the_real_ones(paths: ProjectPaths) -> None:
    """An empty journal gets cheap stand-in views: same names, order and types."""
    from fts.hpo.views import empty_view_statements, hpo_view_statements

    journal_storage(paths)  # creates hpo.journal
    with connect(paths.warehouse, read_only=True) as con:
        for real, empty in zip(hpo_view_statements(), empty_view_statements(), strict=True):
            con.execute(real)
            name = real.split("TEMP VIEW ")[1].split()[0]
            real_cols = con.execute(f"DESCRIBE {name}").fetchall()
            con.execute(empty)
            assert [c[:2] for c in con.execute(f"DESCRIBE {name}").fetchall()] == [
                c[:2] for c in real_cols]


def test_journal_op_codes_are_optunas_and_written_once() -> None:
    """The op codes live in one place (fts.hpo.views.OP), equal to Optuna's own enum, and the
    replay SQL names them instead of repeating their numbers."""
    import inspect
    import re

    from optuna.storages.journal._storage import JournalOperation

    import fts.hpo.views as views

    assert {o.name: o.value for o in views.OP} == {o.name: o.value for o in JournalOperation}
    source = inspect.getsource(views)
    assert not re.search(r"op_code\s*(=|IN\s*\()\s*\d", source)
    statements = " ".join(views.hpo_view_statements())
    assert f"op_code = {int(views.OP.CREATE_TRIAL)}" in statements  # rendered from the enum


def test_the_warehouse_keeps_the_hpo_views_it_is_given_from_above() -> None:
    """fts.hpo registers its views with the warehouse (which never imports hpo): the stored
    views are part of the schema DDL, the session views are made on every open."""
    from fts.hpo.views import create_hpo_views, persistent_view_statements
    from fts.warehouse.schema import ddl
    from fts.warehouse.view_sources import view_sources

    (source,) = [s for s in view_sources() if s.name == "hpo"]
    assert source.session is create_hpo_views
    assert set(persistent_view_statements()) <= set(ddl())
