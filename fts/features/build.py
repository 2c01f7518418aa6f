"""`build_tier`: render, run, trim, validate and materialize a tier (and the tiers it needs).

Order of events, so that a killed build leaves the previous state intact:
1. read the declarations, check versions, read the latest raw loads (short read-only open);
2. if the tier's current build has the same build key (fingerprint + raw loads + tickers),
   stop: it is up to date;
3. run every model in an in-memory DuckDB, trim and validate EVERY tier with pandera, so that
   a later tier failing its checks leaves no file of an earlier one behind;
4. publish (`fts.warehouse.publish`): write each new Parquet file under a temporary name; under
   the project lock rename it into place (a file nobody points at yet; its name carries the hash
   of its manifest, so a concurrent build of the same tier writes another file), write its
   manifest file, and in one warehouse transaction register the manifests and files and point
   the tier views at the new files.
Until step 4 commits, every reader still sees the previous build; if it fails, the files this
build created are removed again (a kill leaves only garbage that `fts gc` removes).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from fts.core.hashing import sha256_json, table_content_sha256
from fts.core.manifest import Input, Manifest, utc_now
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
from fts.features.render import RenderedModel, relation_name, source_relation
from fts.features.runner import run_plan
from fts.features.validate import validate_tier
from fts.features.versions import check_versions, tier_fingerprints
from fts.warehouse import (
    connect,
    current_tiers,
    set_current_tier,
)
from fts.warehouse.publish import Publication
from fts.warehouse.registry import get_manifest

BUILD_FORMAT = 1


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


@dataclass
class _Prepared:
    """A validated tier that is not written yet: its rows, where they go and their manifest."""

    tier: str
    table: pa.Table
    manifest: Manifest
    rel_path: str


def _environment() -> dict[str, str]:
    import numpy
    import pandas

    env = {"python": platform.python_version(), "duckdb": duckdb.__version__,
           "pyarrow": pa.__version__, "pandas": pandas.__version__, "numpy": numpy.__version__}
    try:
        import talib

        env["ta-lib"] = talib.__version__
    except ImportError:  # pragma: no cover - TA-Lib is a dependency
        pass
    return env


def _build_key(full_fp: str, inputs: BuildInputs, series: list[str]) -> str:
    return sha256_json({"format": BUILD_FORMAT, "fingerprint": full_fp,
                        "loads": sorted(lid for _, lid, _ in inputs.raw_loads(series)),
                        "tickers": inputs.tickers})


def build_tier(
    paths: ProjectPaths, tier: str, *, tickers: Sequence[str] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> BuildResult:
    """Build `tier` and every tier it depends on; skip the ones that are up to date."""
    started = time.perf_counter()
    project = load_feature_project(paths.features_sql)
    models = plan(project, tier)
    own, full = tier_fingerprints(project, models)
    check_versions(project, own)
    tier_order = tiers_in(project, models)

    with connect(paths.warehouse, read_only=True, session_views=False) as con:
        inputs = select_inputs(con, project, tier, tickers, models)
        tier_series = series_by_tier(project, models)
        keys = {t: _build_key(full[t], inputs, tier_series[t]) for t in tier_order}
        current = current_tiers(con)
        existing: dict[str, Manifest] = {}
        for t in tier_order:
            if t in current:
                m = get_manifest(con, current[t][0])
                if m is not None and m.get("build_key") == keys[t] and paths.absolute(current[t][1]).exists():
                    existing[t] = m
        result = BuildResult(tier=tier)
        if tier in existing:
            m = existing[tier]
            progress(f"{tier}: up to date (version {m['version']}, {m['row_count']} rows, "
                     f"manifest {m.id[:12]})")
            result.tiers.append(TierResult(tier, m.id, True, int(m["row_count"]),
                                           current[tier][1]))
            return result
        sources = read_sources(con, project, inputs)

    progress(f"{tier}: building {', '.join(t for t in tier_order if t not in existing)} "
             f"for {len(inputs.tickers)} ticker(s)")
    session = run_plan(project, models, sources, progress)
    parents = parent_tiers(project, models)
    manifests = dict(existing)
    with session:
        # The same for every tier's volume check, so asked once.
        volume_tickers = {r[0] for r in session.con.execute(
            f"SELECT ticker FROM {source_relation(project.ohlcv_source)} GROUP BY 1 "
            "HAVING count(volume) > 0").fetchall()}
        prepared = [
            _prepare(project, session.con, t, keys[t], full[t], own[t], inputs, volume_tickers,
                     manifests, result, parents[t], tier_series[t])
            for t in tier_order
        ]
    _write_and_register(paths, [p for p in prepared if p is not None])
    progress(f"{tier}: done in {time.perf_counter() - started:.1f}s")
    return result


def _write_and_register(paths: ProjectPaths, prepared: list[_Prepared]) -> None:
    """Publish every prepared tier's Parquet and manifest, and point the tier views at them,
    in one publication (see `fts.warehouse.publish` for the order and guarantees)."""
    with Publication(paths) as pub:
        # Dictionary pages help the repeated tickers only; on float features they double the
        # write time and grow the file.
        staged = [(p, pub.stage(p.rel_path, lambda tmp, p=p: pq.write_table(
            p.table, tmp, compression="zstd", use_dictionary=["ticker"]))) for p in prepared]

        def point_views(con: duckdb.DuckDBPyConnection) -> None:
            for p in prepared:
                set_current_tier(con, p.tier, p.manifest.id, p.rel_path)

        pub.commit([(p.manifest, [f]) for p, f in staged], point_views)


def _prepare(
    project: FeatureProject, mem: duckdb.DuckDBPyConnection, tier: str, key: str,
    full_fp: str, own_fp: str, inputs: BuildInputs, volume_tickers: set[str],
    manifests: dict[str, Manifest], result: BuildResult, parents: set[str], series: list[str],
) -> _Prepared | None:
    """Validate one tier and assemble its table and manifest (None if the current one is kept).

    Writes nothing. `manifests` holds the manifest of every tier kept or prepared so far (the
    upstream tiers' content hashes are pinned from it, and a tier found in it before its turn
    is a kept one); this tier's is added to it.
    """
    t0 = time.perf_counter()
    if tier in manifests:
        m = manifests[tier]
        result.tiers.append(TierResult(tier, m.id, True, int(m["row_count"]), m["outputs"][0]["path"]))
        return None
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
    check_history(mem, project, tier, frame, inputs,
                  max(c.warmup for c in columns) if columns else 0, series)
    validate_tier(tier, frame, columns, volume_tickers)
    del frame  # the pandas copy was only for pandera; do not hold it next to the Arrow table
    content_sha = table_content_sha256(table)
    upstream = [r for r in result.tiers if r.tier in parents]
    raw_inputs = [Input(lid, "raw", sha) for _, lid, sha in inputs.raw_loads(series)]
    tier_inputs = [Input(r.manifest_id, "tier",
                         str(manifests[r.tier]["outputs"][0]["content_sha256"]))
                   for r in upstream]
    fields = dict(
        kind="tier", name=tier, version=spec.version, inputs=raw_inputs + tier_inputs,
        created_at=utc_now(),
        tier=tier, build_key=key, fingerprint=full_fp, definition_fingerprint=own_fp,
        columns=[c.name for c in columns],
        schema={f.name: str(f.type) for f in table.schema},
        row_count=table.num_rows,
        tickers=inputs.tickers,
        date_range={t: {"first": a, "last": b, "rows": n} for t, a, b, n in ranges},
        environment=_environment(),
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
    manifests[tier] = manifest
    seconds = time.perf_counter() - t0
    result.tiers.append(TierResult(tier, manifest.id, False, table.num_rows, rel_path, seconds))
    return _Prepared(tier, table, manifest, rel_path)


def parent_tiers(project: FeatureProject, models: list[RenderedModel]) -> dict[str, set[str]]:
    """For each tier in a plan, the other tiers its own models `ref` (read from the SQL/AST)."""
    parents: dict[str, set[str]] = {t: set() for t in tiers_in(project, models)}
    for m in models:
        if m.spec.folder in parents:
            parents[m.spec.folder] |= {r for r in m.refs if r in project.tiers and r != m.spec.folder}
    return parents
