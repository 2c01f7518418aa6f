"""`fts hpo list | trials | export | dashboard`: Optuna's own tools on the project's studies."""

from __future__ import annotations

import csv
import io
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState

from fts.cli import cli
from fts.core.paths import ProjectPaths
from fts.hpo import journal_storage


def _study(paths: ProjectPaths, name: str = "s1") -> optuna.Study:
    """A study with every kind of trial fts stores: complete, pruned (with intermediate
    values), failed; float, int, log and categorical parameters; user attributes."""
    study = optuna.create_study(study_name=name, storage=journal_storage(paths),
                                direction="minimize")
    study.set_user_attr("tier", "a20")
    study.set_user_attr("budget", "20K")

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("lr", 1e-5, 1e-2, log=True)
        layers = trial.suggest_int("n_layers", 1, 4)
        arch = trial.suggest_categorical("arch", ["small", "wide", "deep"])
        trial.set_user_attr("n_params", 1000 * layers)
        trial.set_user_attr("run_id", f"run-{trial.number}")
        if trial.number == 2:
            raise RuntimeError("out of memory")
        if trial.number == 3:
            trial.report(0.9, step=0)
            raise optuna.TrialPruned()
        return x * layers + (arch == "wide")

    study.optimize(objective, n_trials=6, catch=(RuntimeError,))
    return study


def _fts(paths: ProjectPaths, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--project-dir", str(paths.root), *args])
    return result.exit_code, result.output


def _same_trials(a: list[optuna.trial.FrozenTrial], b: list[optuna.trial.FrozenTrial]) -> None:
    assert len(a) == len(b) == 6
    for x, y in zip(a, b, strict=True):
        assert (x.number, x.state, x.values, x.params, x.user_attrs, x.distributions,
                x.intermediate_values, x.datetime_start, x.datetime_complete) == (
            y.number, y.state, y.values, y.params, y.user_attrs, y.distributions,
            y.intermediate_values, y.datetime_start, y.datetime_complete)


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql"])
def test_an_exported_study_opens_in_plain_optuna_with_every_trial(
    paths: ProjectPaths, tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    original = _study(paths)
    url = {"sqlite": lambda: f"sqlite:///{tmp_path / 'out.db'}",
           "journal": lambda: f"journal:{tmp_path / 'out.log'}",
           "postgresql": lambda: request.getfixturevalue("pg_url")}[kind]()
    code, out = _fts(paths, "hpo", "export", "s1", "--to", url)
    assert code == 0, out
    assert out.startswith("study s1: 6 trials copied to ")
    storage: optuna.storages.BaseStorage | str
    if kind == "journal":
        from optuna.storages.journal import JournalFileBackend

        storage = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "out.log")))
    else:
        storage = url.replace("postgresql://", "postgresql+psycopg://")
    copy = optuna.load_study(study_name="s1", storage=storage)
    assert copy.user_attrs == {"tier": "a20", "budget": "20K"}
    assert [t.state for t in copy.trials] == [
        TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED,
        TrialState.COMPLETE, TrialState.COMPLETE]
    _same_trials(original.trials, copy.trials)


def test_export_refuses_a_study_already_there_and_bad_targets(
    paths: ProjectPaths, tmp_path: Path
) -> None:
    _study(paths)
    target = f"sqlite:///{tmp_path / 'out.db'}"
    assert _fts(paths, "hpo", "export", "s1", "--to", target)[0] == 0
    code, out = _fts(paths, "hpo", "export", "s1", "--to", target)
    assert code == 1 and out.strip().startswith(
        "error: the destination already holds a study named 's1'")
    code, out = _fts(paths, "hpo", "export", "nope", "--to", f"sqlite:///{tmp_path / 'x.db'}")
    assert code == 1 and out.strip() == "error: no study 'nope' (studies: s1)"
    assert not (tmp_path / "x.db").exists()  # refused before the target was touched
    for bad in ("mongodb://h/db", f"sqlite:///{tmp_path / 'missing' / 'x.db'}"):
        code, out = _fts(paths, "hpo", "export", "s1", "--to", bad)
        assert code == 1 and len(out.strip().splitlines()) == 1, out
        assert out.startswith("error: ")


def test_list_and_trials_mirror_optunas_studies_and_trials(paths: ProjectPaths) -> None:
    original = _study(paths)
    optuna.create_study(study_name="empty", storage=journal_storage(paths))
    code, out = _fts(paths, "hpo", "list", "--format", "json")
    assert code == 0, out
    rows = {r["name"]: r for r in json.loads(out)}
    assert {k: (r["n_trials"], r["direction"]) for k, r in rows.items()} == {
        "s1": (6, "MINIMIZE"), "empty": (0, "MINIMIZE")}
    assert rows["s1"]["tier"] == "a20" and rows["s1"]["budget"] == "20K"

    code, out = _fts(paths, "hpo", "trials", "s1", "--format", "csv")
    assert code == 0, out
    got = list(csv.DictReader(io.StringIO(out)))
    assert [int(r["number"]) for r in got] == [t.number for t in original.trials]
    assert [r["state"] for r in got] == [t.state.name for t in original.trials]
    assert [r["params_arch"] for r in got] == [t.params["arch"] for t in original.trials]
    assert [r["user_attrs_run_id"] for r in got] == [t.user_attrs["run_id"] for t in original.trials]
    values = [float(r["value"]) if r["value"] else None for r in got]
    assert values == [t.value for t in original.trials]

    code, out = _fts(paths, "hpo", "trials", "s1")
    assert code == 0 and out.strip().endswith("(6 rows)")
    code, out = _fts(paths, "hpo", "trials", "nope")
    assert code == 1 and out.strip() == "error: no study 'nope' (studies: empty, s1)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_dashboard_serves_the_projects_studies_over_http(paths: ProjectPaths) -> None:
    _study(paths)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fts", "--project-dir", str(paths.root), "hpo", "dashboard",
         "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies",
                                            timeout=5) as reply:
                    assert reply.status == 200
                    studies = json.loads(reply.read())["study_summaries"]
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise AssertionError(
                        f"no dashboard on port {port}: {proc.communicate()[0]}") from None
                time.sleep(0.3)
        assert [(s["study_name"], s["directions"]) for s in studies] == [("s1", ["minimize"])]
        study_id = studies[0]["study_id"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{study_id}",
                                    timeout=10) as reply:
            detail = json.loads(reply.read())
        assert [t["state"] for t in detail["trials"]] == [
            "Complete", "Complete", "Fail", "Pruned", "Complete", "Complete"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/dashboard", timeout=10) as reply:
            assert reply.status == 200 and b"<html" in reply.read().lower()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_the_dashboard_refuses_a_port_in_use(paths: ProjectPaths) -> None:
    _study(paths)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        code, out = _fts(paths, "hpo", "dashboard", "--port", str(busy.getsockname()[1]))
    assert code == 1
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot listen on 127.0.0.1:")


def test_the_documented_plot_runs_with_the_viz_extra(paths: ProjectPaths) -> None:
    # docs/search.md: optuna.visualization.plot_optimization_history(study) needs plotly.
    _study(paths)
    study = optuna.load_study(study_name="s1", storage=journal_storage(paths))
    figure = optuna.visualization.plot_optimization_history(study)
    objective = next(trace for trace in figure.data if trace.name == "Objective Value")
    assert list(objective.y) == [t.value for t in study.trials if t.state == TrialState.COMPLETE]
