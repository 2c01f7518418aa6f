"""The search space: an architecture from the budget's grid plus the training settings.

Optuna cannot sample categorical parameters whose choices change between trials, so the
architecture is ONE categorical parameter, `arch`, over a fixed list of grid points named like
`d256-L6-H8-ff512-p16s8` (channel-independent) or `mixed-d256-L6-H8-ff512-p16s8` (channel
mixing). The list keeps one well-shaped point per (d_model, n_layers) pair, thinned to at most
`MAX_ARCHS`, and always holds the grid's extremes (smallest and largest d_model, n_layers and
n_heads) and its centre (the architecture `fts train` picks for the budget). A study with
channels "search" holds both modes' lists, so the channel mode is a searched dimension too
(each mode has its own grid: their parameter counts differ). Every sampled value is used by
the run it configures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna

from fts.core.errors import ConfigError
from fts.train.arch import budget_grid, shape_score
from models_torch import CHANNEL_MODES, Arch, PatchTSTConfig, grid_extremes, parse_budget

MAX_ARCHS = 48
BATCH_SIZES = (32, 64, 128)
STUDY_CHANNELS = (*CHANNEL_MODES, "search")  # "search": both modes are choices of `arch`
MIXED_PREFIX = "mixed-"
CENTRE = "centre"  # the `extreme` user attr of the central architecture's trial


def arch_key(arch: Arch) -> str:
    """A readable, unique name of a grid point (mixed-channel ones start with `mixed-`)."""
    c = arch.config
    prefix = MIXED_PREFIX if c.channels == "mixed" else ""
    return f"{prefix}d{c.d_model}-L{c.n_layers}-H{c.n_heads}-ff{c.d_ff}-p{c.patch_len}s{c.stride}"


def key_channels(key: str) -> str:
    """The channel mode of an arch key."""
    return "mixed" if key.startswith(MIXED_PREFIX) else "independent"


def parse_arch_key(key: str) -> dict[str, int]:
    """Inverse of `arch_key`: the architecture overrides it stands for (see `key_channels`)."""
    d, layers, heads, ff, ps = key.removeprefix(MIXED_PREFIX).split("-")
    patch, stride = ps[1:].split("s")
    return {"d_model": int(d[1:]), "n_layers": int(layers[1:]), "n_heads": int(heads[1:]),
            "d_ff": int(ff[2:]), "patch_len": int(patch), "stride": int(stride)}


def arch_settings(key: str) -> dict[str, int | str]:
    """Every model setting an arch key stands for: its shape and its channel mode (what the
    run-time guard checks against the resolved model config)."""
    return {**parse_arch_key(key), "channels": key_channels(key)}


@dataclass(frozen=True)
class SearchSpace:
    """The fixed choices of one study (stored as a study attribute, so resumes reuse them)."""

    archs: tuple[str, ...]
    extremes: tuple[tuple[str, str], ...]  # (label, arch key)
    n_params: dict[str, int]
    centre: str = ""  # the budget's central architecture (empty in studies stored before it)

    def centre_key(self) -> str:
        """The central arch; for an older stored space, the one with the median count."""
        if self.centre:
            return self.centre
        return sorted(self.archs, key=lambda k: (self.n_params[k], k))[len(self.archs) // 2]

    def to_dict(self) -> dict[str, Any]:
        return {"archs": list(self.archs), "extremes": [list(e) for e in self.extremes],
                "n_params": self.n_params, "centre": self.centre}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchSpace:
        return cls(tuple(data["archs"]), tuple((a, b) for a, b in data["extremes"]),
                   {k: int(v) for k, v in data["n_params"].items()}, data.get("centre", ""))


def build_space(budget: str, n_features: int, ctx_len: int, channels: str = "independent",
                options: Mapping[str, Any] | None = None) -> SearchSpace:
    """The study's fixed architecture list: one mode's thinned grid, or both for "search".

    `options` are the study's fixed model fields (RevIN and its stats path, see
    fts.train.levels): they change the parameter counts, so the grid is built with them.
    """
    if channels not in STUDY_CHANNELS:
        raise ConfigError(f"channels {channels!r}: use one of {', '.join(STUDY_CHANNELS)}")
    options = dict(options or {})
    if channels != "search":
        return _mode_space(budget, n_features, ctx_len, channels, options)
    spaces = [_mode_space(budget, n_features, ctx_len, mode, options) for mode in CHANNEL_MODES]
    extremes = tuple((f"{mode}: {label}", key)
                     for mode, space in zip(CHANNEL_MODES, spaces, strict=True)
                     for label, key in space.extremes)
    return SearchSpace(tuple(k for space in spaces for k in space.archs), extremes,
                       {k: v for space in spaces for k, v in space.n_params.items()},
                       spaces[0].centre)


def _mode_space(budget: str, n_features: int, ctx_len: int, channels: str,
                options: dict[str, Any]) -> SearchSpace:
    """Thin one channel mode's grid into a fixed architecture list."""
    template = PatchTSTConfig(n_features=n_features, ctx_len=ctx_len, channels=channels, **options)
    grid = budget_grid(budget, n_features, ctx_len, template)
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
    # The centre: what `fts train` would pick for this budget (see fts.train.arch).
    centre = min(grid, key=lambda a: (shape_score(a, target), a.key()))
    chosen.append(centre)
    chosen = sorted(set(chosen), key=Arch.key)
    return SearchSpace(tuple(arch_key(a) for a in chosen), tuple(extremes),
                       {arch_key(a): a.n_params for a in chosen}, arch_key(centre))


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


def first_trials(space: SearchSpace, n_trials: int) -> list[tuple[str, str]]:
    """The (label, arch key) pairs a study of `n_trials` runs before TPE samples.

    The grid extremes, when `n_trials` leaves at least as many trials after them for TPE;
    otherwise only the central architecture, so that a small study still searches (with
    3 trials and 6 extremes TPE would never sample).
    """
    if n_trials >= 2 * len(space.extremes):
        return list(space.extremes)
    return [(CENTRE, space.centre_key())]
