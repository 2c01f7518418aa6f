"""The report's figures (matplotlib, Agg backend): scaling curves and calibration."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from fts.report.scaling import PowerLawFit  # noqa: E402


def scaling_figure(points: pd.DataFrame, fits: dict[str, PowerLawFit], path: Path) -> None:
    """Validation and test log-loss against real parameter count (log x), per tier, with the
    spread over seeds as error bars and each tier's power-law fit where one was made."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, split in zip(axes, ("val", "test"), strict=True):
        for tier, group in points.groupby("tier"):
            stats = group.groupby("n_params")[f"{split}_log_loss"].agg(["mean", "std", "count"])
            ax.errorbar(stats.index, stats["mean"], yerr=stats["std"].fillna(0), marker="o",
                        capsize=3, label=f"{tier} (mean ± sd over seeds)")
            fit = fits.get(f"{tier}:{split}")
            if fit is not None and fit.ok:
                grid = np.geomspace(stats.index.min(), stats.index.max(), 50)
                ax.plot(grid, fit.predict(grid), linestyle="--", alpha=0.7,
                        label=f"{tier} fit α={fit.alpha:.2f}")
        ax.set_xscale("log")
        ax.set_xlabel("real parameter count")
        ax.set_title(f"{split} log-loss")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("log-loss (lower is better)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def calibration_figure(tables: dict[str, pd.DataFrame], path: Path) -> None:
    """Reliability curves on the test split: observed rate against mean predicted probability."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    top = 0.05
    for name, table in tables.items():
        ax.plot(table["mean_predicted"], table["observed_rate"], marker="o", label=name)
        top = max(top, float(table["mean_predicted"].max()), float(table["observed_rate"].max()))
    ax.set_xlim(0, min(1, top * 1.1))
    ax.set_ylim(0, min(1, top * 1.1))
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed positive rate")
    ax.set_title("calibration (test split)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
