"""The report's figures (matplotlib, Agg backend): scaling curves and calibration."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def _curve(fit: dict[str, Any], grid: np.ndarray) -> np.ndarray:
    return fit["E"] + fit["A"] * grid ** (-fit["alpha"])


def target_title(block: dict[str, Any], with_channels: bool) -> str:
    """`a20 · h1 · +1 %` (with the channel mode when the study has several)."""
    title = f"{block['tier']} · h{block['horizon']} · +{block['threshold_pct']:g} %"
    return title + (f" · {block['channels']}" if with_channels else "")


def scaling_figure(numbers: dict[str, Any], path: Path) -> None:
    """Draw `draw_scaling` into the PNG `path`."""
    _save(draw_scaling(numbers), path)


def calibration_figure(tables: dict[str, pd.DataFrame], path: Path) -> None:
    """Draw `draw_calibration` into the PNG `path`."""
    _save(draw_calibration(tables), path)


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_scaling(numbers: dict[str, Any]) -> Figure:
    """One panel per target: test log-loss against total parameter count (log x) with each
    point's joint (test dates x seeds) interval and its seeds, the fit where one was made, the
    validation log-loss as hollow markers (the selection metric, not fitted), and every
    baseline's test log-loss on the same samples as a horizontal line."""
    blocks = numbers["targets"]
    cols = min(3, max(1, len(blocks)))
    rows = math.ceil(len(blocks) / cols) if blocks else 1
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.0 * rows), squeeze=False)
    several = len(numbers.get("channel_modes", [])) > 1
    for ax, block in zip(axes.ravel(), blocks, strict=False):
        pts = block["points"]
        x = np.array([p["params"] for p in pts], dtype=float)
        y = np.array([p["metric"] for p in pts], dtype=float)
        lo = np.array([p["metric_ci95"][0] if p["metric_ci95"][0] is not None else p["metric"]
                       for p in pts], dtype=float)
        hi = np.array([p["metric_ci95"][1] if p["metric_ci95"][1] is not None else p["metric"]
                       for p in pts], dtype=float)
        ax.errorbar(x, y, yerr=[y - lo, hi - y], marker="o", capsize=3, linestyle="none",
                    label="test (mean of seeds, 95 % dates x seeds)")
        for p in pts:
            ax.scatter([p["params"]] * len(p["per_seed"]), p["per_seed"], s=8, color="grey",
                       alpha=0.6)
        chosen = [(p["params"], p["selection_metric"]) for p in pts
                  if p["selection_metric"] is not None]  # None: the study is not stored
        if chosen:
            ax.scatter(*zip(*chosen, strict=True), facecolors="none", edgecolors="black",
                       label="search objective (selection metric, not fitted)")
        if block.get("fit") and len(x):
            grid = np.geomspace(x.min(), x.max(), 50)
            fit = block["fit"]
            ax.plot(grid, _curve(fit, grid), linestyle="--",
                    label=f"fit α={fit['alpha']:.2f}")
        for k, b in enumerate(block.get("baselines", [])):
            ax.axhline(b["metric"], linestyle=":", color=f"C{k + 2}", label=b["model"])
        ax.set_xscale("log")
        ax.set_xlabel("total parameter count")
        ax.set_ylabel(f"{block['metric']} (lower is better)")
        ax.set_title(target_title(block, several))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    for ax in axes.ravel()[len(blocks):]:
        ax.set_visible(False)
    return fig


def draw_calibration(tables: dict[str, pd.DataFrame]) -> Figure:
    """Reliability curves on the test split: observed rate against mean predicted probability,
    each bin with its exact (Clopper-Pearson) 95 % interval on the observed rate; below, the
    number of test samples in each bin (how much each point rests on)."""
    fig, (ax, cnt) = plt.subplots(2, 1, figsize=(6, 7), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    top = 0.05
    for k, (name, table) in enumerate(tables.items()):
        x, y = table["mean_predicted"].to_numpy(), table["observed_rate"].to_numpy()
        err = [y - table["obs_lo"].to_numpy(), table["obs_hi"].to_numpy() - y]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, color=f"C{k}",
                    label=f"{name} (95 % exact interval)")
        cnt.plot(x, table["count"], marker="o", color=f"C{k}")
        top = max(top, float(x.max()), float(table["obs_hi"].max()))
    ax.set_xlim(0, min(1, top * 1.1))
    ax.set_ylim(0, min(1, top * 1.1))
    ax.set_ylabel("observed positive rate")
    ax.set_title("calibration (test split)")
    ax.legend(fontsize=7)
    cnt.set_xlabel("mean predicted probability")
    cnt.set_ylabel("samples in bin")
    top_count = max((int(t["count"].max()) for t in tables.values()), default=1)
    cnt.set_ylim(0, top_count * 1.2)
    cnt.grid(alpha=0.3)
    return fig
