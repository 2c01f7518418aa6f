"""One training run end to end: tier -> dataset -> architecture -> fit -> metrics -> stored run.

A run trains on a split and stops early on its validation block (a search trial's fold, or
`fts train`'s train/val), or, as a final run of a study, trains on train + val for the epoch
count and with the threshold its `FinalPlan` took from the best trial's folds (fts.train.final).

The resolved config (dataset manifest id, model config with its real parameter count, training
settings, device, micro-batch) is what trains and what is stored, in the checkpoint, the run
manifest and `train.runs`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from fts.core.errors import FtsError
from fts.core.paths import ProjectPaths
from fts.datasets import PRETEST_SPLITS, Dataset, SplitArrays, build_dataset, split_counts
from fts.features import build_tier
from fts.train.arch import select_architecture
from fts.train.cost import CostMeter
from fts.train.device import available_memory_bytes, pick_device, use_all_cores
from fts.train.estimate import (
    CannotFinish,
    Probe,
    RunEstimate,
    estimate_run,
    n_features_of,
    refusal,
)
from fts.train.loop import EpochCallback, fit, predict
from fts.train.metrics import choose_threshold, classification_metrics
from fts.train.request import RunRequest
from fts.train.store import RunRecord, store_run
from models_torch import (
    PatchTST,
    PatchTSTConfig,
    estimate_training_memory,
    format_count,
    max_batch_size,
    param_counts,
    train_flops_per_sample,
)

MEMORY_HEADROOM = 0.8  # plan for 80 % of what is free: the estimate is not the whole process


class DoesNotFit(FtsError):
    """The run's estimated memory exceeds what the device has free."""


@dataclass(frozen=True)
class Resolved:
    """The resolved pieces of a run."""

    model: PatchTSTConfig
    n_params: int
    micro_batch: int
    device: torch.device
    memory_estimate: int
    memory_available: int


def prepare_dataset(paths: ProjectPaths, request: RunRequest,
                    progress: Callable[[str], None]) -> Dataset:
    """Materialize the tier when missing or stale (saying so), then build or reuse the dataset."""
    build_tier(paths, request.tier, tickers=request.tickers, progress=progress)
    return build_dataset(paths, request.dataset_spec(), common_start=request.common_start)


def resolve(request: RunRequest, n_features: int, device: torch.device | None = None) -> Resolved:
    """Pick the architecture and the micro-batch; refuse a run that cannot fit in memory."""
    template = PatchTSTConfig(n_features=n_features, ctx_len=request.ctx_len,
                              dropout=request.dropout, **request.model_options)
    model = select_architecture(request.budget, n_features, request.ctx_len, request.arch, template)
    from models_torch import count_parameters

    device = device or pick_device(request.device)
    available = int(available_memory_bytes(device) * MEMORY_HEADROOM)
    fits = max_batch_size(model, available)
    cfg = request.train
    if fits == 0:
        need = estimate_training_memory(model, 1)
        raise DoesNotFit(
            f"a {format_count(count_parameters(model))}-parameter model needs about "
            f"{need / 2**30:.1f} GiB to train even one sample at a time; {device.type} has "
            f"{available / 2**30:.1f} GiB available (80 % of free)"
        )
    micro = cfg.micro_batch or min(cfg.batch_size, fits)
    if micro > fits:
        raise DoesNotFit(f"micro_batch {micro} needs more memory than available; at most {fits} fits")
    return Resolved(model, count_parameters(model), micro, device,
                    estimate_training_memory(model, micro), available)


def _counts_without_writing(paths: ProjectPaths, request: RunRequest) -> dict[str, int] | None:
    """Samples per split from the built tier, writing nothing; None when it is not built."""
    try:
        return split_counts(paths, request.dataset_spec(), common_start=request.common_start)
    except FtsError:
        return None


def _estimate(request: RunRequest, res: Resolved, counts: dict[str, int],
              probes: dict[PatchTSTConfig, Probe], check: bool) -> RunEstimate:
    """The run's cost estimate (one probe per architecture); with `check`, refuse a run that
    cannot finish within `request.max_hours`."""
    t = request.train
    train, val, epochs = counts.get("train"), counts.get("val"), t.max_epochs
    if request.final is not None:  # trains on train + val for its plan's epochs, validates none
        train = None if train is None or val is None else train + val
        val, epochs = 0, request.final.epochs
    est = estimate_run(res.model, batch_size=t.batch_size, max_epochs=epochs,
                       max_train_batches=t.max_train_batches, train_samples=train,
                       val_samples=val, device=res.device,
                       available=res.memory_available, micro_batch=res.micro_batch,
                       known=probes.get(res.model))
    if est.seconds_per_sample is not None:
        probes[res.model] = Probe(est.seconds_per_sample, est.how)
    if check and request.max_hours is not None:
        reason = refusal("this run", est, est.run_hours, request.max_hours)
        if reason:
            raise CannotFinish(reason)
    return est


def run_training(
    paths: ProjectPaths, request: RunRequest, *, dataset: Dataset | None = None,
    progress: Callable[[str], None] = lambda _: None, on_epoch: EpochCallback | None = None,
) -> RunRecord:
    """Train, evaluate at the best epoch, and store the run. Returns the stored record."""
    device = pick_device(request.device)  # a bad device fails before a tier is built
    use_all_cores()
    probes: dict[PatchTSTConfig, Probe] = {}
    if dataset is None and request.max_hours is not None:
        # Refuse before anything is written, when the built tier can count the samples.
        counts = _counts_without_writing(paths, request)
        if counts is not None:
            n = n_features_of(paths, request.tier)
            _estimate(request, resolve(request, n, device), counts, probes, check=True)
    dataset = dataset or prepare_dataset(paths, request, progress)
    if dataset.spec.horizon != request.horizon or dataset.spec.threshold_pct != request.threshold_pct:
        raise FtsError(f"dataset {dataset.id[:12]} is for h={dataset.spec.horizon}, "
                       f"p={dataset.spec.threshold_pct}; the run asked h={request.horizon}, "
                       f"p={request.threshold_pct}")
    if dataset.spec.normalization != request.normalization:  # the model's RevIN follows it
        raise FtsError(f"dataset {dataset.id[:12]} is normalised {dataset.spec.normalization!r}; "
                       f"the run asked {request.normalization!r}")
    if request.final is None and request.fold is None:
        check_single_run_positives(dataset, request.min_val_positives)
    res = resolve(request, len(dataset.feature_names), device)
    estimate = _estimate(request, res, dataset.counts, probes,
                         check=request.max_hours is not None)
    torch.manual_seed(request.train.seed)
    model = PatchTST(res.model)
    real = sum(p.numel() for p in model.parameters())
    progress(f"training {format_count(real)} params (d_model {res.model.d_model}, "
             f"{res.model.n_layers} layers, {res.model.n_heads} heads) on {res.device.type}, "
             f"micro-batch {res.micro_batch}")
    plan = request.final
    val_name: str | None = None
    val: SplitArrays | None = None
    if plan is None:
        train_name, val_name = fold_splits(dataset, request.fold)
        train, val = dataset.split(train_name), dataset.split(val_name)
    else:  # every sample before the test region; nothing is held out to stop on
        train_name, train = "+".join(PRETEST_SPLITS), dataset.union(PRETEST_SPLITS)
        progress(f"final run: {plan.epochs} epochs (median of the folds' best, "
                 f"{[b + 1 for b in plan.fold_best_epochs]}) on {train_name}, threshold "
                 f"{plan.threshold:.4f} from the pooled fold validation")

    last = [time.perf_counter()]

    def report(epoch: int, metrics: dict[str, Any]) -> None:
        now = time.perf_counter()
        val_loss = metrics["val_loss"]
        progress(f"  epoch {epoch:3d}  train {metrics['train_loss']:.4f}  val "
                 f"{'-' if val_loss is None else f'{val_loss:.4f}'}  {now - last[0]:.1f} s")
        last[0] = now
        if on_epoch is not None:
            on_epoch(epoch, metrics)

    with CostMeter(res.device) as meter:
        result = fit(model, request.train, train, val, res.device, res.micro_batch,
                     on_epoch=report, epochs=None if plan is None else plan.epochs)
    # Predicted as the loop validated (bf16 or not): the reported val log-loss is then the very
    # loss that chose the best epoch, and the HPO objective is what early stopping saw.
    bf16 = request.train.bf16
    predictions: dict[str, Any] = {}
    if plan is None:
        assert val is not None and val_name is not None
        p_val = predict(model, val, res.device, bf16=bf16)
        threshold = choose_threshold(val.labels, p_val)
        val_metrics = classification_metrics(val.labels, p_val, threshold)
        predictions[val_name] = _prediction_frame(dataset, val_name, p_val)
    else:  # the selection data's numbers: the best trial's pooled fold validation
        threshold, val_metrics = plan.threshold, dict(plan.selection_metrics)
    test_metrics: dict[str, Any] | None = None
    if request.evaluate_test:
        test = dataset.split("test")
        p_test = predict(model, test, res.device, bf16=bf16)
        test_metrics = classification_metrics(test.labels, p_test, threshold)
        predictions["test"] = _prediction_frame(dataset, "test", p_test)
    resolved_config = {
        "dataset": {"manifest_id": dataset.id, **dataset.spec.to_dict()},
        "model": res.model.to_dict(),
        "n_params": real,
        # The parameter and compute axes of a scaling study (the report fits against them).
        "param_counts": param_counts(model),
        "train_flops_per_sample": train_flops_per_sample(res.model),
        "budget": request.budget,
        "train": request.train.to_dict(),
        "train_samples": len(train.labels),  # a final run's: train + val
        "device": res.device.type,
        "micro_batch": res.micro_batch,
        "memory_estimate_bytes": res.memory_estimate,
        # What the run was expected to cost when it started (fts.train.estimate).
        "estimate": {"seconds_per_sample": estimate.seconds_per_sample,
                     "seconds_per_epoch": estimate.seconds_per_epoch,
                     "memory_bytes": estimate.memory_bytes, "how": estimate.how,
                     # the samples and epochs it was estimated on (a final run: train + val)
                     "train_samples": estimate.train_samples,
                     "val_samples": estimate.val_samples, "epochs": estimate.max_epochs},
        # ... and what it really cost, measured while it trained (fts.train.cost).
        "cost": {**meter.result, "epoch_seconds": [h["seconds"] for h in result.history]},
    }
    if request.fold is not None:  # a selection model of one walk-forward fold
        resolved_config["fold"] = {"index": request.fold, "train": train_name, "val": val_name}
    if plan is not None:  # how its epoch count and threshold were derived (fts.train.final)
        resolved_config["final"] = {**plan.to_dict(), **_schedule_record(request, result)}
    record = store_run(paths, request, dataset, model, resolved_config, result, val_metrics,
                       test_metrics, predictions)
    # A final run has no best epoch: it trains the planned count and keeps the last weights.
    epochs = (f"best epoch {result.best_epoch} of {result.epochs_run}" if plan is None else
              f"{result.epochs_run} epochs as planned (no early stopping)")
    selection = "val" if plan is None else "pooled fold-val"
    progress(f"{epochs}: {selection} log-loss "
             f"{val_metrics['log_loss']:.4f}, AUC {_fmt(val_metrics['roc_auc'])}; run {record.run_id[:12]}")
    return record


def check_single_run_positives(dataset: Dataset, minimum: int) -> None:
    """Refuse a run on `val` alone (no fold, no final plan) whose `val` has fewer than `minimum`
    positives. The dataset's own rule counts the validation blocks of all its folds: the data
    a fold search chooses on, not a single run, which stops and thresholds on `val` only."""
    if not dataset.folds or minimum <= 0:
        return  # without folds the dataset's rule already counted `val`
    positives = dataset.positives.get("val", 0)
    if positives < minimum:
        raise FtsError(
            f"dataset {dataset.id[:12]}: a single run early-stops and picks its threshold on "
            f"'val' alone, which has {positives} positive labels, fewer than min_val_positives "
            f"{minimum}; train on a split without folds (the default) or train on the folds "
            f"(`fts hpo`)")


def _schedule_record(request: RunRequest, result: Any) -> dict[str, Any]:
    """Where a final run left its learning-rate schedule. It takes more optimizer steps per
    epoch than its fold runs (train + val) and stops after `epochs` of the `max_epochs` the
    cosine spans, so it ends above the schedule's floor: recorded, not hidden."""
    t = request.train
    per_epoch = result.optimizer_steps // max(result.epochs_run, 1)
    return {"optimizer_steps": result.optimizer_steps, "steps_per_epoch": per_epoch,
            "lr_schedule_steps": per_epoch * t.max_epochs,
            "final_lr": result.history[-1]["lr"] if result.history else None}


def fold_splits(dataset: Dataset, fold: int | None) -> tuple[str, str]:
    """The (train, val) split names a run trains and stops on: fold `fold`'s, or train/val."""
    if fold is None:
        return "train", "val"
    folds = dataset.folds
    if not 0 <= fold < len(folds):
        raise FtsError(f"dataset {dataset.id[:12]} has {len(folds)} walk-forward folds; "
                       f"fold {fold} does not exist")
    return folds[fold]


def _prediction_frame(dataset: Dataset, split: str, probs: Any) -> Any:
    """dates, tickers, labels and probabilities of one split, in sample order."""
    import pandas as pd

    arrays = dataset.split(split)
    return pd.DataFrame({"date": pd.to_datetime(arrays.dates).date,
                         "ticker": dataset.sample_tickers(split), "label": arrays.labels,
                         "prob": probs})


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"
