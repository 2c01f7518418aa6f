"""Read the declarations in `features_sql/`: the project vars and sources, the macros, the tiers
and models.

The sources (`sources:` in project.yml, as dbt's) are the raw inputs models may read: the
per-ticker bars (kind `ohlcv`) and market-wide series (kind `series`: columns of one ticker of
the raw store, as-of joined to every ticker date, NULL when older than `max_staleness_days`).

A tier is a folder `features_sql/<tier>/` holding `<tier>.yml` (version, description, columns
with warm-up, range and allowed-null reason), the final model `<tier>.sql` or `<tier>.py`, and
any intermediate models. A model's name is its file stem, unique across the project.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fts.core.errors import ConfigError, NotFoundError

NULL_REASONS = {
    "missing_volume": "the ticker has no volume data (volume is null throughout)",
    "stale_source": "no value of a market-wide source within its max_staleness_days before this date",
}
RESERVED_DIRS = {"macros"}
# How a column depends on the ticker's price and volume scale (see docs/features.md). A dataset
# turns the scale-dependent kinds into scale-free model inputs; the tier keeps the values as
# defined. Metadata: a kind does not change the built values, so it is not in the fingerprint.
KINDS = {
    "price_level": "a price (same unit as close): scales with the price",
    "price_difference": "a difference of prices (e.g. ATR, MACD line): scales with the price",
    "volume_scaled": "scales with the volume (e.g. OBV, A/D oscillator, Klinger signal)",
    "scale_free": "independent of the price and volume scale (ratio, percent, oscillator, count, index level)",
}


SOURCE_KINDS = {
    "ohlcv": "per-ticker daily bars of the tickers being built (raw.ohlcv)",
    "series": "a market-wide series: columns of one ticker of raw.ohlcv, as-of joined to every "
              "ticker date, NULL when older than max_staleness_days",
}
#: Columns of raw.ohlcv a series may take, and what the ohlcv source holds.
BAR_COLUMNS = ("open", "high", "low", "close", "volume")
_SOURCE_KEYS = {"ohlcv": {"name", "kind", "description"},
                "series": {"name", "kind", "description", "ticker", "columns", "max_staleness_days"}}
#: A project.yml without `sources:` reads the bars only (projects from before sources existed).
DEFAULT_SOURCES = ({"name": "ohlcv", "kind": "ohlcv"},)


@dataclass(frozen=True)
class SourceSpec:
    """A declared source. For a `series`: the raw ticker, its columns and the staleness limit."""

    name: str
    kind: str  # one of SOURCE_KINDS
    description: str = ""
    ticker: str | None = None
    columns: tuple[str, ...] = ()
    max_staleness_days: int | None = None

    @property
    def relation_columns(self) -> tuple[str, ...]:
        """The columns of the source's relation in a build, in order."""
        if self.kind == "ohlcv":
            return ("ticker", "date", *BAR_COLUMNS)
        return ("date", *self.columns)

    def definition(self) -> dict[str, Any]:
        """The parts that change the data a model reads (the description does not)."""
        return {"name": self.name, "kind": self.kind, "ticker": self.ticker,
                "columns": list(self.columns), "max_staleness_days": self.max_staleness_days}


@dataclass(frozen=True)
class ColumnSpec:
    """One declared feature column."""

    name: str
    description: str
    warmup: int
    tier: str
    min: float | None = None
    max: float | None = None
    nullable: str | None = None
    kind: str = ""  # one of KINDS; the parser requires it

    def definition(self) -> dict[str, Any]:
        """The parts that change the data (the description and the kind do not)."""
        return {"name": self.name, "min": self.min, "max": self.max, "nullable": self.nullable}


@dataclass(frozen=True)
class ModelSpec:
    """A model file: SQL (Jinja) or Python."""

    name: str
    path: Path
    kind: str  # "sql" | "python"
    folder: str


@dataclass(frozen=True)
class TierSpec:
    """A tier's declaration. `columns` are its own; `all_columns` resolves `extends`."""

    name: str
    version: int
    description: str
    extends: str | None
    own_columns: tuple[ColumnSpec, ...]
    path: Path
    models: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class FeatureProject:
    """Everything declared under `features_sql/`."""

    root: Path
    vars: dict[str, Any]
    macro_files: tuple[Path, ...]
    tiers: dict[str, TierSpec]
    models: dict[str, ModelSpec]
    sources: dict[str, SourceSpec] = field(default_factory=dict)

    @property
    def ohlcv_source(self) -> str:
        """The name of the per-ticker bars source (exactly one is declared)."""
        return next(s.name for s in self.sources.values() if s.kind == "ohlcv")

    def tier(self, name: str) -> TierSpec:
        if name not in self.tiers:
            known = ", ".join(sorted(self.tiers)) or "none"
            raise NotFoundError(f"unknown tier {name!r} (declared tiers: {known})")
        return self.tiers[name]

    def lineage(self, name: str) -> list[str]:
        """The tier and its ancestors through `extends`, root first."""
        chain: list[str] = []
        current: str | None = name
        while current:
            if current in chain:
                raise ConfigError(f"tier {name!r}: `extends` forms a cycle through {current!r}")
            chain.append(current)
            current = self.tier(current).extends
        return list(reversed(chain))

    def columns(self, name: str) -> list[ColumnSpec]:
        """All columns of a tier in order: the ancestors' first."""
        return [c for t in self.lineage(name) for c in self.tier(t).own_columns]


@functools.lru_cache(maxsize=256)
def _parse_yaml_text(text: str) -> Any:
    return yaml.safe_load(text)


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        # Parsing is cached by the file's text; the copy keeps the cached value untouched.
        data = copy.deepcopy(_parse_yaml_text(path.read_text(encoding="utf-8"))) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _parse_column(raw: Any, tier: str, path: Path, index: int) -> ColumnSpec:
    if not isinstance(raw, dict) or "name" not in raw:
        raise ConfigError(f"{path}: column #{index + 1} needs at least a name")
    name = str(raw["name"])
    nullable = raw.get("nullable")
    if nullable is not None and nullable not in NULL_REASONS:
        raise ConfigError(
            f"{path}: column {name}: nullable must be one of {sorted(NULL_REASONS)}, got {nullable!r}"
        )
    kind = raw.get("kind")
    if kind not in KINDS:
        got = "no `kind`" if kind is None else f"kind {kind!r}"
        raise ConfigError(f"{path}: column {name}: {got}; declare `kind:` as one of {', '.join(KINDS)}")
    try:
        warmup = int(raw.get("warmup", 0))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: column {name}: warmup must be an integer") from exc
    return ColumnSpec(
        name=name,
        description=str(raw.get("description", "")).strip(),
        warmup=warmup,
        tier=tier,
        min=None if raw.get("min") is None else float(raw["min"]),
        max=None if raw.get("max") is None else float(raw["max"]),
        nullable=nullable,
        kind=kind,
    )


def load_feature_project(root: Path) -> FeatureProject:
    """Parse `features_sql/` under `root` (the folder itself)."""
    if not root.is_dir():
        raise NotFoundError(f"{root}: no features_sql folder (run `fts init` to scaffold a project)")
    project_file = root / "project.yml"
    settings = _load_yaml(project_file) if project_file.exists() else {}
    vars_ = dict(settings.get("vars", {}) or {})
    sources = parse_sources(settings.get("sources", list(DEFAULT_SOURCES)), project_file)
    macro_files = tuple(sorted((root / "macros").glob("*.sql"))) if (root / "macros").is_dir() else ()

    tiers: dict[str, TierSpec] = {}
    models: dict[str, ModelSpec] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name in RESERVED_DIRS or folder.name.startswith((".", "_")):
            continue
        folder_models = []
        for path in sorted(folder.iterdir()):
            kind = {".sql": "sql", ".py": "python"}.get(path.suffix)
            if kind is None or path.name.startswith(("_", ".")):
                continue
            name = path.stem
            if name in models:
                raise ConfigError(
                    f"model name {name!r} is declared twice: {models[name].path} and {path}"
                )
            models[name] = ModelSpec(name=name, path=path, kind=kind, folder=folder.name)
            folder_models.append(name)
        meta_path = folder / f"{folder.name}.yml"
        if not meta_path.exists():
            continue
        meta = _load_yaml(meta_path)
        tier = str(meta.get("tier", folder.name))
        if tier != folder.name:
            raise ConfigError(f"{meta_path}: tier {tier!r} must match its folder {folder.name!r}")
        if tier not in folder_models:
            raise ConfigError(f"{folder}: tier {tier!r} has no final model {tier}.sql or {tier}.py")
        try:
            version = int(meta["version"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{meta_path}: `version` must be an integer") from exc
        raw_cols = meta.get("columns") or []
        cols = tuple(_parse_column(c, tier, meta_path, i) for i, c in enumerate(raw_cols))
        tiers[tier] = TierSpec(
            name=tier,
            version=version,
            description=str(meta.get("description", "")).strip(),
            extends=meta.get("extends"),
            own_columns=cols,
            path=meta_path,
            models=tuple(folder_models),
        )
    project = FeatureProject(root, vars_, macro_files, tiers, models, sources)
    for t in tiers.values():
        if t.extends and t.extends not in tiers:
            raise ConfigError(f"{t.path}: extends unknown tier {t.extends!r}")
        names = [c.name for c in project.columns(t.name)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"{t.path}: columns declared more than once: {', '.join(dupes)}")
    return project


def parse_sources(raw: Any, path: Path) -> dict[str, SourceSpec]:
    """The `sources:` list of project.yml, checked: one line naming the file and the fix."""
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: `sources` must be a list of mappings, each with a name and a kind")
    sources: dict[str, SourceSpec] = {}
    for i, entry in enumerate(raw):
        spec = _parse_source(entry, path, i)
        if spec.name in sources:
            raise ConfigError(f"{path}: source {spec.name!r} is declared twice; give each source "
                              "its own name")
        sources[spec.name] = spec
    bars = [s.name for s in sources.values() if s.kind == "ohlcv"]
    if len(bars) != 1:
        got = ", ".join(bars) if bars else "none"
        raise ConfigError(f"{path}: declare exactly one source of kind `ohlcv` (the per-ticker "
                          f"bars), found {got}")
    return sources


def _parse_source(raw: Any, path: Path, index: int) -> SourceSpec:
    if not isinstance(raw, dict) or not raw.get("name"):
        raise ConfigError(f"{path}: source #{index + 1} needs at least a `name` and a `kind`")
    name = str(raw["name"])
    where = f"{path}: source {name}"
    if not name.isidentifier():
        raise ConfigError(f"{where}: a source name is letters, digits and underscores "
                          "(it is written as source('name'))")
    kind = raw.get("kind")
    if kind not in SOURCE_KINDS:
        got = "no `kind`" if kind is None else f"kind {kind!r}"
        raise ConfigError(f"{where}: {got}; declare `kind:` as one of {', '.join(SOURCE_KINDS)}")
    unknown = sorted(set(raw) - _SOURCE_KEYS[kind])
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} for kind {kind} "
                          f"(allowed: {', '.join(sorted(_SOURCE_KEYS[kind]))})")
    description = str(raw.get("description", "")).strip()
    if kind == "ohlcv":
        return SourceSpec(name, kind, description)
    ticker = raw.get("ticker")
    if not ticker or not isinstance(ticker, str):
        raise ConfigError(f"{where}: a series needs `ticker:`, the raw ticker its rows come "
                          "from (e.g. ^VIX)")
    staleness = raw.get("max_staleness_days")
    if isinstance(staleness, bool) or not isinstance(staleness, int) or staleness < 0:
        raise ConfigError(f"{where}: a series needs `max_staleness_days:`, a whole number of "
                          "calendar days >= 0 after which an as-of joined value is NULL")
    columns = raw.get("columns", ["close"])
    if isinstance(columns, str):
        columns = [columns]
    if (not isinstance(columns, list) or not columns or len(set(columns)) != len(columns)
            or any(c not in BAR_COLUMNS for c in columns)):
        raise ConfigError(f"{where}: `columns` must list distinct raw columns among "
                          f"{', '.join(BAR_COLUMNS)} (got {columns!r})")
    return SourceSpec(name, kind, description, ticker.upper(), tuple(columns), staleness)
