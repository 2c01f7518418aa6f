"""Declared experiment matrices: `studies/NAME.toml` -> `Experiment` (tiers x budgets x horizons
x thresholds, HPO trials per cell, final-training seeds, split policy, context length, the
`[dataset]` options: model inputs, normalization and the validation-positives rule, and the
`[model]` options: channel levels fed to the head, `revin_stats`)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fts.core.errors import ConfigError, NotFoundError
from fts.datasets import INPUTS, MIN_VAL_POSITIVES, SELECTION_SPLIT, SplitPolicy
from fts.train.levels import DEFAULT_NORMALIZATION, LEGACY, level_options
from models_torch import parse_budget


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix: a tier, a budget and a target."""

    experiment: str
    tier: str
    budget: str
    horizon: int
    threshold_pct: float

    @property
    def key(self) -> str:
        return f"{self.tier}:{self.budget}:h{self.horizon}:p{self.threshold_pct:g}"

    @property
    def study(self) -> str:
        return f"{self.experiment}:{self.key}"


@dataclass(frozen=True)
class Experiment:
    """A parsed study matrix."""

    name: str
    description: str
    tiers: tuple[str, ...]
    budgets: tuple[str, ...]
    horizons: tuple[int, ...]
    thresholds: tuple[float, ...]
    trials: int = 20
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    ctx_len: int = 64
    split: SplitPolicy = SELECTION_SPLIT
    inputs: str = "scale_free"
    min_val_positives: int = MIN_VAL_POSITIVES
    max_epochs: int = 30
    patience: int = 5
    max_train_batches: int = 0
    source: str = ""
    channels: str = "independent"  # PatchTST channel mode: independent, mixed or search
    # How the model sees each channel's level (fts.train.levels): `[dataset] normalization`
    # and `[model] revin_stats` (resolved: on with RevIN unless the file says otherwise).
    normalization: str = DEFAULT_NORMALIZATION
    revin_stats: bool = True

    @property
    def levels(self) -> dict[str, Any]:
        """The channel-level settings as keyword arguments of StudySpec / RunRequest."""
        return {"normalization": self.normalization, "revin_stats": self.revin_stats}

    def levels_changed(self) -> dict[str, Any]:
        """The channel-level settings that differ from what cells had before they existed
        (`fts.train.levels.LEGACY`): only these enter a cell's settings, so cells finished
        before the option still match a study file that asks for the same."""
        return {k: v for k, v in self.levels.items() if v != LEGACY[k]}

    def cells(self) -> list[Cell]:
        """Every cell, in a stable order: budgets inside tiers inside targets."""
        return [Cell(self.name, t, b, h, p) for h in self.horizons for p in self.thresholds
                for t in self.tiers for b in self.budgets]


def _tuple(data: dict[str, Any], key: str, kind: type, path: Path, default: Any = None) -> tuple:
    value = data.get(key, default)
    if value is None:
        raise ConfigError(f"{path}: `{key}` is required")
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{path}: `{key}` must be a non-empty list")
    try:
        return tuple(kind(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: `{key}`: {exc}") from exc


def load_experiment(path: str | Path) -> Experiment:
    """Parse and validate a study matrix (unknown keys are errors, so typos are caught)."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"{path}: no such study file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    known = {"name", "description", "tiers", "budgets", "horizons", "thresholds", "trials",
             "seeds", "ctx_len", "split", "training", "dataset", "channels", "model"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}")
    training = data.get("training", {})
    unknown = sorted(set(training) - {"max_epochs", "patience", "max_train_batches"})
    if unknown:
        raise ConfigError(f"{path}: unknown [training] key(s) {', '.join(unknown)}")
    dataset = data.get("dataset", {})
    unknown = sorted(set(dataset) - {"inputs", "min_val_positives", "normalization"})
    if unknown:
        raise ConfigError(f"{path}: unknown [dataset] key(s) {', '.join(unknown)}")
    model = data.get("model", {})
    unknown = sorted(set(model) - {"revin_stats"})
    if unknown:
        raise ConfigError(f"{path}: unknown [model] key(s) {', '.join(unknown)}")
    normalization = dataset.get("normalization", DEFAULT_NORMALIZATION)
    try:
        revin_stats = level_options(normalization, model.get("revin_stats"))["revin_stats"]
    except ConfigError as exc:
        raise ConfigError(f"{path}: [dataset]/[model]: {exc}") from exc
    inputs = str(dataset.get("inputs", "scale_free"))
    if inputs not in INPUTS:
        raise ConfigError(f"{path}: [dataset] inputs {inputs!r} is not one of {', '.join(INPUTS)}")
    min_pos = dataset.get("min_val_positives", MIN_VAL_POSITIVES)
    if isinstance(min_pos, bool) or not isinstance(min_pos, int) or min_pos < 0:
        raise ConfigError(f"{path}: [dataset] min_val_positives must be an integer >= 0")
    budgets = _tuple(data, "budgets", str, path)
    for b in budgets:
        try:
            parse_budget(b)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    try:
        split = SplitPolicy.from_dict(data["split"]) if data.get("split") else SELECTION_SPLIT
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: [split]: {exc}") from exc
    exp = Experiment(
        name=str(data.get("name") or path.stem), description=str(data.get("description", "")),
        tiers=_tuple(data, "tiers", str, path), budgets=budgets,
        horizons=_tuple(data, "horizons", int, path), thresholds=_tuple(data, "thresholds", float, path),
        trials=int(data.get("trials", 20)), seeds=_tuple(data, "seeds", int, path, [0, 1, 2, 3, 4]),
        ctx_len=int(data.get("ctx_len", 64)), split=split, inputs=inputs,
        min_val_positives=min_pos,
        max_epochs=int(training.get("max_epochs", 30)), patience=int(training.get("patience", 5)),
        max_train_batches=int(training.get("max_train_batches", 0)), source=str(path),
        channels=str(data.get("channels", "independent")),
        normalization=normalization, revin_stats=revin_stats,
    )
    if exp.channels not in ("independent", "mixed", "search"):
        raise ConfigError(f"{path}: `channels` must be independent, mixed or search, "
                          f"got {exp.channels!r}")
    if exp.trials < 1:
        raise ConfigError(f"{path}: `trials` must be >= 1")
    return exp
