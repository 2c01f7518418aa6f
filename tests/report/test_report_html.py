"""`fts report tiny --html` on the stored `tiny` experiment (one a50 cell, seeds 0 and 1, a
one-trial study): every figure is a PNG, the figures draw what is stored (epochs, test
predictions, intervals, bin counts, trials), and report.html is self-contained and renders in a
real headless browser (Debian's chromium)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import optuna
import pytest
from matplotlib.container import ErrorbarContainer
from PIL import Image

from fts.audit import audit_project
from fts.core.paths import ProjectPaths
from fts.hpo import journal_storage
from fts.report.curves import learning_curves, roc_pr_curves, running_best
from fts.report.data import load_report_data
from fts.report.diagnostics import FIGURES
from fts.report.figures import draw_calibration, draw_scaling
from fts.report.stats import calibration_table
from fts.report.studies import (
    MIN_IMPORTANCE_TRIALS,
    load_histories,
    param_importance,
    study_history,
)
from fts.report.writer import write_report
from tests.ingest.helpers import rows, run_fts

STUDY = "tiny:a50:10K:h1:p1"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory, _experiment_project_template: Path) -> Path:
    """A copy of the tiny experiment with `fts report tiny --html` written (once)."""
    root = tmp_path_factory.mktemp("html-report") / "project"
    shutil.copytree(_experiment_project_template, root)
    result = run_fts(root, "report", "tiny", "--html")
    assert result.exit_code == 0, result.output
    assert "report.html" in result.stdout
    return root


def test_every_figure_is_a_png_the_markdown_shows(reported: Path):
    folder = reported / "data/reports/tiny"
    md = (folder / "report.md").read_text()
    for name in ("scaling.png", "calibration.png", *FIGURES):
        data = (folder / name).read_bytes()
        assert data.startswith(PNG_MAGIC), name
        with Image.open(folder / name) as img:
            img.verify()
        assert f"]({name})" in md, name


def test_html_is_registered_and_self_contained(reported: Path):
    folder = reported / "data/reports/tiny"
    page = (folder / "report.html").read_text()
    [(body,)] = rows(reported, "SELECT body FROM meta.manifests WHERE kind = 'report' "
                               "ORDER BY created_at DESC LIMIT 1")
    outputs = {o["path"] for o in json.loads(body)["outputs"]}
    assert "data/reports/tiny/report.html" in outputs
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:|//)""", page, re.I)
    assert "<link" not in page and "<script" not in page
    images = re.findall(r'<img [^>]*src="([^"]*)"', page)
    md = (folder / "report.md").read_text()
    assert len(images) == md.count("![") == 2 + len(FIGURES)
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "<table>" in page and "Learning curves" in page


def test_chromium_renders_the_page_and_it_is_not_blank(reported: Path, tmp_path: Path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "chromium is missing: `apt-get install chromium` (.ci/run installs it)"
    shot = tmp_path / "shot.png"
    page = reported / "data/reports/tiny/report.html"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
                    f"--screenshot={shot}", "--window-size=1200,2400", page.as_uri()],
                   check=True, timeout=90, capture_output=True)
    with Image.open(shot) as img:
        pixels = np.asarray(img.convert("RGB")).reshape(-1, 3)
    assert pixels.shape[0] == 1200 * 2400
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    # A blank (or error) page is one colour; the report has text, tables and figures.
    assert len(colours) > 50
    assert 1 - counts.max() / counts.sum() > 0.03


def test_learning_curves_plot_the_stored_epochs(reported: Path):
    data = load_report_data(ProjectPaths(reported), "tiny")
    curves = learning_curves(data.epochs, data.runs)
    stored = rows(reported, "SELECT e.run_id, r.seed, e.epoch, e.train_loss, e.val_loss, "
                            "r.best_epoch FROM train.epochs e JOIN train.runs r USING (run_id) "
                            "WHERE r.purpose = 'final' ORDER BY r.seed, e.epoch")
    [(cell, runs)] = curves.items()
    assert cell == "a50:10K:h1:p1"
    plotted = [(c.run_id, c.seed, int(e), float(t), float(v), c.best_epoch)
               for c in runs for e, t, v in zip(c.epoch, c.train_loss, c.val_loss, strict=True)]
    # Final runs validate no epoch (they hold no block out): NULL stored, NaN (no point) drawn.
    def without_val(r: tuple) -> tuple:
        return r[:4] + r[5:]

    assert [without_val(p) for p in plotted] == [without_val(s) for s in stored]
    np.testing.assert_array_equal([p[4] for p in plotted],
                                  np.array([s[4] for s in stored], dtype=float))
    assert len(stored) >= 2


def test_roc_auc_of_the_plotted_curve_is_the_stored_test_roc_auc(reported: Path):
    data = load_report_data(ProjectPaths(reported), "tiny")
    [(_, runs)] = roc_pr_curves(data.predictions, data.runs).items()
    stored = dict(rows(reported, "SELECT run_id, CAST(test_metrics->>'roc_auc' AS DOUBLE) "
                                 "FROM train.runs WHERE purpose = 'final'"))
    assert {c.run_id: c.roc_auc for c in runs} == pytest.approx(stored, abs=1e-9)
    assert all(c.recall[0] == 1.0 and c.recall[-1] == 0.0 for c in runs)


def test_calibration_draws_each_bins_interval_and_count(reported: Path):
    data = load_report_data(ProjectPaths(reported), "tiny")
    preds = data.predictions[(data.predictions["split"] == "test")
                             & (data.predictions["run_id"] == data.runs["run_id"].iloc[0])]
    table = calibration_table(preds["label"], preds["prob"], n_bins=8)
    fig = draw_calibration({"run": table})
    rel, cnt = fig.axes
    [bars] = [c for c in rel.containers if isinstance(c, ErrorbarContainer)]
    segments = bars.lines[2][0].get_segments()
    assert [s[0][1] for s in segments] == pytest.approx(table["obs_lo"].tolist())
    assert [s[1][1] for s in segments] == pytest.approx(table["obs_hi"].tolist())
    assert cnt.lines[0].get_ydata().tolist() == table["count"].tolist()


def test_scaling_draws_the_joint_interval_and_the_baseline_levels(reported: Path):
    numbers = json.loads((reported / "data/reports/tiny/report.json").read_text())
    [block] = numbers["targets"]
    [point] = block["points"]
    ax = draw_scaling(numbers).axes[0]
    [bars] = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    [segment] = bars.lines[2][0].get_segments()
    assert [segment[0][1], segment[1][1]] == pytest.approx(point["metric_ci95"])
    # Not mean ± seed sd: the joint interval (dates x seeds) is what is drawn.
    sd_bounds = [point["metric"] - point["metric_sd"], point["metric"] + point["metric_sd"]]
    assert [segment[0][1], segment[1][1]] != pytest.approx(sd_bounds)
    levels = sorted(line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == ":")
    assert levels == pytest.approx(sorted(b["metric"] for b in block["baselines"]))
    assert len(levels) == 3


def test_hpo_history_is_the_study_and_says_why_importance_is_missing(reported: Path):
    [(name, h)] = load_histories(ProjectPaths(reported), [STUDY]).items()
    study = optuna.load_study(study_name=STUDY, storage=journal_storage(ProjectPaths(reported)))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert h.numbers.tolist() == [t.number for t in done]
    assert h.values.tolist() == [t.value for t in done]
    assert h.importance is None and "needs at least" in h.reason
    md = (reported / "data/reports/tiny/report.md").read_text()
    assert f"| {STUDY} | 1 |" in md and "not computed: 1 finished trial(s)" in md


def test_running_best_keeps_the_lowest_so_far():
    assert running_best(np.array([3.0, 1.0, 2.0, 0.5])).tolist() == [3.0, 1.0, 1.0, 0.5]
    assert running_best(np.array([1.0, 3.0, 2.0]), minimize=False).tolist() == [1.0, 3.0, 3.0]


def test_importance_is_computed_for_a_study_with_enough_trials():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    # Only x moves the objective: fANOVA must give it nearly all the importance.
    study.optimize(lambda t: (t.suggest_float("x", 0, 1) - 0.3) ** 2
                   + 0 * t.suggest_float("y", 0, 1), n_trials=20)
    importance, reason = param_importance(study)
    assert reason is None and set(importance) == {"x", "y"}
    assert importance["x"] > 0.9 and sum(importance.values()) == pytest.approx(1)
    few = optuna.create_study()
    few.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=MIN_IMPORTANCE_TRIALS - 1)
    assert param_importance(few) == (None, f"{MIN_IMPORTANCE_TRIALS - 1} finished trial(s); "
                                     f"parameter importance needs at least "
                                     f"{MIN_IMPORTANCE_TRIALS}")


def test_hpo_history_is_the_finished_trials_in_order_with_the_best_so_far():
    outcomes = iter([0.5, 0.7, None, 0.3, 0.4])

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0, 1)
        value = next(outcomes)
        if value is None:
            raise ValueError("a failed trial is not on the history")
        return value

    study = optuna.create_study()
    study.optimize(objective, n_trials=5, catch=(ValueError,))
    h = study_history(study)
    assert h.numbers.tolist() == [0, 1, 3, 4]
    assert h.values.tolist() == [0.5, 0.7, 0.3, 0.4]
    assert h.best.tolist() == [0.5, 0.5, 0.3, 0.3]
    assert h.n_trials == {"COMPLETE": 4, "FAIL": 1}


def test_a_report_without_html_removes_the_older_page_and_html_comes_back(reported: Path,
                                                                           tmp_path: Path):
    root = tmp_path / "project"
    shutil.copytree(reported, root)
    page = root / "data/reports/tiny/report.html"
    write_report(ProjectPaths(root), "tiny", n_boot=50)
    assert not page.exists()  # never an HTML page older than the report.md beside it
    write_report(ProjectPaths(root), "tiny", n_boot=50, html=True)
    assert page.exists()
    assert audit_project(ProjectPaths(root)).ok


def test_learning_curves_draw_no_validation_line_or_ring_for_runs_without_val_loss(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import matplotlib.pyplot as plt

    from fts.report import diagnostic_figures
    from fts.report.curves import LearningCurve

    drawn = []
    monkeypatch.setattr(diagnostic_figures, "_save", lambda fig, path: (drawn.append(fig)))
    epochs = np.arange(3)
    final = LearningCurve("f", 0, epochs, np.array([0.7, 0.6, 0.5]), np.full(3, np.nan), 2)
    trial = LearningCurve("t", 1, epochs, np.array([0.7, 0.6, 0.5]),
                          np.array([0.69, 0.65, 0.66]), 1)
    diagnostic_figures.learning_curves_figure({"final": [final], "trial": [trial]},
                                              tmp_path / "lc.png")
    [fig] = drawn
    ax_final, ax_trial = fig.axes[:2]
    # The final run: its train line only; no dashed line, no ring (both would be NaN points).
    assert [ln.get_linestyle() for ln in ax_final.get_lines()] == ["-"]
    assert list(ax_final.collections) == []
    # A run that validated: dashed line, and the ring on its best epoch's validation loss.
    assert [ln.get_linestyle() for ln in ax_trial.get_lines()] == ["-", "--"]
    [ring] = ax_trial.collections
    np.testing.assert_array_equal(ring.get_offsets(), [[1, 0.65]])
    plt.close(fig)
