"""Publishing prepared tiers: their Parquet files, manifests and the tier pointers, in one
publication (see `fts.warehouse.publish` for the order and guarantees)."""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq

from fts.core.paths import ProjectPaths
from fts.features.build_prepare import PreparedTier
from fts.warehouse import set_current_tier
from fts.warehouse.publish import Publication


def publish_tiers(paths: ProjectPaths, prepared: list[PreparedTier]) -> None:
    """Write every prepared tier's Parquet and manifest and point the tier views at them."""
    with Publication(paths) as pub:
        # Dictionary pages help the repeated tickers only; on float features they double the
        # write time and grow the file.
        staged = [(p, pub.stage(p.rel_path, lambda tmp, p=p: pq.write_table(
            p.table, tmp, compression="zstd", use_dictionary=["ticker"]))) for p in prepared]

        def point_views(con: duckdb.DuckDBPyConnection) -> None:
            for p in prepared:
                set_current_tier(con, p.tier, p.manifest.id, p.rel_path)

        pub.commit([(p.manifest, [f]) for p, f in staged], point_views)
