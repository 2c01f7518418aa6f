"""The one publish path: what a failure before COMMIT leaves (nothing), content-named files,
and the project lock."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from fts.core.errors import WarehouseBusy
from fts.core.hashing import sha256_bytes
from fts.core.manifest import Manifest
from fts.core.paths import ProjectPaths
from fts.warehouse import connect
from fts.warehouse.publish import LOCK_FILE, Publication, PublishError, project_lock


@pytest.fixture
def paths(tmp_path: Path) -> ProjectPaths:
    p = ProjectPaths(tmp_path / "project")
    p.root.mkdir()
    with connect(p.warehouse):
        pass  # creates the schema
    return p


def _manifest(data: bytes) -> tuple[Manifest, str]:
    rel = f"data/runs/{sha256_bytes(data)[:24]}.pt"
    return Manifest.create(kind="run", name="r", version=1,
                           outputs=[{"path": rel, "sha256": sha256_bytes(data)}]), rel


def _rows(paths: ProjectPaths) -> tuple[list, list]:
    with connect(paths.warehouse, read_only=True, session_views=False) as con:
        return (con.execute("SELECT id FROM meta.manifests").fetchall(),
                con.execute("SELECT path, manifest_id, sha256 FROM meta.artifacts").fetchall())


def _files(paths: ProjectPaths) -> list[str]:
    return sorted(paths.relative(p) for p in paths.root.rglob("*") if p.is_file()
                  and p.name not in ("warehouse.duckdb", LOCK_FILE))


def test_a_failure_before_commit_leaves_no_file_and_no_row(paths: ProjectPaths):
    manifest, rel = _manifest(b"weights")

    def rows(con):
        con.execute("INSERT INTO meta.tier_current VALUES ('t', 'x', 'y', now())")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError), Publication(paths) as pub:
        pub.commit([(manifest, [pub.stage_bytes(rel, b"weights")])], rows)
    assert _files(paths) == []  # no staged, renamed or manifest file left
    assert _rows(paths) == ([], [])


def test_a_commit_renames_registers_and_leaves_no_temporary_file(paths: ProjectPaths):
    manifest, rel = _manifest(b"weights")
    with Publication(paths) as pub:
        pub.commit([(manifest, [pub.stage_bytes(rel, b"weights")])])
    assert _files(paths) == sorted([rel, f"manifests/run/{manifest.id}.json"])
    assert _rows(paths) == ([(manifest.id,)], [(rel, manifest.id, sha256_bytes(b"weights"))])


def test_a_registered_file_is_never_overwritten_with_other_bytes(paths: ProjectPaths):
    manifest, rel = _manifest(b"weights")
    with Publication(paths) as pub:
        pub.commit([(manifest, [pub.stage_bytes(rel, b"weights")])])
    other = Manifest.create(kind="run", name="r2", version=1)
    with pytest.raises(PublishError, match="already holds other bytes"), Publication(paths) as pub:
        pub.commit([(other, [pub.stage_bytes(rel, b"forged")])])
    assert (paths.root / rel).read_bytes() == b"weights"
    assert _rows(paths)[0] == [(manifest.id,)]
    assert _files(paths) == sorted([rel, f"manifests/run/{manifest.id}.json"])


def test_an_unregistered_leftover_at_the_final_name_is_replaced(paths: ProjectPaths):
    manifest, rel = _manifest(b"weights")
    (paths.root / rel).parent.mkdir(parents=True)
    (paths.root / rel).write_bytes(b"half a file from a killed process")
    with Publication(paths) as pub:
        pub.commit([(manifest, [pub.stage_bytes(rel, b"weights")])])
    assert (paths.root / rel).read_bytes() == b"weights"


def test_the_lock_held_by_another_process_makes_a_publication_wait_then_fail(
        paths: ProjectPaths, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FTS_LOCK_TIMEOUT", "1")
    lock = paths.manifests / LOCK_FILE
    holder = subprocess.Popen([sys.executable, "-c",
                               "import filelock, sys, time\n"
                               "l = filelock.FileLock(sys.argv[1]); l.acquire()\n"
                               "print('held', flush=True); time.sleep(60)", str(lock)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        manifest, rel = _manifest(b"weights")
        started = time.monotonic()
        with pytest.raises(WarehouseBusy, match="another fts process is publishing"), \
                Publication(paths) as pub:
            pub.commit([(manifest, [pub.stage_bytes(rel, b"weights")])])
        assert time.monotonic() - started >= 0.9
        with pytest.raises(WarehouseBusy), project_lock(paths, timeout=0.1):
            pass
    finally:
        holder.kill()
        holder.wait()
    assert _files(paths) == [] and _rows(paths) == ([], [])
    with project_lock(paths, timeout=5):  # released when its holder died
        pass


def test_many_files_are_registered_in_one_statement_as_one_upsert_each_would(
        paths: ProjectPaths) -> None:
    from fts.warehouse.registry import register_artifact, register_artifacts

    rows = [(f"data/tiers/a20/f{i}.parquet", "m1", f"sha{i}", i) for i in range(200)]
    again = [("data/tiers/a20/f0.parquet", "m1", "new0", 7),  # an upsert of a registered file
             ("data/tiers/a20/f1.parquet", "m2", "sha1", 1),  # the same file, another manifest
             ("data/x", "m3", "first", 1), ("data/x", "m3", "last", 2)]  # the last one wins
    with connect(paths.warehouse, session_views=False) as con:
        register_artifacts(con, rows)
        register_artifacts(con, again)
        register_artifacts(con, [])
        bulk = con.execute("SELECT path, manifest_id, sha256, bytes FROM meta.artifacts "
                           "ORDER BY ALL").fetchall()
        con.execute("DELETE FROM meta.artifacts")
        for r in rows + again:
            register_artifact(con, *r)
        one_by_one = con.execute("SELECT path, manifest_id, sha256, bytes FROM meta.artifacts "
                                 "ORDER BY ALL").fetchall()
    assert len(bulk) == 202 and bulk == one_by_one
    assert ("data/tiers/a20/f0.parquet", "m1", "new0", 7) in bulk and ("data/x", "m3", "last", 2) in bulk
