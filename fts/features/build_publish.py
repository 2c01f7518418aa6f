"""Publishing a tier build: stage each ticker's Parquet file as its batch is done, then publish
every tier's manifest, files and pointer in one publication (see `fts.warehouse.publish` for
the order and guarantees) and move the files it supersedes out of the tier folder."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from fts.core.errors import BuildError
from fts.core.hashing import table_content_sha256
from fts.core.manifest import Manifest
from fts.core.paths import ProjectPaths
from fts.features.build_plan import BuildPlan
from fts.features.build_prepare import TickerRows
from fts.warehouse import connect, current_tiers, set_current_tier
from fts.warehouse.publish import Publication, StagedFile, project_lock
from fts.warehouse.tier_files import (
    TIERS_DIR,
    folder_files,
    retire,
    ticker_file,
    tidy_tier_folders,
    tier_folder,
)

#: Writes a file under a temporary name for the path given (`Publication.stage`, or
#: `stage_file` in a worker process).
Stager = Callable[[str, Callable[[Path], None]], StagedFile]


def stage_ticker(stage: Stager, build: BuildPlan, tier: str,
                 rows: TickerRows) -> tuple[dict[str, Any], StagedFile]:
    """Write one ticker's rows of `tier` under a temporary name; return its output entry."""
    key = build.tiers[tier].keys[rows.ticker]
    rel = ticker_file(tier, rows.ticker, key)
    content = table_content_sha256(rows.table)
    version = build.project.tier(tier).version
    meta = {b"fts.tier": tier.encode(), b"fts.ticker": rows.ticker.encode(),
            b"fts.key": key.encode(), b"fts.version": str(version).encode(),
            b"fts.content_sha256": content.encode()}
    table = rows.table.replace_schema_metadata({**(rows.table.schema.metadata or {}), **meta})
    # Dictionary pages help the repeated tickers only; on float features they double the
    # write time and grow the file.
    staged = stage(rel, lambda tmp: pq.write_table(
        table, tmp, compression="zstd", use_dictionary=["ticker"]))
    market = [lid for _, lid, _ in build.market[tier].values()]
    entry = {"ticker": rows.ticker, "path": rel, "key": key,
             "loads": [build.inputs.loads[rows.ticker][0], *sorted(market)],
             "content_sha256": content, "sha256": staged.sha256, "bytes": staged.bytes,
             "rows": rows.table.num_rows, "first": rows.first, "last": rows.last}
    return entry, staged


def keep_ticker(pub: Publication, entry: dict[str, Any]) -> StagedFile:
    """A kept ticker's file of the current build, listed again by the new one."""
    return pub.keep(entry["path"], entry["sha256"], int(entry["bytes"]))


def publish_tiers(paths: ProjectPaths, pub: Publication,
                  tiers: list[tuple[Manifest, list[StagedFile]]],
                  started_from: dict[str, str | None]) -> None:
    """Publish each tier's manifest and files and point its views at its folder; then, still
    under the project lock, move every file no current build lists out of those folders.

    `started_from`: {tier: the id of its current build when this build was planned, or None}
    (a `--ticker` build; empty for a whole build). If another build has published any of them
    since, nothing is published (BuildError): the new builds keep the other build's tickers as
    planned before it, so publishing them would silently drop its work."""

    def point_views(con: duckdb.DuckDBPyConnection) -> None:
        for m, _ in tiers:
            set_current_tier(con, m.name, m.id, tier_folder(m.name),
                             [str(o["path"]) for o in m["outputs"]])

    with project_lock(paths):
        # Checked before a file is renamed; no other publication runs while the lock is held.
        with connect(paths.warehouse, project_root=paths.root, session_views=False) as con:
            check_still_current(con, started_from)
            pub.commit(tiers, point_views, con=con)
        for m, _ in tiers:
            retire(paths, m.name, [o["path"] for o in m["outputs"]])


def check_still_current(con: duckdb.DuckDBPyConnection,
                        started_from: dict[str, str | None]) -> None:
    """Refuse (BuildError) if a tier's current build is no longer the one the plan started
    from; called under the project lock, before the publication renames a file."""
    now = {t: m for t, (m, _) in current_tiers(con).items()}
    for tier, was in sorted(started_from.items()):
        if now.get(tier) != was:
            raise BuildError(f"tier {tier}: another build published it while this one ran; "
                             "nothing was published, run the command again")


def tidy_folders(paths: ProjectPaths, build: BuildPlan) -> None:
    """Finish what a killed build left: move superseded files out of the plan's tier folders.
    Checked without the lock (one folder listing per tier); moved under it, against the
    current builds read again then, so never a file a running publication is registering."""
    untidy = [t for t, p in build.tiers.items() if p.current is not None
              and folder_files(paths, t) - {str(o["path"]) for o in p.current["outputs"]}]
    if untidy:
        with project_lock(paths), connect(paths.warehouse, read_only=True,
                                          session_views=False) as con:
            tidy_tier_folders(paths, con, untidy)


@contextlib.contextmanager
def folders_removed_on_failure(paths: ProjectPaths, tiers: list[str]) -> Iterator[None]:
    """A failed build leaves the project's files as they were: the tier folders (and data/,
    data/tiers/) it created for its staged files are removed again if they are empty."""
    folders = [paths.data, paths.absolute(TIERS_DIR)] + [paths.absolute(tier_folder(t))
                                                          for t in tiers]
    new = [f for f in folders if not f.exists()]
    try:
        yield
    except BaseException:
        for folder in reversed(new):  # innermost first
            with contextlib.suppress(OSError):  # not empty: something else lives there now
                folder.rmdir()
        raise
