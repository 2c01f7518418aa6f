"""Choose a PatchTST architecture for a parameter budget (or check an explicit one)."""

from __future__ import annotations

import math
from typing import Any

from fts.core.errors import ConfigError
from models_torch import (
    TOLERANCE,
    PatchTSTConfig,
    architecture_grid,
    count_parameters,
    format_count,
    in_budget,
    parse_budget,
)

ARCH_FIELDS = ("d_model", "n_layers", "n_heads", "d_ff", "patch_len", "stride")


def parse_budget_or_error(budget: str | int) -> int:
    """`parse_budget` with the error turned into a `ConfigError` for the CLI."""
    try:
        return parse_budget(budget)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def budget_grid(budget: str | int, n_features: int, ctx_len: int,
                template: PatchTSTConfig | None = None) -> list[Any]:
    """The budget's grid; an empty grid is a `ConfigError` that says what would fit."""
    n = parse_budget_or_error(budget)
    archs = architecture_grid(n, n_features, ctx_len, template=template)
    if not archs:
        raise ConfigError(
            f"no architecture of the grid has {format_count(n)} parameters (+-{TOLERANCE:.0%}) "
            f"for {n_features} features and ctx {ctx_len}; try another budget or context length"
        )
    return archs


def shape_score(arch: Any, budget: int) -> float:
    """Lower is better: close to the budget and shaped like the published PatchTST
    (width about 48x depth, d_ff = 2 d_model, heads 16-32 wide, patches of 16 with stride 8)."""
    c = arch.config
    return (
        3 * abs(math.log(arch.n_params / budget))
        + abs(math.log(c.d_model / c.n_layers / 48))
        + 0.5 * abs(math.log(c.d_ff / (2 * c.d_model)))
        + 0.5 * abs(math.log(c.d_model / c.n_heads / 24))
        + 0.1 * (c.patch_len != 16) + 0.1 * (c.stride != 8)
    )


def select_architecture(
    budget: str | int, n_features: int, ctx_len: int,
    overrides: dict[str, Any] | None = None, template: PatchTSTConfig | None = None,
) -> PatchTSTConfig:
    """The config to train.

    Without overrides: the grid architecture that best balances closeness to the budget and a
    conventional shape (see `shape_score`). With overrides (any of d_model, n_layers, n_heads, d_ff, patch_len, stride):
    the closest grid architecture matching them all; or, when the grid has none, the explicit
    config itself, provided its real count is within the budget.
    """
    n = parse_budget_or_error(budget)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(overrides) - set(ARCH_FIELDS))
    if unknown:
        raise ConfigError(f"unknown architecture setting(s): {', '.join(unknown)}")
    archs = architecture_grid(n, n_features, ctx_len, template=template)
    matching = [a for a in archs if all(getattr(a, k) == v for k, v in overrides.items())]
    if matching:
        return min(matching, key=lambda a: (shape_score(a, n), a.key())).config
    if not overrides:
        budget_grid(n, n_features, ctx_len, template)  # raises the explanatory error
    base = template or PatchTSTConfig(n_features=n_features, ctx_len=ctx_len)
    try:
        cfg = base.replace(n_features=n_features, ctx_len=ctx_len, **overrides)
    except ValueError as exc:
        raise ConfigError(f"invalid architecture: {exc}") from exc
    real = count_parameters(cfg)
    if not in_budget(real, n):
        raise ConfigError(
            f"architecture {overrides} has {format_count(real)} parameters, outside the "
            f"{format_count(n)} budget (+-{TOLERANCE:.0%})"
        )
    return cfg
