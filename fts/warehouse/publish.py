"""`Publication`: the one way an artefact (files + manifests + warehouse rows) enters a project.

Every command that produces something (a raw load, a tier build, a dataset, a run and its
checkpoint, a baseline, a study manifest, a report) publishes it here, in this order:
1. stage: each file is written under a temporary name beside its final one
   (`.<name>.<pid>.<token>.tmp`) and flushed to disk; nothing else sees it yet;
2. take the project lock (`manifests/.publish.lock`, an OS file lock that a killed process
   releases);
3. rename each staged file onto its final name, then write each manifest file (the same way);
4. in ONE warehouse transaction: the `meta.manifests` rows, a `meta.artifacts` row per file and
   the caller's own rows (`raw.loads`, `train.runs`, `meta.tier_current`, ...); COMMIT;
5. release the lock.
Final names are chosen by content (a hash of the bytes or of the manifest), so two builders never
rename different bytes onto one name; if a final name already holds other bytes, it is replaced
only when no committed row names it (the leftover of a killed process) or only manifests that
the new one supersedes (a report rewritten under its name), else publishing fails.

Failure guarantees:
- an exception before COMMIT removes the files this call put in place (and its temporary
  files) and rolls the transaction back: the project is as it was;
- a kill (SIGKILL, power loss) at any moment leaves every committed artefact intact and
  registered; what it can leave behind is garbage that no committed row references: temporary
  files, or files and manifests renamed into place before the COMMIT. `fts audit` reports those
  as warnings and `fts gc --delete` removes them (under the same lock, so never a file that a
  running publication is about to register).
The lock serializes publications, and `fts gc`, across processes. It is reentrant within a
process (threads excepted), so a caller may hold it around reads that decide what to publish
(an ingest's previous load, a report's superseded manifests). Lock order: the project lock
first, then the warehouse; never the other way round.

Test hook: `FTS_TEST_KILL_AT=<step>:<n>` SIGKILLs this process the n-th time it reaches `step`
(one of STEPS), so crash tests can stop a publication at a chosen moment.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import filelock

from fts.core.atomic import _fsync_dir
from fts.core.errors import FtsError, WarehouseBusy
from fts.core.hashing import sha256_file
from fts.core.manifest import Manifest
from fts.core.paths import ProjectPaths
from fts.warehouse.connection import _lock_timeout, connect, transaction
from fts.warehouse.registry import register_artifacts, register_manifest

LOCK_FILE = ".publish.lock"  # under manifests/ (ignored by git, never scanned as a manifest)
KILL_ENV = "FTS_TEST_KILL_AT"
#: The moments a publication can be killed at (the test hook's step names).
STEPS = ("staged", "renamed", "registered", "committed")
TEMP_PATTERN = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.(?P<token>[0-9a-f]{8})\.tmp$")

_kills: Counter[str] = Counter()
_kills_lock = threading.Lock()
_locks: dict[Path, filelock.BaseFileLock] = {}
_locks_guard = threading.Lock()


class PublishError(FtsError):
    """A final name already holds other bytes that a committed row names."""


@dataclass(frozen=True)
class StagedFile:
    """A file written under a temporary name, waiting to be renamed onto `rel`."""

    rel: str  # the final path, relative to the project root
    tmp: Path | None  # None: the file is already in place (`Publication.adopt`)
    sha256: str
    bytes: int
    #: Kept from a registered build (`Publication.keep`): checked by size, not re-hashed.
    trusted: bool = False


def temp_path(final: Path, owner: int | None = None) -> Path:
    """A temporary name beside `final` that names this process, or the process `owner` that
    will publish it (so `gc` can tell whether its writer is still alive)."""
    return final.parent / f".{final.name}.{owner or os.getpid()}.{secrets.token_hex(4)}.tmp"


def stage_file(paths: ProjectPaths, rel: str, write: Callable[[Path], None],
               owner: int | None = None) -> StagedFile:
    """Call `write(tmp)` to write the file that will be published at `rel`; flush it. `owner`:
    the process that will publish it when that is not this one (a worker of a parallel tier
    build), so that its temporary name stays alive for `fts gc` while the owner runs."""
    final = paths.absolute(rel)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final, owner)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        return StagedFile(rel, tmp, sha256_file(tmp), tmp.stat().st_size)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def temp_owner_alive(path: Path) -> bool | None:
    """For a temporary file of this scheme: whether the process that wrote it still runs
    (None: not one of ours)."""
    m = TEMP_PATTERN.match(path.name)
    if not m:
        return None
    pid = int(m["pid"])
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def kill_point(step: str) -> None:
    """SIGKILL this process at the n-th `step` when FTS_TEST_KILL_AT=<step>:<n> (tests only)."""
    spec = os.environ.get(KILL_ENV)
    if not spec or not spec.startswith(step + ":"):
        return
    with _kills_lock:  # files are staged from several threads at once
        _kills[step] += 1
        hit = _kills[step] == int(spec.split(":", 1)[1])
    if hit:
        os.kill(os.getpid(), signal.SIGKILL)


@contextlib.contextmanager
def project_lock(paths: ProjectPaths, timeout: float | None = None) -> Iterator[None]:
    """Hold the project's publish lock (reentrant in this process); waits up to
    $FTS_LOCK_TIMEOUT seconds (default 30) for another process to release it."""
    path = paths.manifests / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locks_guard:
        lock = _locks.setdefault(path, filelock.FileLock(str(path)))
    try:
        lock.acquire(timeout=_lock_timeout(timeout))
    except filelock.Timeout as exc:
        raise WarehouseBusy(
            f"{path}: another fts process is publishing into this project; waited "
            f"{_lock_timeout(timeout):.0f}s (set FTS_LOCK_TIMEOUT to wait longer)") from exc
    try:
        yield
    finally:
        lock.release()


class Publication:
    """Stage files, then `commit` them with their manifests and rows. `commit` and leaving a
    `with Publication(...)` block remove every staged file that was not published (a staged file
    of a publication abandoned otherwise is garbage that `fts gc` removes once its process ends).

    >>> with Publication(paths) as pub:                          # doctest: +SKIP
    ...     f = pub.stage_bytes("data/runs/ab12.pt", data)
    ...     pub.commit([(manifest, [f])], rows=lambda con: con.execute(...))
    """

    def __init__(self, paths: ProjectPaths):
        self.paths = paths
        self._staged: list[StagedFile] = []

    def __enter__(self) -> Publication:
        return self

    def __exit__(self, *exc: object) -> None:
        for f in self._staged:
            if f.tmp is not None:
                f.tmp.unlink(missing_ok=True)
        self._staged.clear()

    def stage(self, rel: str, write: Callable[[Path], None]) -> StagedFile:
        """Call `write(tmp)` to write the file that will be published at `rel`; flush it."""
        return self.take(stage_file(self.paths, rel, write))

    def take(self, staged: StagedFile) -> StagedFile:
        """Make a file staged by `stage_file` (in this process or a worker) part of this
        publication: published by `commit`, else removed when the publication ends."""
        self._staged.append(staged)
        kill_point("staged")
        return staged

    def stage_bytes(self, rel: str, data: bytes) -> StagedFile:
        """`stage` for bytes already in memory."""
        return self.stage(rel, lambda tmp: tmp.write_bytes(data))

    def adopt(self, rel: str) -> StagedFile:
        """A file already at its final (content-derived) name, to be registered as is."""
        final = self.paths.absolute(rel)
        return StagedFile(rel, None, sha256_file(final), final.stat().st_size)

    def keep(self, rel: str, sha256: str, size: int) -> StagedFile:
        """A file a committed build registered (with `sha256`), listed again by a new one (a
        tier build keeps its unchanged tickers' files). Only its size is checked at commit:
        re-hashing thousands of kept files would cost more than the build; `fts audit`
        re-hashes them."""
        return StagedFile(rel, None, sha256, size, trusted=True)

    def commit(
        self,
        items: Sequence[tuple[Manifest, Sequence[StagedFile]]],
        rows: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
        *,
        con: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        """Publish: under the project lock, rename the files and write the manifest files,
        then register the manifests, one `meta.artifacts` row per file (owned by the manifest
        it is listed with) and `rows(con)` in one transaction.

        `con`: an open read-write warehouse connection to use (the caller must then already
        hold `project_lock`, taken before it opened the warehouse); by default one is opened.
        """
        with self, project_lock(self.paths), contextlib.ExitStack() as stack:
            if con is None:
                con = stack.enter_context(
                    connect(self.paths.warehouse, project_root=self.paths.root,
                            session_views=False))
            created: list[Path] = []
            try:
                for manifest, files in items:
                    for f in files:
                        self._place(con, manifest, f, created)
                for manifest, _ in items:
                    self._write_manifest(manifest, created)
                with transaction(con):
                    for manifest, _ in items:
                        register_manifest(con, manifest)
                    register_artifacts(con, [(f.rel, manifest.id, f.sha256, f.bytes)
                                             for manifest, files in items for f in files])
                    if rows is not None:
                        rows(con)
                    kill_point("registered")
            except BaseException:
                for path in created:
                    path.unlink(missing_ok=True)
                raise
            kill_point("committed")

    def _place(self, con: duckdb.DuckDBPyConnection, manifest: Manifest, f: StagedFile,
               created: list[Path]) -> None:
        final = self.paths.absolute(f.rel)
        if f.tmp is None:
            if f.trusted:
                if not final.is_file() or final.stat().st_size != f.bytes:
                    raise PublishError(f"{f.rel}: changed or removed while being published")
                return
            if not final.exists() or sha256_file(final) != f.sha256:
                raise PublishError(f"{f.rel}: changed or removed while being published")
            return
        if final.exists():
            if sha256_file(final) == f.sha256:  # the same bytes are already there
                f.tmp.unlink()
                self._staged.remove(f)
                return
            owners = {r[0] for r in con.execute(
                "SELECT manifest_id FROM meta.artifacts WHERE path = ? AND sha256 <> ?",
                [f.rel, f.sha256]).fetchall()}
            # A manifest may replace the files of those it supersedes (a report of a name).
            if owners - set(manifest.get("supersedes") or []):
                raise PublishError(
                    f"{f.rel}: already holds other bytes, registered to manifest "
                    f"{min(owners)[:12]}; not overwritten")
        else:
            created.append(final)
        os.replace(f.tmp, final)
        _fsync_dir(final.parent)
        self._staged.remove(f)
        kill_point("renamed")

    def _write_manifest(self, manifest: Manifest, created: list[Path]) -> None:
        final = manifest.path_in(self.paths.manifests)
        if final.exists():  # same id, same content (a damaged one is the audit's to report)
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(final)
        try:
            tmp.write_text(manifest.to_json(), encoding="utf-8")
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            created.append(final)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(final.parent)
        kill_point("renamed")


def publish(
    paths: ProjectPaths,
    manifests: Sequence[Manifest],
    rows: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    *,
    con: duckdb.DuckDBPyConnection | None = None,
) -> None:
    """Publish manifests that own no files (raw loads, baselines, studies) and their rows."""
    with Publication(paths) as pub:
        pub.commit([(m, []) for m in manifests], rows, con=con)


__all__ = ["KILL_ENV", "STEPS", "Publication", "PublishError", "StagedFile", "kill_point",
           "project_lock", "publish", "stage_file", "temp_owner_alive", "temp_path"]
