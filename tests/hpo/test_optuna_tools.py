"""Optuna's own tools work on warehouse studies; storage selection and URL checks."""

from __future__ import annotations

import optuna
import pytest

from fts.core.errors import ConfigError
from fts.core.paths import ProjectPaths
from fts.hpo import journal_storage, study_storage
from fts.project import Project


def _run(storage: optuna.storages.BaseStorage, name: str, n: int = 4) -> optuna.Study:
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    study.set_user_attr("tier", "a20")

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("n_params", 10 * trial.number)
        return trial.suggest_float("x", 0, 1) + (trial.suggest_categorical("k", ["a", "b"]) == "a")

    study.optimize(objective, n_trials=n)
    return study


def test_load_study_dataframe_and_summaries(paths: ProjectPaths) -> None:
    original = _run(journal_storage(paths), "s1")
    _run(journal_storage(paths), "s2", n=2)

    storage = journal_storage(paths)  # a new process would start from the journal like this
    loaded = optuna.load_study(study_name="s1", storage=storage)
    assert [t.params for t in loaded.trials] == [t.params for t in original.trials]
    assert loaded.best_value == original.best_value and loaded.user_attrs == {"tier": "a20"}
    frame = loaded.trials_dataframe()
    assert len(frame) == 4
    assert {"params_x", "params_k", "user_attrs_n_params", "value", "state"} <= set(frame)
    assert list(frame["user_attrs_n_params"]) == [0, 10, 20, 30]
    summaries = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    assert {k: s.n_trials for k, s in summaries.items()} == {"s1": 4, "s2": 2}
    assert summaries["s1"].best_trial.value == original.best_value


def test_copy_study_in_and_out_of_the_warehouse(paths: ProjectPaths, tmp_path) -> None:
    _run(journal_storage(paths), "src")
    memory = optuna.storages.InMemoryStorage()
    optuna.copy_study(from_study_name="src", from_storage=journal_storage(paths),
                      to_storage=memory)
    other = ProjectPaths(tmp_path / "other")
    other.root.mkdir()
    optuna.copy_study(from_study_name="src", from_storage=memory,
                      to_storage=journal_storage(other), to_study_name="dst")

    src = optuna.load_study(study_name="src", storage=journal_storage(paths))
    dst = optuna.load_study(study_name="dst", storage=journal_storage(other))
    assert [(t.params, t.value, t.user_attrs) for t in dst.trials] == [
        (t.params, t.value, t.user_attrs) for t in src.trials]
    rows = Project(other.root).sql(
        "SELECT number, params->>'k' AS k, n_params FROM hpo_trials ORDER BY number").to_pylist()
    assert [r["k"] for r in rows] == [t.params["k"] for t in src.trials]


def test_study_storage_picks_the_backend(paths: ProjectPaths, pg_url: str) -> None:
    assert isinstance(study_storage(paths), optuna.storages.JournalStorage)
    assert paths.warehouse.exists()
    assert isinstance(study_storage(paths, pg_url), optuna.storages.RDBStorage)


@pytest.mark.parametrize("url, message", [
    ("", "empty storage URL"),
    ("sqlite:///studies.db", "unsupported storage URL scheme 'sqlite'"),
    ("mysql://u@h/db", "unsupported storage URL scheme 'mysql'"),
    ("postgres://u@h/db", "write 'postgresql://"),
    ("postgresql://u@h:port/db", "malformed storage URL"),
    ("just some words", "malformed storage URL"),
    ("postgresql://u:secret@h:5432/", "names no database"),
])
def test_bad_urls_are_config_errors_before_anything_is_touched(
    paths: ProjectPaths, url: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        study_storage(paths, url)
    assert "secret" not in str(info.value)
    assert not paths.warehouse.exists()


def test_unreachable_postgres_is_a_config_error(paths: ProjectPaths) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConfigError, match=f"cannot open the study storage .*:{port}/db"):
        study_storage(paths, f"postgresql://u:secret@127.0.0.1:{port}/db")
