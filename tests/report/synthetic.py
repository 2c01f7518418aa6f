"""Synthetic final runs whose expected test log-loss follows a known law L(N) = E + A N^-alpha.

Each run's per-sample log-loss is drawn directly (then turned into the probability that gives
exactly that loss for the sample's label, so the metric recomputed from predictions is the mean
of the drawn losses):

    loss[run, t] = L(N_run) + d_t + g_t (L(N_run) - E) + seed_run + e[run, t]

d_t and g_t are AR(1) date effects shared by every run (sd `date_sd` and `slope_sd`: a hard
stretch of test dates raises every size's loss, the reason the interval must resample test
dates), seed_run a seed effect (sd `seed_sd`: the reason it must resample seeds), e iid noise. Every noise term has mean 0, so the expected loss of a run of size N is L(N).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.signal import lfilter

E, A, ALPHA = 0.6, 4.0, 0.3
SIZES = np.logspace(5, 8, 5)
N_DATES = 270


def law(n: np.ndarray, e: float = E, a: float = A, alpha: float = ALPHA) -> np.ndarray:
    return e + a * np.asarray(n, dtype=float) ** (-alpha)


def ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    """Stationary AR(1) with marginal standard deviation `sd`."""
    z = rng.standard_normal(n) * math.sqrt(1.0 - phi**2)
    z[0] = rng.standard_normal()
    return sd * lfilter([1.0], [1.0, -phi], z)


def draw_runs(rng: np.random.Generator, sizes: np.ndarray = SIZES, seeds: int = 3,
              n_dates: int = N_DATES, e: float = E, a: float = A, alpha: float = ALPHA,
              date_sd: float = 0.1, y: np.ndarray | None = None, seed_sd: float = 0.005,
              slope_sd: float = 0.3):
    """(y (n,), probs (runs, n), run sizes (runs,), dates (n,)) of one synthetic target (on
    the labels `y` when given: targets of one dataset share them)."""
    run_sizes = np.repeat(np.asarray(sizes, dtype=float), seeds)
    level = law(run_sizes, e, a, alpha)
    d = ar1(rng, n_dates, 0.8, date_sd)
    g = ar1(rng, n_dates, 0.8, slope_sd)
    loss = (level[:, None] + d[None, :] + g[None, :] * (level - e)[:, None]
            + seed_sd * rng.standard_normal(run_sizes.size)[:, None]
            + 0.05 * rng.standard_normal((run_sizes.size, n_dates)))
    loss = np.clip(loss, 0.01, None)  # never reached with these scales; keeps p in (0, 1)
    if y is None:
        y = (rng.random(n_dates) < 0.3).astype(float)
    probs = np.where(y == 1, np.exp(-loss), 1.0 - np.exp(-loss))
    return y, probs, run_sizes, pd.bdate_range("2020-01-01", periods=n_dates)


HEAD = 1000  # head parameters of every synthetic run (non-head = total - HEAD)
FLOPS_PER_PARAM = 6.0


def _loss_probs(y: np.ndarray, loss: float | np.ndarray) -> np.ndarray:
    """The probabilities whose per-sample log-loss is `loss` for labels y."""
    return np.where(y == 1, np.exp(-loss), 1.0 - np.exp(-loss))


#: Validation log-loss stored with each synthetic baseline (ranked as on test by default).
BASELINE_VAL = {"class_prior": 0.62, "good": 0.32, "bad": 1.4}


def report_data(targets: dict[tuple[str, int, str], float], *, seeds: int = 3,
                prior_prob: float = 0.3, good_loss: float = 0.3, seed: int = 0,
                param_counts: bool = True, baseline_val: dict[str, float] | None = None,
                sizes: np.ndarray = SIZES):
    """A `ReportData` as `load_report_data` returns it, for synthetic targets.

    `targets` maps (tier, horizon, channel mode) to the true E of that target's law (A and
    alpha as above). Each target has one cell per size in SIZES with `seeds` final runs,
    shares its test samples with three baselines: the class prior (constant `prior_prob`),
    `good` (per-sample log-loss `good_loss`) and `bad` (per-sample log-loss 1.5), whose stored
    validation log-loss is `baseline_val` (default BASELINE_VAL). Cell i's search objective
    (its best trial's value) is 0.2 + 0.01 i, its final runs' validation log-loss 0.1 + 0.01 i.
    """
    val = BASELINE_VAL if baseline_val is None else baseline_val
    from fts.report.data import ReportData

    rng = np.random.default_rng(seed)
    cells, runs, preds, baselines = [], [], [], []
    manifests: dict[str, dict] = {}  # baseline manifest bodies: the current selection format
    labels: dict[str, np.ndarray] = {}
    for t, ((tier, horizon, channels), e) in enumerate(sorted(targets.items())):
        dataset = f"ds-{tier}-{horizon}"  # both channel modes of a tier share the dataset
        y, probs, _, dates = draw_runs(rng, sizes, seeds=seeds, e=e, y=labels.get(dataset))
        labels[dataset] = y
        frame = pd.DataFrame({"date": dates.date, "ticker": "SPY", "label": y.astype(int)})
        for i, size in enumerate(sizes):
            budget = f"B{i}"
            cell = f"{tier}:{budget}:h{horizon}:p1" + (":mixed" if channels == "mixed" else "")
            ids = []
            for s in range(seeds):
                row = i * seeds + s
                run_id = f"run-{t}-{i}-{s}"
                ids.append(run_id)
                total = int(size)
                config = {"model": {"d_model": 16 * (i + 1), "n_layers": 2, "n_heads": 2,
                                    "d_ff": 64, "patch_len": 8, "stride": 4, "dropout": 0.1,
                                    "channels": channels},
                          "train": {"lr": 1e-3, "weight_decay": 0.01, "warmup_frac": 0.05,
                                    "batch_size": 64, "pos_weight": 1.0, "seed": s},
                          "final": {"format": 2}}
                if param_counts:
                    # Mixed mode embeds all C channels at once: its embedding grows with size.
                    emb = total // 4 if channels == "mixed" else 100
                    config["param_counts"] = {"total": total, "embedding": emb,
                                              "encoder": total - HEAD - emb, "head": HEAD}
                    config["train_flops_per_sample"] = FLOPS_PER_PARAM * total
                runs.append({"run_id": run_id, "tier": tier, "budget": budget, "seed": s,
                             "n_params": total, "horizon": horizon, "threshold_pct": 1.0,
                             "dataset_id": dataset, "config": config, "cell": cell,
                             "val_metrics": {"log_loss": 0.1 + 0.01 * i},
                             "test_metrics": {"log_loss": float("nan")}})
                preds.append(frame.assign(run_id=run_id, split="test", prob=probs[row]))
            cells.append({"experiment": "synthetic", "cell": cell, "tier": tier,
                          "budget": budget, "horizon": horizon, "threshold_pct": 1.0,
                          "dataset_id": dataset, "best_trial": 2, "final_run_ids": ids,
                          "best_objective": 0.2 + 0.01 * i})
        if any(b["dataset_id"] == dataset for b in baselines):
            continue
        for model, p in (("class_prior", np.full(y.size, prior_prob)),
                         ("good", _loss_probs(y, good_loss)), ("bad", _loss_probs(y, 1.5))):
            bid = f"baseline:{dataset}:{model}"
            baselines.append({"baseline_id": bid, "experiment": "synthetic", "tier": tier,
                              "horizon": horizon, "threshold_pct": 1.0, "dataset_id": dataset,
                              "model": model, "manifest_id": f"m-{bid}",
                              "val_metrics": {"log_loss": val[model]}})
            manifests[f"m-{bid}"] = {"baseline_id": bid, "version": 2,
                                     "selection": {"format": 2}}
            preds.append(frame.assign(run_id=bid, split="test", prob=p))
    return ReportData("synthetic", pd.DataFrame(cells), pd.DataFrame(runs),
                      pd.concat(preds, ignore_index=True), pd.DataFrame(baselines), {},
                      pd.DataFrame(), manifests)
