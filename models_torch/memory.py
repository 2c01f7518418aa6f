"""A conservative estimate of the memory one PatchTST training step needs.

    total = parameter state + saved activations + backward workspace

* Parameter state, at ``param_dtype_bytes`` (4: fp32 master weights, also under autocast):
  weights, gradients, AdamW's two moments, and one more parameter-sized buffer for the
  temporaries of the default multi-tensor ("foreach") AdamW step: 5 copies. Measured on an
  H100, a 2B model's step peaks at 5.0x its fp32 size before any activation.
* Saved activations, for T = batch * n_features * n_patches tokens of width D, feed-forward
  width F, H heads and B' = batch * n_features sequences (channel-independent; with
  ``channels="mixed"`` one sequence per sample: B' = batch, T = batch * n_patches), per layer:
      at ``dtype_bytes``   6 T*D + 2 T*F + 3 B'*H*N^2
          (q/k/v and the attention output; the feed-forward hidden before and after GELU;
           under autocast, the low-precision copies of the fp32 inputs of the two input
           projections; attention probabilities, their dropout mask and the dropped
           probabilities, which the unfused "math" attention keeps, e.g. on the CPU)
      at >= 4 bytes        7 T*D + 1 T*F
          (layer input, dropout masks, both residual sums and norm outputs: under autocast
           norms and residual additions run in fp32, so these do not shrink with bf16)
  plus, outside the layers, B*C*N*P (patches) + 3 T*D (embedding, positions, head input).
* Backward workspace: gradients of the activations of the layer being back-propagated (and
  of its output) plus temporaries, taken as two layers' worth of saved activations.

Calibration: CPU peak RSS growth of a training step is 1.2-1.9x below the estimate (tests in
tests/models); on an H100 (torch 2.11, default AdamW, 19 grid architectures from 0.4M to 2B
parameters, fp32 and bf16 autocast) estimate / torch.cuda.max_memory_allocated() ranged from
0.97 to 3.7, median ~1.6.
Fused attention kernels (flash / memory-efficient, on the GPU) never materialise the N^2
matrices, so there the estimate errs high. Allocator fragmentation and the framework's own
footprint (CUDA context, ~0.5-1 GiB) are not included.
"""

from __future__ import annotations

from models_torch.config import PatchTSTConfig
from models_torch.params import count_parameters

PARAM_COPIES = 5  # weights, grads, exp_avg, exp_avg_sq, foreach-AdamW temporaries
FULL_PRECISION_BYTES = 4  # norms and residual sums stay fp32 under autocast


def activation_bytes_per_layer(cfg: PatchTSTConfig, batch_size: int, dtype_bytes: int) -> int:
    """Bytes one encoder layer saves for backward (see the module docstring)."""
    sequences = batch_size * cfg.sequences_per_sample
    tokens = sequences * cfg.n_patches
    attention = 3 * sequences * cfg.n_heads * cfg.n_patches**2
    low = 6 * tokens * cfg.d_model + 2 * tokens * cfg.d_ff + attention
    full = 7 * tokens * cfg.d_model + 1 * tokens * cfg.d_ff
    return low * dtype_bytes + full * max(dtype_bytes, FULL_PRECISION_BYTES)


def training_memory_breakdown(
    cfg: PatchTSTConfig, batch_size: int, dtype_bytes: int = 4, *, param_dtype_bytes: int = 4
) -> dict[str, int]:
    """Bytes per component of one training step with AdamW."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n_params = count_parameters(cfg)
    tokens = batch_size * cfg.sequences_per_sample * cfg.n_patches
    patches = batch_size * cfg.n_features * cfg.n_patches * cfg.patch_len  # either mode
    per_layer = activation_bytes_per_layer(cfg, batch_size, dtype_bytes)
    outside = (patches + 3 * tokens * cfg.d_model) * dtype_bytes
    return {
        "weights": n_params * param_dtype_bytes,
        "grads": n_params * param_dtype_bytes,
        "optimizer": (PARAM_COPIES - 2) * n_params * param_dtype_bytes,
        "activations": cfg.n_layers * per_layer + outside,
        "workspace": 2 * per_layer,
    }


def estimate_training_memory(
    cfg: PatchTSTConfig, batch_size: int, dtype_bytes: int = 4, *, param_dtype_bytes: int = 4
) -> int:
    """Conservative peak bytes for a forward + backward + AdamW step at this batch size.

    ``dtype_bytes`` is the activation precision (2 under bf16/fp16 autocast);
    ``param_dtype_bytes`` that of weights, gradients and optimizer state.
    """
    return sum(training_memory_breakdown(cfg, batch_size, dtype_bytes,
                                         param_dtype_bytes=param_dtype_bytes).values())


def max_batch_size(
    cfg: PatchTSTConfig, memory_bytes: int, dtype_bytes: int = 4, *, param_dtype_bytes: int = 4
) -> int:
    """Largest batch size whose estimate fits in memory_bytes; 0 if not even one sample does."""
    kw = dict(dtype_bytes=dtype_bytes, param_dtype_bytes=param_dtype_bytes)
    fixed = estimate_training_memory(cfg, 1, **kw)
    if fixed > memory_bytes:
        return 0
    # The estimate is affine in the batch size: parameter state + per-sample activations.
    per_sample = estimate_training_memory(cfg, 2, **kw) - fixed
    return 1 + (memory_bytes - fixed) // per_sample
