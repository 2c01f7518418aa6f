"""Tier versions: a version names one definition, recorded in `features_sql/versions.lock`.

The lock maps each tier's version to the fingerprint of its own definition (its models' rendered
SQL or Python syntax, and its columns). Building a tier whose definition changed while its
version did not is refused; a new version is recorded on its first build. The lock file is
committed with the declarations, so every clone agrees on what each version means.
"""

from __future__ import annotations

import json
from pathlib import Path

from fts.core.atomic import atomic_write_text
from fts.core.errors import ConfigError
from fts.core.hashing import sha256_json
from fts.features.declarations import FeatureProject
from fts.features.fingerprint import python_fingerprint, sql_fingerprint
from fts.features.render import RenderedModel

LOCK_NAME = "versions.lock"


def model_fingerprint(project: FeatureProject, model: RenderedModel) -> str:
    """Fingerprint of one rendered model, with the declarations of the sources it reads (which
    raw ticker and columns a series is, and its staleness limit, change the data); vars are
    included for Python models (SQL has them rendered in)."""
    sources = [project.sources[s].definition() for s in sorted(model.sources)]
    if model.spec.kind == "sql":
        return sha256_json([sql_fingerprint(model.sql or "", str(model.spec.path)), sources])
    base = python_fingerprint(model.python_source or "", str(model.spec.path))
    return sha256_json([base, project.vars, sources])


def tier_fingerprints(
    project: FeatureProject, models: list[RenderedModel]
) -> tuple[dict[str, str], dict[str, str]]:
    """(own, full) fingerprints for every tier in a plan.

    own: the tier's own models and column definitions. full: own + version + the full
    fingerprints of every tier its models depend on (through refs), so a change anywhere
    upstream changes it.
    """
    by_name = {m.spec.name: m for m in models}
    model_fps = {m.spec.name: model_fingerprint(project, m) for m in models}
    own: dict[str, str] = {}
    full: dict[str, str] = {}
    tier_names = [m.spec.name for m in models if m.spec.name in project.tiers]
    for tier in tier_names:
        spec = project.tier(tier)
        own[tier] = sha256_json(
            {
                "models": {n: model_fps[n] for n in sorted(model_fps) if by_name[n].spec.folder == tier},
                "columns": [c.definition() for c in spec.own_columns],
                "extends": spec.extends,
            }
        )
    for tier in tier_names:  # plan order: parents first
        upstream = sorted(_upstream_tiers(project, by_name, tier))
        full[tier] = sha256_json(
            {
                "own": own[tier],
                "version": project.tier(tier).version,
                "upstream": {t: full[t] for t in upstream},
                "upstream_models": {
                    n: model_fps[n]
                    for n in sorted(_upstream_models(by_name, tier))
                    if by_name[n].spec.folder != tier
                },
            }
        )
    return own, full


def _upstream_models(by_name: dict[str, RenderedModel], start: str) -> set[str]:
    seen: set[str] = set()
    stack = list(by_name[start].refs)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(by_name[name].refs)
    return seen


def _upstream_tiers(project: FeatureProject, by_name: dict[str, RenderedModel], tier: str) -> set[str]:
    return {n for n in _upstream_models(by_name, tier) if n in project.tiers and n != tier}


def read_lock(root: Path) -> dict[str, dict[str, str]]:
    path = root / LOCK_NAME
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from exc


def check_versions(project: FeatureProject, own: dict[str, str], *, record: bool = True) -> None:
    """Refuse a changed definition under an old version; record new versions in the lock."""
    lock = read_lock(project.root)
    changed = False
    for tier, fp in own.items():
        version = str(project.tier(tier).version)
        known = lock.get(tier, {})
        if version in known and known[version] != fp:
            raise ConfigError(
                f"tier {tier}: its definition changed but its version is still {version}; "
                f"bump `version` in features_sql/{tier}/{tier}.yml (fingerprint {fp[:12]}, "
                f"version {version} was {known[version][:12]})"
            )
        if version not in known:
            lock.setdefault(tier, {})[version] = fp
            changed = True
    if changed and record:
        text = json.dumps(lock, indent=2, sort_keys=True) + "\n"
        atomic_write_text(project.root / LOCK_NAME, text)
