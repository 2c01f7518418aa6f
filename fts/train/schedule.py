"""The learning-rate schedule: linear warm-up, then cosine decay to a floor."""

from __future__ import annotations

import math


def lr_at(step: int, total_steps: int, base_lr: float, warmup_frac: float, min_lr_ratio: float) -> float:
    """Learning rate for optimizer step `step` (0-based) of `total_steps`."""
    warmup = int(round(warmup_frac * total_steps))
    if warmup and step < warmup:
        return base_lr * (step + 1) / warmup
    decay_steps = max(1, total_steps - warmup)
    progress = min(1.0, (step - warmup) / decay_steps)
    floor = base_lr * min_lr_ratio
    return floor + (base_lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))
