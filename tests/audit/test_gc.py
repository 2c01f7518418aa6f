"""`fts gc`: garbage (what no committed row references) is a warning for the audit, listed by a
dry run, removed by `--delete`; a registered file is never removed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from fts.audit import audit_project
from fts.core.hashing import sha256_file
from fts.core.paths import ProjectPaths
from tests.audit.conftest import query, run_fts
from tests.audit.processes import run
from tests.ingest.helpers import AAPL_CSV


@pytest.fixture
def root(tmp_path: Path, _built_project_template: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(_built_project_template, project)
    return project


def _registered_files(root: Path) -> dict[str, str]:
    """Every file a committed row names, with its SHA-256."""
    paths = {p for (p,) in query(root, "SELECT path FROM meta.artifacts")}
    paths |= {f"manifests/{k}/{i}.json" for i, k in query(root, "SELECT id, kind FROM meta.manifests")}
    return {p: sha256_file(root / p) for p in sorted(paths)}


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_gc_lists_garbage_then_deletes_it_and_never_a_registered_file(root: Path):
    # A load killed after its manifest file was renamed into place, before its COMMIT.
    assert run(root, "ingest", "csv", str(AAPL_CSV), "--ticker", "AAPL",
               kill_at="renamed:1") == -signal.SIGKILL
    [killed] = [p for p in (root / "manifests" / "raw").glob("*.json")
                if not query(root, "SELECT 1 FROM meta.manifests WHERE id = ?", [p.stem])]
    # A stray file with a registered file's bytes (garbage by name, whatever its content), a
    # dead writer's temporary file, and a live one (this process's).
    registered_tier = next((root / "data" / "tiers" / "a20").glob("*.parquet"))
    stray = root / "data" / "tiers" / "a20" / "stray.parquet"
    shutil.copyfile(registered_tier, stray)
    dead_tmp = root / "data" / "runs" / f".x.pt.{_dead_pid()}.deadbeef.tmp"
    live_tmp = root / "data" / "runs" / f".y.pt.{os.getpid()}.0badf00d.tmp"
    for f in (dead_tmp, live_tmp):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"partial")
    garbage = sorted(ProjectPaths(root).relative(p) for p in (killed, stray, dead_tmp))
    before = _registered_files(root)

    # The audit: warnings, exit 0, the killed manifest not verified as a node.
    report = audit_project(ProjectPaths(root))
    assert report.ok and killed.stem not in report.nodes
    assert sorted(w.path for w in report.issues_with("garbage")) == garbage
    assert run_fts(root, "audit").exit_code == 0

    dry = run_fts(root, "gc")
    assert dry.exit_code == 0, dry.output
    assert all(f"Would remove {rel} " in dry.stdout for rel in garbage)
    assert live_tmp.name not in dry.stdout
    assert all((root / rel).exists() for rel in garbage)  # a dry run removes nothing

    deleted = run_fts(root, "gc", "--delete", "--json")
    assert deleted.exit_code == 0, deleted.output
    plan = json.loads(deleted.stdout)
    assert plan["deleted"] and sorted(plan["garbage"]) == garbage and not plan["superseded"]
    assert not any((root / rel).exists() for rel in garbage)
    assert live_tmp.exists()
    assert _registered_files(root) == before
    report = audit_project(ProjectPaths(root))
    assert report.ok and not report.issues_with("garbage")
    assert "nothing to collect" in run_fts(root, "gc").stdout


def test_an_unregistered_manifest_that_a_committed_row_names_is_an_error_gc_leaves(root: Path):
    # Not garbage: meta.tier_current and meta.artifacts still name the a50 build.
    [(a50, path)] = query(root, "SELECT manifest_id, parquet_path FROM meta.tier_current "
                                "WHERE tier = 'a50'")
    query(root, "DELETE FROM meta.manifests WHERE id = ?", [a50])
    report = audit_project(ProjectPaths(root))
    assert [i.subject for i in report.issues_with("manifest_unregistered")] == [a50]
    assert not report.issues_with("garbage")
    assert run_fts(root, "gc", "--delete").exit_code == 0
    assert (root / "manifests" / "tier" / f"{a50}.json").exists() and (root / path).exists()
