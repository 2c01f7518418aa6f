"""A per-ticker tier file that several builds keep is read once per audit, and a change to it
is still reported for every build that lists it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

import fts.audit.checks as checks
from fts.audit import audit_project
from fts.warehouse.tier_files import locate
from tests.features.test_incremental import _bars, _manifest, _project


def _three_builds(root: Path):  # type: ignore[no-untyped-def]
    project = _project(root, {"ACME": 600, "BETA": 600})
    project.build_tier("a20")
    for i, ticker in enumerate(("ACME", "BETA")):  # a new load each: a build keeping the rest
        project.ingest_csv(_bars(root.parent / f"new{i}.csv", "2015-01-02", 620, seed=20 + i),
                           ticker)
        project.build_tier("a20")
    return project


def test_a_file_kept_by_several_builds_is_hashed_once(sample_project_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    project = _three_builds(sample_project_dir)
    gspc = {o["ticker"]: o for o in _manifest(project, "a20")["outputs"]}["^GSPC"]["path"]
    hashed: Counter[str] = Counter()
    real = checks.sha256_file

    def counting(path):  # type: ignore[no-untyped-def]
        hashed[Path(path).name] += 1
        return real(path)

    monkeypatch.setattr(checks, "sha256_file", counting)
    report = audit_project(project.paths)
    assert report.ok, [(i.code, i.message) for i in report.issues]
    # ^GSPC's a20 file is listed by all three a20 builds; it is hashed once.
    assert len(_builds_listing(project, gspc)) == 3
    assert hashed[Path(gspc).name] == 1
    assert all(n == 1 for name, n in hashed.items() if name.endswith(".parquet")), hashed


def test_a_changed_kept_file_is_reported_for_every_build_listing_it(
        sample_project_dir: Path) -> None:
    project = _three_builds(sample_project_dir)
    gspc = {o["ticker"]: o for o in _manifest(project, "a20")["outputs"]}["^GSPC"]["path"]
    path = locate(project.paths, gspc)
    path.write_bytes(path.read_bytes()[:-100] + b"\0" * 100)
    report = audit_project(project.paths)
    hit = {i.subject for i in report.issues if i.path == gspc}
    assert len(hit) == 3 and hit == _builds_listing(project, gspc)


def _builds_listing(project, rel: str) -> set[str]:  # type: ignore[no-untyped-def]
    import json

    with project.connect(read_only=True) as con:
        rows = con.execute("SELECT id, body FROM meta.manifests WHERE kind = 'tier'").fetchall()
    return {mid for mid, body in rows
            if rel in {o["path"] for o in json.loads(body).get("outputs") or []}}
