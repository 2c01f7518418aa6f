"""Parameter budgets ("2M", "20M", ...) and the grid of PatchTST architectures that meet one.

A model is *in budget* when its exact trainable-parameter count lies within +-25 % of the
budget. The grid is enumerated arithmetically: for each (patch setting, d_model, d_ff ratio)
the count is affine in n_layers, so the admissible n_layers form an interval that is solved
for directly instead of being searched.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from models_torch.config import PatchTSTConfig
from models_torch.params import count_parameters, layer_parameters, parameter_breakdown

TOLERANCE = 0.25  # +-25 % of the budget counts as "in budget"

# Token widths: powers of two and the 1.5x sizes between them (48, 96, ..., 3072).
D_MODELS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096)
N_LAYERS = range(1, 49)
FF_RATIOS = (1, 2, 4)  # d_ff = ratio * d_model
HEAD_CHOICES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
# Head width bounds: below 8 a head can hardly attend; above 256 the fused attention kernels
# (flash / memory-efficient) no longer apply and memory goes quadratic on the GPU.
MIN_HEAD_DIM, MAX_HEAD_DIM = 8, 256
PATCH_LENS = (8, 16, 32)  # with stride = patch_len (no overlap) or patch_len // 2 (paper)

_BUDGET_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([KMB]?)", re.IGNORECASE)
_SCALE = {"": 1, "K": 1_000, "M": 1_000_000, "B": 1_000_000_000}


def parse_budget(text: str | int) -> int:
    """'20M' -> 20_000_000. Accepts <number>[K|M|B], case-insensitive: 200K, 1.5M, 2B, 5000."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 1:
            raise ValueError(f"budget must be positive, got {text}")
        return text
    forms = "expected <number>[K|M|B], e.g. 2M, 20M, 200M, 2B, 200K, 1.5M or 5000"
    match = _BUDGET_RE.fullmatch(str(text).strip().replace("_", ""))
    if match is None:
        raise ValueError(f"malformed parameter budget {text!r}: {forms}")
    number, suffix = match.groups()
    # Decimal arithmetic on the digits keeps 1.1M exactly 1_100_000 (no float rounding).
    whole, _, frac = number.partition(".")
    scale = _SCALE[suffix.upper()]
    numerator = int(whole or "0") * 10 ** len(frac) + int(frac or "0")
    value, remainder = divmod(numerator * scale, 10 ** len(frac))
    if remainder or value < 1:
        raise ValueError(f"parameter budget {text!r} is not a positive whole count: {forms}")
    return value


def in_budget(n_params: int, budget: int, tolerance: float = TOLERANCE) -> bool:
    """True when n_params is within +-tolerance of budget."""
    return abs(n_params - budget) <= tolerance * budget


@dataclass(frozen=True)
class Arch:
    """One grid point: a full, valid config and its exact parameter count."""

    config: PatchTSTConfig
    n_params: int

    # Shortcuts to the architectural fields (the rest live in ``config``).
    @property
    def d_model(self) -> int:
        return self.config.d_model

    @property
    def n_layers(self) -> int:
        return self.config.n_layers

    @property
    def n_heads(self) -> int:
        return self.config.n_heads

    @property
    def d_ff(self) -> int:
        return self.config.d_ff

    @property
    def patch_len(self) -> int:
        return self.config.patch_len

    @property
    def stride(self) -> int:
        return self.config.stride

    def key(self) -> tuple[int, ...]:
        """Total order used for sorting: count first, then the architectural fields."""
        c = self.config
        return (self.n_params, c.d_model, c.n_layers, c.d_ff, c.n_heads, c.patch_len, c.stride)

    def to_dict(self) -> dict[str, object]:
        return {**self.config.to_dict(), "n_params": self.n_params}


def patch_settings(ctx_len: int) -> list[tuple[int, int]]:
    """(patch_len, stride) pairs of the grid that fit in ctx_len."""
    return [(p, s) for p in PATCH_LENS if p <= ctx_len for s in (p, p // 2)]


def head_choices(d_model: int) -> list[int]:
    """Head counts dividing d_model with a head width in [MIN_HEAD_DIM, MAX_HEAD_DIM]."""
    return [h for h in HEAD_CHOICES
            if d_model % h == 0 and MIN_HEAD_DIM <= d_model // h <= MAX_HEAD_DIM]


def architecture_grid(
    budget: int | str,
    n_features: int,
    ctx_len: int,
    *,
    template: PatchTSTConfig | None = None,
    tolerance: float = TOLERANCE,
    max_head_share: float | None = None,
    channels: str | None = None,
) -> list[Arch]:
    """Every grid architecture whose exact count is within +-tolerance of the budget.

    ``template`` supplies the non-architectural fields (dropouts, norm, RevIN flags, padding
    mode); its n_features/ctx_len and architectural fields are replaced. ``max_head_share``
    optionally drops archs whose flatten head (C*N*D weights) exceeds that fraction of the
    count: at small budgets with many features the head can be most of the model.
    ``channels`` ("independent" or "mixed", default: the template's) picks the channel mode;
    each mode has its own grid, since its counts differ (the head shrinks by C when mixed,
    the embedding grows by C). Returns []
    when no grid point fits (the caller decides whether that is an error). Sorted by
    ``Arch.key``.
    """
    budget = parse_budget(budget)
    lo, hi = budget * (1 - tolerance), budget * (1 + tolerance)
    base = template or PatchTSTConfig(n_features=n_features, ctx_len=ctx_len, patch_len=1,
                                      stride=1, n_heads=1)
    base = base.replace(n_features=n_features, ctx_len=ctx_len, patch_len=1, stride=1,
                        n_heads=1, channels=channels or base.channels)
    archs: list[Arch] = []
    for patch_len, stride in patch_settings(ctx_len):
        patched = base.replace(patch_len=patch_len, stride=stride)
        for d_model in D_MODELS:
            heads = head_choices(d_model)
            for ratio in FF_RATIOS:
                cfg = patched.replace(d_model=d_model, n_heads=heads[0], d_ff=ratio * d_model,
                                      n_layers=1)
                per_layer = layer_parameters(d_model, cfg.d_ff)
                fixed = count_parameters(cfg) - per_layer  # everything but the layers
                head = parameter_breakdown(cfg)["head"]
                first = max(N_LAYERS.start, math.ceil((lo - fixed) / per_layer))
                last = min(N_LAYERS.stop - 1, math.floor((hi - fixed) / per_layer))
                for n_layers in range(first, last + 1):
                    n_params = fixed + n_layers * per_layer
                    if not in_budget(n_params, budget, tolerance):  # guards float edges
                        continue
                    if max_head_share is not None and head > max_head_share * n_params:
                        continue
                    for n_heads in heads:
                        archs.append(Arch(cfg.replace(n_layers=n_layers, n_heads=n_heads),
                                          n_params))
    archs.sort(key=Arch.key)
    return archs


def grid_extremes(archs: Sequence[Arch]) -> list[Arch]:
    """The archs at the smallest and largest d_model, n_layers and n_heads, deduplicated.

    Meant as the first HPO trials, so the search sees the corners of the space early. Ties
    are broken towards the arch whose count is closest to the median count of ``archs`` (then
    by ``Arch.key``), keeping the corners comparable in size.
    """
    if not archs:
        return []
    counts = sorted(a.n_params for a in archs)
    median = counts[len(counts) // 2]

    def closeness(a: Arch) -> tuple[float, tuple[int, ...]]:
        return abs(math.log(a.n_params / median)), a.key()

    picked: list[Arch] = []
    for field in ("d_model", "n_layers", "n_heads"):
        values = [getattr(a, field) for a in archs]
        for target in (min(values), max(values)):
            best = min((a for a in archs if getattr(a, field) == target), key=closeness)
            if best not in picked:
                picked.append(best)
    return picked


def summarize(archs: Iterable[Arch]) -> dict[str, int]:
    """Size and count range of a grid (for logs and error messages)."""
    counts = [a.n_params for a in archs]
    if not counts:
        return {"n_archs": 0}
    return {"n_archs": len(counts), "min_params": min(counts), "max_params": max(counts)}
