"""The RevIN window stats reach the head standardised with training-split statistics.

Review finding 6 of issue 15: raw, a 0-100 oscillator's window mean (~50) sat beside an
O(0.01) ratio's and the O(1) encoder outputs. References here are numpy computations of the
window stats over the whole "training split", never values read back from the model.
"""

from __future__ import annotations

import numpy as np
import torch

from models_torch import PatchTSTConfig
from models_torch.patchtst import PatchTST, init_seeded

EPS = 1e-5
N, BATCH, CTX = 512, 64, 32


def cfg(channels: str = "independent") -> PatchTSTConfig:
    return PatchTSTConfig(n_features=2, ctx_len=CTX, patch_len=8, stride=4, d_model=16,
                          n_heads=2, d_ff=32, n_layers=1, revin_stats=True, revin_stats_norm=True,
                          revin_eps=EPS, channels=channels)


def training_split(seed: int = 0) -> torch.Tensor:
    """Channel 0: an oscillator around 50 (window means spread ~10); channel 1: a small ratio."""
    g = np.random.default_rng(seed)
    level = g.normal(50.0, 10.0, size=(N, 1))
    osc = level + g.normal(0.0, 5.0, size=(N, CTX))
    ratio = g.normal(0.0, 0.01, size=(N, 1)) + g.normal(0.0, 0.02, size=(N, CTX))
    return torch.from_numpy(np.stack([osc, ratio], axis=-1))


def window_stats(x: np.ndarray) -> np.ndarray:
    """(N, L, C) -> (N, 2C): each channel's window mean, then its log-std (RevIN's)."""
    return np.concatenate([x.mean(axis=1), 0.5 * np.log(x.var(axis=1) + EPS)], axis=1)


def fitted(channels: str = "independent") -> PatchTST:
    """A model whose stats layer has seen one pass over the training split in train mode."""
    model = init_seeded(cfg(channels), 0).double().train()
    x = training_split()
    with torch.no_grad():
        for start in range(0, N, BATCH):
            model(x[start:start + BATCH])
    return model.eval()


def test_running_statistics_are_the_training_splits():
    model = fitted()
    ref = window_stats(training_split().numpy())
    norm = model.stats_norm
    assert norm is not None
    # Equal batches: the average of the batch means is the split's mean, exactly.
    np.testing.assert_allclose(norm.running_mean.numpy(), ref.mean(axis=0), rtol=1e-9, atol=1e-12)
    # The average within-batch variance estimates the split's (batches are random draws).
    np.testing.assert_allclose(norm.running_var.numpy(), ref.var(axis=0, ddof=1), rtol=0.25)


def test_stats_enter_the_head_on_comparable_scales():
    model = fitted()
    ref = window_stats(training_split().numpy())
    # Raw, the oscillator's mean column is thousands of times the ratio's: the finding.
    assert np.abs(ref[:, 0]).mean() > 1000 * np.abs(ref[:, 1]).mean()
    with torch.no_grad():
        z = model.stats_norm(torch.from_numpy(ref)).numpy()
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=0.05)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=0.15)


def test_eval_output_of_a_sample_does_not_depend_on_its_batch_after_training():
    for channels in ("independent", "mixed"):
        model = fitted(channels)
        x = training_split(seed=1)
        with torch.no_grad():
            alone = model(x[:1])
            in_batch = model(torch.cat([x[:1], 3.0 * x[1:9] + 100.0]))[:1]
        torch.testing.assert_close(alone, in_batch, rtol=0, atol=1e-12)


def test_checkpoint_carries_the_statistics():
    model = fitted()
    copy = PatchTST(cfg()).double().eval()
    copy.load_state_dict(model.state_dict())
    x = training_split(seed=2)[:16]
    with torch.no_grad():
        torch.testing.assert_close(copy(x), model(x), rtol=0, atol=0)


def test_a_checkpoint_from_before_the_layer_loads_as_raw_stats():
    model = init_seeded(cfg(), 0).double().eval()
    old = {k: v for k, v in model.state_dict().items() if not k.startswith("stats_norm.")}
    copy = PatchTST(cfg()).double().eval()
    copy.load_state_dict(old)  # strict: the missing buffers are filled in, not an error
    stats = torch.from_numpy(window_stats(training_split().numpy()[:4]))
    with torch.no_grad():  # identity statistics: the raw stats, up to eps
        torch.testing.assert_close(copy.stats_norm(stats), stats, rtol=1e-5, atol=0)


def test_a_training_batch_of_one_neither_fails_nor_moves_the_statistics():
    model = fitted().train()
    before = model.stats_norm.running_mean.clone()
    with torch.no_grad():
        out = model(training_split(seed=3)[:1])
    assert torch.isfinite(out).all()
    torch.testing.assert_close(model.stats_norm.running_mean, before, rtol=0, atol=0)


def test_the_stats_reach_the_head_raw_unless_standardising_is_asked_for():
    """The shipped default feeds the raw stats (standardising was measured worse on a50 mixed)."""
    torch.manual_seed(0)
    raw = PatchTST(cfg().replace(revin_stats_norm=False)).eval()
    assert raw.stats_norm is None
    x = torch.randn(3, CTX, 2) * torch.tensor([30.0, 0.01]) + torch.tensor([50.0, 0.0])
    seen: list[torch.Tensor] = []
    raw.head.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0]))
    raw(x)
    mean, std = x.mean(dim=1), x.std(dim=1, unbiased=False)
    expected = torch.cat([mean, torch.sqrt(std**2 + EPS).log()], dim=-1)
    torch.testing.assert_close(seen[0][:, -4:], expected, rtol=1e-4, atol=1e-4)
