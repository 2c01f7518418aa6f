"""Where a tier build's files live: one Parquet file per ticker, the tier folder holding
exactly the current build, superseded files kept elsewhere until `fts gc`.

Layout (a manifest with `layout: "per_ticker"`):
- `data/tiers/<tier>/<tier>-<ticker>-<key16>.parquet`: one file per ticker of the current
  build; the ticker is percent-encoded (`^GSPC` -> `%5EGSPC`), so a name never starts with
  `.` or `_` (which pyarrow and pandas skip) and never holds a `/` or `=` (a hive partition);
  `key16` is the start of the ticker's build key (fingerprint + its load + the market-wide
  loads), so the same name means the same rows.
- `data/superseded/tiers/<tier>/<same name>`: a file a later build no longer lists, moved out
  of the tier folder once that build committed; older manifests (that datasets pin) name it by
  its original path, and `locate` finds it here. `fts gc --delete` removes it with the last
  manifest that lists it.
A build made before this layout (one file for the whole tier) lists a single output; it is
read, located and superseded the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fts.core.atomic import _fsync_dir
from fts.core.hashing import sha256_json
from fts.core.paths import ProjectPaths

TIERS_DIR = "data/tiers"
SUPERSEDED_DIR = "data/superseded/tiers"
PER_TICKER = "per_ticker"


def tier_folder(tier: str) -> str:
    """The folder (relative to the project root) that holds the tier's current build."""
    return f"{TIERS_DIR}/{tier}"


def ticker_file(tier: str, ticker: str, key: str) -> str:
    """The relative path of one ticker's file of a tier build with build key `key`."""
    return f"{tier_folder(tier)}/{tier}-{quote(ticker, safe='')}-{key[:16]}.parquet"


def superseded_rel(rel: str) -> str:
    """Where a tier file named `rel` (under data/tiers/) lives once superseded."""
    if not rel.startswith(TIERS_DIR + "/"):
        return rel
    return SUPERSEDED_DIR + rel[len(TIERS_DIR):]


def logical_rel(rel: str) -> str:
    """The inverse of `superseded_rel`: the name manifests use for a file found anywhere."""
    if rel.startswith(SUPERSEDED_DIR + "/"):
        return TIERS_DIR + rel[len(SUPERSEDED_DIR):]
    return rel


def locate(paths: ProjectPaths, rel: str) -> Path:
    """The file a manifest names `rel`: in place, else its superseded copy (else `rel`)."""
    here = paths.absolute(rel)
    if here.exists():
        return here
    moved = paths.absolute(superseded_rel(rel))
    return moved if moved.exists() else here


def is_per_ticker(manifest: Mapping[str, Any]) -> bool:
    """Whether a tier manifest stores one file per ticker (else one file for the tier)."""
    return manifest.get("layout") == PER_TICKER


def tier_content_sha256(per_ticker: Mapping[str, str]) -> str:
    """The content hash of a per-ticker build: one hash over each ticker's table hash."""
    return sha256_json({"layout": PER_TICKER, "tickers": dict(sorted(per_ticker.items()))})


def content_sha256_of(manifest: Mapping[str, Any]) -> str:
    """The tier-level content hash a downstream manifest pins for this tier build."""
    if is_per_ticker(manifest):
        return str(manifest["content_sha256"])
    return str(manifest["outputs"][0]["content_sha256"])


def folder_files(paths: ProjectPaths, tier: str) -> set[str]:
    """The Parquet files in the tier folder now (relative paths; hidden temporaries aside)."""
    folder = paths.absolute(tier_folder(tier))
    if not folder.is_dir():
        return set()
    return {f"{tier_folder(tier)}/{e.name}" for e in os.scandir(folder)
            if e.name.endswith(".parquet") and not e.name.startswith((".", "_")) and e.is_file()}


def retire(paths: ProjectPaths, tier: str, current: Iterable[str]) -> list[str]:
    """Move every Parquet file of the tier folder that `current` does not list to the
    superseded folder; returns their relative paths. Call it under the project lock (a
    publication renames its files into the folder before its COMMIT)."""
    extra = sorted(folder_files(paths, tier) - set(current))
    move_out(paths, extra)
    return extra


def move_out(paths: ProjectPaths, rels: Iterable[str]) -> None:
    """Move tier files (relative paths in their tier folders) to the superseded folder."""
    folders: set[Path] = set()
    for rel in rels:
        dest = paths.absolute(superseded_rel(rel))
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(paths.absolute(rel), dest)
        folders |= {dest.parent, paths.absolute(rel).parent}
    for folder in folders:  # the renames survive a power loss once both folders are synced
        _fsync_dir(folder)


def current_listing(con: Any) -> dict[str, set[str]]:
    """{tier: the files its current build lists} (from `meta.tier_current` and its manifest)."""
    import json

    rows = con.execute(
        """SELECT c.tier, m.body FROM meta.tier_current c
           JOIN meta.manifests m ON m.id = c.manifest_id""").fetchall()
    return {tier: {str(o["path"]) for o in json.loads(body).get("outputs") or []}
            for tier, body in rows}


def tidy_tier_folders(paths: ProjectPaths, con: Any, tiers: Iterable[str] | None = None
                      ) -> dict[str, list[str]]:
    """Move the files no current build lists out of the tier folders (what a build killed
    between its COMMIT and its own tidying leaves); {tier: moved}. The caller holds the
    project lock and `con`, a warehouse connection opened under it."""
    listing = current_listing(con)
    # Only registered files: one nothing registers is a killed publication's (garbage for
    # `fts gc`), which the next build of the same ticker renames over with the same bytes.
    registered = {p for (p,) in con.execute(
        "SELECT DISTINCT path FROM meta.artifacts WHERE starts_with(path, ?)",
        [TIERS_DIR + "/"]).fetchall()}
    moved: dict[str, list[str]] = {}
    for t in sorted(listing):
        if tiers is None or t in tiers:
            extra = sorted((folder_files(paths, t) - listing[t]) & registered)
            move_out(paths, extra)
            if extra:
                moved[t] = extra
    return moved


def untidy_files(paths: ProjectPaths, con: Any) -> list[str]:
    """The files of the tier folders that no current build lists (what `tidy_tier_folders`
    would move)."""
    return sorted(f for t, listed in current_listing(con).items()
                  for f in folder_files(paths, t) - listed)
