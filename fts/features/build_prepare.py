"""Preparing a tier for publication: take its trimmed rows from the build's engine session,
check them (warm-up history, pandera), and assemble its table and manifest. Writes nothing."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from fts.core.hashing import table_content_sha256
from fts.core.manifest import Input, Manifest, utc_now
from fts.features.build_inputs import check_history
from fts.features.build_plan import BuildPlan
from fts.features.render import relation_name
from fts.features.validate import validate_tier


@dataclass
class TierResult:
    """What happened to one tier in a build."""

    tier: str
    manifest_id: str
    up_to_date: bool
    rows: int
    parquet_path: str
    seconds: float = 0.0


@dataclass
class PreparedTier:
    """A validated tier that is not written yet: its rows, where they go and their manifest."""

    tier: str
    table: pa.Table
    manifest: Manifest
    rel_path: str


@dataclass
class BuildState:
    """The manifest of every tier kept or prepared so far in a build, in plan order (a tier's
    upstream pins are read from it) and what happened to each."""

    manifests: dict[str, Manifest] = field(default_factory=dict)
    results: list[TierResult] = field(default_factory=list)

    def keep(self, tier: str, manifest: Manifest, path: str) -> None:
        """Record a tier whose current build is kept (up to date)."""
        self.manifests[tier] = manifest
        self.results.append(TierResult(tier, manifest.id, True, int(manifest["row_count"]), path))

    def add(self, prepared: PreparedTier, seconds: float) -> None:
        """Record a newly prepared tier."""
        self.manifests[prepared.tier] = prepared.manifest
        self.results.append(TierResult(prepared.tier, prepared.manifest.id, False,
                                       prepared.table.num_rows, prepared.rel_path, seconds))


def environment() -> dict[str, str]:
    """The versions of the libraries a build's numbers depend on (recorded in its manifest)."""
    import duckdb as _duckdb
    import numpy
    import pandas

    env = {"python": platform.python_version(), "duckdb": _duckdb.__version__,
           "pyarrow": pa.__version__, "pandas": pandas.__version__, "numpy": numpy.__version__}
    try:
        import talib

        env["ta-lib"] = talib.__version__
    except ImportError:  # pragma: no cover - TA-Lib is a dependency
        pass
    return env


def prepare_tier(
    build: BuildPlan, state: BuildState, mem: duckdb.DuckDBPyConnection, tier: str,
    volume_tickers: set[str],
) -> PreparedTier:
    """Validate one tier's trimmed rows in the session `mem` and assemble its table and
    manifest (its upstream tiers must already be in `state`). Writes nothing."""
    t0 = time.perf_counter()
    project, inputs = build.project, build.inputs
    uses_vix = tier in build.vix_tiers
    spec = project.tier(tier)
    columns = project.columns(tier)
    trimmed = relation_name(tier, trimmed_tier=True)
    table = mem.sql(f"SELECT * FROM {trimmed} ORDER BY ticker, date").to_arrow_table()
    ranges = mem.execute(
        f"SELECT ticker, min(date)::VARCHAR, max(date)::VARCHAR, count(*) FROM {trimmed} "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    # The tier's rows now live in `table`; free DuckDB's copy before pandas makes its own (a
    # large build holds each tier once at a time; later tiers read only the sources).
    mem.execute(f"DROP TABLE {trimmed}")
    # pandera checks a pandas view of the same rows: converting Arrow costs less than a second
    # fetch from DuckDB, and one block per column avoids a consolidated copy of the whole tier.
    frame = table.to_pandas(date_as_object=False, split_blocks=True)
    staleness = int(project.vars.get("vix_max_staleness_days", 0)) if uses_vix else None
    check_history(mem, tier, frame, inputs, max(c.warmup for c in columns) if columns else 0,
                  staleness)
    validate_tier(tier, frame, columns, volume_tickers)
    del frame  # the pandas copy was only for pandera; do not hold it next to the Arrow table
    content_sha = table_content_sha256(table)
    raw_inputs = [Input(lid, "raw", sha) for t, (lid, sha) in sorted(inputs.loads.items())
                  if uses_vix or t != inputs.vix_ticker]
    tier_inputs = [Input(r.manifest_id, "tier",
                         str(state.manifests[r.tier]["outputs"][0]["content_sha256"]))
                   for r in state.results if r.tier in build.parents[tier]]
    fields = dict(
        kind="tier", name=tier, version=spec.version, inputs=raw_inputs + tier_inputs,
        created_at=utc_now(),
        tier=tier, build_key=build.keys[tier], fingerprint=build.full[tier],
        definition_fingerprint=build.own[tier],
        columns=[c.name for c in columns],
        schema={f.name: str(f.type) for f in table.schema},
        row_count=table.num_rows,
        tickers=inputs.tickers,
        date_range={t: {"first": a, "last": b, "rows": n} for t, a, b, n in ranges},
        environment=environment(),
    )
    # Named by the hash of the manifest without its outputs: the file's footer names the
    # manifest, so the same name means the same bytes, and a concurrent build of the same tier
    # (another created_at) writes another file instead of renaming over this one.
    stem = Manifest.create(**fields).id[:16]  # type: ignore[arg-type]
    rel_path = f"data/tiers/{tier}/{tier}-v{spec.version}-{stem}.parquet"
    manifest = Manifest.create(
        **fields,  # type: ignore[arg-type]
        outputs=[{"path": rel_path, "content_sha256": content_sha, "rows": table.num_rows}],
    )
    meta = {b"fts.manifest_id": manifest.id.encode(), b"fts.tier": tier.encode(),
            b"fts.version": str(spec.version).encode(), b"fts.content_sha256": content_sha.encode()}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
    prepared = PreparedTier(tier, table, manifest, rel_path)
    state.add(prepared, time.perf_counter() - t0)
    return prepared
