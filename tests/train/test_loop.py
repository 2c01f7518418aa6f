"""The training loop on small synthetic data: every setting changes the run, seeds reproduce,
the best epoch is what is reported, accumulation is exact."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from fts.core.errors import FtsError
from fts.train.config import TrainConfig
from fts.train.loop import TrainingDiverged, fit, predict
from fts.train.metrics import log_loss_safe
from fts.train.schedule import lr_at
from models_torch import PatchTST, PatchTSTConfig

CPU = torch.device("cpu")


def make_split(n: int, seed: int, ctx: int = 16, n_features: int = 3) -> SimpleNamespace:
    """Windows over one random-walk matrix; the label depends on the last rows (learnable)."""
    rng = np.random.default_rng(seed)
    base = np.cumsum(rng.normal(size=(n + ctx, n_features)), axis=0).astype(np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(base, ctx, axis=0).transpose(0, 2, 1)[:n]
    labels = (windows[:, -1, 0] > windows[:, -4, 0]).astype(np.int8)
    return SimpleNamespace(windows=windows, labels=labels)


TRAIN, VAL = make_split(192, 1), make_split(64, 2)
MODEL = PatchTSTConfig(n_features=3, ctx_len=16, patch_len=4, stride=2, d_model=16, n_layers=1,
                       n_heads=2, d_ff=32, dropout=0.1)
BASE = TrainConfig(lr=3e-3, max_epochs=3, patience=3, batch_size=32, micro_batch=0, seed=0)


def run(cfg: TrainConfig = BASE, model_cfg: PatchTSTConfig = MODEL, micro: int = 32):
    """fit() as run_training calls it: `micro` is the memory-derived largest forward pass, and
    the config (micro_batch included) goes in untouched, so a setting fit() ignores shows."""
    torch.manual_seed(123)
    model = PatchTST(model_cfg)
    result = fit(model, cfg, TRAIN, VAL, CPU, micro)
    weights = torch.cat([p.detach().flatten() for p in model.parameters()])
    return result, weights


def fingerprint(result, weights) -> tuple:
    return (tuple(round(h["val_loss"], 10) for h in result.history),
            tuple(round(h["train_loss"], 10) for h in result.history),
            round(float(weights.abs().sum()), 8), result.epochs_run)


CHANGES: dict[str, object] = {
    "lr": 1e-3, "weight_decay": 0.5, "warmup_frac": 0.5, "min_lr_ratio": 1.0, "max_epochs": 2,
    "patience": 1, "batch_size": 16, "micro_batch": 8, "grad_clip": 0.01, "pos_weight": 3.0,
    "bf16": True, "seed": 1, "max_train_batches": 2,
}


# Patience only matters once validation stops improving: give it a run where it does.
BASES = {"patience": dataclasses.replace(BASE, lr=5e-2, max_epochs=8, patience=8)}


def test_every_training_setting_is_tested() -> None:
    assert set(CHANGES) == {f.name for f in dataclasses.fields(TrainConfig)}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_each_training_setting_changes_the_run(name: str) -> None:
    base = BASES.get(name, BASE)
    baseline = fingerprint(*run(base))
    changed = fingerprint(*run(dataclasses.replace(base, **{name: CHANGES[name]})))
    assert changed != baseline, f"setting {name} was accepted but did not change the run"


@pytest.mark.parametrize(("configured", "memory_cap", "used"), [
    (0, 32, 32), (0, 8, 8), (8, 32, 8), (16, 8, 8), (64, 128, 32),
])
def test_micro_batch_is_the_configured_one_within_memory_and_batch_size(
        configured: int, memory_cap: int, used: int) -> None:
    cfg = dataclasses.replace(BASE, micro_batch=configured, max_epochs=1, max_train_batches=1)
    result, _ = run(cfg, micro=memory_cap)
    assert result.micro_batch == used


def test_patience_stops_early_when_validation_stops_improving() -> None:
    cfg = dataclasses.replace(BASE, lr=3e-2, max_epochs=12, patience=1)
    result, _ = run(cfg)
    assert result.epochs_run < 12
    last_two = [h["val_loss"] for h in result.history[-2:]]
    assert last_two[-1] >= min(h["val_loss"] for h in result.history[:-1]) or len(last_two) < 2


def test_model_dropout_changes_the_run() -> None:
    assert fingerprint(*run(model_cfg=dataclasses.replace(MODEL, dropout=0.0))) != fingerprint(*run())


def test_same_seed_gives_identical_results_on_cpu() -> None:
    assert fingerprint(*run()) == fingerprint(*run())


def test_best_epoch_weights_are_restored_before_reporting() -> None:
    cfg = dataclasses.replace(BASE, lr=5e-2, max_epochs=6, patience=6)
    torch.manual_seed(123)
    model = PatchTST(MODEL)
    result = fit(model, cfg, TRAIN, VAL, CPU, 32)
    losses = [h["val_loss"] for h in result.history]
    assert result.best_epoch == int(np.argmin(losses))
    assert result.best_epoch != len(losses) - 1 or losses[-1] == min(losses)
    # The model now holds the best epoch's weights: its validation loss is the best one.
    again = log_loss_safe(VAL.labels, predict(model, VAL, CPU))
    assert again == pytest.approx(min(losses), abs=1e-9)


def test_best_epoch_is_restored_when_validation_loss_rises_after_its_minimum() -> None:
    """Validation labels are the training labels flipped: the better the model fits the
    training data, the worse it does on validation, so the minimum comes before the last epoch
    and only a real restore gives back the minimum's weights (best = last cannot pass here)."""
    flipped = SimpleNamespace(windows=TRAIN.windows, labels=(1 - TRAIN.labels).astype(np.int8))
    cfg = dataclasses.replace(BASE, lr=1e-2, max_epochs=6, patience=6)
    torch.manual_seed(123)
    model = PatchTST(dataclasses.replace(MODEL, dropout=0.0))
    result = fit(model, cfg, TRAIN, flipped, CPU, 32)
    losses = [h["val_loss"] for h in result.history]
    assert result.epochs_run == 6
    assert result.best_epoch == int(np.argmin(losses)) < len(losses) - 1
    assert losses[-1] > min(losses) + 1e-3  # it really rose after the minimum
    again = log_loss_safe(flipped.labels, predict(model, flipped, CPU))
    assert again == pytest.approx(min(losses), abs=1e-9)


def test_gradient_accumulation_equals_a_full_batch_step() -> None:
    # LayerNorm and no dropout: micro-batches then see exactly the full batch's computation.
    cfg_model = dataclasses.replace(MODEL, norm="layer", dropout=0.0)
    cfg = dataclasses.replace(BASE, max_epochs=1, max_train_batches=1)
    _, full = run(cfg, cfg_model, micro=32)
    _, accumulated = run(cfg, cfg_model, micro=8)
    assert torch.allclose(full, accumulated, rtol=1e-5, atol=1e-5)


def test_learning_rate_warms_up_then_decays_along_a_cosine() -> None:
    lrs = [lr_at(s, 100, 1.0, 0.1, 0.1) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(1.0)
    assert lrs[55] == pytest.approx(0.1 + 0.9 * 0.5, abs=1e-9)  # half-way through the decay
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert lrs[-1] > 0.1 - 1e-12


def test_non_finite_loss_fails_the_run() -> None:
    bad = make_split(64, 3)
    bad.windows = bad.windows.copy()
    bad.windows[:, :, 0] = np.inf
    with pytest.raises(TrainingDiverged, match="loss became"):
        fit(PatchTST(dataclasses.replace(MODEL, revin=False)), BASE, bad, VAL, CPU, 32)


def test_weight_decay_shrinks_weight_matrices_only() -> None:
    """Every parameter is in exactly one group; only 2-D weight matrices are decayed, never
    biases, norms, RevIN's affine or the positional table."""
    from fts.train.loop import _param_groups

    model = PatchTST(PatchTSTConfig(n_features=3, ctx_len=32, d_model=16, n_heads=2, n_layers=1,
                                    d_ff=32, patch_len=8, stride=4))
    decay, no_decay = (g["params"] for g in _param_groups(model, 0.1))
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay}
    assert len(decay) + len(no_decay) == len(list(model.parameters()))
    assert "pos" not in decayed
    assert all(model.get_parameter(n).dim() == 2 for n in decayed)
    assert {n for n, p in model.named_parameters() if p.dim() == 2} - decayed == {"pos"}


def test_the_best_weights_are_copied_to_host_memory() -> None:
    """The snapshot of the best epoch is a copy in host memory (a copy on a GPU would add one
    parameter-sized buffer to every later step), keeps the modules' versions, and loads back."""
    from fts.train.loop import _snapshot

    model = PatchTST(MODEL)
    snap = _snapshot(model)
    assert set(snap) == set(model.state_dict())
    assert all(t.device.type == "cpu" for t in snap.values())
    assert getattr(snap, "_metadata", None) == getattr(model.state_dict(), "_metadata", None)
    before = {k: t.clone() for k, t in snap.items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    assert all(torch.equal(snap[k], before[k]) for k in snap)  # a copy, not a view
    model.load_state_dict(snap)
    assert all(torch.equal(model.state_dict()[k], before[k]) for k in snap)


def test_a_fixed_epoch_count_without_validation_replays_the_validated_runs_first_epochs() -> None:
    """A final run (no validation split): exactly `epochs` epochs, no early stopping, the last
    epoch's weights, and each epoch as the validated run's same epoch (the same lr schedule)."""
    cfg = dataclasses.replace(BASE, max_epochs=5, patience=5, lr=1e-2)
    torch.manual_seed(123)
    validated = PatchTST(MODEL)
    full = fit(validated, cfg, TRAIN, VAL, CPU, 32)
    torch.manual_seed(123)
    model = PatchTST(MODEL)
    result = fit(model, cfg, TRAIN, None, CPU, 32, epochs=2)
    assert result.epochs_run == 2 and result.best_epoch == 1
    assert [h["val_loss"] for h in result.history] == [None, None]
    for mine, theirs in zip(result.history, full.history[:2], strict=True):
        assert mine["lr"] == theirs["lr"]  # the schedule still spans max_epochs
        assert mine["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-6)
    # Its weights are those after epoch 2 (nothing restored): validated, epoch 2 scores
    # full.history[1]["val_loss"] on VAL, whatever epoch was best there.
    assert log_loss_safe(VAL.labels, predict(model, VAL, CPU)) == pytest.approx(
        full.history[1]["val_loss"], rel=1e-5)


def test_fit_takes_a_validation_split_or_a_fixed_epoch_count() -> None:
    model = PatchTST(MODEL)
    for val, epochs in ((VAL, 2), (None, None), (None, 0), (None, BASE.max_epochs + 1)):
        with pytest.raises(FtsError):
            fit(model, BASE, TRAIN, val, CPU, 32, epochs=epochs)
