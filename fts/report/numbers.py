"""The report's numbers, one block per target: what `fts report NAME --json` prints and what
report.md and scaling.png are drawn from.

A target is (tier, horizon, threshold_pct, channel mode): runs of different targets predict
different things (base rates differ by horizon and threshold) or are different models (channel
mode), so nothing is pooled across targets. Per target:

* `points`: one per cell (budget): its parameter axes (total; non-head = total - head; encoder,
  embedding and head, from the run config's `param_counts`), training FLOPs per sample, seeds,
  the test metric (mean over seeds of each final run's metric, recomputed from its stored test
  predictions) with its joint (test dates x seeds) interval, the selection metric (the
  objective of the search's best trial, the fold-mean validation log-loss that chose the cell:
  shown, never fitted), and the cell's chosen architecture and training settings;
* `fit` / `fit_nonhead` / `fit_encoder`: L(N) = E + A N^-alpha of the test metric against
  total, non-head and encoder parameters (in mixed channel mode the embedding grows with the
  feature count, so only the encoder axis is free of it), with the joint bootstrap's intervals
  (`fts.report.joint`), or null with a `reason`;
* `baselines` and `baseline_tests`: each baseline's test and validation metric on the same
  samples, and every cell against the class prior and every non-prior baseline (the one best
  on validation is the headline, role "best baseline"; the rest "other baseline") on the mean
  over seeds of the per-run differences (`fts.report.yardstick`), Holm-adjusted over the whole
  report.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from fts.report.bootstrap import expanded_tail, get_metric, jsonable
from fts.report.data import ReportData
from fts.report.formats import BASELINE_FORMAT, baseline_format, final_format, format_caveats
from fts.report.joint import BLOCK_LEN, JointPoints, covers_text, joint_fit, joint_points
from fts.report.yardstick import (
    PRIOR,
    BaselineTest,
    adjust,
    best_baseline,
    seed_date_tests,
    summary,
)
from fts.train.final import FINAL_FORMAT

METRIC = "log_loss"
DEFAULT_CHANNELS = "independent"
TARGET_KEYS = ("tier", "horizon", "threshold_pct", "channels")
#: Model settings a cell's search chose (the rest are fixed by the tier and the study).
ARCH_KEYS = ("d_model", "n_layers", "n_heads", "d_ff", "patch_len", "stride", "dropout",
             "channels")
TRAIN_KEYS = ("lr", "weight_decay", "warmup_frac", "batch_size", "pos_weight")
#: Replicates of the joint bootstrap: each refits every fit (~10-40 ms a refit on a busy CPU).
JOINT_N_BOOT = 300


def channels_of(config: dict[str, Any]) -> str:
    """A run's channel mode; runs stored before channel modes existed were independent."""
    return str(config.get("model", {}).get("channels", DEFAULT_CHANNELS))


def param_axes(config: dict[str, Any], n_params: int) -> dict[str, Any]:
    """A run's parameter and compute axes from its resolved config (None where not stored)."""
    counts = config.get("param_counts")
    flops = config.get("train_flops_per_sample")
    if not isinstance(counts, dict) or "head" not in counts:
        return {"params": int(n_params), "nonhead_params": None, "encoder_params": None,
                "head_params": None, "embedding_params": None,
                "train_flops_per_sample": flops}
    total = int(counts.get("total", n_params))
    return {"params": total, "nonhead_params": total - int(counts["head"]),
            "encoder_params": counts.get("encoder"), "head_params": int(counts["head"]),
            "embedding_params": counts.get("embedding"), "train_flops_per_sample": flops}


def cells_with_channels(data: ReportData) -> pd.DataFrame:
    """experiments.cells with each cell's channel mode (from its final runs' configs)."""
    mode = data.runs.groupby("cell")["config"].agg(lambda cs: channels_of(cs.iloc[0]))
    cells = data.cells.copy()
    cells["channels"] = cells["cell"].map(mode).fillna(DEFAULT_CHANNELS)
    return cells


def cell_ensembles(data: ReportData, split: str = "test") -> dict[str, pd.DataFrame]:
    """Per cell, the seed-mean probability of each sample (date, ticker, label, prob)."""
    preds = data.predictions[data.predictions["split"] == split]
    out = {}
    for cell, runs in data.runs.groupby("cell"):
        rows = preds[preds["run_id"].isin(runs["run_id"])]
        out[cell] = rows.groupby(["date", "ticker"], as_index=False).agg(
            label=("label", "first"), prob=("prob", "mean"))
    return out


def baseline_frames(data: ReportData, split: str = "test") -> dict[str, pd.DataFrame]:
    """Per stored baseline id, its predictions (date, ticker, label, prob)."""
    preds = data.predictions[data.predictions["split"] == split]
    return {bid: rows[["date", "ticker", "label", "prob"]].reset_index(drop=True)
            for bid, rows in preds[preds["run_id"].isin(data.baselines["baseline_id"])]
            .groupby("run_id")}


def _aligned(data: ReportData, runs: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The test samples every run of a target has, in (date, ticker) order, and each run's
    probabilities of them (runs x samples)."""
    preds = data.predictions[(data.predictions["split"] == "test")
                             & data.predictions["run_id"].isin(runs["run_id"])]
    wide = preds.pivot_table(index=["date", "ticker"], columns="run_id", values="prob",
                             aggfunc="first")
    wide = wide.reindex(columns=runs["run_id"]).dropna()
    labels = preds.groupby(["date", "ticker"])["label"].first().reindex(wide.index)
    samples = wide.index.to_frame(index=False).assign(label=labels.to_numpy().astype(float))
    return samples, wide.to_numpy().T


def _settings(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    model, train = config.get("model", {}), config.get("train", {})
    arch = {k: model.get(k, DEFAULT_CHANNELS if k == "channels" else None) for k in ARCH_KEYS}
    return arch, {k: train.get(k) for k in TRAIN_KEYS}


def _points(cells: pd.DataFrame, runs: pd.DataFrame, pts: JointPoints) -> list[dict[str, Any]]:
    out = []
    for c in cells.itertuples():
        mine = np.flatnonzero((runs["cell"] == c.cell).to_numpy())
        if mine.size == 0:
            continue
        first = runs.iloc[mine[0]]
        vals = pts.run_values[mine]
        best = getattr(c, "best_objective", None)
        lo, hi = _tail_bounds(pts.replicates[:, mine].mean(axis=1), pts)
        arch, settings = _settings(first["config"])
        out.append({
            "cell": c.cell, "budget": c.budget, **param_axes(first["config"], first["n_params"]),
            "seeds": [int(s) for s in runs["seed"].iloc[mine]],
            "metric": float(vals.mean()), "metric_ci95": [lo, hi],
            "metric_sd": float(vals.std(ddof=1)) if vals.size > 1 else None,
            "per_seed": [float(v) for v in vals],
            # What chose the cell: the search's best objective (fold-mean validation log-loss),
            # not the final runs' stored val_metrics: those are the pooled fold-validation
            # metrics of the best trial's fold runs (a final run holds no block out), the same
            # for every seed; kept beside it as final_val_metric, never a held-out score.
            "selection_metric": _mean_of([best]),
            "final_val_metric": _mean_of(m.get(METRIC) for m in runs["val_metrics"].iloc[mine]),
            # 1 where a run lacks config.final (early-stopped on the last validation block).
            "final_format": min(final_format(cfg) for cfg in runs["config"].iloc[mine]),
            "best_trial": int(c.best_trial) if c.best_trial == c.best_trial else None,
            "architecture": arch, "settings": settings})
    return out


def _mean_of(values: Any) -> float | None:
    """Mean of the values that are numbers (None when there is none)."""
    nums = [float(v) for v in values if isinstance(v, int | float) and v == v]
    return float(np.mean(nums)) if nums else None


def _tail_bounds(values: np.ndarray, pts: JointPoints) -> tuple[float, float]:
    """Expanded percentile bounds of a point's replicates (as the fit's intervals)."""
    tail = expanded_tail(pts.level, pts.n_blocks)
    lo, hi = np.nanquantile(values, [tail, 1 - tail])
    return float(lo), float(hi)


#: The size axes fitted besides total parameters: (key suffix, param_axes key, words).
AXES = (("nonhead", "nonhead_params", "non-head parameters (total - head)"),
        ("encoder", "encoder_params", "encoder parameters"))


def _fits(runs: pd.DataFrame, pts: JointPoints, seed: int) -> dict[str, Any]:
    """`fit` against total parameters, `fit_nonhead` against total - head and `fit_encoder`
    against the encoder alone (each when stored)."""
    axes = [param_axes(c, n) for c, n in zip(runs["config"], runs["n_params"], strict=True)]
    total = joint_fit(pts, [a["params"] for a in axes], seed=seed).to_dict()
    out = {"fit": total["fit"], "reason": total["reason"]}
    for suffix, key, _ in AXES:
        if any(a[key] is None for a in axes):
            out.update({f"fit_{suffix}": None, f"reason_{suffix}": (
                "runs without `param_counts` in their config (stored before parameter counts "
                "were recorded): fitted on total parameters (n_params) only")})
            continue
        fit = joint_fit(pts, [a[key] for a in axes], seed=seed).to_dict()
        out.update({f"fit_{suffix}": fit["fit"], f"reason_{suffix}": fit["reason"]})
    return out


def _baseline_levels(data: ReportData, cells: pd.DataFrame, samples: pd.DataFrame,
                     bframes: dict[str, pd.DataFrame]) -> dict[str, dict[str, Any]]:
    """Per baseline model of the target: its probabilities on the target's test samples (NaN
    where it has none), its test metric there and its stored validation metric."""
    first = cells.iloc[0]
    mine = data.baselines[(data.baselines["tier"] == first["tier"])
                          & (data.baselines["horizon"] == first["horizon"])
                          & (data.baselines["threshold_pct"] == first["threshold_pct"])
                          & data.baselines["dataset_id"].isin(cells["dataset_id"])]
    keys = samples[["date", "ticker"]]
    m = get_metric(METRIC)
    out = {}
    for b in mine.itertuples():
        if b.baseline_id not in bframes:
            continue
        probs = keys.merge(bframes[b.baseline_id][["date", "ticker", "prob"]],
                           on=["date", "ticker"], how="left")["prob"].to_numpy(dtype=float)
        has = ~np.isnan(probs)
        val = b.val_metrics if isinstance(getattr(b, "val_metrics", None), dict) else {}
        body = data.baseline_manifests.get(getattr(b, "manifest_id", None) or "")
        out[b.model] = {"probs": probs, "has": has, "n_samples": int(has.sum()),
                        "format": baseline_format(body),
                        "metric": m(samples["label"][has], probs[has]) if has.any() else None,
                        "selection_metric": _mean_of([val.get(METRIC)])}
    return out


def _baseline_tests(runs: pd.DataFrame, samples: pd.DataFrame, probs: np.ndarray,
                    levels: dict[str, dict[str, Any]], *, n_boot: int, seed: int,
                    block_len: int) -> tuple[str | None, list[BaselineTest]]:
    """The best baseline (on validation) and every cell against the class prior and EVERY
    non-prior baseline, on the samples each baseline has, on the same date resamples as the
    runs. Testing all of them (Holm covers the family) rather than only the chosen one keeps
    the choice out of the test: boosting's validation log-loss is a minimum over tree counts on
    the same fold predictions that rank it, which tilts the choice towards it. The best
    baseline is the headline; the others are tested as "other baseline"."""
    best = best_baseline({k: v["selection_metric"] for k, v in levels.items()}, METRIC)
    tests: list[BaselineTest] = []
    roles = [(PRIOR, "class prior")] + [
        (name, "best baseline" if name == best else "other baseline")
        for name in sorted(levels, key=lambda n: (n != best, n)) if name != PRIOR]
    for name, role in roles:
        if name not in levels or not levels[name]["has"].any():
            continue
        has = levels[name]["has"]
        tests += seed_date_tests(samples["label"].to_numpy()[has], samples["date"].to_numpy()[has],
                                 probs[:, has], runs["cell"].to_numpy(), name, role,
                                 levels[name]["probs"][has], METRIC, n_boot=n_boot,
                                 block_len=block_len, seed=seed)
    order = {c: i for i, c in enumerate(runs["cell"].unique())}
    return best, sorted(tests, key=lambda t: order[t.cell])  # stable: prior first per cell


def _format_flags(block: dict[str, Any]) -> dict[str, Any]:
    """`old_format` (cells whose final runs lack config.final, baselines of an older selection
    format or with no manifest) and `caveats`, the same in words (`fts.report.formats`)."""
    cells = sorted(p["cell"] for p in block["points"] if p["final_format"] < FINAL_FORMAT)
    old = sorted(b["model"] for b in block["baselines"]
                 if b["format"] is not None and b["format"] < BASELINE_FORMAT)
    unknown = sorted(b["model"] for b in block["baselines"] if b["format"] is None)
    return {"old_format": {"final_runs": cells, "baselines": old,
                           "baselines_without_manifest": unknown},
            "caveats": format_caveats(cells, old, unknown)}


def target_numbers(data: ReportData, cells: pd.DataFrame, bframes: dict[str, pd.DataFrame], *,
                   n_boot: int, n_boot_joint: int, seed: int,
                   block_len: int) -> tuple[dict[str, Any], list[BaselineTest]]:
    """One target's block (without Holm, which needs the whole report's family)."""
    first = cells.iloc[0]
    runs = data.runs[data.runs["cell"].isin(cells["cell"])].sort_values(["cell", "seed"])
    runs = runs.reset_index(drop=True)
    samples, probs = _aligned(data, runs)
    block: dict[str, Any] = {
        "tier": first["tier"], "horizon": int(first["horizon"]),
        "threshold_pct": float(first["threshold_pct"]), "channels": first["channels"],
        "metric": METRIC, "test_samples": len(samples),
        "test_dates": int(samples["date"].nunique()) if len(samples) else 0,
        "interval_covers": covers_text(block_len)}
    if samples.empty:
        block.update(points=[], fit=None, reason="no test sample is shared by the target's runs",
                     baselines=[], best_baseline=None, caveats=[],
                     old_format={"final_runs": [], "baselines": [],
                                 "baselines_without_manifest": []})
        block.update({f"{k}_{s}": None if k == "fit" else "no test sample"
                      for s, _, _ in AXES for k in ("fit", "reason")})
        return block, []
    # Seeds grouped by cell: two cells with equal parameter counts are still two models.
    pts = joint_points(samples["label"], probs, samples["date"], runs["cell"], METRIC,
                       n_boot=n_boot_joint, block_len=block_len, seed=seed)
    block["points"] = sorted(_points(cells, runs, pts), key=lambda p: (p["params"], p["cell"]))
    block.update(_fits(runs, pts, seed))
    block["param_counts_stored"] = block["reason_nonhead"] is None or not str(
        block["reason_nonhead"]).startswith("runs without")
    levels = _baseline_levels(data, cells, samples, bframes)
    block["baselines"] = [{"model": k, "metric": v["metric"], "n_samples": v["n_samples"],
                           "selection_metric": v["selection_metric"], "format": v["format"]}
                          for k, v in levels.items()]
    block.update(_format_flags(block))
    best, tests = _baseline_tests(runs, samples, probs, levels, n_boot=n_boot, seed=seed,
                                  block_len=block_len)
    block["best_baseline"] = best
    return block, tests


def report_numbers(data: ReportData, *, n_boot: int = 500, n_boot_joint: int = JOINT_N_BOOT,
                   seed: int = 0, block_len: int = BLOCK_LEN,
                   progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Every target's block, the baseline tests Holm-adjusted over the whole report, and the
    summary in words. Plain JSON (NaN -> null). `n_boot` joint (dates x seeds) resamples per
    baseline test, `n_boot_joint` replicates of the fits' joint bootstrap (each refits every
    fit: the slow part)."""
    cells = cells_with_channels(data)
    bframes = baseline_frames(data)
    blocks, tests, owner = [], [], []
    for _, group in cells.groupby(list(TARGET_KEYS), sort=True):
        block, mine = target_numbers(data, group, bframes, n_boot=n_boot,
                                     n_boot_joint=n_boot_joint, seed=seed, block_len=block_len)
        blocks.append(block)
        tests += mine
        fit = block.get("fit")
        progress(f"  {block['tier']} h{block['horizon']} p{block['threshold_pct']:g} "
                 f"{block['channels']}: {len(block.get('points', []))} point(s), "
                 + (f"alpha {fit['alpha']:.3f}" if fit else f"no fit ({block.get('reason')})"))
        owner += [len(blocks) - 1] * len(mine)
    tests = adjust(tests)
    for block in blocks:
        block["baseline_tests"] = []
    for i, t in zip(owner, tests, strict=True):
        blocks[i]["baseline_tests"].append(t.to_dict())
    for i, block in enumerate(blocks):  # in words, per target (Holm still over the family)
        block["summary"] = summary([t for j, t in zip(owner, tests, strict=True) if j == i],
                                   family=len(tests))
    modes = sorted(cells["channels"].unique())
    return jsonable({
        "experiment": data.experiment, "metric": METRIC, "channel_modes": modes,
        "n_boot": n_boot, "n_boot_joint": n_boot_joint, "block_len": block_len, "targets": blocks,
        "baseline_family": {"n_tests": len(tests), "correction": "holm", "alpha": 0.05},
        "summary": summary(tests),
        # Any target mixing in results selected the older way (its caveats say which).
        "old_format": any(b["caveats"] for b in blocks),
        "caveats": [f"{b['tier']} h{b['horizon']} p{b['threshold_pct']:g} {b['channels']}: {c}"
                    for b in blocks for c in b["caveats"]]})


def fmt_interval(ci: Any, digits: int = 4) -> str:
    """`[lo, hi]`, or `(no interval)` when a bound is missing."""
    if not ci or any(v is None or (isinstance(v, float) and math.isnan(v)) for v in ci):
        return "(no interval)"
    return f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"
