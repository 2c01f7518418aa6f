"""Exact trainable-parameter counts of PatchTST, by arithmetic and by a meta-device build.

The arithmetic count is what the architecture grid uses (thousands of configs in well under a
second); the meta-device count builds the real module without allocating memory and is the
independent check the tests compare it with.
"""

from __future__ import annotations

from typing import Any

import torch

from models_torch.config import PatchTSTConfig
from models_torch.patchtst import PatchTST


def layer_parameters(d_model: int, d_ff: int) -> int:
    """Parameters of one encoder layer (weights + biases; both norms have 2*D either kind)."""
    attention = 4 * d_model * d_model + 4 * d_model  # qkv (D, 3D) + 3D, proj (D, D) + D
    feed_forward = 2 * d_model * d_ff + d_ff + d_model  # (D, F) + F, (F, D) + D
    norms = 2 * 2 * d_model  # BatchNorm1d and LayerNorm both learn a scale and a shift
    return attention + feed_forward + norms


def parameter_breakdown(cfg: PatchTSTConfig) -> dict[str, int]:
    """Trainable parameters per part of the model, computed without building it."""
    c, n, d = cfg.n_features, cfg.n_patches, cfg.d_model
    uses_stats = cfg.revin and cfg.revin_stats
    return {
        "revin": 2 * c if (cfg.revin and cfg.revin_affine) else 0,
        # Independent: Linear(P, D) shared by the channels; mixed: Linear(P*C, D).
        "embed": cfg.embed_in * d + d,
        "pos": n * d,
        "encoder": cfg.n_layers * layer_parameters(d, cfg.d_ff) + (2 * d if cfg.norm_first else 0),
        # The flatten head sees every token of a sample: C*N*D when channel-independent (it
        # grows with the feature count), N*D when mixed.
        # The 2C window stats reach it standardised by StatsNorm, whose training-split mean
        # and variance are buffers, not parameters: nothing to add.
        "head": cfg.sequences_per_sample * n * d + (2 * c if uses_stats else 0) + 1,
    }


# The top-level modules of PatchTST and the part of the model each belongs to. A module
# missing here is an error, so a new one cannot silently escape the grouping.
PARTS = {"revin": "embedding", "embed": "embedding", "pos": "embedding",
         "layers": "encoder", "final_norm": "encoder", "head": "head"}


def param_counts(model: torch.nn.Module) -> dict[str, int]:
    """Real trainable numel of a built model: {"total", "embedding", "encoder", "head"}.

    Grouped by top-level module (see `PARTS`): embedding = RevIN affine + patch embedding +
    positions; encoder = the layers (+ the final norm of pre-norm models); head = the final
    linear. ``total`` is their sum, every trainable parameter.
    """
    counts = {"embedding": 0, "encoder": 0, "head": 0}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        top = name.split(".", 1)[0]
        if top not in PARTS:
            raise ValueError(f"parameter {name!r} belongs to no known part of PatchTST")
        counts[PARTS[top]] += p.numel()
    return {"total": sum(counts.values()), **counts}


def count_parameters(cfg: PatchTSTConfig | dict[str, Any]) -> int:
    """Exact trainable-parameter count of ``PatchTST(cfg)``, by arithmetic only."""
    if not isinstance(cfg, PatchTSTConfig):
        cfg = PatchTSTConfig.from_dict(cfg)
    return sum(parameter_breakdown(cfg).values())


def count_parameters_meta(cfg: PatchTSTConfig | dict[str, Any]) -> int:
    """Trainable-parameter count of the real module built on the meta device (no memory)."""
    with torch.device("meta"):
        model = PatchTST.from_config(cfg)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def format_count(n: int) -> str:
    """1_234_567 -> '1.23M' (for logs and reports)."""
    for scale, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{suffix}"
    return str(n)
