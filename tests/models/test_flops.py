"""Training FLOPs per sample and the per-part parameter counts, against torch's own counters."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from models_torch import (
    PatchTST,
    PatchTSTConfig,
    forward_flops_per_sample,
    param_counts,
    train_flops_per_sample,
)

CONFIGS = [
    dict(n_features=5, ctx_len=40, patch_len=8, stride=4, d_model=32, n_heads=4, d_ff=64,
         n_layers=2),
    dict(n_features=3, ctx_len=33, patch_len=7, stride=5, d_model=24, n_heads=3, d_ff=40,
         n_layers=3, revin_stats=True, norm_first=True, norm="layer"),
]


@pytest.mark.parametrize("channels", ["independent", "mixed"])
@pytest.mark.parametrize("kw", CONFIGS)
def test_flops_match_torch_flop_counter(kw, channels):
    cfg = PatchTSTConfig(**kw, channels=channels)
    model = PatchTST(cfg).train()
    batch = 3
    x = torch.randn(batch, cfg.ctx_len, cfg.n_features)
    # The math attention backend is made of matmuls that FlopCounterMode sees (the fused CPU
    # kernel is not counted by it).
    with sdpa_kernel(SDPBackend.MATH):
        with FlopCounterMode(display=False) as forward:
            model(x)
        with FlopCounterMode(display=False) as step:
            model(x).sum().backward()
    assert forward_flops_per_sample(cfg) == forward.get_total_flops() / batch
    assert train_flops_per_sample(cfg) == pytest.approx(step.get_total_flops() / batch, rel=0.02)


def test_flops_by_hand():
    # C=2, L=16, P=8, S=8 -> N = (16 + 8 - 8) // 8 + 1 = 3; D=8, F=16, one layer.
    cfg = PatchTSTConfig(n_features=2, ctx_len=16, patch_len=8, stride=8, d_model=8,
                         n_heads=1, d_ff=16, n_layers=1)
    embed = 2 * 3 * 8 * 8  # per channel: N tokens x (P -> D)
    layer = 2 * 3 * 8 * 24 + 2 * 3 * 3 * 8 * 2 + 2 * 3 * 8 * 8 + 2 * 3 * 8 * 16 * 2
    head = 2 * (2 * 3 * 8)
    assert forward_flops_per_sample(cfg) == 2 * embed + 2 * layer + head
    mixed = cfg.replace(channels="mixed")
    assert forward_flops_per_sample(mixed) == 2 * 3 * 16 * 8 + layer + 2 * 3 * 8
    assert train_flops_per_sample(cfg) == 3 * forward_flops_per_sample(cfg)


@pytest.mark.parametrize("channels", ["independent", "mixed"])
@pytest.mark.parametrize("kw", CONFIGS)
def test_param_counts_group_the_real_numel(kw, channels):
    cfg = PatchTSTConfig(**kw, channels=channels)
    model = PatchTST(cfg)
    counts = param_counts(model)
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert counts["head"] == model.head.weight.numel() + 1
    assert counts["encoder"] == sum(p.numel() for p in model.layers.parameters()) + (
        sum(p.numel() for p in model.final_norm.parameters()) if cfg.norm_first else 0)
    revin = 2 * cfg.n_features if cfg.revin_affine else 0
    assert counts["embedding"] == (model.embed.weight.numel() + model.embed.bias.numel()
                                   + model.pos.numel() + revin)


def test_param_counts_refuse_an_unknown_part():
    model = PatchTST(PatchTSTConfig(**CONFIGS[0]))
    model.extra = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="extra"):
        param_counts(model)
