"""The search space: an architecture from the budget's grid plus the training settings.

Optuna cannot sample categorical parameters whose choices change between trials, so the
architecture is ONE categorical parameter, `arch`, over a fixed list of grid points named like
`d256-L6-H8-ff512-p16s8`. The list keeps one well-shaped point per (d_model, n_layers) pair,
thinned to at most `MAX_ARCHS`, and always holds the grid's extremes (smallest and largest
d_model, n_layers and n_heads), which are enqueued as the first trials. Every sampled value
is used by the run it configures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna

from fts.train.arch import budget_grid, shape_score
from models_torch import Arch, grid_extremes, parse_budget

MAX_ARCHS = 48
BATCH_SIZES = (32, 64, 128)


def arch_key(arch: Arch) -> str:
    """A readable, unique name of a grid point."""
    c = arch.config
    return f"d{c.d_model}-L{c.n_layers}-H{c.n_heads}-ff{c.d_ff}-p{c.patch_len}s{c.stride}"


def parse_arch_key(key: str) -> dict[str, int]:
    """Inverse of `arch_key`: the architecture overrides it stands for."""
    d, layers, heads, ff, ps = key.split("-")
    patch, stride = ps[1:].split("s")
    return {"d_model": int(d[1:]), "n_layers": int(layers[1:]), "n_heads": int(heads[1:]),
            "d_ff": int(ff[2:]), "patch_len": int(patch), "stride": int(stride)}


@dataclass(frozen=True)
class SearchSpace:
    """The fixed choices of one study (stored as a study attribute, so resumes reuse them)."""

    archs: tuple[str, ...]
    extremes: tuple[tuple[str, str], ...]  # (label, arch key)
    n_params: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"archs": list(self.archs), "extremes": [list(e) for e in self.extremes],
                "n_params": self.n_params}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchSpace:
        return cls(tuple(data["archs"]), tuple((a, b) for a, b in data["extremes"]),
                   {k: int(v) for k, v in data["n_params"].items()})


def build_space(budget: str, n_features: int, ctx_len: int) -> SearchSpace:
    """Thin the budget's grid into the study's fixed architecture list."""
    grid = budget_grid(budget, n_features, ctx_len)
    target = parse_budget(budget)
    best: dict[tuple[int, int], Arch] = {}
    for a in grid:
        k = (a.d_model, a.n_layers)
        if k not in best or shape_score(a, target) < shape_score(best[k], target):
            best[k] = a
    chosen = sorted(best.values(), key=Arch.key)
    if len(chosen) > MAX_ARCHS:
        step = len(chosen) / MAX_ARCHS
        chosen = [chosen[int(i * step)] for i in range(MAX_ARCHS)]
    labels = ["smallest d_model", "largest d_model", "fewest layers", "most layers",
              "fewest heads", "most heads"]
    extremes_archs = grid_extremes(grid)
    extremes = []
    for arch in extremes_archs:
        if arch not in chosen:
            chosen.append(arch)
        label = _extreme_label(arch, grid, labels)
        extremes.append((label, arch_key(arch)))
    chosen = sorted(set(chosen), key=Arch.key)
    return SearchSpace(tuple(arch_key(a) for a in chosen), tuple(extremes),
                       {arch_key(a): a.n_params for a in chosen})


def _extreme_label(arch: Arch, grid: list[Arch], labels: list[str]) -> str:
    parts = []
    for field, (lo_label, hi_label) in (("d_model", labels[0:2]), ("n_layers", labels[2:4]),
                                        ("n_heads", labels[4:6])):
        values = [getattr(a, field) for a in grid]
        if getattr(arch, field) == min(values):
            parts.append(lo_label)
        if getattr(arch, field) == max(values):
            parts.append(hi_label)
    return ", ".join(parts)


def suggest(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """Sample one configuration. Every returned value configures the run."""
    return {
        "arch": trial.suggest_categorical("arch", list(space.archs)),
        "lr": trial.suggest_float("lr", 1e-4, 3e-3, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-4, 0.3, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.4),
        "warmup_frac": trial.suggest_float("warmup_frac", 0.0, 0.2),
        "batch_size": trial.suggest_categorical("batch_size", list(BATCH_SIZES)),
    }
