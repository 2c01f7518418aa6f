"""PyTorch models for fts: PatchTST for binary classification, its parameter arithmetic,
parameter budgets and the architecture grid, a training-memory estimate and training FLOPs.

This package imports nothing of fts (an import-linter contract enforces it): it knows tensors
of shape (batch, ctx_len, n_features) and returns logits of shape (batch,).
"""

from models_torch.baselines import LastRowConfig, LastRowModel, count_last_row_parameters
from models_torch.budget import (
    TOLERANCE,
    Arch,
    architecture_grid,
    grid_extremes,
    in_budget,
    parse_budget,
)
from models_torch.config import CHANNEL_MODES, PatchTSTConfig
from models_torch.flops import forward_flops_per_sample, train_flops_per_sample
from models_torch.memory import (
    estimate_training_memory,
    max_batch_size,
    training_memory_breakdown,
)
from models_torch.params import (
    count_parameters,
    count_parameters_meta,
    format_count,
    param_counts,
    parameter_breakdown,
)
from models_torch.patchtst import PatchTST, init_seeded

__all__ = [
    "CHANNEL_MODES",
    "TOLERANCE",
    "Arch",
    "LastRowConfig",
    "LastRowModel",
    "PatchTST",
    "PatchTSTConfig",
    "architecture_grid",
    "count_last_row_parameters",
    "count_parameters",
    "count_parameters_meta",
    "estimate_training_memory",
    "format_count",
    "forward_flops_per_sample",
    "grid_extremes",
    "in_budget",
    "init_seeded",
    "max_batch_size",
    "param_counts",
    "parameter_breakdown",
    "parse_budget",
    "train_flops_per_sample",
    "training_memory_breakdown",
]
