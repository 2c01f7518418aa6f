"""Planning a tier build: which tiers it covers, their build keys, and which are up to date.

Reads the declarations and (briefly, read-only) the warehouse; writes nothing. The result, a
`BuildPlan`, is what the later steps (`build_prepare`, `build_publish`) read; they never go
back to the declarations or the warehouse for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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

BUILD_FORMAT = 1


@dataclass(frozen=True)
class BuildPlan:
    """Everything a build decided before running a model."""

    tier: str  # the target
    project: FeatureProject
    models: list[RenderedModel]
    tier_order: list[str]  # the target and the tiers it needs, upstream first
    own: dict[str, str]  # tier -> fingerprint of its own definition
    full: dict[str, str]  # tier -> fingerprint of its definition and everything upstream
    inputs: BuildInputs
    vix_tiers: set[str]  # tiers whose models (or upstream models) read ^VIX
    keys: dict[str, str]  # tier -> build key
    existing: dict[str, Manifest]  # up-to-date tiers -> their current manifest
    current_paths: dict[str, str]  # tier -> the Parquet file of its current build
    parents: dict[str, set[str]]  # tier -> the tiers its own models ref

    @property
    def to_build(self) -> list[str]:
        """The tiers of the plan that are not up to date, upstream first."""
        return [t for t in self.tier_order if t not in self.existing]


def build_key(full_fp: str, inputs: BuildInputs, uses_vix: bool) -> str:
    """The key a tier's build is known by: its fingerprint, the loads it reads, its tickers."""
    return sha256_json({"format": BUILD_FORMAT, "fingerprint": full_fp,
                        "loads": sorted(lid for t, (lid, _) in inputs.loads.items()
                                        if uses_vix or t != inputs.vix_ticker),
                        "tickers": inputs.tickers})


def parent_tiers(project: FeatureProject, models: list[RenderedModel]) -> dict[str, set[str]]:
    """For each tier in a plan, the other tiers its own models `ref` (read from the SQL/AST)."""
    parents: dict[str, set[str]] = {t: set() for t in tiers_in(project, models)}
    for m in models:
        if m.spec.folder in parents:
            parents[m.spec.folder] |= {r for r in m.refs if r in project.tiers and r != m.spec.folder}
    return parents


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
    inputs = select_inputs(con, project, tier, tickers, needs_vix(models))
    vix_tiers = tiers_using_vix(project, models)
    keys = {t: build_key(full[t], inputs, t in vix_tiers) for t in tier_order}
    current = current_tiers(con)
    existing: dict[str, Manifest] = {}
    for t in tier_order:
        if t in current:
            m = get_manifest(con, current[t][0])
            if m is not None and m.get("build_key") == keys[t] and paths.absolute(current[t][1]).exists():
                existing[t] = m
    return BuildPlan(tier, project, models, tier_order, own, full, inputs, vix_tiers, keys,
                     existing, {t: p for t, (_, p) in current.items()},
                     parent_tiers(project, models))


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
