"""`fts hpo` for real: resumes to exactly N finished trials, survives SIGKILL, refuses a reused
name, trains exactly the study's dataset, and shares a study with a second process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from fts.cli import cli
from fts.core.errors import ConfigError
from fts.hpo.search import run_study
from fts.hpo.study import StudySpec
from fts.project import Project

QUICK = ["--ctx", "32", "--epochs", "1", "--max-batches", "2"]


def fts(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fts.cli", "--project-dir", str(project), *args],
                          capture_output=True, text=True, timeout=600)


def trials(project: Path, study: str) -> list[dict]:
    return Project(project).sql(
        f"select number, state, params, n_params, dataset_manifest_id, fail_reason "
        f"from hpo_trials where study = '{study}' order by number").to_pylist()


def test_study_runs_then_resumes_to_exactly_n_and_records_its_dataset(built_project_dir: Path) -> None:
    spec = StudySpec(tier="a20", budget="20K", horizon=3, threshold_pct=2.0, ctx_len=32,
                     max_epochs=1, max_train_batches=2, name="s")
    first = run_study(Project(built_project_dir).paths, spec, 3, show_bar=False)
    assert first.finished == 3 and first.ran_now == 3
    again = run_study(Project(built_project_dir).paths, spec, 5, show_bar=False)
    assert again.ran_now == 2 and again.finished == 5
    rows = [r for r in trials(built_project_dir, "s") if r["state"] in ("COMPLETE", "PRUNED")]
    assert len(rows) == 5
    # Every trial trained on the study's dataset, whose labels are h=3, p=2 %.
    assert {r["dataset_manifest_id"] for r in rows} == {first.dataset_manifest_id}
    body = Project(built_project_dir).sql(
        f"select body from meta.manifests where id = '{first.dataset_manifest_id}'").to_pylist()[0]
    target = json.loads(body["body"])["target"]
    assert (target["horizon"], target["threshold_pct"]) == (3, 2.0)
    assert Project(built_project_dir).sql(
        "select horizon, threshold from hpo_studies where study = 's'").to_pylist() == [
        {"horizon": 3, "threshold": 2.0}]
    runs = Project(built_project_dir).sql(
        "select distinct dataset_id, horizon from train.runs where study = 's'").to_pylist()
    assert runs == [{"dataset_id": first.dataset_manifest_id, "horizon": 3}]
    # Sampled values are the values that trained: the arch and its real parameter count.
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    stored = Project(built_project_dir).sql(
        "select trial_number, config from train.runs where study = 's'").to_pylist()
    by_trial = {r["trial_number"]: json.loads(r["config"]) for r in stored}
    for r in complete:
        params, config = json.loads(r["params"]), by_trial[r["number"]]
        assert config["train"]["lr"] == pytest.approx(params["lr"])
        assert config["train"]["batch_size"] == params["batch_size"]
        assert config["model"]["dropout"] == pytest.approx(params["dropout"])
        d = params["arch"].split("-")[0]
        assert f"d{config['model']['d_model']}" == d and config["n_params"] == r["n_params"]


def test_a_small_study_starts_at_the_centre_then_samples(built_project_dir: Path) -> None:
    spec = StudySpec(tier="a20", budget="20K", ctx_len=32, max_epochs=1, max_train_batches=1, name="x")
    run_study(Project(built_project_dir).paths, spec, 2, show_bar=False)
    rows = Project(built_project_dir).sql(
        "select params, user_attrs from hpo_trials where study = 'x' order by number").to_pylist()
    labels = [json.loads(r["user_attrs"]).get("extreme") for r in rows]
    assert labels == ["centre", None]  # 2 trials: no room for 4 extremes, so TPE samples


def test_reusing_a_name_with_different_settings_is_refused(built_project_dir: Path) -> None:
    paths = Project(built_project_dir).paths
    spec = StudySpec(tier="a20", budget="20K", ctx_len=32, max_epochs=1, max_train_batches=1, name="same")
    run_study(paths, spec, 1, show_bar=False)
    before = trials(built_project_dir, "same")
    with pytest.raises(ConfigError, match="exists with different settings.*horizon"):
        run_study(paths, spec.replace(horizon=5), 2, show_bar=False)
    with pytest.raises(ConfigError, match="tier"):
        run_study(paths, spec.replace(tier="a50"), 2, show_bar=False)
    assert trials(built_project_dir, "same") == before


@pytest.mark.parametrize(("args", "message"), [
    (["--tier", "nope", "--budget", "20K"], "unknown tier"),
    (["--tier", "a20", "--budget", "12Q"], "budget"),
    (["--tier", "a20", "--budget", "5"], "no architecture"),
    (["--tier", "a20", "--budget", "20K", "--storage", "mysql://x/y"], "postgresql"),
])
def test_bad_input_is_one_clear_line(built_project_dir: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["--project-dir", str(built_project_dir), "hpo", *args, *QUICK])
    assert result.exit_code == 1
    assert message in result.output.lower() or message in (result.stderr or "").lower()


KILL_AFTER_FIRST_EPOCH = """
import os, signal, sys
import fts.train.loop as loop
real = loop.fit
def fit(*a, **k):
    cb = k.get("on_epoch")
    def die(epoch, metrics):
        if os.environ.get("FTS_TEST_KILL") == "1":
            print("KILLING", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        if cb: cb(epoch, metrics)
    k["on_epoch"] = die
    return real(*a, **k)
loop.fit = fit
import fts.train.run as run
run.fit = fit
from fts.cli import main
sys.argv = ["fts"] + sys.argv[1:]
main()
"""


def test_sigkill_mid_trial_then_resume_ends_with_exactly_n(built_project_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "killer.py"
    script.write_text(KILL_AFTER_FIRST_EPOCH)
    args = [sys.executable, str(script), "--project-dir", str(built_project_dir), "hpo",
            "--tier", "a20", "--budget", "20K", "--trials", "3", "--study", "k", *QUICK]
    killed = subprocess.run(args, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "FTS_TEST_KILL": "1"})
    assert killed.returncode == -signal.SIGKILL and "KILLING" in killed.stdout
    assert [r["state"] for r in trials(built_project_dir, "k")][0] == "RUNNING"
    resumed = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    rows = trials(built_project_dir, "k")
    states = [r["state"] for r in rows]
    assert states.count("COMPLETE") + states.count("PRUNED") == 3
    assert states[0] == "FAIL" and "died" in rows[0]["fail_reason"]
    assert "RUNNING" not in states
    # No made-up value: the killed trial has none, and no run was stored for it.
    assert Project(built_project_dir).sql(
        "select count(*) as n from train.runs where study = 'k' and trial_number = 0"
    ).to_pylist()[0]["n"] == 0


def test_two_processes_share_one_study(built_project_dir: Path) -> None:
    args = [sys.executable, "-m", "fts.cli", "--project-dir", str(built_project_dir), "hpo",
            "--tier", "a20", "--budget", "20K", "--trials", "6", "--study", "shared", *QUICK]
    Project(built_project_dir).build_tier("a20")
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    time.sleep(1)
    # The warehouse stays readable while both write.
    assert Project(built_project_dir).sql("select count(*) as n from raw.ohlcv").to_pylist()
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    rows = trials(built_project_dir, "shared")
    numbers = [r["number"] for r in rows]
    assert numbers == sorted(set(numbers)) == list(range(len(numbers)))
    finished = [r for r in rows if r["state"] in ("COMPLETE", "PRUNED")]
    assert len(finished) == 6  # a trial asked beyond the 6th is FAIL "surplus", never trained
    assert all("surplus" in r["fail_reason"] for r in rows if r["state"] == "FAIL")
    assert all(r["state"] != "RUNNING" for r in rows)


def test_two_fts_workers_on_postgresql_then_sync_into_the_warehouse(
        built_project_dir: Path, pg_url: str) -> None:
    args = [sys.executable, "-m", "fts.cli", "--project-dir", str(built_project_dir), "hpo",
            "--tier", "a20", "--budget", "20K", "--trials", "4", "--study", "pg",
            "--storage", pg_url, *QUICK]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    import optuna

    study = optuna.load_study(study_name="pg", storage=__import__(
        "fts.hpo.storage", fromlist=["rdb_storage"]).rdb_storage(pg_url))
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(len(numbers)))
    finished = [t for t in study.trials if t.state.is_finished() and t.state.name != "FAIL"]
    assert len(finished) == 4
    workers = {t.user_attrs.get("worker", "").rsplit(":", 2)[1] for t in finished}
    assert len(workers) == 2  # both processes trained trials
    synced = CliRunner().invoke(cli, ["--project-dir", str(built_project_dir), "hpo", "sync",
                                      pg_url, "pg"])
    assert synced.exit_code == 0, synced.output
    rows = trials(built_project_dir, "pg")
    assert [r["number"] for r in rows] == numbers
    assert {r["dataset_manifest_id"] for r in rows if r["state"] == "COMPLETE"} == {
        t.user_attrs["dataset_manifest_id"] for t in finished if t.state.name == "COMPLETE"}
