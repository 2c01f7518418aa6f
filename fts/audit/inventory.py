"""Everything the audit reads: the manifest files, and one snapshot of the warehouse.

The warehouse is opened read-only ONCE, briefly: the registry rows, the artefact table, the tier
pointers, the raw loads (with their content hashes recomputed from `raw.ohlcv_history`), the
training runs, the baselines, the experiment cells and the finished trials of each study with a
manifest (replayed from the Optuna journal by `hpo_trials`) are copied out, then the connection
is closed, so the slow part of an audit (re-hashing files) never holds the warehouse's lock.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from fts.audit.findings import Issue
from fts.audit.garbage import committed_references, garbage_files, garbage_manifests
from fts.core.errors import ManifestMismatch, NotFoundError
from fts.core.hashing import sha256_json, table_content_sha256
from fts.core.manifest import Manifest, parse_manifest
from fts.core.paths import ProjectPaths
from fts.hpo.views import create_hpo_views, finished_trial_records
from fts.ingest.series import CANONICAL_COLUMNS
from fts.warehouse.connection import _open  # private on purpose: see open_read_only


@dataclass
class Entry:
    """One manifest id as seen in the files and in `meta.manifests`.

    `manifest` is the body the audit trusts: the file's when it hashes to its id, else the
    registry row's when that does, else None (nothing left to check the artefact against).
    """

    id: str
    kind: str
    file_path: Path | None = None
    file_manifest: Manifest | None = None
    registry_manifest: Manifest | None = None
    in_registry: bool = False
    problems: list[Issue] = field(default_factory=list)
    superseded_by: str | None = None  # a later report/study manifest of the same name

    @property
    def manifest(self) -> Manifest | None:
        return self.file_manifest or self.registry_manifest

    @property
    def name(self) -> str:
        return self.manifest.name if self.manifest else "?"


@dataclass
class Snapshot:
    """What the warehouse said at the time of the audit (plain Python values, no connection)."""

    artifacts: dict[tuple[str, str], dict[str, Any]]  # (path, manifest id) -> row
    tier_current: dict[str, tuple[str, str]]
    loads: dict[str, dict[str, Any]]
    runs: dict[str, dict[str, Any]]
    raw_hashes: dict[str, tuple[str | None, int]]  # load id -> (recomputed hash, rows)
    # (run or baseline manifest id, split) -> (recomputed hash, rows)
    prediction_hashes: dict[tuple[str, str], tuple[str | None, int]]
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)  # baseline_id -> row
    # study name -> its finished trials as `hpo_trials` replays them from the Optuna journal
    study_trials: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    cells: list[dict[str, Any]] = field(default_factory=list)  # experiments.cells rows
    # (fold run id, split) -> (labels, probabilities) of the fold-validation predictions that
    # final runs took their threshold from (their `config.final`), in date and ticker order
    fold_predictions: dict[tuple[str, str], tuple[Any, Any]] = field(default_factory=dict)
    # Filled while auditing, not read from the warehouse: each tier file's hashes and footer,
    # by absolute path, so a file that many per-ticker builds keep is read once per audit.
    tier_files: dict[str, Any] = field(default_factory=dict)


@dataclass
class Inventory:
    """The manifests (by id), the warehouse snapshot, and the ids an audit covers."""

    entries: dict[str, Entry]
    snapshot: Snapshot
    selected: list[str]
    # manifest and data files that no committed row references (see `fts.audit.garbage`)
    garbage: list[str] = field(default_factory=list)

    def find(self, prefix: str, kind: str | None = None) -> Entry:
        return find_entry(self.entries, prefix, kind)


def find_entry(entries: dict[str, Entry], prefix: str, kind: str | None = None) -> Entry:
    """The entry whose id starts with `prefix` (it must be unique), optionally of one kind."""
    hits = [e for i, e in entries.items()
            if i.startswith(prefix) and (kind is None or e.kind == kind)]
    what = f"{kind} manifest" if kind else "manifest"
    if not prefix or not hits:
        raise NotFoundError(f"no {what} with an id starting with {prefix!r}")
    if len(hits) > 1:
        shown = ", ".join(e.id[:16] for e in hits[:5])
        raise NotFoundError(
            f"{prefix!r} matches {len(hits)} {what}s ({shown}); give more of the id")
    return hits[0]


def load_inventory(paths: ProjectPaths, only: Collection[str] | None = None) -> Inventory:
    """Read every manifest file and the warehouse; recompute the content hashes of what lives
    in the warehouse (raw loads, stored predictions).

    `only`: manifest ids or unique id prefixes; the audit then covers them and everything they
    were made from (their inputs, transitively), and re-hashes only those.
    """
    entries: dict[str, Entry] = {}
    _read_files(paths, entries)
    with open_read_only(paths) as con:
        refs = committed_references(con)
        garbage = garbage_manifests(paths, refs) + garbage_files(paths, refs)
        for rel in garbage:  # left by a killed publication: a warning, not a node to verify
            if rel.startswith("manifests/") and rel.endswith(".json"):
                entries.pop(Path(rel).stem, None)
        _read_registry(con, entries)
        _mark_superseded(entries)
        selected = sorted(entries) if only is None else upstream_closure(
            entries, [find_entry(entries, p).id for p in only])
        snapshot = _read_snapshot(con, entries, None if only is None else selected)
    return Inventory(entries, snapshot, selected, garbage)


@contextlib.contextmanager
def open_read_only(paths: ProjectPaths) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse, read-only, WITHOUT the session views of `fts.warehouse.connect`.

    Those views read each current tier's Parquet file, so a deleted or damaged tier file makes
    `connect` itself fail: exactly the state an audit must be able to report on. The lock
    retries are the warehouse's own (`_open`).
    """
    if not paths.warehouse.exists():
        raise NotFoundError(f"{paths.warehouse}: no warehouse yet; nothing to audit")
    con = _open(paths.warehouse, read_only=True, timeout=None)
    try:
        yield con
    finally:
        con.close()


def upstream_closure(entries: dict[str, Entry], ids: Collection[str]) -> list[str]:
    """`ids` and every manifest they were made from (inputs of inputs ...) that exists."""
    seen: set[str] = set()
    stack = list(ids)
    while stack:
        mid = stack.pop()
        if mid in seen or mid not in entries:
            continue
        seen.add(mid)
        m = entries[mid].manifest
        if m is not None:
            stack.extend(i.id for i in m.inputs)
    return sorted(seen)


def _read_files(paths: ProjectPaths, entries: dict[str, Entry]) -> None:
    if not paths.manifests.is_dir():
        return
    for path in sorted(paths.manifests.glob("*/*.json")):
        stem, kind_dir = path.stem, path.parent.name
        rel = paths.relative(path)
        text = path.read_text(encoding="utf-8", errors="replace")
        entry = entries.setdefault(stem, Entry(id=stem, kind=kind_dir))
        entry.file_path = path
        try:
            manifest = parse_manifest(text, origin=rel)
        except ManifestMismatch as exc:
            entry.problems.append(Issue(
                "manifest_corrupt", f"{rel}: the file no longer hashes to its id ({exc})",
                subject=stem, kind=kind_dir, expected=stem, found=_text_hash(text), path=rel))
            continue
        if manifest.id != stem or manifest.kind != kind_dir:
            entry.problems.append(Issue(
                "manifest_misplaced",
                f"{rel}: holds {manifest.kind} manifest {manifest.id[:12]}, "
                f"not {kind_dir}/{stem[:12]}",
                subject=stem, kind=kind_dir, expected=stem, found=manifest.id, path=rel))
            continue
        entry.file_manifest = manifest


def _text_hash(text: str) -> str | None:
    """The hash of a damaged manifest file's body, when it still parses as JSON."""
    try:
        return sha256_json(json.loads(text)["body"])
    except (ValueError, KeyError, TypeError):
        return None


def _read_registry(con: duckdb.DuckDBPyConnection, entries: dict[str, Entry]) -> None:
    rows = con.execute("SELECT id, kind, body FROM meta.manifests ORDER BY id").fetchall()
    for mid, kind, body in rows:
        entry = entries.setdefault(mid, Entry(id=mid, kind=kind))
        entry.in_registry = True
        try:
            parsed = json.loads(body)
            actual = sha256_json(parsed)
        except (ValueError, TypeError):
            parsed, actual = None, None
        if actual != mid or not isinstance(parsed, dict) or parsed.get("kind") != kind:
            entry.problems.append(Issue(
                "registry_corrupt",
                f"meta.manifests row {mid[:12]}: its body no longer hashes to its id",
                subject=mid, kind=kind, expected=mid, found=actual))
            continue
        # Both the file and the row hash to the same id, so they agree on every byte of the body.
        entry.registry_manifest = Manifest(body=parsed, id=mid)
    for entry in entries.values():
        rel = f"manifests/{entry.kind}/{entry.id}.json"
        if entry.file_path is None:
            entry.problems.append(Issue(
                "manifest_file_missing",
                f"{rel}: the manifest file is missing (meta.manifests still has the row)",
                subject=entry.id, kind=entry.kind, expected=entry.id, found=None, path=rel))
        elif not entry.in_registry:
            entry.problems.append(Issue(
                "manifest_unregistered",
                f"{rel}: no meta.manifests row (an aborted write, or the row was deleted)",
                subject=entry.id, kind=entry.kind, expected=entry.id, found=None, path=rel))


def _mark_superseded(entries: dict[str, Entry]) -> None:
    """A report names the older reports of its name whose files it overwrote (`supersedes`), a
    study the older manifests of its study (fewer trials); only a manifest of the same kind and
    name can supersede one."""
    for entry in entries.values():
        m = entry.manifest
        if m is None or m.kind not in ("report", "study"):
            continue
        for old in m.get("supersedes") or []:
            target = entries.get(old)
            if target and target.manifest and target.kind == m.kind and target.name == m.name:
                target.superseded_by = entry.id


def _read_snapshot(
    con: duckdb.DuckDBPyConnection, entries: dict[str, Entry], selected: list[str] | None
) -> Snapshot:
    artifacts = {
        (p, m): {"manifest_id": m, "sha256": s, "bytes": b}
        for p, m, s, b in con.execute(
            "SELECT path, manifest_id, sha256, bytes FROM meta.artifacts").fetchall()
    }
    tier_current = {
        t: (m, p) for t, m, p in con.execute(
            "SELECT tier, manifest_id, parquet_path FROM meta.tier_current").fetchall()
    }
    loads = {
        lid: {"ticker": t, "content_sha256": s, "row_count": n}
        for lid, t, s, n in con.execute(
            "SELECT load_id, ticker, content_sha256, row_count FROM raw.loads").fetchall()
    }
    runs = {
        r[0]: {"dataset_id": r[1], "checkpoint_path": r[2], "checkpoint_sha256": r[3],
               "study": r[4], "trial_number": r[5],
               "val_metrics": _json(r[6]), "test_metrics": _json(r[7]), "best_epoch": r[8],
               "final": _json(r[9])}
        for r in con.execute(
            """SELECT run_id, dataset_id, checkpoint_path, checkpoint_sha256, study, trial_number,
                      val_metrics, test_metrics, best_epoch, config->'final'
               FROM train.runs""").fetchall()
    }
    baselines = {
        r[0]: {"dataset_id": r[1], "model": r[2], "val_metrics": _json(r[3]),
               "test_metrics": _json(r[4])}
        for r in con.execute(
            """SELECT baseline_id, dataset_id, model, val_metrics, test_metrics
               FROM experiments.baselines""").fetchall()
    }
    wanted = ({i for i in selected if entries[i].kind == "raw"} if selected is not None
              else set(loads) | {i for i, e in entries.items() if e.kind == "raw"})
    raw_hashes = {lid: raw_content_hash(con, lid) for lid in sorted(wanted)}
    predictions = {
        (mid, split): predictions_content_hash(con, predictions_key(m), split)
        for mid in (selected if selected is not None else sorted(entries))
        if entries[mid].kind in ("run", "baseline") and (m := entries[mid].manifest) is not None
        for split in sorted(m.get("predictions_sha256") or {})
    }
    studies = sorted({str(e.name) for i, e in entries.items() if e.kind == "study"
                      and e.manifest is not None and (selected is None or i in selected)})
    study_trials: dict[str, list[dict[str, Any]]] = {}
    if studies:
        create_hpo_views(con)  # TEMP views: allowed on this read-only connection
        study_trials = {name: finished_trial_records(con, name) for name in studies}
    cells = [
        {"experiment": r[0], "cell": r[1], "study": r[2], "dataset_id": r[3],
         "best_trial": r[4], "final_run_ids": _json(r[5]) or []}
        for r in con.execute(
            """SELECT experiment, cell, study, dataset_id, best_trial, final_run_ids
               FROM experiments.cells ORDER BY experiment, cell""").fetchall()
    ]
    return Snapshot(artifacts, tier_current, loads, runs, raw_hashes, predictions, baselines,
                    study_trials, cells, _fold_predictions(con, runs, selected))


def _fold_predictions(con: duckdb.DuckDBPyConnection, runs: dict[str, dict[str, Any]],
                      selected: list[str] | None) -> dict[tuple[str, str], tuple[Any, Any]]:
    """The stored fold-validation predictions named by the (selected) final runs' plans."""
    chosen = None if selected is None else set(selected)
    wanted = sorted({pair for rid, row in runs.items() if (chosen is None or rid in chosen)
                     and isinstance(row["final"], dict)
                     for pair in zip(row["final"].get("fold_run_ids") or [],
                                     (row["final"].get("threshold_source") or {}).get("splits")
                                     or [], strict=False)})
    out = {}
    for run_id, split in wanted:
        got = con.execute("SELECT label, prob FROM train.predictions WHERE run_id = ? AND "
                          "split = ? ORDER BY date, ticker", [run_id, split]).fetchnumpy()
        out[(run_id, split)] = (got["label"], got["prob"])
    return out


def predictions_key(m: Manifest) -> str:
    """The `train.predictions.run_id` of a run's (its manifest id) or a baseline's rows."""
    return str(m.get("baseline_id") or m.id) if m.kind == "baseline" else m.id


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def raw_content_hash(con: duckdb.DuckDBPyConnection, load_id: str) -> tuple[str | None, int]:
    """(content hash, rows) of one load, recomputed exactly as the loader computed it.

    The canonical table (`fts.ingest.series.canonical_table`): CANONICAL_COLUMNS as string,
    date32 and float64, sorted by date; DuckDB hands back those same Arrow types.
    """
    cols = ", ".join(CANONICAL_COLUMNS)
    table = con.sql(
        f"SELECT {cols} FROM raw.ohlcv_history WHERE load_id = $1 ORDER BY date", params=[load_id]
    ).to_arrow_table()
    if table.num_rows == 0:
        return None, 0
    return table_content_sha256(table, CANONICAL_COLUMNS), table.num_rows


def predictions_content_hash(
    con: duckdb.DuckDBPyConnection, run_id: str, split: str
) -> tuple[str | None, int]:
    """(content hash, rows) of one run's stored predictions on one split.

    The run hashed its frame (date, ticker, label, prob) in sample order; `train.predictions`
    has no position column, so the rows are read back in insertion order (DuckDB keeps it for
    a plain scan). A reordering alone would therefore also read as a change.
    """
    table = con.sql(
        "SELECT date, ticker, label, prob FROM train.predictions WHERE run_id = $1 AND split = $2",
        params=[run_id, split],
    ).to_arrow_table()
    if table.num_rows == 0:
        return None, 0
    return table_content_sha256(table), table.num_rows
