"""The PatchTST configuration: one small frozen dataclass, round-trippable through a dict.

Everything that decides the shape of the network lives here, together with the two derived
quantities every other module needs (the end padding and the number of patches), so that the
model, the arithmetic parameter count and the memory estimate can never disagree about them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

NORMS = ("batch", "layer")
END_PADDINGS = ("stride", "minimal")
POS_ENCODINGS = ("learned",)
# "independent": each channel is its own token sequence (the paper); "mixed": one token per
# patch position carries every channel (Linear(P*C -> D)), so features meet inside the encoder.
CHANNEL_MODES = ("independent", "mixed")


@dataclass(frozen=True)
class PatchTSTConfig:
    """Hyper-parameters of :class:`models_torch.patchtst.PatchTST`.

    Defaults follow the supervised PatchTST/42 setting of Nie et al. (2023) where one exists.
    """

    n_features: int  # channels C of the input (batch, ctx_len, C); no sensible default
    ctx_len: int  # look-back window L in time steps (trading days); no sensible default
    patch_len: int = 16  # P: time steps per patch (paper: 16)
    stride: int = 8  # S: step between patch starts, 1 <= S <= P so no step is skipped (paper: 8)
    d_model: int = 128  # D: token width (paper: 128)
    n_layers: int = 3  # encoder layers (paper: 3)
    n_heads: int = 16  # attention heads; must divide d_model (paper: 16)
    d_ff: int = 256  # hidden width of the feed-forward block (paper: 256)
    dropout: float = 0.2  # after the positional encoding, attention output and feed-forward
    attn_dropout: float = 0.0  # on the attention probabilities (paper: 0)
    head_dropout: float = 0.0  # on the flattened encoder output, before the final linear
    norm: str = "batch"  # "batch" (paper: BatchNorm1d over d_model) or "layer"
    norm_first: bool = False  # pre-norm blocks + a final norm (stabler when deep); paper: post-norm
    revin: bool = True  # per-sample, per-channel instance normalisation over the window
    revin_affine: bool = True  # learnable per-channel scale and shift after RevIN
    revin_eps: float = 1e-5  # added to the variance before the square root
    revin_stats: bool = False  # also feed each channel's window mean and log-std to the head
    # standardise those stats (training-split running mean/var, StatsNorm) before the head;
    # off by default: measured worse on a50 mixed (docs/training.md, channel levels)
    revin_stats_norm: bool = False
    end_padding: str = "stride"  # "stride": paper's ReplicationPad1d((0, S)); "minimal": least
    pos_encoding: str = "learned"  # learnable (n_patches, d_model) table, paper's default
    channels: str = "independent"  # "independent" (paper) or "mixed" (see CHANNEL_MODES)

    def __post_init__(self) -> None:
        def positive_int(name: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")

        for name in ("n_features", "ctx_len", "patch_len", "stride", "d_model", "n_layers",
                     "n_heads", "d_ff"):
            positive_int(name)
        if self.patch_len > self.ctx_len:
            raise ValueError(f"patch_len={self.patch_len} exceeds ctx_len={self.ctx_len}")
        if self.stride > self.patch_len:
            # A stride longer than the patch would leave time steps that no patch sees.
            raise ValueError(f"stride={self.stride} exceeds patch_len={self.patch_len}")
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads={self.n_heads} does not divide d_model={self.d_model}")
        for name in ("dropout", "attn_dropout", "head_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if not self.revin_eps > 0:
            raise ValueError(f"revin_eps must be > 0, got {self.revin_eps!r}")
        for name, allowed in (("norm", NORMS), ("end_padding", END_PADDINGS),
                              ("pos_encoding", POS_ENCODINGS), ("channels", CHANNEL_MODES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    @property
    def pad_len(self) -> int:
        """Time steps appended at the END of each series (copies of the last value).

        "stride" always appends S steps, as the paper does; "minimal" appends the fewest steps
        that make the last window end exactly on the (padded) end of the series. In both cases
        the last patch ends at or after the last real time step, so the most recent
        observation is never dropped, whatever (ctx_len, patch_len, stride).
        """
        if self.end_padding == "stride":
            return self.stride
        return -(self.ctx_len - self.patch_len) % self.stride

    @property
    def n_patches(self) -> int:
        """N = floor((L + pad - P) / S) + 1 patches per channel."""
        return (self.ctx_len + self.pad_len - self.patch_len) // self.stride + 1

    @property
    def sequences_per_sample(self) -> int:
        """Token sequences the encoder runs per sample: C when channel-independent, else 1."""
        return self.n_features if self.channels == "independent" else 1

    @property
    def embed_in(self) -> int:
        """Inputs of the patch embedding: P values of one channel, or P x C when mixed."""
        return self.patch_len * (1 if self.channels == "independent" else self.n_features)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field (for run records)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PatchTSTConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error, missing ones take defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown PatchTSTConfig keys: {unknown}")
        return cls(**data)

    def replace(self, **changes: Any) -> PatchTSTConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)
