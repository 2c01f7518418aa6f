"""Planning a tier build: which tiers and tickers it covers, and what is up to date.

A tier build is stored one file per ticker (`fts.warehouse.tier_files`), each with its own
build key: the tier's fingerprint (its definition and everything upstream), that ticker's raw
load and the loads of the market-wide series the tier reads (^VIX). The up-to-date check is
per ticker: a new load of one ticker rebuilds that ticker only. With `--ticker`, the named
tickers are (re)built and every other ticker of the current build is kept as it is; when the
definition changed since the current build (or that build predates per-ticker storage), its
other tickers cannot be kept and are rebuilt with the named ones.

Reads the declarations and (briefly, read-only) the warehouse; writes nothing. The result, a
`BuildPlan`, is what the later steps (`build_prepare`, `build_publish`) read.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from fts.core.hashing import sha256_json
from fts.core.manifest import Manifest
from fts.core.paths import ProjectPaths
from fts.features.build_inputs import (
    BuildInputs,
    check_history,
    read_sources,
    select_inputs,
    series_by_tier,
)
from fts.features.declarations import FeatureProject, load_feature_project
from fts.features.graph import plan, tiers_in
from fts.features.render import RenderedModel, source_relation
from fts.features.runner import EngineSession, run_plan
from fts.features.versions import check_versions, tier_fingerprints
from fts.warehouse import current_tiers
from fts.warehouse.registry import get_manifest
from fts.warehouse.tier_files import folder_files, is_per_ticker

BUILD_FORMAT = 2  # 2: one file per ticker, a build key per ticker


@dataclass
class TierPlan:
    """What a build does to one tier."""

    tier: str
    keys: dict[str, str]  # ticker -> its build key, for every ticker the build (re)computes
    build: list[str]  # the tickers to (re)compute, sorted
    kept: dict[str, dict[str, Any]]  # ticker -> its output entry in the current build, kept
    current: Manifest | None  # the current build
    current_path: str | None  # meta.tier_current's path of the current build
    dropped: list[str] = field(default_factory=list)  # current tickers the new build leaves out
    # Tickers the current build excluded (--skip-invalid) that stay excluded without being
    # recomputed: same build key (same definition and loads, so the same failure), or, in a
    # `--ticker` build, not named; ticker -> why, and the build key each was excluded at.
    excluded: dict[str, list[str]] = field(default_factory=dict)
    excluded_keys: dict[str, str | None] = field(default_factory=dict)

    @property
    def up_to_date(self) -> bool:
        """Nothing to compute, drop or newly leave out: the current build stays."""
        return (self.current is not None and not self.build and not self.dropped
                and set(self.excluded) == set(self.current.get("excluded") or {}))


@dataclass(frozen=True)
class BuildPlan:
    """Everything a build decided before running a model."""

    tier: str  # the target
    project: FeatureProject
    models: list[RenderedModel]
    tier_order: list[str]  # the target and the tiers it needs, upstream first
    own: dict[str, str]  # tier -> fingerprint of its own definition
    full: dict[str, str]  # tier -> fingerprint of its definition and everything upstream
    inputs: BuildInputs  # the tickers computed and the loads the build reads
    # tier -> {series name: (ticker, load_id, sha)}: the market-wide series the tier's models
    # (or upstream models) read; their loads are in its tickers' build keys.
    market: dict[str, dict[str, tuple[str, str, str]]]
    tiers: dict[str, TierPlan]
    parents: dict[str, set[str]]  # tier -> the tiers its own models ref

    @property
    def to_build(self) -> list[str]:
        """The tiers of the plan that are not up to date, upstream first."""
        return [t for t in self.tier_order if not self.tiers[t].up_to_date]

    @property
    def compute(self) -> list[str]:
        """Every ticker some tier of the build (re)computes (the engine runs them all)."""
        return sorted({t for p in self.tiers.values() for t in p.build})

    def ancestors(self, tier: str) -> set[str]:
        """The tiers of the plan `tier` reads, directly or through others."""
        return ancestors(self.parents, tier)


def ancestors(parents: dict[str, set[str]], tier: str) -> set[str]:
    """The tiers `tier` reads, directly or through others (`parents`: see `parent_tiers`)."""
    seen: set[str] = set()
    stack = list(parents[tier])
    while stack:
        t = stack.pop()
        if t not in seen:
            seen.add(t)
            stack.extend(parents.get(t, ()))
    return seen


def ticker_keys(full_fp: str, inputs: BuildInputs, market: dict[str, tuple[str, str, str]],
                tickers: Sequence[str]) -> dict[str, str]:
    """Each ticker's build key: the tier's fingerprint, its load, the market-wide loads read."""
    prefix = sha256_json({"format": BUILD_FORMAT, "fingerprint": full_fp,
                          "market": sorted(lid for _, lid, _ in market.values())})
    # One hash of the shared part, then one per ticker: thousands of tickers in milliseconds.
    return {t: hashlib.sha256(f"{prefix}:{t}:{inputs.loads[t][0]}".encode()).hexdigest()
            for t in tickers}


def parent_tiers(project: FeatureProject, models: list[RenderedModel]) -> dict[str, set[str]]:
    """For each tier in a plan, the other tiers its own models `ref` (read from the SQL/AST)."""
    parents: dict[str, set[str]] = {t: set() for t in tiers_in(project, models)}
    for m in models:
        if m.spec.folder in parents:
            parents[m.spec.folder] |= {r for r in m.refs if r in project.tiers and r != m.spec.folder}
    return parents


def _keepable(paths: ProjectPaths, tier: str, manifest: Manifest | None,
              full_fp: str) -> dict[str, dict[str, Any]]:
    """The current build's outputs that a new build may keep: those of a per-ticker build of
    the same definition whose file is in the tier folder."""
    if manifest is None or not is_per_ticker(manifest) or manifest.get("fingerprint") != full_fp:
        return {}
    present = folder_files(paths, tier)
    return {o["ticker"]: o for o in manifest["outputs"] if o["path"] in present}


def _tier_plan(tier: str, keys: dict[str, str], keepable: dict[str, dict[str, Any]],
               manifest: Manifest | None, path: str | None,
               named: set[str] | None) -> TierPlan:
    was_excluded: dict[str, list[str]] = dict((manifest or {}).get("excluded") or {})
    excluded_at: dict[str, str | None] = dict((manifest or {}).get("excluded_keys") or {})
    # An exclusion sticks while its key holds: the same definition over the same loads fails
    # the same way, so recomputing it would only make the tier never up to date. (Builds
    # before keys were recorded have none: their excluded tickers are recomputed once.)
    # A ticker named with `--ticker` is tried again (after a fix to the checks, say).
    sticky = {t for t, k in keys.items() if t in was_excluded and excluded_at.get(t) == k
              and t not in (named or ())}
    if named is not None:  # a `--ticker` build keeps the tickers it does not name,
        sticky |= set(was_excluded) - set(keys)  # exclusions included
    build = sorted(t for t, k in keys.items()
                   if t not in sticky and keepable.get(t, {}).get("key") != k)
    kept = {t: o for t, o in keepable.items() if t not in build}
    if named is None:  # a whole-tier build holds exactly the tickers it was asked for
        kept = {t: o for t, o in kept.items() if t in keys}
    current = set(manifest["tickers"]) if manifest is not None else set()
    dropped = sorted(current - set(kept) - set(build))
    return TierPlan(tier, {t: keys[t] for t in build}, build, kept, manifest, path, dropped,
                    {t: list(was_excluded[t]) for t in sorted(sticky)},
                    {t: excluded_at.get(t) for t in sorted(sticky)})


def _inherit_exclusions(tiers: dict[str, TierPlan], tier_order: list[str],
                        parents: dict[str, set[str]]) -> None:
    """A ticker that stays excluded from a tier stays out of the tiers reading it (a tier
    whose own exclusion record is missing would otherwise compute it over rows its upstream
    tier refused)."""
    for t in tier_order:
        p = tiers[t]
        for a in sorted(ancestors(parents, t)):
            for x, why in tiers[a].excluded.items():
                if x in p.keys:
                    p.excluded[x] = list(why)
                    p.excluded_keys[x] = p.keys.pop(x)
                    p.build.remove(x)


def plan_build(
    paths: ProjectPaths, con: duckdb.DuckDBPyConnection, tier: str,
    tickers: Sequence[str] | None,
) -> BuildPlan:
    """Decide what a build of `tier` (and the tiers it needs) does, over the open warehouse
    connection `con` (read-only is enough)."""
    project = load_feature_project(paths.features_sql)
    models = plan(project, tier)
    own, full = tier_fingerprints(project, models)
    check_versions(project, own)
    tier_order = tiers_in(project, models)
    inputs = _select_inputs(con, project, tier, tickers, models)
    current = current_tiers(con)
    manifests = {t: get_manifest(con, current[t][0]) if t in current else None
                 for t in tier_order}
    keepable = {t: _keepable(paths, t, manifests[t], full[t]) for t in tier_order}
    if tickers:
        # A current build that cannot be kept as it is (another definition, or one file for
        # the whole tier) is rebuilt with the named tickers rather than dropped.
        # (So is one whose file went missing.)
        extra = {x for t in tier_order if manifests[t] is not None
                 for x in manifests[t]["tickers"] if x not in keepable[t]} - set(inputs.tickers)
        if extra:
            inputs = _select_inputs(con, project, tier, sorted(set(inputs.tickers) | extra),
                                    models)
    market = _market_by_tier(project, models, inputs)
    tiers = {}
    for t in tier_order:
        keys = ticker_keys(full[t], inputs, market[t], inputs.tickers)
        tiers[t] = _tier_plan(t, keys, keepable[t], manifests[t],
                              current[t][1] if t in current else None,
                              set(tickers) if tickers else None)
    parents = parent_tiers(project, models)
    _inherit_exclusions(tiers, tier_order, parents)
    return BuildPlan(tier, project, models, tier_order, own, full, inputs, market, tiers,
                     parents)


def raw_row_counts(con: duckdb.DuckDBPyConnection, tickers: Sequence[str]) -> dict[str, int]:
    """The raw rows of each ticker's latest load (what sizes the build's batches)."""
    return dict(con.execute(
        "SELECT ticker, count(*) FROM raw.ohlcv WHERE list_contains(?, ticker) GROUP BY 1",
        [list(tickers)]).fetchall())


# -- The one place that speaks `build_inputs`' API (what a build reads: tickers, loads, the
# -- market-wide series and their rows); the other build modules go through these.

def _select_inputs(con: duckdb.DuckDBPyConnection, project: FeatureProject, tier: str,
                   tickers: Sequence[str] | None, models: list[RenderedModel]) -> BuildInputs:
    return select_inputs(con, project, tier, tickers, models)


def _market_by_tier(project: FeatureProject, models: list[RenderedModel],
                    inputs: BuildInputs) -> dict[str, dict[str, tuple[str, str, str]]]:
    return {t: {name: inputs.series[name] for name in names}
            for t, names in series_by_tier(project, models).items()}


def batch_inputs(inputs: BuildInputs, tickers: Sequence[str]) -> BuildInputs:
    """The inputs of one batch of tickers (the market-wide series stay)."""
    return dataclasses.replace(inputs, tickers=list(tickers),
                               loads={t: inputs.loads[t] for t in tickers})


def read_batch(con: duckdb.DuckDBPyConnection, build: BuildPlan, tickers: Sequence[str]) -> Any:
    """The rows of every source one batch of tickers reads, for `run_batch`."""
    return read_sources(con, build.project, batch_inputs(build.inputs, tickers))


def run_batch(build: BuildPlan, raw: Any, progress: Callable[[str], None],
              memory_limit: str, spill: Path) -> EngineSession:
    """Run every model of the plan over one batch's rows (`read_batch`) in DuckDB, spilling
    past `memory_limit` into a folder of its own inside `spill`."""
    return run_plan(build.project, build.models, raw, progress, memory_limit=memory_limit,
                    temp_directory=spill)


def bars_relation(build: BuildPlan) -> str:
    """The engine session's relation of the per-ticker bars."""
    return source_relation(build.project.ohlcv_source)


def check_ticker_history(build: BuildPlan, mem: duckdb.DuckDBPyConnection, tier: str,
                         frame: Any, ticker: str, warmup: int) -> None:
    """Raise `BuildError` naming why the warm-up trim dropped `ticker` from `tier`."""
    check_history(mem, build.project, tier, frame, batch_inputs(build.inputs, [ticker]),
                  warmup, sorted(build.market[tier]))
