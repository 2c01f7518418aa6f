"""The training-memory estimate: conservative against measurements, monotone, sane at 2B."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import models_torch
from models_torch import (
    PatchTST,
    PatchTSTConfig,
    architecture_grid,
    estimate_training_memory,
    max_batch_size,
    training_memory_breakdown,
)

GIB = 1024**3


def saved_activation_bytes(cfg: PatchTSTConfig, batch_size: int) -> int:
    """Bytes autograd keeps for backward after one training-mode forward (parameters excluded)."""
    torch.manual_seed(0)
    model = PatchTST(cfg).train()
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.randn(batch_size, cfg.ctx_len, cfg.n_features))
    return sum(n for ptr, n in storages.items() if ptr not in params)


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(d_model=64, n_heads=4, d_ff=256, n_layers=2, dropout=0.0),
        dict(norm="layer", norm_first=True, attn_dropout=0.1),
        dict(patch_len=8, stride=4, d_model=32, n_heads=4, d_ff=32, n_layers=1),
        dict(patch_len=32, stride=32, d_model=256, n_heads=4, d_ff=1024, attn_dropout=0.3),
        dict(channels="mixed"),
        dict(channels="mixed", patch_len=8, stride=4, d_model=64, n_heads=4, d_ff=256),
    ],
)
def test_activation_estimate_bounds_saved_tensors(kw):
    cfg = PatchTSTConfig(n_features=10, ctx_len=128, **kw)
    measured = saved_activation_bytes(cfg, 8)
    estimated = training_memory_breakdown(cfg, 8)["activations"]
    assert measured <= estimated <= 3 * measured


PEAK_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    import torch
    import torch.nn.functional as F
    from models_torch import PatchTST, PatchTSTConfig, estimate_training_memory
    torch.set_num_threads(1)
    cfg = PatchTSTConfig.from_dict(json.loads(sys.argv[1]))
    bs = int(sys.argv[2])
    x, y = torch.randn(bs, cfg.ctx_len, cfg.n_features), torch.rand(bs).round()
    # Warm up kernels and the allocator on a tiny model so one-off costs are not counted.
    tiny = PatchTST(cfg.replace(d_model=16, n_heads=2, d_ff=16, n_layers=1))
    F.binary_cross_entropy_with_logits(tiny(x), y).backward()
    # Growth = high-water mark after the step minus the resident size just before it.
    base = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
    # Reset the high-water mark (VmHWM) so that an earlier peak (imports) does not count.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    model = PatchTST(cfg).train()
    opt = torch.optim.AdamW(model.parameters())
    F.binary_cross_entropy_with_logits(model(x), y).backward()
    opt.step()
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
    peak = int(hwm.split()[1]) * 1024
    print(json.dumps([peak - base, estimate_training_memory(cfg, bs)]))
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="needs /proc and ru_maxrss in KiB (Linux)")
@pytest.mark.parametrize(
    "kw,batch_size",
    [
        # activation-heavy
        (dict(n_features=20, ctx_len=128, patch_len=8, stride=4, d_model=64, n_heads=4,
              d_ff=128, n_layers=2, attn_dropout=0.1), 32),
        # parameter-heavy (~6M parameters)
        (dict(n_features=10, ctx_len=64, d_model=512, n_heads=8, d_ff=2048, n_layers=2), 8),
    ],
)
def test_estimate_against_peak_rss_of_a_training_step(kw, batch_size):
    cfg = PatchTSTConfig(**kw)
    # A fresh process, so the high-water mark is this step's; make models_torch importable.
    root = os.path.dirname(os.path.dirname(os.path.abspath(models_torch.__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, json.dumps(cfg.to_dict()), str(batch_size)],
        capture_output=True, text=True, check=True, timeout=120, env=env,
    )
    measured, estimated = json.loads(out.stdout.strip().splitlines()[-1])
    assert 0.5 * measured <= estimated <= 4 * measured, (measured, estimated)


def test_estimate_is_monotone():
    cfg = PatchTSTConfig(n_features=20, ctx_len=128)
    by_batch = [estimate_training_memory(cfg, b) for b in (1, 2, 8, 64, 512)]
    assert by_batch == sorted(by_batch) and len(set(by_batch)) == len(by_batch)
    for field, bigger in (("d_model", 256), ("n_layers", 6), ("d_ff", 1024), ("n_heads", 32),
                          ("stride", 4), ("n_features", 40), ("ctx_len", 256)):
        assert estimate_training_memory(cfg.replace(**{field: bigger}), 32) > \
            estimate_training_memory(cfg, 32), field
    assert estimate_training_memory(cfg, 32, dtype_bytes=2) < estimate_training_memory(cfg, 32)


def test_2b_model_needs_more_than_24_gib():
    archs = architecture_grid("2B", 20, 128)
    arch = min(archs, key=lambda a: abs(a.n_params - 2e9))  # a nominal 2B model
    assert abs(arch.n_params - 2e9) < 0.05e9
    parts = training_memory_breakdown(arch.config, 1)
    assert parts["weights"] + parts["grads"] + parts["optimizer"] == 20 * arch.n_params
    assert estimate_training_memory(arch.config, 1) > 24 * GIB
    assert max_batch_size(arch.config, 24 * GIB) == 0


def test_max_batch_size_is_the_largest_that_fits():
    cfg = PatchTSTConfig(n_features=50, ctx_len=256)
    limit = 8 * GIB
    bs = max_batch_size(cfg, limit)
    assert bs >= 1
    assert estimate_training_memory(cfg, bs) <= limit < estimate_training_memory(cfg, bs + 1)
