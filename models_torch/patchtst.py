"""PatchTST (Nie et al., 2023, "A Time Series is Worth 64 Words") as a binary classifier.

Reads top to bottom (``channels="independent"``, the default and the paper's model):

    x (B, L, C) --RevIN--> per-channel series --end pad + unfold--> (B, C, N, P) patches
      --shared Linear(P, D) + learned positions--> (B*C, N, D) tokens, channel-independent
      --encoder layers--> (B, C, N, D) --flatten--> (B, C*N*D) --dropout--> Linear --> (B,) logits

and with ``channels="mixed"`` (one token per patch position, all channels in it):

    x (B, L, C) --RevIN--> (B, C, N, P) patches --> (B, N, C*P) --Linear(P*C, D) + positions-->
      (B, N, D) tokens --encoder layers--> (B, N, D) --flatten--> (B, N*D) --> Linear --> (B,)

Departures from the published model, each deliberate:
  * The head emits one logit from all channels' flattened tokens (the paper's forecasting head
    is per channel); its size C*N*D counts towards the parameter budget.
  * RevIN's de-normalisation is dropped: the output is a logit, not a series. Because that
    throws away each window's level and scale, ``revin_stats=True`` optionally hands each
    channel's mean and log-std to the head. ``revin_stats_norm=True`` standardises them first
    (:class:`StatsNorm`): raw, a 0-100 oscillator's mean (~50, spread ~10) sits beside an
    O(0.01) ratio's and the O(1) encoder outputs, so one weight-decayed head cannot weigh them
    alike. The 2C stats are standardised with their training-split mean and variance,
    averaged over the training batches (a fixed transform could not know each column's
    spread; a learned one would let weight decay pull towards it): the statistics are
    buffers, so a checkpoint reproduces them at prediction time, and a sample's output never
    depends on its batch. It is off by default: on the sample it helped a20 but made a50 in
    mixed mode worse than the class prior (docs/training.md, "Channel levels").
  * Attention is plain scaled-dot-product (``F.scaled_dot_product_attention``, fused kernels
    when available); the official code's residual attention scores are not used.
  * ``channels="mixed"`` is not in the paper (it is the original fts study's model): the
    encoder sees N tokens instead of C*N, so a sample costs one encoder pass instead of C, and
    features can interact inside attention. RevIN still normalises each channel of each window
    on its own, BEFORE the channels are mixed: mixing raw channels would let the largest-scale
    feature dominate the embedding. The embedding (P*C*D weights) grows with C instead of the
    head (N*D weights).
  * The encoder is written out rather than taken from ``nn.TransformerEncoder``, whose layers
    hard-code LayerNorm: the paper uses BatchNorm1d over d_model, which is the default here
    (``norm="batch"``), with LayerNorm available (``norm="layer"``). Post-norm by default as
    published; ``norm_first=True`` gives pre-norm blocks plus a final norm.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from models_torch.config import PatchTSTConfig


class RevIN(nn.Module):
    """Reversible instance normalisation, forward half only (Kim et al., 2022).

    Each sample's channel is standardised with its own mean and std over the window, which
    removes level and scale shifts between windows; an optional per-channel affine follows.
    """

    def __init__(self, n_features: int, eps: float, affine: bool) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n_features)) if affine else None
        self.bias = nn.Parameter(torch.zeros(n_features)) if affine else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, L, C) -> (normalised x, mean (B, 1, C), std (B, 1, C))."""
        mean = x.mean(dim=1, keepdim=True).detach()
        # Biased variance, as in the RevIN reference code; eps inside the root keeps a flat
        # channel (zero variance) finite instead of dividing by zero.
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps).detach()
        x = (x - mean) / std
        if self.weight is not None:
            x = x * self.weight + self.bias
        return x, mean, std


class StatsNorm(nn.Module):
    """Standardises the 2C RevIN window stats (means, log-stds) with training-split statistics.

    The stats depend only on the inputs, never on weights, so every training batch estimates
    the same mean and variance: the running statistics are their plain average over all
    training batches seen (a batch of one adds nothing: no spread to estimate), i.e.
    estimates of the training split's. Training and eval both standardise with the running
    statistics, so a sample's value never depends on its batch-mates' (unlike BatchNorm's batch
    statistics) and no affine follows (the head's weights and bias already scale and shift).
    They are buffers, so a checkpoint carries them to prediction. A checkpoint saved before
    this layer existed loads with the identity statistics (mean 0, variance 1): the raw stats
    it was trained on.
    """

    def __init__(self, n_stats: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("running_mean", torch.zeros(n_stats))
        self.register_buffer("running_var", torch.ones(n_stats))
        self.register_buffer("num_batches_tracked", torch.zeros(()))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """s (B, 2C) -> standardised (B, 2C)."""
        if self.training and s.shape[0] > 1:
            with torch.no_grad():  # tensor ops only: no host sync, runs on any device
                self.num_batches_tracked += 1
                s32 = s.detach().to(self.running_mean.dtype)
                self.running_mean += (s32.mean(0) - self.running_mean) / self.num_batches_tracked
                self.running_var += (s32.var(0) - self.running_var) / self.num_batches_tracked
        return (s - self.running_mean) / torch.sqrt(self.running_var + self.eps)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str,
                              *args: Any, **kwargs: Any) -> None:
        # Older checkpoints (raw stats to the head): fill in the identity statistics.
        if prefix + "running_mean" not in state_dict:
            state_dict[prefix + "running_mean"] = torch.zeros_like(self.running_mean)
            state_dict[prefix + "running_var"] = torch.ones_like(self.running_var)
            state_dict[prefix + "num_batches_tracked"] = torch.zeros_like(self.num_batches_tracked)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class Norm(nn.Module):
    """BatchNorm1d or LayerNorm over the last (d_model) dimension of (B', N, D) tokens."""

    def __init__(self, kind: str, d_model: int) -> None:
        super().__init__()
        self.kind = kind
        self.norm = nn.BatchNorm1d(d_model) if kind == "batch" else nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "batch":
            # Statistics over every token of every series in the batch, per feature of D.
            return self.norm(x.reshape(-1, x.shape[-1])).reshape(x.shape)
        return self.norm(x)


class SelfAttention(nn.Module):
    """Multi-head self-attention over the N patch tokens of one series."""

    def __init__(self, cfg: PatchTSTConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.attn_dropout = cfg.attn_dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        # (B', N, D) -> (B', H, N, D/H)
        q, k, v = (t.view(b, n, self.n_heads, d // self.n_heads).transpose(1, 2) for t in (q, k, v))
        p = self.attn_dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        return self.proj(y.transpose(1, 2).reshape(b, n, d))


class EncoderLayer(nn.Module):
    """Attention then a GELU feed-forward, each with dropout, a residual and a norm."""

    def __init__(self, cfg: PatchTSTConfig) -> None:
        super().__init__()
        self.norm_first = cfg.norm_first
        self.attn = SelfAttention(cfg)
        self.norm1 = Norm(cfg.norm, cfg.d_model)
        self.ff = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_ff),
            nn.GELU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.d_ff, cfg.d_model),
        )
        self.norm2 = Norm(cfg.norm, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm_first:
            x = x + self.drop(self.attn(self.norm1(x)))
            return x + self.drop(self.ff(self.norm2(x)))
        x = self.norm1(x + self.drop(self.attn(x)))
        return self.norm2(x + self.drop(self.ff(x)))


class PatchTST(nn.Module):
    """Patch transformer returning one logit per sample; channel-independent or mixed."""

    def __init__(self, cfg: PatchTSTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        n, d, c = cfg.n_patches, cfg.d_model, cfg.n_features
        self.revin = RevIN(c, cfg.revin_eps, cfg.revin_affine) if cfg.revin else None
        # Independent: one embedding shared by every channel (Linear(P, D)). Mixed: one
        # embedding of all channels' patch at a position (Linear(P*C, D)).
        self.embed = nn.Linear(cfg.embed_in, d)
        self.pos = nn.Parameter(torch.empty(n, d))
        nn.init.uniform_(self.pos, -0.02, 0.02)  # the reference code's initialisation
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_layers))
        # Pre-norm blocks leave the residual stream un-normalised, so close with a norm.
        self.final_norm = Norm(cfg.norm, d) if cfg.norm_first else None
        self.head_drop = nn.Dropout(cfg.head_dropout)
        n_stats = 2 * c if (cfg.revin and cfg.revin_stats) else 0
        self.stats_norm = StatsNorm(n_stats) if n_stats and cfg.revin_stats_norm else None
        self.head = nn.Linear(cfg.sequences_per_sample * n * d + n_stats, 1)

    @classmethod
    def from_config(cls, cfg: PatchTSTConfig | dict[str, Any]) -> PatchTST:
        """Build from a config or its dict form (as stored in run records)."""
        return cls(cfg if isinstance(cfg, PatchTSTConfig) else PatchTSTConfig.from_dict(cfg))

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, C) series -> (B, C, N, P) patches, END-padded with the last value.

        Padding the end (never the start) and choosing pad_len so the last window ends at or
        after step L guarantees the most recent observation is in the last patch.
        """
        cfg = self.cfg
        self._check_shape(x)
        x = x.transpose(1, 2)  # (B, C, L)
        if cfg.pad_len:
            x = torch.cat([x, x[..., -1:].expand(*x.shape[:2], cfg.pad_len)], dim=-1)
        return x.unfold(-1, cfg.patch_len, cfg.stride)  # (B, C, N, P)

    def _check_shape(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[1:] != (self.cfg.ctx_len, self.cfg.n_features):
            raise ValueError(f"expected input (batch, {self.cfg.ctx_len}, "
                             f"{self.cfg.n_features}), got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (batch, ctx_len, n_features) -> logits (batch,)."""
        self._check_shape(x)
        b = x.shape[0]
        mean = std = None
        if self.revin is not None:
            x, mean, std = self.revin(x)
        patches = self.patchify(x)  # (B, C, N, P)
        if self.cfg.channels == "mixed":
            # (B, N, C*P): position i's token holds patch i of every channel, channel-major.
            patches = patches.transpose(1, 2).reshape(b, 1, self.cfg.n_patches, -1)
        z = self.embed(patches) + self.pos  # (B, C, N, D), or (B, 1, N, D) when mixed
        z = self.drop(z.reshape(-1, *z.shape[2:]))  # (B*C, N, D): channels become batch rows
        for layer in self.layers:
            z = layer(z)
        if self.final_norm is not None:
            z = self.final_norm(z)
        z = self.head_drop(z.reshape(b, -1))  # (B, C*N*D), or (B, N*D) when mixed
        if mean is not None and self.cfg.revin_stats:
            stats = torch.cat([mean.reshape(b, -1), std.log().reshape(b, -1)], dim=-1)
            z = torch.cat([z, stats if self.stats_norm is None else self.stats_norm(stats)], dim=-1)
        return self.head(z).squeeze(-1)

    def n_params(self) -> int:
        """Trainable parameters of this instance."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def init_seeded(
    cfg: PatchTSTConfig, seed: int, device: torch.device | str | None = None
) -> PatchTST:
    """A PatchTST whose initial weights depend only on (cfg, seed).

    Weights are drawn on the CPU generator inside a forked RNG state (then moved), so the
    global RNGs are left untouched and a seed gives the same initial model on every device.
    """
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # CPU only: torch.manual_seed would reseed CUDA
        model = PatchTST(cfg)
    return model if device is None else model.to(device)


__all__ = ["PatchTST", "RevIN", "StatsNorm", "init_seeded"]
