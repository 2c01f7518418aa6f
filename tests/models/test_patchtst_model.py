"""PatchTST behaviour: shapes, end padding, RevIN, determinism, config round trip."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from models_torch import (
    LastRowConfig,
    LastRowModel,
    PatchTST,
    PatchTSTConfig,
    count_last_row_parameters,
    init_seeded,
)

# (ctx_len, patch_len, stride): divisible and non-divisible (ctx - patch_len) % stride,
# stride == patch_len, stride == 1, patch_len == ctx_len, odd sizes.
PATCHINGS = [
    (64, 16, 8), (64, 16, 16), (128, 16, 8), (100, 16, 8), (101, 16, 8), (37, 8, 3),
    (50, 7, 7), (50, 7, 5), (33, 32, 16), (32, 32, 32), (17, 4, 1), (9, 2, 2), (256, 32, 16),
    (255, 32, 32), (5, 5, 5), (6, 5, 4), (70, 12, 11),
]


def small_cfg(ctx: int, patch: int, stride: int, **kw) -> PatchTSTConfig:
    base = dict(n_features=3, ctx_len=ctx, patch_len=patch, stride=stride, d_model=16,
                n_heads=2, d_ff=32, n_layers=2)
    return PatchTSTConfig(**{**base, **kw})


def eval_model(cfg: PatchTSTConfig, seed: int = 0) -> PatchTST:
    return init_seeded(cfg, seed).double().eval()


@settings(max_examples=150, deadline=None)
@given(
    ctx=st.integers(1, 300),
    patch_frac=st.floats(0, 1),
    stride_frac=st.floats(0, 1),
    end_padding=st.sampled_from(["stride", "minimal"]),
)
def test_patches_cover_every_step_and_end_on_the_last(ctx, patch_frac, stride_frac, end_padding):
    patch = 1 + int(patch_frac * (min(ctx, 64) - 1))
    stride = 1 + int(stride_frac * (patch - 1))
    cfg = small_cfg(ctx, patch, stride, n_features=1, end_padding=end_padding)
    with torch.device("meta"):
        model = PatchTST(cfg)
    model.to_empty(device="cpu")
    steps = torch.arange(ctx, dtype=torch.float64).reshape(1, ctx, 1)
    patches = model.patchify(steps)[0, 0]  # (N, P)
    assert patches.shape == (cfg.n_patches, patch)
    assert set(patches.flatten().long().tolist()) == set(range(ctx))  # nothing dropped
    assert patches[-1, -1].item() == ctx - 1  # last patch ends on the most recent step
    assert patches[0, 0].item() == 0  # padding only ever at the end
    assert 0 <= cfg.pad_len <= stride
    # patch i is padded[i*S : i*S + P], where the padded tail repeats the last value
    padded = list(range(ctx)) + [ctx - 1] * cfg.pad_len
    expected = [padded[i * stride: i * stride + patch] for i in range(cfg.n_patches)]
    assert patches.long().tolist() == expected


@pytest.mark.parametrize("end_padding", ["stride", "minimal"])
@pytest.mark.parametrize("ctx,patch,stride", PATCHINGS)
def test_last_step_changes_the_output(ctx, patch, stride, end_padding):
    # RevIN off: with it on, the last value would leak in through the window mean/std even if
    # its patch were dropped, and the test would prove nothing about patching.
    cfg = small_cfg(ctx, patch, stride, revin=False, end_padding=end_padding)
    model = eval_model(cfg)
    x = torch.randn(4, ctx, 3, dtype=torch.float64)
    y = x.clone()
    y[:, -1, :] += 1.0
    with torch.no_grad():
        assert (model(x) - model(y)).abs().min() > 1e-9


@pytest.mark.parametrize("revin", [False, True])
@pytest.mark.parametrize("ctx,patch,stride", PATCHINGS)
def test_every_step_has_a_gradient(ctx, patch, stride, revin):
    model = eval_model(small_cfg(ctx, patch, stride, revin=revin))
    x = torch.randn(1, ctx, 3, dtype=torch.float64, requires_grad=True)
    model(x).sum().backward()
    assert (x.grad.abs() > 0).all(), x.grad.abs().amin(dim=2)


@pytest.mark.parametrize("affine", [False, True])
def test_revin_makes_output_invariant_to_channel_scale_and_shift(affine):
    # eps is the only thing breaking exact invariance (std = sqrt(var + eps) does not scale
    # with the channel); make it negligible so the check can be tight.
    cfg = PatchTSTConfig(n_features=4, ctx_len=64, d_model=32, n_heads=4, d_ff=64,
                         revin=True, revin_affine=affine, revin_eps=1e-12)
    model = eval_model(cfg)
    if affine:  # non-trivial affine parameters: invariance must not depend on their values
        with torch.no_grad():
            model.revin.weight.uniform_(0.5, 2.0)
            model.revin.bias.uniform_(-1.0, 1.0)
    x = torch.randn(8, 64, 4, dtype=torch.float64)
    y = x.clone()
    y[:, :, 1] = 37.5 * y[:, :, 1] - 1234.0
    y[:, :, 3] = 0.5 * y[:, :, 3] + 3.0
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(y), rtol=1e-9, atol=1e-9)


def test_revin_stats_pass_level_information_to_the_head():
    cfg = PatchTSTConfig(n_features=2, ctx_len=32, d_model=16, n_heads=2, revin_stats=True)
    model = eval_model(cfg)
    x = torch.randn(3, 32, 2, dtype=torch.float64)
    with torch.no_grad():
        assert not torch.allclose(model(x), model(5.0 * x + 2.0))


def test_flat_channel_stays_finite():
    model = eval_model(PatchTSTConfig(n_features=2, ctx_len=32, d_model=16, n_heads=2))
    x = torch.zeros(2, 32, 2, dtype=torch.float64)
    assert torch.isfinite(model(x)).all()


@pytest.mark.parametrize(
    "kw",
    [
        dict(n_features=1, ctx_len=1, patch_len=1, stride=1, d_model=8, n_heads=1, d_ff=3),
        dict(n_features=7, ctx_len=23, patch_len=5, stride=3, d_model=24, n_heads=3, d_ff=7,
             norm="layer", norm_first=True, head_dropout=0.3, attn_dropout=0.1),
        dict(n_features=13, ctx_len=64, patch_len=64, stride=64, d_model=48, n_heads=6,
             n_layers=1, end_padding="minimal", revin=False),
        dict(n_features=2, ctx_len=129, patch_len=16, stride=16, revin_affine=False,
             revin_stats=True, norm_first=True),
    ],
)
def test_odd_configs_train_and_eval_shapes(kw):
    cfg = PatchTSTConfig(**kw)
    model = init_seeded(cfg, 1)
    x = torch.randn(5, cfg.ctx_len, cfg.n_features)
    out = model.train()(x)
    assert out.shape == (5,)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.eval()(x[:1]).shape == (1,)


def test_wrong_input_shape_is_rejected():
    model = PatchTST(PatchTSTConfig(n_features=3, ctx_len=32, d_model=16, n_heads=2))
    with pytest.raises(ValueError, match=r"\(batch, 32, 3\)"):
        model(torch.randn(2, 3, 32))


def test_forward_runs_on_meta_device():
    # Nothing in the forward pins tensors to the CPU: the same code runs on any device.
    cfg = PatchTSTConfig(n_features=5, ctx_len=64, revin_stats=True)
    with torch.device("meta"):
        model = PatchTST(cfg)
        out = model(torch.randn(3, 64, 5))
    assert out.shape == (3,) and out.device.type == "meta"


def test_seeded_init_is_deterministic_and_leaves_global_rng_alone():
    cfg = PatchTSTConfig(n_features=3, ctx_len=48, d_model=32, n_heads=4)
    state = torch.random.get_rng_state()
    a, b, c = init_seeded(cfg, 7), init_seeded(cfg, 7), init_seeded(cfg, 8)
    assert torch.equal(state, torch.random.get_rng_state())
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    assert not torch.equal(a.embed.weight, c.embed.weight)
    x = torch.randn(4, 48, 3)
    torch.manual_seed(0)
    ya = a.train()(x)  # dropout active: determinism must hold through it too
    torch.manual_seed(0)
    yb = b.train()(x)
    assert torch.equal(ya, yb)


def test_config_round_trips_through_a_dict():
    cfg = PatchTSTConfig(n_features=20, ctx_len=128, d_model=96, n_heads=12, norm="layer",
                         end_padding="minimal", revin_stats=True)
    data = cfg.to_dict()
    assert PatchTSTConfig.from_dict(data) == cfg
    model = PatchTST.from_config(data)
    assert model.cfg == cfg
    with pytest.raises(ValueError, match="unknown PatchTSTConfig keys"):
        PatchTSTConfig.from_dict({**data, "d_modle": 3})


@pytest.mark.parametrize(
    "kw,msg",
    [
        (dict(patch_len=65), "exceeds ctx_len"),
        (dict(stride=17), "exceeds patch_len"),
        (dict(n_heads=3), "does not divide"),
        (dict(d_model=0), "positive int"),
        (dict(dropout=1.0), "dropout"),
        (dict(norm="group"), "norm"),
        (dict(end_padding="start"), "end_padding"),
        (dict(n_layers=True), "positive int"),
    ],
)
def test_invalid_configs_are_rejected(kw, msg):
    with pytest.raises(ValueError, match=msg):
        PatchTSTConfig(n_features=3, ctx_len=64, **kw)


@pytest.mark.parametrize("hidden", [0, 8])
def test_last_row_baseline(hidden):
    cfg = LastRowConfig(n_features=6, ctx_len=10, hidden=hidden)
    model = LastRowModel.from_config(cfg.to_dict())
    assert sum(p.numel() for p in model.parameters()) == count_last_row_parameters(cfg)
    x = torch.randn(4, 10, 6)
    y = x.clone()
    y[:, :-1] = 0.0  # only the last row matters
    assert model(x).shape == (4,)
    torch.testing.assert_close(model(x), model(y))


def test_mixed_channels_one_token_sequence_per_sample():
    # Mixed: the encoder runs B sequences (not B*C) and one token holds every channel's patch,
    # so a change in one channel reaches every channel's contribution through attention.
    cfg = small_cfg(64, 16, 8, n_features=5, channels="mixed", revin=False)
    model = eval_model(cfg)
    seen, embedded = [], []
    model.layers[0].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    model.embed.register_forward_hook(lambda m, i, o: embedded.append(i[0]))
    x = torch.randn(3, 64, 5, dtype=torch.float64)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (3,) and seen == [torch.Size([3, cfg.n_patches, 16])]
    # Channel-major packing: token i's inputs are (channel 0's patch i, channel 1's, ...),
    # patch i of channel c being x[i*S : i*S + P, c].
    tokens = embedded[0].reshape(3, cfg.n_patches, 5 * 16)
    for i, c in ((0, 0), (2, 1), (5, 4)):
        assert torch.equal(tokens[:, i, 16 * c:16 * (c + 1)], x[:, 8 * i:8 * i + 16, c])
    independent = eval_model(cfg.replace(channels="independent"))
    seen.clear()
    independent.layers[0].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    with torch.no_grad():
        independent(x)
    assert seen == [torch.Size([15, cfg.n_patches, 16])]


def test_mixed_revin_is_per_channel_before_mixing():
    # RevIN still normalises each channel of each window: rescaling one channel leaves the
    # output unchanged in mixed mode too (affine off: identity after normalising).
    # eps inside RevIN's root is the only thing breaking exact invariance (see the test above).
    cfg = small_cfg(32, 8, 4, n_features=4, channels="mixed", revin_affine=False,
                    revin_eps=1e-12)
    model = eval_model(cfg)
    x = torch.randn(2, 32, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = x.clone()
    y[..., 2] = 1000.0 * y[..., 2] + 7.0
    with torch.no_grad():
        assert torch.allclose(model(x), model(y), atol=1e-9)


@pytest.mark.parametrize("channels", ["independent", "mixed"])
@pytest.mark.parametrize(("levels", "sees_level"), [
    (dict(revin=True, revin_stats=False), False),  # RevIN alone erases each window's level
    (dict(revin=True, revin_stats=True), True),    # the window mean reaches the head
    (dict(revin=False, revin_stats=False), True),  # train_zscore / none: no RevIN at all
])
def test_a_constant_added_to_one_channel_reaches_the_output_only_with_a_level_path(
        channels, levels, sees_level):
    # RSI at 75 against 25: the same window shifted by a constant. Affine off and a negligible
    # eps so that, without a level path, the two windows are exactly the same to the encoder.
    cfg = small_cfg(32, 8, 4, n_features=3, channels=channels, revin_affine=False,
                    revin_eps=1e-12, **levels)
    model = eval_model(cfg)
    x = torch.randn(4, 32, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = x.clone()
    y[..., 1] += 0.5
    with torch.no_grad():
        gap = (model(x) - model(y)).abs()
    if sees_level:
        assert gap.min() > 1e-6, gap
    else:
        assert gap.max() < 1e-9, gap
