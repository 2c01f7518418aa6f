"""The report's diagnostic figures (matplotlib, Agg): learning curves per run, ROC and
precision-recall curves per cell, HPO history and parameter importance per study. Each draws
data prepared by `fts.report.curves` / `fts.report.studies`, nothing it computes itself.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from fts.report.curves import LearningCurve, RunCurves  # noqa: E402
from fts.report.studies import StudyHistory  # noqa: E402

MAX_COLS = 3


def _grid(n: int, width: float = 4.6, height: float = 3.4, cols: int = MAX_COLS):
    cols = min(cols, max(1, n))
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _note(ax, text: str) -> None:
    """A panel that says why it has no plot."""
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8, wrap=True)


def _empty(path: Path, text: str) -> None:
    """A figure that says why there is nothing to draw (so every listed figure exists)."""
    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    _save(fig, path)


def learning_curves_figure(curves: dict[str, list[LearningCurve]], path: Path) -> None:
    """One panel per cell: each seed's train loss (solid) per epoch and, where the run
    validated, its validation loss (dashed) with the best epoch ringed. Final runs hold no
    block out (they train on train + val for a fixed epoch count): their validation loss is
    NULL, so they get no dashed line and no ring, and the last epoch is the one kept."""
    if not curves:
        _empty(path, "no epochs stored for the final runs")
        return
    fig, axes = _grid(len(curves))
    for ax, (cell, runs) in zip(axes, curves.items(), strict=False):
        for k, c in enumerate(runs):
            color = f"C{k}"
            ax.plot(c.epoch, c.train_loss, marker="o", ms=3, color=color,
                    label=f"seed {c.seed} train")
            validated = np.isfinite(c.val_loss)
            if not validated.any():
                continue  # a final run: nothing validated, nothing to ring
            ax.plot(c.epoch, c.val_loss, marker="s", ms=3, linestyle="--", color=color,
                    label=f"seed {c.seed} validation")
            best = np.flatnonzero((c.epoch == c.best_epoch) & validated)
            if best.size:
                ax.scatter(c.epoch[best], c.val_loss[best], s=80, facecolors="none",
                           edgecolors="black")
        ax.set_title(cell, fontsize=9)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    _save(fig, path)


def roc_pr_figure(curves: dict[str, list[RunCurves]], path: Path) -> None:
    """Per cell, two panels: each seed's ROC curve (with its AUC) against the diagonal, and its
    precision-recall curve (with average precision) against the positive rate."""
    if not curves:
        _empty(path, "no final run has both classes in its test split")
        return
    fig, axes = plt.subplots(len(curves), 2, figsize=(9.5, 3.8 * len(curves)), squeeze=False)
    for (roc, pr), (cell, runs) in zip(axes, curves.items(), strict=True):
        roc.plot([0, 1], [0, 1], color="grey", linestyle=":")
        for k, c in enumerate(runs):
            roc.plot(c.fpr, c.tpr, color=f"C{k}", label=f"seed {c.seed} (AUC {c.roc_auc:.3f})")
            pr.plot(c.recall, c.precision, color=f"C{k}",
                    label=f"seed {c.seed} (AP {c.average_precision:.3f})")
        pr.axhline(runs[0].positive_rate, color="grey", linestyle=":",
                   label=f"positive rate {runs[0].positive_rate:.3f}")
        roc.set(title=f"{cell}: ROC (test)", xlabel="false positive rate",
                ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1))
        pr.set(title=f"{cell}: precision-recall (test)", xlabel="recall", ylabel="precision",
               xlim=(0, 1), ylim=(0, 1))
        for ax in (roc, pr):
            ax.title.set_fontsize(9)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6)
    _save(fig, path)


def hpo_history_figure(histories: dict[str, StudyHistory | str], path: Path) -> None:
    """One panel per study: the objective of each finished trial and the best so far."""
    if not histories:
        _empty(path, "no study")
        return
    fig, axes = _grid(len(histories))
    for ax, (name, h) in zip(axes, histories.items(), strict=False):
        ax.set_title(name, fontsize=9)
        if isinstance(h, str) or h.values.size == 0:
            _note(ax, h if isinstance(h, str) else "no finished trial")
            continue
        ax.scatter(h.numbers, h.values, s=14, color="C0", label="trial objective")
        ax.step(h.numbers, h.best, where="post", color="C3", label="best so far")
        ax.set_xlabel("trial")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("validation objective" + (" (lower is better)" if h.minimize else ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    _save(fig, path)


def importance_figure(histories: dict[str, StudyHistory | str], path: Path) -> None:
    """One panel per study: fANOVA importance of each parameter, or why there is none."""
    if not histories:
        _empty(path, "no study")
        return
    fig, axes = _grid(len(histories))
    for ax, (name, h) in zip(axes, histories.items(), strict=False):
        ax.set_title(name, fontsize=9)
        if isinstance(h, str) or h.importance is None:
            _note(ax, h if isinstance(h, str) else f"no importance: {h.reason}")
            continue
        names = list(h.importance)[::-1]  # most important on top
        ax.barh(names, [h.importance[n] for n in names], color="C2")
        ax.set_xlabel("importance (fANOVA, sums to 1)")
        ax.grid(alpha=0.3, axis="x")
    _save(fig, path)
