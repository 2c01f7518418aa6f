"""Budget parsing and the architecture grid."""

from __future__ import annotations

import time

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from models_torch import (
    PatchTST,
    PatchTSTConfig,
    architecture_grid,
    grid_extremes,
    in_budget,
    parameter_breakdown,
    parse_budget,
)

BUDGETS = ["200K", "2M", "20M", "200M", "2B"]
N_FEATURES = [20, 50, 100]
CTX_LENS = [64, 128, 256]


@pytest.mark.parametrize(
    "text,value",
    [
        ("2M", 2_000_000), ("20M", 20_000_000), ("200M", 200_000_000), ("2B", 2_000_000_000),
        ("200K", 200_000), ("200k", 200_000), ("1.5M", 1_500_000), ("1.1m", 1_100_000),
        ("0.5B", 500_000_000), (" 20M ", 20_000_000), ("5000", 5000), ("2.M", 2_000_000),
        (".5K", 500), ("20_000_000", 20_000_000), (123, 123),
    ],
)
def test_parse_budget_accepts(text, value):
    assert parse_budget(text) == value


@pytest.mark.parametrize(
    "text", ["", "M", "20MB", "2 G", "-2M", "2e6", "1.5", "0", "0K", "1.0001K", "twenty", "2M2",
             "1,5M", 0, -5],
)
def test_parse_budget_rejects(text):
    with pytest.raises(ValueError, match=r"K\|M\|B|positive") as err:
        parse_budget(text)
    if isinstance(text, str):
        assert "2M, 20M, 200M, 2B" in str(err.value)


@given(st.integers(1, 10**6), st.sampled_from(["", "K", "M", "B", "k", "m", "b"]))
def test_parse_budget_integers(number, suffix):
    scale = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9}[suffix.lower()]
    assert parse_budget(f"{number}{suffix}") == number * scale


def test_in_budget_is_plus_minus_25_percent():
    assert in_budget(1_500_000, 2_000_000) and in_budget(2_500_000, 2_000_000)
    assert not in_budget(1_499_999, 2_000_000) and not in_budget(2_500_001, 2_000_000)


def meta_numel(cfg: PatchTSTConfig, cache: dict = {}) -> int:  # noqa: B006 - memo on purpose
    # n_heads never changes the count: memoise on everything else.
    key = cfg.replace(n_heads=1)
    if key not in cache:
        with torch.device("meta"):
            cache[key] = sum(p.numel() for p in PatchTST(cfg).parameters())
    return cache[key]


def spread(archs: list, k: int = 5) -> list:
    """k archs evenly spread over the (count-sorted) list, plus the grid extremes."""
    step = max(1, len(archs) // k)
    return archs[::step] + [archs[-1]] + grid_extremes(archs)


@pytest.mark.parametrize("channels", ["independent", "mixed"])
@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("ctx_len", CTX_LENS)
def test_grid_is_non_empty_and_in_budget(budget, ctx_len, channels):
    value = parse_budget(budget)
    for n_features in N_FEATURES:
        archs = architecture_grid(budget, n_features, ctx_len, channels=channels)
        assert archs, (budget, n_features, ctx_len)
        for arch in archs:
            cfg = arch.config
            assert cfg.channels == channels
            assert (cfg.n_features, cfg.ctx_len) == (n_features, ctx_len)
            assert in_budget(arch.n_params, value)
            assert cfg.d_model % cfg.n_heads == 0 and cfg.d_model // cfg.n_heads >= 8
            assert cfg.d_ff in (cfg.d_model, 2 * cfg.d_model, 4 * cfg.d_model)
            assert cfg.patch_len in (8, 16, 32) and cfg.patch_len <= ctx_len
            assert cfg.stride in (cfg.patch_len, cfg.patch_len // 2)
            assert 1 <= cfg.n_layers <= 48
        # Independent of the arithmetic: the real modules' numel is in budget too.
        for arch in spread(archs):
            real = meta_numel(arch.config)
            assert real == arch.n_params and in_budget(real, value), arch


def test_each_channel_mode_has_its_own_grid():
    # The same architecture counts (C-1)*N*D fewer head weights and (C-1)*P*D more embedding
    # weights when mixed, so the two grids hold different architectures.
    ind = architecture_grid("200K", 100, 64)
    mix = architecture_grid("200K", 100, 64, channels="mixed")
    assert ind and mix and all(a.config.channels == "mixed" for a in mix)
    assert {a.config.replace(channels="independent") for a in mix} != {a.config for a in ind}
    for a in mix[::50]:
        c = a.config
        assert a.n_params == meta_numel(c) == (meta_numel(c.replace(channels="independent"))
                                               - 99 * c.n_patches * c.d_model
                                               + 99 * c.patch_len * c.d_model)
    template = PatchTSTConfig(n_features=1, ctx_len=1, patch_len=1, stride=1, n_heads=1,
                              channels="mixed")
    assert architecture_grid("200K", 100, 64, template=template) == mix


def test_grid_is_sorted_deterministic_and_unique():
    a = architecture_grid("2M", 50, 128)
    b = architecture_grid(2_000_000, 50, 128)
    assert a == b
    assert [x.n_params for x in a] == sorted(x.n_params for x in a)
    assert len({x.config for x in a}) == len(a)


def test_grid_is_fast():
    for budget in BUDGETS:
        start = time.perf_counter()
        architecture_grid(budget, 100, 256)
        assert time.perf_counter() - start < 1.0, budget


def test_grid_uses_the_template_and_counts_it():
    template = PatchTSTConfig(n_features=1, ctx_len=1, patch_len=1, stride=1, n_heads=1,
                              norm_first=True, revin_stats=True, dropout=0.1,
                              end_padding="minimal")
    archs = architecture_grid("2M", 20, 100, template=template)
    assert archs
    for arch in spread(archs):
        cfg = arch.config
        assert cfg.norm_first and cfg.revin_stats and cfg.dropout == 0.1
        assert cfg.end_padding == "minimal" and cfg.n_features == 20 and cfg.ctx_len == 100
        assert meta_numel(cfg) == arch.n_params


def test_unreachable_budget_gives_empty_grid():
    assert architecture_grid("1K", 20, 128) == []
    assert architecture_grid("1000B", 20, 128) == []


def test_grid_extremes():
    archs = architecture_grid("20M", 50, 128)
    picked = grid_extremes(archs)
    assert 2 <= len(picked) <= 6 and len(set(picked)) == len(picked)
    assert all(p in archs for p in picked)
    for field in ("d_model", "n_layers", "n_heads"):
        values = [getattr(a, field) for a in archs]
        got = {getattr(p, field) for p in picked}
        assert min(values) in got and max(values) in got
    assert grid_extremes(archs) == picked
    assert grid_extremes([]) == []


def test_arch_serialises_with_its_count():
    arch = architecture_grid("200K", 20, 64)[0]
    data = arch.to_dict()
    assert data.pop("n_params") == arch.n_params
    assert PatchTSTConfig.from_dict(data) == arch.config


def test_max_head_share_filters_head_dominated_archs():
    everything = architecture_grid("200K", 100, 128)
    lean = architecture_grid("200K", 100, 128, max_head_share=0.25)
    assert lean and len(lean) < len(everything)
    assert set(lean) <= set(everything)
    for arch in lean:
        assert parameter_breakdown(arch.config)["head"] - 1 <= 0.25 * arch.n_params
