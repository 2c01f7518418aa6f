"""A stored run loads as a usable model and predicts what it predicted when it was stored."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from fts.cli import cli
from fts.project import Project


def _run_with_test_predictions(project: Project) -> str:
    # Trained runs only: baselines store their test predictions in the same table.
    rows = project.sql("""select distinct run_id from train.predictions where split = 'test'
                          and run_id in (select run_id from train.runs)
                          order by run_id""").to_pylist()
    assert rows, "the tiny experiment stores test predictions of its final runs"
    return rows[0]["run_id"]


def _stored(project: Project, run_id: str) -> pd.DataFrame:
    return project.sql(f"""select ticker, date, prob from train.predictions
                           where run_id = '{run_id}' and split = 'test'
                           order by ticker, date""").to_pandas()


def test_the_checkpoint_names_its_features_in_order(experiment_project_dir: Path) -> None:
    project = Project(experiment_project_dir)
    run_id = _run_with_test_predictions(project)
    path = project.sql(f"select checkpoint_path from train.runs where run_id = '{run_id}'"
                       ).to_pylist()[0]["checkpoint_path"]
    ckpt = torch.load(experiment_project_dir / path, map_location="cpu", weights_only=True)
    # The declared columns of the tier (features_sql/a50 extends a20), read from the YAML.
    declared = [c["name"] for c in project.describe("a50")["columns"]]
    assert ckpt["feature_names"] == declared
    assert ckpt["dataset_spec"]["tier"] == "a50" and ckpt["dataset_spec"]["ctx_len"] == 16
    loaded = project.load_run(run_id[:10])
    assert loaded.run_id == run_id and loaded.feature_names == declared
    assert loaded.ctx_len == 16 and loaded.tier == "a50"
    assert loaded.config["n_params"] == sum(p.numel() for p in loaded.model.parameters())


def test_a_loaded_run_reproduces_its_stored_test_predictions(experiment_project_dir: Path) -> None:
    project = Project(experiment_project_dir)
    run_id = _run_with_test_predictions(project)
    stored = _stored(project, run_id)
    got = project.predict(project.load_run(run_id), dates=list(stored["date"]))
    both = stored.merge(got, on=["ticker", "date"], how="left", suffixes=("_stored", ""))
    assert len(stored) > 50 and both["prob"].notna().all()
    np.testing.assert_allclose(both["prob"], both["prob_stored"], rtol=0, atol=1e-6)


def test_without_dates_it_predicts_each_tickers_latest_row(experiment_project_dir: Path) -> None:
    project = Project(experiment_project_dir)
    run_id = _run_with_test_predictions(project)
    got = project.predict(run_id)
    latest = project.sql("select ticker, max(date) as date from a50 group by 1 order by 1"
                         ).to_pandas()
    assert got[["ticker", "date"]].values.tolist() == latest.values.tolist()
    assert ((got["prob"] > 0) & (got["prob"] < 1)).all()


def test_fts_predict_since_prints_every_later_date(experiment_project_dir: Path) -> None:
    project = Project(experiment_project_dir)
    run_id = _run_with_test_predictions(project)
    since = dt.date(2018, 12, 1)
    result = CliRunner().invoke(cli, ["--project-dir", str(experiment_project_dir), "predict",
                                      run_id[:12], "--since", since.isoformat(),
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    expected = project.sql("select ticker, date::VARCHAR as date from a50 "
                           "where date >= DATE '2018-12-01' order by ticker, date").to_pylist()
    assert [{"ticker": r["ticker"], "date": r["date"]} for r in rows] == expected
    stored = _stored(project, run_id)
    stored = stored[stored["date"] >= since]
    by_key = {(r["ticker"], r["date"]): r["prob"] for r in rows}
    assert len(stored) and all(
        abs(by_key[(t, d.isoformat())] - p) < 1e-6 for t, d, p in stored.itertuples(index=False))


@pytest.mark.parametrize("args, message", [
    (["predict", "nosuchrun"], "error: run 'nosuchrun': no run"),
    (["predict", "{run}", "--date", "2018-13-01"], "error: '2018-13-01' is not a date"),
    (["predict", "{run}", "--date", "2018-12-25"], "error: no full window ends on 2018-12-25"),
])
def test_bad_input_is_one_line_on_stderr(experiment_project_dir: Path, args: list[str],
                                         message: str) -> None:
    run_id = _run_with_test_predictions(Project(experiment_project_dir))
    args = [a.format(run=run_id[:12]) for a in args]
    result = CliRunner().invoke(cli, ["--project-dir", str(experiment_project_dir), *args])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.output


def test_a_train_zscore_run_predicts_with_its_stored_statistics(built_project_dir: Path) -> None:
    # z-scored inputs: the train split's statistics travel with the run and are applied again,
    # never recomputed from the rows being predicted.
    from fts.train.config import TrainConfig
    from fts.train.request import RunRequest

    project = Project(built_project_dir)
    record = project.train(RunRequest(
        tier="a20", budget="20K", horizon=1, threshold_pct=1.0, ctx_len=32,
        normalization="train_zscore",
        train=TrainConfig(max_epochs=1, patience=1, max_train_batches=2, batch_size=32)))
    loaded = project.load_run(record.run_id)
    assert loaded.normalization["method"] == "train_zscore"
    assert len(loaded.normalization["stats"]["mean"]) == len(loaded.feature_names)
    stored = _stored(project, record.run_id)
    got = project.predict(loaded, dates=list(stored["date"]))
    both = stored.merge(got, on=["ticker", "date"], how="left", suffixes=("_stored", ""))
    assert len(stored) > 50 and both["prob"].notna().all()
    np.testing.assert_allclose(both["prob"], both["prob_stored"], rtol=0, atol=1e-6)
