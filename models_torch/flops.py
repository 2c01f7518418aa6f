"""Training FLOPs of one PatchTST sample, by arithmetic (the compute axis of a scaling study).

Only matrix products are counted, at 2 FLOPs per multiply-add (the convention of Kaplan et
al. 2020 and of `torch.utils.flop_counter`); norms, softmax, GELU and the optimizer step are
a few per cent of a transformer step and are left out. With S token sequences per sample
(S = C channel-independent, 1 mixed), N patches, width D, feed-forward F, L layers and an
embedding input of E values (P, or P*C when mixed):

    forward = 2*S*N*E*D                               patch embedding
            + S*L*(8*N*D^2 + 4*N^2*D + 4*N*D*F)       q/k/v and output projections,
                                                      scores and weighted values, feed-forward
            + 2*(S*N*D + stats)                       flatten head

    training = 3 * forward

Back-propagation costs two matrix products per forward one (the gradient with respect to the
input and to the weight), hence 3x; the embedding's input gradient is never computed, so 3x
slightly overstates a real step (the tests bound the gap against FlopCounterMode).
"""

from __future__ import annotations

from typing import Any

from models_torch.config import PatchTSTConfig

BACKWARD_FACTOR = 2.0  # backward / forward FLOPs of matrix products


def forward_flops_per_sample(cfg: PatchTSTConfig | dict[str, Any]) -> float:
    """Matrix-product FLOPs of one sample's forward pass (see the module docstring)."""
    if not isinstance(cfg, PatchTSTConfig):
        cfg = PatchTSTConfig.from_dict(cfg)
    s, n, d, f = cfg.sequences_per_sample, cfg.n_patches, cfg.d_model, cfg.d_ff
    embed = 2 * s * n * cfg.embed_in * d
    layer = 8 * n * d * d + 4 * n * n * d + 4 * n * d * f
    # The window stats' standardisation (StatsNorm) is elementwise, like the norms: not counted.
    stats = 2 * cfg.n_features if (cfg.revin and cfg.revin_stats) else 0
    head = 2 * (s * n * d + stats)
    return float(embed + s * cfg.n_layers * layer + head)


def train_flops_per_sample(cfg: PatchTSTConfig | dict[str, Any]) -> float:
    """Forward + backward FLOPs of one training sample: 3x the forward pass."""
    return (1.0 + BACKWARD_FACTOR) * forward_flops_per_sample(cfg)
