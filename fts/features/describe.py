"""`describe_tier` and `list_tiers`: what a tier is, from its declaration and its current build."""

from __future__ import annotations

from typing import Any

from fts.core.paths import ProjectPaths
from fts.features.declarations import NULL_REASONS, load_feature_project
from fts.features.graph import plan
from fts.features.validate import schema_yaml
from fts.features.versions import read_lock, tier_fingerprints
from fts.warehouse import connect, current_tiers
from fts.warehouse.registry import get_manifest


def list_tiers(paths: ProjectPaths) -> list[str]:
    """The tiers declared under features_sql/, sorted."""
    return sorted(load_feature_project(paths.features_sql).tiers)


def describe_tier(paths: ProjectPaths, tier: str) -> dict[str, Any]:
    """Columns (definition, warm-up, range, allowed nulls), version, fingerprints, lineage and
    the current build of a tier."""
    project = load_feature_project(paths.features_sql)
    spec = project.tier(tier)
    models = plan(project, tier)
    own, full = tier_fingerprints(project, models)
    lock = read_lock(project.root).get(tier, {})
    info: dict[str, Any] = {
        "tier": tier,
        "version": spec.version,
        "description": spec.description,
        "extends": spec.extends,
        "fingerprint": full[tier],
        "definition_fingerprint": own[tier],
        "version_recorded": lock.get(str(spec.version)) == own[tier],
        "columns": [
            {
                "name": c.name,
                "tier": c.tier,
                "description": c.description,
                "warmup": c.warmup,
                "kind": c.kind,
                "min": c.min,
                "max": c.max,
                "nullable": NULL_REASONS.get(c.nullable or "", None),
            }
            for c in project.columns(tier)
        ],
        "models": [
            {"name": m.spec.name, "kind": m.spec.kind, "path": paths.relative(m.spec.path),
             "refs": m.refs, "sources": [f"{a}.{b}" for a, b in m.sources]}
            for m in models
        ],
        "build": None,
    }
    if paths.warehouse.exists():
        with connect(paths.warehouse, read_only=True, project_root=paths.root) as con:
            cur = current_tiers(con).get(tier)
            if cur:
                m = get_manifest(con, cur[0])
                if m is not None:
                    info["build"] = {
                        "manifest_id": m.id,
                        "parquet": cur[1],
                        "created_at": m["created_at"],
                        "rows": m["row_count"],
                        "date_range": m["date_range"],
                        "inputs": m.body["inputs"],
                        "up_to_date_definition": m["fingerprint"] == full[tier],
                        # Tickers a --skip-invalid build left out, with why.
                        "excluded": m.get("excluded") or {},
                    }
    return info


def tier_schema_yaml(paths: ProjectPaths, tier: str) -> str:
    """The pandera schema a build of `tier` is validated with, as YAML with every check.

    Its volume check names the tickers with volume data in the warehouse now (none before the
    first ingest), as the next build's would.
    """
    project = load_feature_project(paths.features_sql)
    columns = project.columns(project.tier(tier).name)
    volume_tickers: set[str] = set()
    if paths.warehouse.exists():
        with connect(paths.warehouse, read_only=True, session_views=False) as con:
            volume_tickers = {r[0] for r in con.execute(
                "SELECT ticker FROM raw.ohlcv GROUP BY 1 HAVING count(volume) > 0").fetchall()}
    return schema_yaml(tier, columns, volume_tickers)
