"""`TrainConfig`: every setting that changes a training run, and nothing that does not."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from fts.core.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. Each one is used by the loop (a test proves it changes the run)."""

    lr: float = 3e-4  # peak learning rate of AdamW, reached after the warm-up
    weight_decay: float = 0.05  # decoupled (AdamW) weight decay on matrices, not on norms/biases
    warmup_frac: float = 0.05  # share of the optimizer steps spent ramping the lr up linearly
    min_lr_ratio: float = 0.1  # cosine decay ends at lr * min_lr_ratio
    max_epochs: int = 30  # upper bound; early stopping usually ends sooner
    patience: int = 5  # epochs without a better validation loss before stopping
    batch_size: int = 64  # samples per optimizer step (gradient accumulation keeps it exact)
    micro_batch: int = 0  # samples per forward pass; 0 = the largest that fits memory
    grad_clip: float = 1.0  # max global gradient norm; 0 disables clipping
    pos_weight: float = 1.0  # BCE weight of positives; 0 = n_neg / n_pos of the train split
    bf16: bool = False  # bf16 autocast (fast on GPUs; slow on CPUs without bf16 units)
    seed: int = 0  # seeds torch, numpy and the order of the training samples
    max_train_batches: int = 0  # cap on optimizer steps per epoch (0 = all); for smoke runs

    def __post_init__(self) -> None:
        checks = [
            (self.lr > 0, "lr must be > 0"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (0 <= self.warmup_frac < 1, "warmup_frac must be in [0, 1)"),
            (0 <= self.min_lr_ratio <= 1, "min_lr_ratio must be in [0, 1]"),
            (self.max_epochs >= 1, "max_epochs must be >= 1"),
            (self.patience >= 1, "patience must be >= 1"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.micro_batch >= 0, "micro_batch must be >= 0"),
            (self.grad_clip >= 0, "grad_clip must be >= 0"),
            (self.pos_weight >= 0, "pos_weight must be >= 0"),
            (self.max_train_batches >= 0, "max_train_batches must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"training config: {message}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"training config: unknown setting(s) {', '.join(unknown)}")
        return cls(**data)
