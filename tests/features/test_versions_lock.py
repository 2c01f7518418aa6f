"""The committed versions.lock agrees with the declarations: a definition changed without a
version bump fails here, in CI, before anyone builds it."""

from __future__ import annotations

from pathlib import Path

from fts.features import load_feature_project
from fts.features.graph import plan
from fts.features.versions import read_lock, tier_fingerprints

FEATURES = Path(__file__).resolve().parents[2] / "features_sql"


def test_every_tier_version_is_recorded_with_its_current_definition() -> None:
    project = load_feature_project(FEATURES)
    lock = read_lock(FEATURES)
    for tier in sorted(project.tiers):
        own, _ = tier_fingerprints(project, plan(project, tier))
        version = str(project.tier(tier).version)
        assert tier in lock and version in lock[tier], f"{tier} v{version} is not in versions.lock"
        assert lock[tier][version] == own[tier], (
            f"{tier}: definition changed without a version bump (features_sql/{tier}/{tier}.yml)"
        )


def test_shipped_tiers_nest_and_have_the_declared_widths() -> None:
    project = load_feature_project(FEATURES)
    widths = {t: len(project.columns(t)) for t in project.tiers}
    assert widths == {"vix": 8, "a20": 20, "a50": 50, "a100": 100, "a200": 201}
    a20, a50, a100, a200 = (project.columns(t) for t in ("a20", "a50", "a100", "a200"))
    assert [c.name for c in a50[:20]] == [c.name for c in a20]
    assert [c.name for c in a100[:50]] == [c.name for c in a50]
    assert [c.name for c in a200[:100]] == [c.name for c in a100]
    assert not any("threshold" in c.name or "target" in c.name for c in a100)
