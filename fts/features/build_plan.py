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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from fts.core.hashing import sha256_json
from fts.core.manifest import Manifest
from fts.core.paths import ProjectPaths
from fts.features.build_inputs import BuildInputs, needs_vix, select_inputs, tiers_using_vix
from fts.features.declarations import FeatureProject, load_feature_project
from fts.features.graph import plan, tiers_in
from fts.features.render import RenderedModel
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

    @property
    def up_to_date(self) -> bool:
        """Nothing to compute and nothing to drop: the current build stays."""
        return self.current is not None and not self.build and not self.dropped


@dataclass(frozen=True)
class BuildPlan:
    """Everything a build decided before running a model."""

    tier: str  # the target
    project: FeatureProject
    models: list[RenderedModel]
    tier_order: list[str]  # the target and the tiers it needs, upstream first
    own: dict[str, str]  # tier -> fingerprint of its own definition
    full: dict[str, str]  # tier -> fingerprint of its definition and everything upstream
    inputs: BuildInputs  # the loads of every ticker computed (and of ^VIX when read)
    vix_tiers: set[str]  # tiers whose models (or upstream models) read ^VIX
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
        seen: set[str] = set()
        stack = list(self.parents[tier])
        while stack:
            t = stack.pop()
            if t not in seen:
                seen.add(t)
                stack.extend(self.parents.get(t, ()))
        return seen


def market_loads(inputs: BuildInputs) -> dict[str, tuple[str, str]]:
    """The loads of the market-wide series a build reads (every load not of a built ticker)."""
    built = set(inputs.tickers)
    return {t: v for t, v in inputs.loads.items() if t not in built}


def ticker_keys(full_fp: str, inputs: BuildInputs, uses_market: bool,
                tickers: Sequence[str]) -> dict[str, str]:
    """Each ticker's build key: the tier's fingerprint, its load, the market-wide loads read."""
    market = sorted(lid for lid, _ in market_loads(inputs).values()) if uses_market else []
    prefix = sha256_json({"format": BUILD_FORMAT, "fingerprint": full_fp, "market": market})
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
               manifest: Manifest | None, path: str | None, named: bool) -> TierPlan:
    build = sorted(t for t, k in keys.items() if keepable.get(t, {}).get("key") != k)
    kept = {t: o for t, o in keepable.items() if t not in build}
    if not named:  # a whole-tier build holds exactly the tickers it was asked for
        kept = {t: o for t, o in kept.items() if t in keys}
    current = set(manifest["tickers"]) if manifest is not None else set()
    dropped = sorted(current - set(kept) - set(build))
    return TierPlan(tier, {t: keys[t] for t in build}, build, kept, manifest, path, dropped)


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
    vix = needs_vix(models)
    inputs = select_inputs(con, project, tier, tickers, vix)
    vix_tiers = tiers_using_vix(project, models)
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
            inputs = select_inputs(con, project, tier, sorted(set(inputs.tickers) | extra), vix)
    tiers = {}
    for t in tier_order:
        keys = ticker_keys(full[t], inputs, t in vix_tiers, inputs.tickers)
        tiers[t] = _tier_plan(t, keys, keepable[t], manifests[t],
                              current[t][1] if t in current else None, bool(tickers))
    return BuildPlan(tier, project, models, tier_order, own, full, inputs, vix_tiers, tiers,
                     parent_tiers(project, models))


def batch_inputs(inputs: BuildInputs, tickers: Sequence[str]) -> BuildInputs:
    """The inputs of one batch of tickers (the market-wide loads stay)."""
    keep = set(tickers) | set(market_loads(inputs))
    return dataclasses.replace(inputs, tickers=list(tickers),
                               loads={t: v for t, v in inputs.loads.items() if t in keep})


def raw_row_counts(con: duckdb.DuckDBPyConnection, tickers: Sequence[str]) -> dict[str, int]:
    """The raw rows of each ticker's latest load (what sizes the build's batches)."""
    return dict(con.execute(
        "SELECT ticker, count(*) FROM raw.ohlcv WHERE list_contains(?, ticker) GROUP BY 1",
        [list(tickers)]).fetchall())


def read_raw(con: duckdb.DuckDBPyConnection, inputs: BuildInputs) -> tuple[pa.Table, pa.Table]:
    """The raw OHLCV rows of the build's tickers and the ^VIX closes, as Arrow tables."""
    ohlcv = con.sql(
        "SELECT ticker, date, open, high, low, close, volume FROM raw.ohlcv "
        "WHERE list_contains(?, ticker) ORDER BY ticker, date", params=[inputs.tickers]
    ).to_arrow_table()
    vix = con.sql(
        "SELECT date, close FROM raw.ohlcv WHERE ticker = ? ORDER BY date",
        params=[inputs.vix_ticker or ""],
    ).to_arrow_table()
    return ohlcv, vix
