"""Tiny baselines on the last row of the window: logistic regression or a one-hidden-layer MLP.

They answer "does the sequence model beat what today's features alone can say?". Same input
(batch, ctx_len, n_features) and output (batch,) logits as PatchTST, so the trainer can swap
them in. Features are expected to be standardised upstream (no RevIN: one row has no window).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class LastRowConfig:
    n_features: int  # channels C of the input
    ctx_len: int  # accepted for interface parity; only the last step is read
    hidden: int = 0  # 0: logistic regression; >0: MLP with one GELU hidden layer this wide
    dropout: float = 0.0  # on the hidden layer

    def __post_init__(self) -> None:
        if self.n_features < 1 or self.ctx_len < 1 or self.hidden < 0:
            raise ValueError(f"invalid LastRowConfig {self}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LastRowModel(nn.Module):
    """Logit from x[:, -1, :] only."""

    def __init__(self, cfg: LastRowConfig) -> None:
        super().__init__()
        self.cfg = cfg
        if cfg.hidden == 0:
            self.net: nn.Module = nn.Linear(cfg.n_features, 1)
        else:
            self.net = nn.Sequential(nn.Linear(cfg.n_features, cfg.hidden), nn.GELU(),
                                     nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, 1))

    @classmethod
    def from_config(cls, cfg: LastRowConfig | dict[str, Any]) -> LastRowModel:
        return cls(cfg if isinstance(cfg, LastRowConfig) else LastRowConfig(**cfg))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (batch, ctx_len, n_features) -> logits (batch,)."""
        return self.net(x[:, -1, :]).squeeze(-1)


def count_last_row_parameters(cfg: LastRowConfig) -> int:
    """Exact parameter count of LastRowModel(cfg)."""
    if cfg.hidden == 0:
        return cfg.n_features + 1
    return cfg.n_features * cfg.hidden + cfg.hidden + cfg.hidden + 1
