"""Properties the study's conclusions rest on, each able to fail on a one-line mistake.

- Channel independence: the encoder processes each feature's series on its own, so changing one
  channel leaves every other channel's encoder output unchanged (a mistake that lets attention
  or the embedding mix channels changes them).
- Per-window RevIN: in eval mode a sample's output does not depend on the other samples of its
  batch (statistics over the batch instead of the window would make it depend on them).
"""

from __future__ import annotations

import pytest
import torch

from models_torch import PatchTST, PatchTSTConfig, init_seeded


def _encoder_outputs(model: PatchTST, x: torch.Tensor) -> torch.Tensor:
    """The last encoder layer's output as (batch, channels, patches, d_model)."""
    captured: list[torch.Tensor] = []
    handle = model.layers[-1].register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    (z,) = captured
    return z.reshape(x.shape[0], model.cfg.n_features, model.cfg.n_patches, model.cfg.d_model)


@pytest.mark.parametrize("norm", ["batch", "layer"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_changing_one_channel_leaves_the_other_channels_encoder_outputs_unchanged(norm, norm_first):
    cfg = PatchTSTConfig(n_features=4, ctx_len=32, patch_len=8, stride=4, d_model=16, n_heads=2,
                         d_ff=32, n_layers=2, norm=norm, norm_first=norm_first)
    model = init_seeded(cfg, 0).double().eval()
    x = torch.randn(5, 32, 4, dtype=torch.float64)
    y = x.clone()
    y[:, :, 2] = torch.randn(5, 32, dtype=torch.float64) * 3.0 + 1.0
    before, after = _encoder_outputs(model, x), _encoder_outputs(model, y)
    others = [0, 1, 3]
    torch.testing.assert_close(before[:, others], after[:, others], rtol=0, atol=1e-12)
    # ... and the changed channel's own output did change (the probe sees the encoder).
    assert not torch.allclose(before[:, 2], after[:, 2])
    # The logit, which reads every channel through the head, changes too.
    with torch.no_grad():
        assert not torch.allclose(model(x), model(y))


@pytest.mark.parametrize("norm", ["batch", "layer"])
@pytest.mark.parametrize("revin_stats", [False, True])
def test_in_eval_mode_a_samples_output_does_not_depend_on_its_batch(norm, revin_stats):
    cfg = PatchTSTConfig(n_features=3, ctx_len=24, patch_len=6, stride=3, d_model=16, n_heads=2,
                         d_ff=32, n_layers=2, norm=norm, revin_stats=revin_stats)
    model = init_seeded(cfg, 1).double().eval()
    torch.manual_seed(0)
    sample = torch.randn(1, 24, 3, dtype=torch.float64)
    # Batch-mates on a very different level and scale: batch statistics would shift the sample.
    mates = torch.randn(7, 24, 3, dtype=torch.float64) * 50.0 + 200.0
    with torch.no_grad():
        alone = model(sample)
        in_batch = model(torch.cat([sample, mates]))[:1]
        in_other_batch = model(torch.cat([mates[:3], sample, mates[3:]]))[3:4]
    torch.testing.assert_close(alone, in_batch, rtol=0, atol=1e-12)
    torch.testing.assert_close(alone, in_other_batch, rtol=0, atol=1e-12)
