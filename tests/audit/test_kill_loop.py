"""SIGKILL at 20 moments of ingest, build-tier and an HPO trial, then the same command again:
`fts audit` holds (exit 0) after the kill and after the rerun, every time. And two
`fts build-tier a100` at once leave the audit clean.

The kills land at named steps of the one publish path (`fts.warehouse.publish.STEPS`):
`staged` (a file written under its temporary name), `renamed` (a file or manifest renamed into
place, before the COMMIT), `registered` (inside the transaction, before COMMIT) and
`committed` (after COMMIT, lock still held). `<step>:<n>` is the n-th time the step is reached.
"""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import pytest

from fts.audit import audit_project
from fts.audit.gc import collect_garbage
from fts.core.paths import ProjectPaths
from fts.warehouse.publish import project_lock
from tests.audit.conftest import REPO, query, run_fts
from tests.audit.processes import run, start

HPO = ["hpo", "--tier", "a20", "--budget", "10K", "--trials", "1", "--ctx", "16",
       "--epochs", "1", "--max-batches", "2", "--study", "k"]

# (command, the moments it is killed at). Ingest sample publishes ^GSPC then ^VIX (one manifest
# each); build-tier a50 publishes a20 and a50 together (2 Parquet files, 2 manifests); the
# trial publishes its dataset (npz + manifest), its run (checkpoint + manifest), then the study.
MOMENTS = [
    (["ingest", "sample"], ["renamed:1", "registered:1", "committed:1", "renamed:2",
                            "committed:2"]),
    (["build-tier", "a50"], ["staged:1", "staged:2", "renamed:1", "renamed:2", "renamed:3",
                             "renamed:4", "registered:1", "committed:1"]),
    (HPO, ["staged:1", "renamed:2", "registered:1", "renamed:3", "registered:2",
           "committed:2", "registered:3"]),
]
CASES = [(args, at) for args, moments in MOMENTS for at in moments]


def test_the_kill_loop_has_twenty_distinct_moments():
    assert len(CASES) == 20 and len({(a[0], m) for a, m in CASES}) == 20


def _audit_holds(root: Path, when: str) -> None:
    result = run_fts(root, "audit")
    assert result.exit_code == 0, (when, result.output)


@pytest.fixture
def starts(tmp_path: Path, _sample_project_template: Path,
           _built_project_template: Path) -> dict[str, Path]:
    """Where each command starts: nothing, the sample ingested, a20 and a50 built."""
    empty = tmp_path / "empty"
    empty.mkdir()
    sample = tmp_path / "sample"
    shutil.copytree(_sample_project_template, sample)
    shutil.copytree(REPO / "features_sql", sample / "features_sql")
    return {"ingest": empty, "build-tier": sample, "hpo": _built_project_template}


def test_a_kill_at_any_publish_step_leaves_an_audit_that_holds_and_the_rerun_completes(
        tmp_path: Path, starts: dict[str, Path]):
    for i, (args, at) in enumerate(CASES):
        root = tmp_path / f"case{i}"
        shutil.copytree(starts[args[0]], root)
        assert run(root, *args, kill_at=at) == -signal.SIGKILL, (args, at)
        _audit_holds(root, f"after {args[0]} killed at {at}")
        assert run(root, *args) == 0, (args, at)
        _audit_holds(root, f"after {args[0]} killed at {at}, then run again")
        if args[0] == "ingest":
            assert query(root, "SELECT count(DISTINCT ticker) FROM raw.loads") == [(2,)]
        elif args[0] == "build-tier":
            assert query(root, "SELECT count(*) FROM meta.tier_current") == [(2,)]
        else:
            assert query(root, "SELECT count(*) FROM meta.manifests WHERE kind = 'study'") == [(1,)]
        shutil.rmtree(root)


def test_two_concurrent_builds_of_a100_leave_the_audit_clean(tmp_path: Path,
                                                             starts: dict[str, Path]):
    root = tmp_path / "race"
    shutil.copytree(starts["build-tier"], root)
    paths = ProjectPaths(root)
    # Holding the publish lock while both run makes the race certain: each builds every tier
    # and stages its files before either can publish (neither finds the other's build). The
    # second starts once the first has staged, so their manifests (created_at) differ: two
    # started in the same second make the same manifest, and so the same bytes and name.
    staging = root / "data" / "tiers" / "a100"
    with project_lock(paths):
        procs = [start(root, "build-tier", "a100")]
        _wait_for_staged_files(staging, 1, procs)
        time.sleep(1.0)
        procs.append(start(root, "build-tier", "a100"))
        _wait_for_staged_files(staging, 2, procs)
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0, 0]
    report = audit_project(paths)
    assert report.ok and not report.warnings, [i.message for i in report.issues + report.warnings]
    assert run_fts(root, "audit").exit_code == 0
    # Both builds are registered, each with its own file (neither renamed over the other's).
    builds = query(root, "SELECT m.id, a.path FROM meta.manifests m JOIN meta.artifacts a "
                         "ON a.manifest_id = m.id WHERE m.kind = 'tier' AND m.name = 'a100'")
    assert len(builds) == 2 and len({p for _, p in builds}) == 2
    # The one not current, with its own a20 and a50, is a superseded build for `fts gc`.
    [(current,)] = query(root, "SELECT manifest_id FROM meta.tier_current WHERE tier = 'a100'")
    plan = collect_garbage(paths)
    assert not plan.garbage
    assert sorted(s.name for s in plan.superseded) == ["a100", "a20", "a50"]
    assert current not in {s.id for s in plan.superseded}


def _wait_for_staged_files(folder: Path, n: int, procs: list, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while len(list(folder.glob(".*.tmp")) if folder.is_dir() else []) < n:
        assert all(p.exitcode is None for p in procs), [p.exitcode for p in procs]
        assert time.monotonic() < deadline, "the builds never staged their files"
        time.sleep(0.05)
