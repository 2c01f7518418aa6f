"""The training loop: AdamW, warm-up + cosine, clipping, accumulation, early stopping on the
validation loss, and the best epoch's weights restored before anything is reported.

It knows nothing about warehouses or studies: it takes a model, a `TrainConfig` and arrays.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from fts.core.errors import FtsError
from fts.train.config import TrainConfig
from fts.train.metrics import log_loss_safe
from fts.train.schedule import lr_at


class TrainingDiverged(FtsError):
    """The loss became NaN or infinite; the run is failed, never given a made-up value."""


class SplitArrays(Protocol):
    """One split: `windows[idx]` gives a (len(idx), ctx, F) batch; `labels` are 0/1 (n,)."""

    @property
    def windows(self) -> Any: ...

    @property
    def labels(self) -> np.ndarray: ...


@dataclass
class FitResult:
    """Per-epoch history and the best epoch (whose weights the model now holds)."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_val_loss: float = math.inf
    epochs_run: int = 0
    optimizer_steps: int = 0
    seconds: float = 0.0
    micro_batch: int = 0


EpochCallback = Callable[[int, dict[str, float]], None]


def seed_everything(seed: int) -> np.random.Generator:
    """Seed torch (all devices) and return the numpy generator that orders the data."""
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    # Decoupled decay on weight matrices only: biases, norms, RevIN affine and positional
    # tables are not shrunk towards zero (as in nanoGPT and most transformer recipes).
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        positional = name.rsplit(".", 1)[-1] == "pos"  # a 2-D table, but not a weight matrix
        (decay if p.dim() >= 2 and not positional else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def _to_tensor(windows: np.ndarray, idx: np.ndarray, device: torch.device) -> torch.Tensor:
    # Fancy indexing a strided view copies just this batch, never the whole split.
    batch = np.ascontiguousarray(windows[idx], dtype=np.float32)
    return torch.from_numpy(batch).to(device, non_blocking=True)


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the model's weights and buffers in host memory.

    Kept off the device: a copy on the GPU would hold one more parameter-sized buffer through
    every later training step, which the memory estimate (one step's peak) does not count.
    """
    state = model.state_dict()  # a fresh dict; its `_metadata` (module versions) is kept
    for key, value in state.items():
        state[key] = value.detach().to("cpu", copy=True)
    return state


def make_optimizer(model: nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW over the model's parameter groups; on CUDA the fused kernel (one launch per step
    instead of several per parameter group, which bounds small models' steps on a GPU)."""
    return torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr,
                             betas=(0.9, 0.95), fused=device.type == "cuda" or None)


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@torch.no_grad()
def predict(model: nn.Module, split: SplitArrays, device: torch.device, batch: int = 512,
            bf16: bool = False) -> np.ndarray:
    """Probabilities for every sample of a split, in order."""
    model.eval()
    n = len(split.labels)
    out = np.empty(n, dtype=np.float64)
    for start in range(0, n, batch):
        idx = np.arange(start, min(start + batch, n))
        with _autocast(device, bf16):
            logits = model(_to_tensor(split.windows, idx, device))
        out[idx] = torch.sigmoid(logits.float()).cpu().numpy()
    return out


def _validation_loss(model: nn.Module, val: SplitArrays, device: torch.device, bf16: bool,
                     epoch: int) -> float:
    loss = log_loss_safe(val.labels, predict(model, val, device, bf16=bf16))
    if not math.isfinite(loss):
        raise TrainingDiverged(f"validation loss became {loss} at epoch {epoch}")
    return loss


def fit(
    model: nn.Module, cfg: TrainConfig, train: SplitArrays, val: SplitArrays | None,
    device: torch.device, micro_batch: int, on_epoch: EpochCallback | None = None,
    epochs: int | None = None,
) -> FitResult:
    """Train `model` in place; return the history. The model ends with its best epoch's weights.

    With `val` None (a final run: no block is held out to stop on) it trains exactly `epochs`
    epochs, without early stopping, and ends with the last epoch's weights; the learning-rate
    schedule still spans `cfg.max_epochs`, so epoch e has the learning rate that epoch e of the
    early-stopped runs the epoch count came from had. Its history's `val_loss` is None.

    `micro_batch` is the largest forward pass memory allows (from the caller's estimate); the
    pass is `cfg.micro_batch` when set, never more than that or `cfg.batch_size`. Gradients of
    the micro-batches of one optimizer step are accumulated with weights so the step equals a
    full-batch step.
    `on_epoch(epoch, metrics)` may raise to stop (the HPO pruner does).
    """
    if (val is None) != (epochs is not None) or epochs is not None and not (
            1 <= epochs <= cfg.max_epochs):
        raise FtsError(f"fit takes a validation split or a fixed epoch count (1..max_epochs "
                       f"{cfg.max_epochs}), not both or neither; got epochs {epochs}")
    started = time.perf_counter()
    rng = seed_everything(cfg.seed)
    model.to(device)
    optimizer = make_optimizer(model, cfg, device)
    y_train = train.labels.astype(np.float32)
    n_pos = float(y_train.sum())
    pos_weight = cfg.pos_weight or ((len(y_train) - n_pos) / max(n_pos, 1.0))
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, device=device))
    micro = max(1, min(cfg.micro_batch or micro_batch, micro_batch, cfg.batch_size))
    n_train = len(train.labels)
    steps_per_epoch = math.ceil(n_train / cfg.batch_size)
    if cfg.max_train_batches:
        steps_per_epoch = min(steps_per_epoch, cfg.max_train_batches)
    total_steps = steps_per_epoch * cfg.max_epochs
    result = FitResult(micro_batch=micro)
    best_state: dict[str, torch.Tensor] | None = None
    stale = 0
    step = 0
    for epoch in range(cfg.max_epochs if epochs is None else epochs):
        epoch_started = time.perf_counter()
        model.train()
        order = rng.permutation(n_train)
        # Summed on the device: reading a loss back every step would stall a GPU.
        running = torch.zeros((), device=device)
        seen = 0
        for s in range(steps_per_epoch):
            idx = order[s * cfg.batch_size:(s + 1) * cfg.batch_size]
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total_steps, cfg.lr, cfg.warmup_frac, cfg.min_lr_ratio)
            optimizer.zero_grad(set_to_none=True)
            for m0 in range(0, len(idx), micro):
                chunk = idx[m0:m0 + micro]
                x = _to_tensor(train.windows, chunk, device)
                y = torch.from_numpy(y_train[chunk]).to(device)
                with _autocast(device, cfg.bf16):
                    logits = model(x)
                loss = loss_fn(logits.float(), y)
                (loss * (len(chunk) / len(idx))).backward()
                running += loss.detach() * len(chunk)
                seen += len(chunk)
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            step += 1
        train_loss = float(running) / max(seen, 1)
        if not math.isfinite(train_loss):
            # Checked once per epoch (a NaN step poisons the sum), never per step on a GPU.
            raise TrainingDiverged(f"training loss became {train_loss} in epoch {epoch}; "
                                   "try a lower learning rate")
        val_loss = None if val is None else _validation_loss(model, val, device, cfg.bf16, epoch)
        metrics = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                   "lr": optimizer.param_groups[0]["lr"],
                   "seconds": time.perf_counter() - epoch_started}  # training + validation
        result.history.append(metrics)
        result.epochs_run = epoch + 1
        if val_loss is None:  # a fixed epoch count: the weights are the last epoch's
            result.best_epoch = epoch
        elif val_loss < result.best_val_loss:
            result.best_val_loss, result.best_epoch, stale = val_loss, epoch, 0
            best_state = _snapshot(model)
        else:
            stale += 1
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        if stale >= cfg.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    result.optimizer_steps = step
    result.seconds = time.perf_counter() - started
    return result
