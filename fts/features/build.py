"""`build_tier`: build a tier (and the tiers it needs), skipping the ones that are up to date.

The engine reads in one direction, one module per step:
1. `build_plan`: read the declarations, check versions, read the latest raw loads (short
   read-only open); a tier whose current build has the same build key (fingerprint + raw
   loads + tickers) is up to date; if the target is, stop;
2. `runner.run_plan`: run every model in an in-memory DuckDB;
3. `build_prepare`: trim and validate EVERY tier with pandera, so that a later tier failing its
   checks leaves no file of an earlier one behind;
4. `build_publish` (over `fts.warehouse.publish`): write each new Parquet file under a
   temporary name; under the project lock rename it into place (a file nobody points at yet;
   its name carries the hash of its manifest, so a concurrent build of the same tier writes
   another file), write its manifest file, and in one warehouse transaction register the
   manifests and files and point the tier views at the new files.
Until step 4 commits, every reader still sees the previous build; if it fails, the files this
build created are removed again (a kill leaves only garbage that `fts gc` removes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fts.core.paths import ProjectPaths
from fts.features.build_plan import BUILD_FORMAT, parent_tiers, plan_build, read_raw
from fts.features.build_prepare import BuildState, TierResult, prepare_tier
from fts.features.build_publish import publish_tiers
from fts.features.render import source_relation
from fts.features.runner import run_plan
from fts.warehouse import connect

__all__ = ["BUILD_FORMAT", "BuildResult", "TierResult", "build_tier", "parent_tiers"]


@dataclass
class BuildResult:
    """The outcome of `build_tier`: the target and every tier built on the way."""

    tier: str
    tiers: list[TierResult] = field(default_factory=list)

    @property
    def target(self) -> TierResult:
        return next(t for t in self.tiers if t.tier == self.tier)

    @property
    def up_to_date(self) -> bool:
        return self.target.up_to_date


def build_tier(
    paths: ProjectPaths, tier: str, *, tickers: Sequence[str] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> BuildResult:
    """Build `tier` and every tier it depends on; skip the ones that are up to date."""
    started = time.perf_counter()
    with connect(paths.warehouse, read_only=True, session_views=False) as con:
        build = plan_build(paths, con, tier, tickers)
        if tier in build.existing:
            m = build.existing[tier]
            progress(f"{tier}: up to date (version {m['version']}, {m['row_count']} rows, "
                     f"manifest {m.id[:12]})")
            return BuildResult(tier, [TierResult(tier, m.id, True, int(m["row_count"]),
                                                 build.current_paths[tier])])
        ohlcv, vix = read_raw(con, build.inputs)

    progress(f"{tier}: building {', '.join(build.to_build)} "
             f"for {len(build.inputs.tickers)} ticker(s)")
    session = run_plan(build.project, build.models, ohlcv, vix, progress)
    state = BuildState()
    prepared = []
    with session:
        # The same for every tier's volume check, so asked once.
        volume_tickers = {r[0] for r in session.con.execute(
            f"SELECT ticker FROM {source_relation('raw', 'ohlcv')} GROUP BY 1 "
            "HAVING count(volume) > 0").fetchall()}
        for t in build.tier_order:
            if t in build.existing:
                state.keep(t, build.existing[t], build.current_paths[t])
            else:
                prepared.append(prepare_tier(build, state, session.con, t, volume_tickers))
    publish_tiers(paths, prepared)
    progress(f"{tier}: done in {time.perf_counter() - started:.1f}s")
    return BuildResult(tier, state.results)
