"""Final runs select nothing on the last validation block: they train on train + val for the
median of the best trial's fold best epochs, with no early stopping, and score the test at the
F1 threshold of the fold runs' pooled validation predictions. A cell finished the old way is
refused, never mixed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import f1_score, log_loss, precision_recall_curve

from fts.cli import cli
from fts.core.paths import ProjectPaths
from fts.datasets import load_dataset
from fts.experiments import load_experiment, run_experiment
from fts.warehouse import connect

STUDY = """
name = "final"
tiers = ["a20"]
budgets = ["10K"]
horizons = [1]
thresholds = [1.0]
trials = 1
seeds = [0]
ctx_len = 16
[split]
mode = "tail_days"
val_days = 150
test_days = 150
folds = 3
fold_val_days = 150
[dataset]
min_val_positives = 0  # a small study: not about the positives rule
[training]
max_epochs = 6
patience = 2
max_train_batches = 2
"""


@pytest.fixture(scope="module")
def _final_template(tmp_path_factory: pytest.TempPathFactory, _built_project_template: Path) -> Path:
    """The built project after the study above: one cell, one trial of 3 fold runs, one final
    run and the baselines."""
    root = tmp_path_factory.mktemp("final-runs") / "project"
    shutil.copytree(_built_project_template, root)
    (root / "studies").mkdir()
    (root / "studies" / "final.toml").write_text(STUDY, encoding="utf-8")
    lines: list[str] = []
    run_experiment(ProjectPaths(root), load_experiment(root / "studies" / "final.toml"),
                   show_bar=False, progress=lines.append)
    (root / "progress.txt").write_text("\n".join(lines), encoding="utf-8")
    return root


@pytest.fixture
def project(tmp_path: Path, _final_template: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(_final_template, root)
    return root


def rows(root: Path, sql: str, params: list | None = None) -> list[tuple]:
    with connect(root / "warehouse.duckdb", read_only=True, project_root=root) as con:
        return con.execute(sql, params or []).fetchall()


def _final(root: Path) -> dict:
    [(run_id, best, epochs_run, config, val_metrics, test_metrics)] = rows(
        root, "SELECT run_id, best_epoch, epochs_run, config, val_metrics, test_metrics "
              "FROM train.runs WHERE purpose = 'final'")
    return {"run_id": run_id, "best_epoch": best, "epochs_run": epochs_run,
            "config": json.loads(config), "val": json.loads(val_metrics),
            "test": json.loads(test_metrics)}


def _fold_runs(root: Path) -> list[tuple[str, int, str]]:
    """(run id, best epoch, validation split) of the best trial's fold runs, in fold order."""
    [(best_trial,)] = rows(root, "SELECT best_trial FROM experiments.cells")
    got = rows(root, "SELECT run_id, best_epoch, config->'fold'->>'index', "
                     "config->'fold'->>'val' FROM train.runs WHERE purpose = 'trial' AND "
                     "trial_number = ?", [best_trial])
    return [(r, int(b), v) for r, b, _, v in sorted(got, key=lambda g: int(g[2]))]


def _predictions(root: Path, run_id: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    got = rows(root, "SELECT label, prob FROM train.predictions WHERE run_id = ? AND split = ? "
                     "ORDER BY date, ticker", [run_id, split])
    return np.array([g[0] for g in got]), np.array([g[1] for g in got])


def test_a_final_run_trains_the_folds_median_best_epoch_count_on_train_and_val(project: Path):
    folds = _fold_runs(project)
    assert [v for *_, v in folds] == ["fold0.val", "fold1.val", "fold2.val"]
    # Independently: epochs to each fold's best (0-based best_epoch + 1), their median.
    expected = int(np.median([b + 1 for _, b, _ in folds]))
    final = _final(project)
    assert final["epochs_run"] == expected
    assert final["best_epoch"] == expected - 1  # the last epoch's weights: nothing restored
    epochs = rows(project, "SELECT epoch, val_loss FROM train.epochs WHERE run_id = ? "
                           "ORDER BY epoch", [final["run_id"]])
    # Exactly that many epochs, none of them validated: no block was there to stop on.
    assert epochs == [(e, None) for e in range(expected)]
    record = final["config"]["final"]
    assert record["epochs"] == expected
    assert record["fold_best_epochs"] == [b for _, b, _ in folds]
    assert record["fold_run_ids"] == [r for r, _, _ in folds]
    assert record["trains_on"] == ["train", "val"]
    # It trained on every sample before the test region, and predicted only the test.
    [(dataset_id,)] = rows(project, "SELECT dataset_id FROM experiments.cells")
    dataset = load_dataset(ProjectPaths(project), dataset_id)
    assert final["config"]["train_samples"] == dataset.counts["train"] + dataset.counts["val"]
    assert rows(project, "SELECT DISTINCT split FROM train.predictions WHERE run_id = ?",
                [final["run_id"]]) == [("test",)]
    # Its cost was estimated on what it trains: train + val, no validation pass, its epochs.
    est, t = final["config"]["estimate"], final["config"]["train"]
    n = dataset.counts["train"] + dataset.counts["val"]
    assert (est["train_samples"], est["val_samples"], est["epochs"]) == (n, 0, expected)
    assert est["seconds_per_epoch"] == pytest.approx(
        est["seconds_per_sample"] * min(n, t["max_train_batches"] * t["batch_size"]))


def test_a_final_runs_progress_line_gives_its_planned_epochs_not_a_best_epoch(project: Path):
    final = _final(project)
    said = (project / "progress.txt").read_text(encoding="utf-8")
    assert f"{final['epochs_run']} epochs as planned (no early stopping): pooled fold-val " \
        f"log-loss" in said
    fold_lines = [ln for ln in said.splitlines() if "best epoch" in ln]
    assert fold_lines and all("pooled" not in ln for ln in fold_lines)


def test_the_threshold_maximises_f1_on_the_pooled_fold_validation(project: Path):
    folds = _fold_runs(project)
    parts = [_predictions(project, r, v) for r, _, v in folds]
    y = np.concatenate([p[0] for p in parts])
    p = np.concatenate([p[1] for p in parts])
    final = _final(project)
    threshold = final["test"]["threshold"]
    assert final["config"]["final"]["threshold"] == threshold
    # Brute force over every candidate, and scikit-learn's curve, agree with the stored one.
    best_f1 = max(f1_score(y, p >= t) for t in np.unique(p))
    assert f1_score(y, p >= threshold) == pytest.approx(best_f1)
    precision, recall, candidates = precision_recall_curve(y, p)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    assert threshold == pytest.approx(candidates[int(np.argmax(f1[:-1]))])
    # val_metrics are the pooled selection data's, and test metrics are at that threshold.
    assert final["val"]["n"] == len(y) and final["val"]["positives"] == int(y.sum())
    assert final["val"]["log_loss"] == pytest.approx(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7)))
    y_test, p_test = _predictions(project, final["run_id"], "test")
    hits = (p_test >= threshold) & (y_test == 1)
    assert final["test"]["recall"] == pytest.approx(hits.sum() / y_test.sum())
    assert final["test"]["precision"] == pytest.approx(hits.sum() / (p_test >= threshold).sum())


def test_baselines_select_on_the_folds_of_the_same_dataset(project: Path):
    got = {m: (json.loads(v), s) for m, v, s in rows(
        project, "SELECT b.model, b.val_metrics, list(DISTINCT p.split ORDER BY p.split) FROM "
                 "experiments.baselines b JOIN train.predictions p ON p.run_id = b.baseline_id "
                 "GROUP BY ALL")}
    n_selection = sum(len(_predictions(project, r, v)[0]) for r, _, v in _fold_runs(project))
    for val_metrics, splits in got.values():
        assert splits == ["fold0.val", "fold1.val", "fold2.val", "test"]
        assert val_metrics["n"] == n_selection
    [(trees,)] = rows(project, "SELECT body->'selection'->>'trees' FROM meta.manifests WHERE "
                               "kind = 'baseline' AND body->>'model' = 'hist_gradient_boosting'")
    assert 1 <= int(trees) <= 300


def _run(root: Path) -> tuple[int, str]:
    out = CliRunner().invoke(cli, ["--project-dir", str(root), "run",
                                   str(root / "studies" / "final.toml")])
    return out.exit_code, out.output


def test_a_cell_finished_the_old_way_is_refused(project: Path):
    code, output = _run(project)
    assert code == 0 and "done, skipped" in output, output
    # A cell stored before final runs and baselines selected on the folds has no formats.
    with connect(project / "warehouse.duckdb", project_root=project) as con:
        [(settings,)] = con.execute("SELECT settings FROM experiments.cells").fetchall()
        old = {k: v for k, v in json.loads(settings).items()
               if k not in ("final_format", "baseline_format")}
        con.execute("UPDATE experiments.cells SET settings = ?", [json.dumps(old)])
    code, output = _run(project)
    error = output.strip().splitlines()[-1]
    assert code == 1 and "final_format" in error and "baseline_format" in error, output
    assert "Traceback" not in output


def _unfinish_with_final_config(root: Path, run_id: str, config: dict) -> None:
    """An unfinished cell (its row deleted) whose final run `run_id` is stored with `config`."""
    with connect(root / "warehouse.duckdb", project_root=root) as con:
        con.execute("DELETE FROM experiments.cells")
        con.execute("UPDATE train.runs SET config = ? WHERE run_id = ?",
                    [json.dumps(config), run_id])


def test_stored_final_runs_made_another_way_are_refused_not_mixed(project: Path):
    # An unfinished cell whose final run was stored the old way (no fold plan in its config).
    final = _final(project)
    config = {k: v for k, v in final["config"].items() if k != "final"}
    _unfinish_with_final_config(project, final["run_id"], config)
    code, output = _run(project)
    assert code == 1 and "final run(s)" in output.strip().splitlines()[-1], output
    assert len(rows(project, "SELECT * FROM train.runs WHERE purpose = 'final'")) == 1


def test_fold_best_epochs_that_differ_give_their_median(project: Path):
    """With stored best epochs 0, 1 and 5 (0-based, in fold order) the counts are 1, 2 and 6:
    the median 2 differs from the last fold's 6, the mean 3, the min 1 and the max 6, so the
    final run training exactly 2 epochs of the 6 allowed tells the median rule from the others."""
    folds = _fold_runs(project)
    final = _final(project)
    with connect(project / "warehouse.duckdb", project_root=project) as con:
        for (run_id, _, _), best in zip(folds, (0, 1, 5), strict=True):
            con.execute("UPDATE train.runs SET best_epoch = ? WHERE run_id = ?", [best, run_id])
        # Forget the cell and its final run, so that `fts run` makes it again.
        con.execute("DELETE FROM experiments.cells")
        for table in ("train.epochs", "train.predictions", "train.test_evaluations", "train.runs"):
            con.execute(f"DELETE FROM {table} WHERE run_id = ?", [final["run_id"]])
    code, output = _run(project)
    assert code == 0, output
    counts = [1, 2, 6]
    expected = int(np.median(counts))
    assert expected == 2 and expected not in (counts[-1], int(np.mean(counts)), min(counts),
                                              max(counts))
    again = _final(project)
    assert again["epochs_run"] == expected == again["config"]["final"]["epochs"]
    assert again["config"]["train"]["max_epochs"] == 6
    # Where it left the cosine schedule, by hand: ceil((train + val) / batch) steps an epoch
    # (at most max_train_batches = 2), the schedule spanning 6 epochs of them.
    t, record = again["config"]["train"], again["config"]["final"]
    per_epoch = min(-(-again["config"]["train_samples"] // t["batch_size"]), 2)
    total, last = per_epoch * 6, per_epoch * expected - 1
    warmup = round(t["warmup_frac"] * total)
    floor = t["lr"] * t["min_lr_ratio"]
    lr = (t["lr"] * (last + 1) / warmup if last < warmup else floor + (t["lr"] - floor) * 0.5
          * (1 + np.cos(np.pi * (last - warmup) / (total - warmup))))
    assert (record["optimizer_steps"], record["steps_per_epoch"], record["lr_schedule_steps"]) \
        == (per_epoch * expected, per_epoch, total)
    assert record["final_lr"] == pytest.approx(lr) and record["final_lr"] > floor * 1.01
    assert rows(project, "SELECT epoch, val_loss FROM train.epochs WHERE run_id = ? ORDER BY "
                         "epoch", [again["run_id"]]) == [(e, None) for e in range(expected)]


def test_the_audit_rederives_the_epoch_count_from_the_fold_runs(project: Path):
    from fts.audit.engine import audit_project

    paths = ProjectPaths(project)
    assert audit_project(paths).ok
    [(run_id, _, _), *_] = _fold_runs(project)
    with connect(project / "warehouse.duckdb", project_root=project) as con:
        con.execute("UPDATE train.runs SET best_epoch = 0 WHERE run_id = ?", [run_id])
        con.execute("UPDATE train.runs SET best_epoch = 1 WHERE run_id IN (SELECT run_id FROM "
                    "train.runs WHERE purpose = 'trial' AND run_id <> ? LIMIT 1)", [run_id])
    codes = [i.code for i in audit_project(paths).issues]
    assert "final_plan_disagrees" in codes


def test_stored_baselines_of_an_older_format_are_refused_not_mixed(project: Path):
    with connect(project / "warehouse.duckdb", project_root=project) as con:
        con.execute("DELETE FROM experiments.cells")  # an unfinished cell, baselines stored
        con.execute("UPDATE meta.manifests SET version = '1' WHERE kind = 'baseline'")
    code, output = _run(project)
    error = output.strip().splitlines()[-1]
    assert code == 1 and "stored baselines" in error and "format 1" in error, output


def test_a_final_run_carries_the_best_trials_settings_and_the_fold_runs_setup(project: Path):
    """Compared with what Optuna stored for the best trial and what the fold runs trained, not
    with the code that built the final request."""
    import optuna

    from fts.hpo.storage import study_storage

    [(study, best_trial)] = rows(project, "SELECT study, best_trial FROM experiments.cells")
    params = optuna.load_study(study_name=study, storage=study_storage(
        ProjectPaths(project), None)).trials[best_trial].params
    config = _final(project)["config"]
    d, layers, heads, ff, patch = params["arch"].split("-")[-5:]
    assert (config["model"]["d_model"], config["model"]["n_layers"], config["model"]["n_heads"],
            config["model"]["d_ff"]) == (int(d[1:]), int(layers[1:]), int(heads[1:]), int(ff[2:]))
    assert f"p{config['model']['patch_len']}s{config['model']['stride']}" == patch
    assert config["model"]["dropout"] == params["dropout"]
    for name in ("lr", "weight_decay", "warmup_frac", "batch_size"):
        assert config["train"][name] == params[name], name
    for run_id, _, _ in _fold_runs(project):
        [(fold,)] = rows(project, "SELECT config FROM train.runs WHERE run_id = ?", [run_id])
        fold = json.loads(fold)
        assert fold["model"] == config["model"]
        assert fold["dataset"]["manifest_id"] == config["dataset"]["manifest_id"]


def _forget_final(root: Path) -> None:
    """Forget the cell and its final run, so that `fts run` makes them again."""
    final = _final(root)
    with connect(root / "warehouse.duckdb", project_root=root) as con:
        con.execute("DELETE FROM experiments.cells")
        for table in ("train.epochs", "train.predictions", "train.test_evaluations", "train.runs"):
            con.execute(f"DELETE FROM {table} WHERE run_id = ?", [final["run_id"]])


@pytest.mark.parametrize(("change", "named"), [
    (lambda r: {"train": __import__("dataclasses").replace(r.train, lr=r.train.lr * 2)}, "lr="),
    (lambda r: {"arch": {**r.arch, "d_ff": r.arch["d_ff"] - 16}}, "d_ff"),
])
def test_a_final_run_that_missed_the_best_trials_settings_is_refused(
        project: Path, monkeypatch: pytest.MonkeyPatch, change, named: str):
    import dataclasses

    from fts.experiments import runner

    made = runner._final_request

    def broken(*args, **kwargs):
        request = made(*args, **kwargs)
        return dataclasses.replace(request, **change(request))

    _forget_final(project)
    monkeypatch.setattr(runner, "_final_request", broken)
    code, output = _run(project)
    error = output.strip().splitlines()[-1]
    assert code == 1 and "final run" in error and named in error, output
    assert "Traceback" not in output
    assert rows(project, "SELECT count(*) FROM experiments.cells") == [(0,)]
    # A resume with the right request still refuses: the stored final run missed them.
    monkeypatch.setattr(runner, "_final_request", made)
    code, output = _run(project)
    assert code == 1 and named in output.strip().splitlines()[-1], output


def test_a_final_run_on_another_dataset_than_its_fold_runs_is_refused(project: Path):
    [(run_id, _, _), *_] = _fold_runs(project)
    _forget_final(project)
    with connect(project / "warehouse.duckdb", project_root=project) as con:
        [(config,)] = con.execute("SELECT config FROM train.runs WHERE run_id = ?",
                                  [run_id]).fetchall()
        config = json.loads(config)
        config["dataset"]["manifest_id"] = "0" * 64  # the fold run trained another dataset
        con.execute("UPDATE train.runs SET config = ? WHERE run_id = ?",
                    [json.dumps(config), run_id])
    code, output = _run(project)
    error = output.strip().splitlines()[-1]
    assert code == 1 and f"fold run {run_id[:12]}" in error and "dataset" in error, output


def _audit_codes(root: Path) -> list[str]:
    from fts.audit.engine import audit_project

    return [i.code for i in audit_project(ProjectPaths(root)).issues]


def test_the_audit_rederives_the_threshold_and_val_metrics_from_the_fold_predictions(
        project: Path):
    assert _audit_codes(project) == []
    [(run_id, _, split), *_] = _fold_runs(project)
    with connect(project / "warehouse.duckdb", project_root=project) as con:
        # Other fold-validation predictions than the final run chose its threshold on.
        con.execute("UPDATE train.predictions SET prob = 1 - prob WHERE run_id = ? AND split = ?",
                    [run_id, split])
    codes = _audit_codes(project)
    assert "final_threshold_disagrees" in codes and "predictions_changed" in codes


def test_the_audit_checks_the_fold_runs_are_the_cells_best_trials(project: Path):
    [(run_id, _, _), *_] = _fold_runs(project)
    with connect(project / "warehouse.duckdb", project_root=project) as con:
        con.execute("UPDATE train.runs SET trial_number = trial_number + 7 WHERE run_id = ?",
                    [run_id])
    assert "final_folds_foreign" in _audit_codes(project)
    with connect(project / "warehouse.duckdb", project_root=project) as con:
        con.execute("UPDATE train.runs SET trial_number = trial_number - 7, study = 'other' "
                    "WHERE run_id = ?", [run_id])
    assert "final_folds_foreign" in _audit_codes(project)


def test_a_stored_final_run_whose_rules_were_reworded_is_resumed_not_refused(project: Path):
    final = _final(project)
    config = final["config"]
    config["final"]["epochs_rule"] += " (reworded)"
    config["final"]["threshold_source"]["rule"] = "the F1 maximum, in other words"
    _unfinish_with_final_config(project, final["run_id"], config)
    code, output = _run(project)
    assert code == 0, output
    # The stored run was reused, not trained again, and the cell is finished on it.
    assert [r[0] for r in rows(project, "SELECT run_id FROM train.runs WHERE purpose = "
                                        "'final'")] == [final["run_id"]]
    [(ids,)] = rows(project, "SELECT final_run_ids FROM experiments.cells")
    assert json.loads(ids) == [final["run_id"]]
    # ... while another epoch count is still another plan.
    config["final"]["epochs"] += 1
    _unfinish_with_final_config(project, final["run_id"], config)
    code, output = _run(project)
    assert code == 1 and "final run(s)" in output.strip().splitlines()[-1], output


def test_the_audit_flags_final_runs_and_baselines_of_an_older_format(project: Path):
    from fts.audit.checks import verify_baseline, verify_run
    from fts.audit.engine import audit_project
    from fts.audit.inventory import load_inventory
    from fts.core.manifest import Manifest

    paths = ProjectPaths(project)
    flags = {"final_run_old_format", "baseline_old_format"}
    assert not flags & {w.code for w in audit_project(paths).warnings}
    inv = load_inventory(paths)
    final = inv.entries[_final(project)["run_id"]].manifest
    baseline = next(e.manifest for e in inv.entries.values() if e.kind == "baseline")
    # The same records as an older `fts run` wrote them: no fold plan, baselines of format 1.
    old_run = Manifest({**final.body, "config": {k: v for k, v in final["config"].items()
                                                 if k != "final"}}, final.id)
    old_baseline = Manifest({**baseline.body, "version": 1}, baseline.id)
    warned = [i for i in verify_run(old_run, inv.snapshot, paths).issues
              + verify_baseline(old_baseline, inv.snapshot, paths).issues if i.code in flags]
    assert sorted(i.code for i in warned) == sorted(flags)
    assert all(i.severity == "warning" for i in warned)


def test_the_audits_copy_of_the_formats_is_the_code_s():
    from fts.audit import checks
    from fts.experiments.baselines import BASELINE_FORMAT
    from fts.train.final import FINAL_FORMAT

    assert (checks.FINAL_FORMAT, checks.BASELINE_FORMAT) == (FINAL_FORMAT, BASELINE_FORMAT)


def test_the_plan_pools_every_fold_not_the_last_block(project: Path):
    """Earlier folds whose negatives all sit at 0.999 (positives at 0.9995) push the pooled F1
    maximum above 0.999, away from what the last block alone would choose (whether they
    coincide on the trained predictions is chance, so they are made to differ here)."""
    from fts.train.final import plan_final

    folds = _fold_runs(project)
    with connect(project / "warehouse.duckdb", project_root=project) as con:
        for run_id, _, split in folds[:-1]:
            con.execute("UPDATE train.predictions SET prob = 0.999 + 0.0005 * label WHERE run_id = ? "
                        "AND split = ?", [run_id, split])
    parts = [_predictions(project, r, v) for r, _, v in folds]
    y = np.concatenate([p[0] for p in parts])
    p = np.concatenate([p[1] for p in parts])
    pooled = max(np.unique(p), key=lambda t: f1_score(y, p >= t))
    y_last, p_last = parts[-1]
    last = max(np.unique(p_last), key=lambda t: f1_score(y_last, p_last >= t))
    assert not np.isclose(last, pooled)
    [(study, best_trial)] = rows(project, "SELECT study, best_trial FROM experiments.cells")
    plan = plan_final(ProjectPaths(project), study, best_trial)
    assert f1_score(y, p >= plan.threshold) == pytest.approx(f1_score(y, p >= pooled))
    assert not np.isclose(plan.threshold, last)
