"""Selection on walk-forward folds: a trial trains one model per fold, stopped on that fold's
validation block, and is scored by the mean over folds; the defaults select on 3 folds with
enough positives on the sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import log_loss

from fts.audit.engine import audit_project
from fts.datasets import (
    SELECTION_SPLIT,
    DatasetSpec,
    SplitPolicy,
    build_dataset,
    common_sample_start,
)
from fts.experiments import load_experiment
from fts.hpo.search import run_study
from fts.hpo.study import StudySpec
from fts.project import Project
from fts.train.config import TrainConfig
from fts.train.folds import train_on_folds
from fts.train.request import RunRequest

REPO = Path(__file__).resolve().parents[2]
SPLIT = SplitPolicy(val_days=150, test_days=150, folds=3, fold_val_days=150)
QUICK = TrainConfig(max_epochs=2, patience=2, max_train_batches=2, batch_size=32)


def _stored_predictions(project: Project, run_id: str) -> list[dict]:
    return project.sql(f"select split, date, label, prob from train.predictions "
                       f"where run_id = '{run_id}' order by date").to_pylist()


def test_one_model_per_fold_each_stopped_on_its_own_block_scored_by_the_mean(
        built_project_dir: Path) -> None:
    project = Project(built_project_dir)
    request = RunRequest(tier="a20", budget="20K", horizon=1, threshold_pct=1.0, ctx_len=16,
                         train=QUICK, split=SPLIT, min_val_positives=0, evaluate_test=False,
                         purpose="trial")
    dataset = build_dataset(project.paths, request.dataset_spec())
    steps: list[int] = []
    selection = train_on_folds(project.paths, request, dataset,
                               on_epoch=lambda step, _m: steps.append(step))
    assert steps == [0, 1, 2, 3, 4, 5]  # fold j's epoch e is step j * max_epochs + e
    assert len(selection.records) == 3
    losses = []
    for j, record in enumerate(selection.records):
        assert record.config["fold"] == {"index": j, "train": f"fold{j}.train", "val": f"fold{j}.val"}
        rows = _stored_predictions(project, record.run_id)
        block = dataset.split(f"fold{j}.val")
        # Its validation predictions are exactly fold j's block, and nothing of the test region.
        assert {r["split"] for r in rows} == {f"fold{j}.val"}
        assert [np.datetime64(r["date"], "D") for r in rows] == list(block.dates)
        y = np.array([r["label"] for r in rows])
        p = np.array([r["prob"] for r in rows])
        losses.append(log_loss(y, p, labels=[0, 1]))
        assert record.val_metrics["log_loss"] == pytest.approx(losses[-1], rel=1e-6)
        assert record.test_metrics is None
    assert selection.value == pytest.approx(np.mean(losses), rel=1e-6)
    assert selection.last is selection.records[-1]


def test_a_search_trial_is_the_mean_over_its_fold_models(built_project_dir: Path) -> None:
    project = Project(built_project_dir)
    spec = StudySpec(tier="a20", budget="20K", ctx_len=16, max_epochs=1, max_train_batches=1,
                     split=SPLIT, min_val_positives=0, name="folds")
    out = run_study(project.paths, spec, 1, show_bar=False)
    trial = project.sql("select value, user_attrs from hpo_trials where study = 'folds'").to_pylist()[0]
    attrs = json.loads(trial["user_attrs"]) if isinstance(trial["user_attrs"], str) else trial["user_attrs"]
    fold_runs = attrs["fold_run_ids"]
    assert len(fold_runs) == 3 and attrs["run_id"] == fold_runs[-1]
    stored = [json.loads(project.sql(f"select val_metrics from train.runs where run_id = '{r}'")
                         .to_pylist()[0]["val_metrics"])["log_loss"] for r in fold_runs]
    assert attrs["fold_val_log_loss"] == pytest.approx(stored)
    assert trial["value"] == pytest.approx(np.mean(stored)) == pytest.approx(out.best_value)
    # The study manifest pins every fold's run, and the audit re-derives it.
    assert set(fold_runs) <= {i.id for i in out.manifest.inputs if i.kind == "run"}
    assert out.manifest["trials"][0]["fold_run_ids"] == fold_runs
    report = audit_project(project.paths)
    assert report.ok, [i.message for i in report.issues]


def test_searches_and_shipped_studies_select_on_three_folds_with_a_270_day_test() -> None:
    # A single run (fts train) chooses on one block: the 600 days the folds cover together.
    single = RunRequest("a20", "20K", 1, 1.0).split
    assert (single.folds, single.val_days, single.test_days) == (1, 600, 270)
    for split in (StudySpec("a20", "20K").split,
                  *(load_experiment(REPO / "studies" / f"{s}.toml").split for s in ("demo", "scaling"))):
        assert split.folds >= 3 and split.test_days == 270 and split.mode == "tail_days"
    for exp in (load_experiment(REPO / "studies" / f"{s}.toml") for s in ("demo", "scaling")):
        assert (exp.inputs, exp.min_val_positives) == ("scale_free", 50)
    assert RunRequest("a20", "20K", 1, 1.0).dataset_spec().inputs == "scale_free"
    assert StudySpec("a20", "20K").inputs == "scale_free"


def test_the_default_split_has_50_selection_positives_on_the_sample(built_project_dir: Path) -> None:
    """`fts train`/`fts hpo` defaults (ctx 64) and the demo (ctx 32, a20 and a50 from a common
    start) on the embedded sample at h = 1, +1 %: not refused, and the numbers measured."""
    project = Project(built_project_dir)
    project.build_tier("a100")
    counts = {}
    for ctx, tiers, common in ((64, ["a20", "a50", "a100"], False), (32, ["a20", "a50"], True)):
        start = common_sample_start(project.paths, tiers, ctx_len=ctx) if common else None
        for tier in tiers:
            spec = DatasetSpec(tier, 1, 1.0, ctx_len=ctx, split=SELECTION_SPLIT, inputs="scale_free")
            ds = build_dataset(project.paths, spec, common_start=start)  # the rule: >= 50
            counts[tier, ctx] = ds.manifest["selection"]["positives"]
            assert ds.folds == [(f"fold{j}.train", f"fold{j}.val") for j in range(3)]
            assert ds.counts["test"] >= 260 and ds.manifest["split"]["policy"]["test_days"] == 270
    assert min(counts.values()) >= 50
