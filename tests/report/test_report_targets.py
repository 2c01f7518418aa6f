"""`fts report NAME [--json]` on a real stored experiment (`tiny`: one a50 cell, seeds 0 and 1,
three baselines): the per-target block, its numbers against what training and the baselines
stored, the baseline tests, and the parameter axes read from the stored run configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fts.core.paths import ProjectPaths
from fts.report.writer import write_report
from fts.warehouse import connect
from tests.ingest.helpers import rows, run_fts


def report_json(root: Path) -> dict:
    result = run_fts(root, "report", "tiny", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_has_one_target_whose_numbers_are_the_stored_ones(experiment_project_dir: Path):
    root = experiment_project_dir
    numbers = report_json(root)
    assert numbers == json.loads((root / "data/reports/tiny/report.json").read_text())
    [block] = numbers["targets"]
    assert (block["tier"], block["horizon"], block["threshold_pct"], block["channels"]) == (
        "a50", 1, 1.0, "independent")
    # Made by today's code: final runs with config.final, baselines of the current format.
    assert numbers["old_format"] is False and numbers["caveats"] == []
    assert block["points"][0]["final_format"] == 2
    assert {b["format"] for b in block["baselines"]} == {2}
    [point] = block["points"]
    stored = rows(root, "SELECT seed, n_params, test_metrics->>'log_loss', "
                        "val_metrics->>'log_loss' FROM train.runs WHERE purpose = 'final' "
                        "ORDER BY seed")
    # Recomputed from the stored predictions; training computed its own with scikit-learn.
    assert point["seeds"] == [0, 1] and point["params"] == stored[0][1]
    assert point["per_seed"] == pytest.approx([float(r[2]) for r in stored], rel=1e-6)
    assert point["metric"] == pytest.approx(sum(float(r[2]) for r in stored) / 2, rel=1e-6)
    # The selection metric is what chose the cell: its best trial's objective, as Optuna's
    # journal (replayed by the hpo_trials view) holds it; the final runs' own validation
    # log-loss is a different number, kept beside it.
    [(objective,)] = rows(root, "SELECT t.value FROM hpo_trials t JOIN experiments.cells c "
                                "ON t.study = c.study AND t.number = c.best_trial")
    assert point["selection_metric"] == pytest.approx(objective, rel=1e-12)
    assert point["final_val_metric"] == pytest.approx(sum(float(r[3]) for r in stored) / 2)
    lo, hi = point["metric_ci95"]
    assert lo < point["metric"] < hi
    assert block["fit"] is None
    assert block["reason"] == "1 distinct model size; a power-law fit needs at least 4"
    # Runs store their param_counts: the non-head axis is total - head of the real model.
    assert block["param_counts_stored"] is True and block["reason_nonhead"] == block["reason"]
    counts = json.loads(rows(root, "SELECT config->'param_counts' FROM train.runs "
                                   "WHERE purpose = 'final' AND seed = 0")[0][0])
    assert counts["total"] == point["params"]
    assert point["nonhead_params"] == counts["total"] - counts["head"]
    chosen = rows(root, "SELECT config->'model'->>'d_model', config->'train'->>'lr' "
                        "FROM train.runs WHERE purpose = 'final' AND seed = 0")[0]
    assert point["architecture"]["d_model"] == int(chosen[0])
    assert point["settings"]["lr"] == pytest.approx(float(chosen[1]))


def test_the_cell_is_tested_against_the_prior_and_every_baseline(experiment_project_dir: Path):
    root = experiment_project_dir
    [block] = report_json(root)["targets"]
    stored = dict(rows(root, "SELECT model, CAST(test_metrics->>'log_loss' AS DOUBLE) "
                             "FROM experiments.baselines"))
    val = dict(rows(root, "SELECT model, CAST(val_metrics->>'log_loss' AS DOUBLE) "
                          "FROM experiments.baselines"))
    levels = {b["model"]: b["metric"] for b in block["baselines"]}
    assert levels == pytest.approx(stored)
    assert {b["model"]: b["selection_metric"] for b in block["baselines"]} == pytest.approx(val)
    best = min((m for m in val if m != "class_prior"), key=val.get)  # chosen on validation
    assert block["best_baseline"] == best
    tests = {t["baseline"]: t for t in block["baseline_tests"]}
    assert set(tests) == set(stored)  # every baseline, not only the one chosen
    assert {m: t["role"] for m, t in tests.items()} == {
        m: "class prior" if m == "class_prior" else "best baseline" if m == best
        else "other baseline" for m in stored}
    for t in tests.values():
        assert t["baseline_value"] == pytest.approx(stored[t["baseline"]])
        assert t["n_samples"] == block["test_samples"] and t["n_seeds"] == 2
        # The tested quantity is the fitted point: the mean over seeds of each run's loss.
        assert t["cell_value"] == pytest.approx(block["points"][0]["metric"], rel=1e-12)
    # Holm over a family of three, written out: sorted p times 3, 2, 1, running max, cap 1.
    ps = sorted(t["p"] for t in tests.values())
    holm = sorted(t["p_holm"] for t in tests.values())
    want = [min(1.0, 3 * ps[0])]
    want += [min(1.0, max(want[0], 2 * ps[1]))]
    want += [min(1.0, max(want[1], ps[2]))]
    assert holm == pytest.approx(want)


def test_markdown_has_the_target_block_and_says_what_the_interval_covers(
        experiment_project_dir: Path):
    md = write_report(ProjectPaths(experiment_project_dir), "tiny", n_boot=100).read_text()
    assert "### a50 · h1 · +1 %" in md
    assert "search objective (selection metric, not fitted)" in md
    assert "Best baseline (lowest validation log-loss, never chosen on test)" in md
    assert "- against encoder parameters" in md
    assert "not the hyperparameter search" in md
    assert "beats the class prior" in md or "beat the class prior" in md
    assert "| a50:10K:h1:p1 | class_prior | class prior |" in md
    assert "no power-law fit: 1 distinct model size" in md
    assert "Chosen architecture and settings" in md


def test_parameter_axes_come_from_the_stored_run_config(experiment_project_dir: Path):
    root = experiment_project_dir
    [(n_params,)] = rows(root, "SELECT DISTINCT n_params FROM train.runs WHERE purpose = 'final'")
    head = 321
    patch = json.dumps({"param_counts": {"total": n_params, "embedding": 40,
                                         "encoder": n_params - head - 40, "head": head},
                        "train_flops_per_sample": 12345.0})
    with connect(root / "warehouse.duckdb", project_root=root) as con:
        con.execute("UPDATE train.runs SET config = json_merge_patch(config, ?) "
                    "WHERE purpose = 'final'", [patch])
    [block] = report_json(root)["targets"]
    [point] = block["points"]
    assert point["nonhead_params"] == n_params - head and point["head_params"] == head
    assert point["encoder_params"] == n_params - head - 40
    assert point["train_flops_per_sample"] == 12345.0
    assert block["reason_nonhead"] == "1 distinct model size; a power-law fit needs at least 4"
    md = (root / "data/reports/tiny/report.md").read_text()
    assert (f"| {n_params:,} | {n_params - head:,} | {n_params - head - 40:,} | {head:,} | "
            "1.23e+04 |") in md
    assert block["reason_encoder"] == block["reason"]


def test_unknown_experiment_is_one_line_exit_1(experiment_project_dir: Path):
    result = run_fts(experiment_project_dir, "report", "nope", "--json")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.strip().count("\n") == 0 and "no finished cells" in result.stderr
