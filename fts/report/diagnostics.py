"""The report's diagnostic section: learning curves, ROC and precision-recall curves, HPO
history and parameter importance, drawn into the report folder, with the Markdown that shows
them. `FIGURES` names every PNG it writes."""

from __future__ import annotations

from pathlib import Path

from fts.core.paths import ProjectPaths
from fts.report.curves import learning_curves, roc_pr_curves
from fts.report.data import ReportData
from fts.report.diagnostic_figures import (
    hpo_history_figure,
    importance_figure,
    learning_curves_figure,
    roc_pr_figure,
)
from fts.report.studies import StudyHistory, load_histories

FIGURES = ("learning_curves.png", "roc_pr.png", "hpo_history.png", "importance.png")


def _importance_lines(histories: dict[str, StudyHistory | str]) -> list[str]:
    lines = ["| study | finished trials | best objective | parameter importance (fANOVA) |",
             "|---|---|---|---|"]
    for name, h in histories.items():
        if isinstance(h, str):
            lines.append(f"| {name} | - | - | {h} |")
            continue
        best = f"{h.best[-1]:.4f}" if h.best.size else "-"
        imp = (", ".join(f"{k} {v:.2f}" for k, v in h.importance.items())
               if h.importance is not None else f"not computed: {h.reason}")
        lines.append(f"| {name} | {h.values.size} | {best} | {imp} |")
    return lines


def write_diagnostics(paths: ProjectPaths, data: ReportData, folder: Path) -> list[str]:
    """Draw the FIGURES into `folder`; returns the Markdown lines of their sections."""
    learning_curves_figure(learning_curves(data.epochs, data.runs), folder / FIGURES[0])
    roc_pr_figure(roc_pr_curves(data.predictions, data.runs), folder / FIGURES[1])
    studies = sorted(set(data.cells["study"])) if "study" in data.cells else []
    histories = load_histories(paths, studies)
    hpo_history_figure(histories, folder / FIGURES[2])
    importance_figure(histories, folder / FIGURES[3])
    return [
        "## Learning curves", "",
        "Each final run's training loss (solid) and validation loss (dashed) per epoch, as "
        "stored in `train.epochs`; the ringed point is the best epoch (the checkpoint kept).",
        "", "![learning curves](learning_curves.png)", "",
        "## ROC and precision-recall curves", "",
        "Each final run (seed) on its stored test predictions; the legend gives the area "
        "under each ROC curve and the average precision.", "",
        "![ROC and precision-recall](roc_pr.png)", "",
        "## Hyperparameter search", "",
        "The validation objective of every finished trial of each cell's study, with the best "
        "so far; then each parameter's importance (Optuna's fANOVA evaluator, seed 0).", "",
        "![HPO history](hpo_history.png)", "", *_importance_lines(histories), "",
        "![parameter importance](importance.png)", ""]
