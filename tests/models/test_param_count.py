"""The arithmetic parameter count equals the real module's, for any configuration."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from models_torch import (
    PatchTST,
    PatchTSTConfig,
    count_parameters,
    count_parameters_meta,
    parameter_breakdown,
)


@st.composite
def configs(draw: st.DrawFn, max_features: int = 120, max_ctx: int = 512) -> PatchTSTConfig:
    ctx = draw(st.integers(1, max_ctx))
    patch = draw(st.integers(1, min(ctx, 64)))
    n_heads = draw(st.integers(1, 8))
    return PatchTSTConfig(
        n_features=draw(st.integers(1, max_features)),
        ctx_len=ctx,
        patch_len=patch,
        stride=draw(st.integers(1, patch)),
        d_model=n_heads * draw(st.integers(1, 24)),
        n_layers=draw(st.integers(1, 6)),
        n_heads=n_heads,
        d_ff=draw(st.integers(1, 300)),
        norm=draw(st.sampled_from(["batch", "layer"])),
        norm_first=draw(st.booleans()),
        revin=draw(st.booleans()),
        revin_affine=draw(st.booleans()),
        revin_stats=draw(st.booleans()),
        end_padding=draw(st.sampled_from(["stride", "minimal"])),
        channels=draw(st.sampled_from(["independent", "mixed"])),
    )


def meta_numel(cfg: PatchTSTConfig) -> int:
    with torch.device("meta"):
        model = PatchTST(cfg)
    return sum(p.numel() for p in model.parameters())


@settings(max_examples=200, deadline=None)
@given(cfg=configs())
def test_count_matches_meta_build(cfg):
    assert count_parameters(cfg) == meta_numel(cfg)


@settings(max_examples=15, deadline=None)
@given(cfg=configs(max_features=12, max_ctx=96))
def test_count_matches_cpu_build(cfg):
    assert count_parameters(cfg) == sum(p.numel() for p in PatchTST(cfg).parameters())


@pytest.mark.parametrize(
    "kw",
    [
        dict(n_features=20, ctx_len=128),
        dict(n_features=100, ctx_len=256, patch_len=8, stride=4, d_model=4096, n_heads=32,
             d_ff=16384, n_layers=10),  # a 2B model: meta device allocates nothing
    ],
)
def test_meta_helper_and_breakdown(kw):
    cfg = PatchTSTConfig(**kw)
    breakdown = parameter_breakdown(cfg)
    assert count_parameters(cfg) == count_parameters_meta(cfg) == sum(breakdown.values())
    # The flatten head is C * N * D + 1 and is part of the count.
    assert breakdown["head"] == cfg.n_features * cfg.n_patches * cfg.d_model + 1


@pytest.mark.parametrize("channels", ["independent", "mixed"])
def test_breakdown_parts_match_the_real_modules(channels):
    # Hand-computed for C=7, L=40, P=8, S=4 (N = (40 + 4 - 8) // 4 + 1 = 10), D=16.
    cfg = PatchTSTConfig(n_features=7, ctx_len=40, patch_len=8, stride=4, d_model=16,
                         n_heads=2, d_ff=32, n_layers=2, channels=channels)
    parts = parameter_breakdown(cfg)
    model = PatchTST(cfg)
    numel = {name: sum(p.numel() for p in m.parameters()) for name, m in model.named_children()}
    assert parts["embed"] == numel["embed"] == (8 if channels == "independent" else 56) * 16 + 16
    assert parts["head"] == numel["head"] == (7 if channels == "independent" else 1) * 160 + 1
    assert parts["pos"] == model.pos.numel() == 160


def test_count_accepts_a_dict():
    cfg = PatchTSTConfig(n_features=5, ctx_len=40, d_model=32, n_heads=4)
    assert count_parameters(cfg.to_dict()) == count_parameters(cfg)
    assert count_parameters_meta(cfg.to_dict()) == count_parameters(cfg)
