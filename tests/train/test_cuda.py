"""The training loop on a CUDA GPU (skipped without one): the best weights stay off the device,
the best epoch is restored, bf16 autocast trains, and accumulation is exact there too."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from fts.train.config import TrainConfig
from fts.train.loop import fit, predict
from fts.train.metrics import log_loss_safe
from models_torch import PatchTST, PatchTSTConfig
from tests.train.test_loop import BASE, MODEL, TRAIN, VAL, make_split

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CUDA = torch.device("cuda")


def _peak_bytes_of_fit(model_cfg: PatchTSTConfig, cfg: TrainConfig) -> int:
    torch.manual_seed(0)
    model = PatchTST(model_cfg)
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    fit(model, cfg, TRAIN, VAL, CUDA, cfg.batch_size)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    del model
    torch.cuda.empty_cache()
    return peak


def test_keeping_the_best_weights_costs_no_device_memory() -> None:
    # Parameter-heavy (~25M parameters, 100 MB), tiny activations: a second epoch, which runs
    # with the first epoch's best weights kept, must peak no higher than the first.
    model_cfg = dataclasses.replace(MODEL, d_model=512, n_heads=8, d_ff=2048, n_layers=8,
                                    dropout=0.0)
    n_bytes = 4 * sum(p.numel() for p in PatchTST(model_cfg).parameters())
    one = dataclasses.replace(BASE, max_epochs=1, patience=1, max_train_batches=2, lr=1e-5)
    two = dataclasses.replace(one, max_epochs=2, patience=2)
    assert _peak_bytes_of_fit(model_cfg, two) <= _peak_bytes_of_fit(model_cfg, one) + 0.1 * n_bytes


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_best_epoch_weights_are_restored_on_the_gpu(bf16: bool) -> None:
    cfg = dataclasses.replace(BASE, lr=5e-2, max_epochs=6, patience=6, bf16=bf16)
    torch.manual_seed(123)
    model = PatchTST(MODEL)
    result = fit(model, cfg, TRAIN, VAL, CUDA, 32)
    losses = [h["val_loss"] for h in result.history]
    assert all(np.isfinite(losses)) and result.best_epoch == int(np.argmin(losses))
    assert all(p.device.type == "cuda" for p in model.parameters())
    p_val = predict(model, VAL, CUDA, bf16=bf16)
    assert p_val.dtype == np.float64 and np.all((p_val >= 0) & (p_val <= 1))  # may saturate
    assert log_loss_safe(VAL.labels, p_val) == pytest.approx(min(losses), abs=1e-6)


def test_gradient_accumulation_equals_a_full_batch_step_on_the_gpu() -> None:
    # The gradients of the one step, not the weights after it: AdamW's first step is about
    # lr * sign(grad), so a near-zero gradient element whose rounding differs (the GPU sums in
    # another order for another micro-batch) moves its weight by up to 2 lr either way.
    cfg_model = dataclasses.replace(MODEL, norm="layer", dropout=0.0)
    cfg = dataclasses.replace(BASE, max_epochs=1, max_train_batches=1)

    def grads(micro: int) -> torch.Tensor:
        torch.manual_seed(123)
        model = PatchTST(cfg_model)
        fit(model, cfg, TRAIN, VAL, CUDA, micro)  # the step's gradients stay on the parameters
        return torch.cat([p.grad.flatten() for p in model.parameters()]).cpu()

    full, accumulated = grads(32), grads(8)
    assert full.abs().max() > 0
    assert torch.allclose(full, accumulated, rtol=1e-4, atol=1e-6 * float(full.abs().max()))


def test_non_finite_loss_fails_the_run_on_the_gpu() -> None:
    from fts.train.loop import TrainingDiverged

    bad = make_split(64, 3)
    bad.windows = bad.windows.copy()
    bad.windows[:, :, 0] = np.inf
    with pytest.raises(TrainingDiverged, match="loss became"):
        fit(PatchTST(dataclasses.replace(MODEL, revin=False)), BASE, bad, VAL, CUDA, 32)


def test_the_optimizer_is_fused_on_the_gpu() -> None:
    from fts.train.loop import make_optimizer

    model = PatchTST(MODEL).to(CUDA)
    optimizer = make_optimizer(model, BASE, CUDA)
    assert optimizer.defaults["fused"] is True
    before = [p.detach().clone() for p in model.parameters()]
    model(torch.randn(4, MODEL.ctx_len, MODEL.n_features, device=CUDA)).sum().backward()
    optimizer.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))
