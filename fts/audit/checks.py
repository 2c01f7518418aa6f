"""Re-hash the artefact each manifest names and compare with what the manifest pins.

One function per kind; a study's trials are compared with the Optuna journal (`hpo_trials`);
other kinds (report, ...) get the generic check of every `outputs[*]` entry that carries a
`sha256`. A report superseded by a later report of its name is not re-hashed: that report
overwrote its files (see `inventory._mark_superseded`). Each returns a `Verification`: the
issues found and, for every hash the manifest declares, the hash recomputed now (None when it
cannot be: file missing or unreadable). The chain check compares what consumers pinned against
those.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fts.audit.findings import WARNING, Issue
from fts.audit.inventory import Entry, Snapshot
from fts.core.hashing import canonical_json, sha256_file, sha256_json, table_content_sha256
from fts.core.manifest import Manifest
from fts.core.paths import ProjectPaths
from fts.datasets.storage import arrays_content_sha256
from fts.warehouse.tier_files import is_per_ticker, locate, tier_content_sha256, tier_folder

# The current formats of final runs (fts.train.final.FINAL_FORMAT) and baselines
# (fts.experiments.baselines.BASELINE_FORMAT), repeated rather than imported: both modules load
# torch or scikit-learn models into every `fts audit`. A test holds them equal.
FINAL_FORMAT = 2
BASELINE_FORMAT = 2


@dataclass
class Verification:
    """The outcome of checking one manifest's artefact."""

    issues: list[Issue] = field(default_factory=list)
    hashes: dict[str, str | None] = field(default_factory=dict)  # declared -> recomputed
    artefacts: list[str] = field(default_factory=list)
    files: int = 0  # artefact files re-hashed

    def add(self, code: str, message: str, m: Manifest, **kw: Any) -> None:
        self.issues.append(Issue(code, message, subject=m.id, kind=m.kind, name=m.name, **kw))

    def compare(self, m: Manifest, what: str, declared: str | None, found: str | None,
                path: str, code: str = "artefact_changed") -> None:
        """Record `declared -> found`; an issue when they differ."""
        if not declared:
            return
        self.hashes[declared] = found
        if found is not None and found != declared:
            self.add(code, f"{path}: {what} changed", m, expected=declared, found=found, path=path)


def verify(entry: Entry, snapshot: Snapshot, paths: ProjectPaths) -> Verification:
    """Check the artefact of one manifest (nothing to check when no trusted body is left)."""
    m = entry.manifest
    if m is None:
        return Verification()
    if entry.superseded_by is not None and m.kind == "report":
        return Verification(artefacts=[f"(superseded by report {entry.superseded_by[:12]}: "
                                       "its files were replaced, nothing left to re-hash)"])
    check = _CHECKS.get(m.kind, verify_outputs)
    return check(m, snapshot, paths)


def verify_raw(m: Manifest, snapshot: Snapshot, paths: ProjectPaths) -> Verification:
    """A raw load: recompute its canonical content hash from `raw.ohlcv_history`."""
    v = Verification(artefacts=[f"raw.ohlcv_history load_id={m.id[:12]}"])
    declared = str(m.get("content_sha256") or "")
    found, rows = snapshot.raw_hashes.get(m.id, (None, 0))
    where = f"raw.ohlcv_history (load {m.name} {m.id[:12]})"
    if rows == 0:
        v.hashes[declared] = None
        v.add("raw_rows_missing", f"{where}: the load has no rows in the warehouse", m,
              expected=declared, found=None, path=where)
        return v
    if rows != m.get("row_count"):
        v.add("raw_rows_changed", f"{where}: {rows} rows, the manifest says {m.get('row_count')}",
              m, expected=str(m.get("row_count")), found=str(rows), path=where)
    v.compare(m, "the rows' content hash", declared, found, where, code="raw_changed")
    load = snapshot.loads.get(m.id)
    if load is None:
        v.add("raw_load_unregistered", f"raw.loads has no row for load {m.id[:12]}", m,
              path="raw.loads")
    elif load["content_sha256"] != declared:
        v.add("raw_load_disagrees", f"raw.loads row of {m.id[:12]}: content_sha256 differs from "
              "the manifest's", m, expected=declared, found=load["content_sha256"],
              path="raw.loads")
    return v


def verify_tier(m: Manifest, snapshot: Snapshot, paths: ProjectPaths) -> Verification:
    """A tier build: each file exists (in the tier folder, or moved to the superseded folder
    since), its footer names this build (the manifest id; a per-ticker file: its ticker's
    build key), its content hash and file SHA hold; a per-ticker build's tier-level content
    hash (what downstream manifests pin) is recomputed from its tickers' hashes."""
    v = Verification()
    per_ticker = is_per_ticker(m)
    found: dict[str, str | None] = {}
    for out in m.get("outputs") or []:
        rel = str(out.get("path"))
        v.artefacts.append(rel)
        path = locate(paths, rel)
        declared = out.get("content_sha256")
        found[str(out.get("ticker"))] = None
        if not _exists(v, m, path, rel, [declared, out.get("sha256")]):
            continue
        v.files += 1
        read = _read_tier_file(snapshot, path)
        file_sha = read.file_sha
        _check_registered_file(v, m, snapshot, rel, file_sha, out.get("sha256"))
        if out.get("sha256"):
            v.compare(m, "file SHA-256", out["sha256"], file_sha, rel)
        if read.error is not None:
            v.hashes[declared] = None
            v.add("artefact_unreadable", f"{rel}: not a readable Parquet file ({read.error})",
                  m, expected=declared, found=file_sha, path=rel)
            continue
        meta = read.footer
        if per_ticker:  # shared by the builds that keep it: it names its ticker's build key
            footer, want, what = meta.get(b"fts.key", b"").decode(), str(out.get("key")), "key"
        else:
            footer, want, what = meta.get(b"fts.manifest_id", b"").decode(), m.id, "manifest"
        if footer != want:
            v.add("footer_mismatch", f"{rel}: the Parquet footer names {what} "
                  f"{footer[:12] or '(none)'}, not this build's", m, expected=want,
                  found=footer or None, path=rel)
        content = read.content
        found[str(out.get("ticker"))] = content
        v.compare(m, "table content hash", declared, content, rel)
    if per_ticker and m.get("content_sha256"):
        whole = (None if any(h is None for h in found.values())
                 else tier_content_sha256({t: str(h) for t, h in found.items()}))
        declared_files = {str(o.get("ticker")): o.get("content_sha256")
                          for o in m.get("outputs") or []}
        if found == declared_files:  # else a file is the cause, already named above
            v.compare(m, "tier content hash (over its tickers' files)", m["content_sha256"],
                      whole, tier_folder(str(m.get("tier", m.name))))
        else:
            v.hashes[str(m["content_sha256"])] = whole
    return v


@dataclass(frozen=True)
class _TierFile:
    """What one read of a tier file found: its SHA-256 and, if it is readable Parquet, its
    footer metadata and table content hash (else why not)."""

    file_sha: str
    footer: dict[bytes, bytes]
    content: str | None
    error: str | None


def _read_tier_file(snapshot: Snapshot, path: Path) -> _TierFile:
    """Hash and read a tier file once per audit: every per-ticker build that keeps a ticker's
    file lists it, so without this an audit's cost grew with builds x universe."""
    key = str(path)
    hit = snapshot.tier_files.get(key)
    if hit is None:
        file_sha = sha256_file(path)
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            hit = _TierFile(file_sha, {}, None, _one_line(exc))
        else:
            hit = _TierFile(file_sha, dict(table.schema.metadata or {}),
                            table_content_sha256(table.replace_schema_metadata(None)), None)
        snapshot.tier_files[key] = hit
    return hit


def verify_dataset(m: Manifest, snapshot: Snapshot, paths: ProjectPaths) -> Verification:
    """A dataset: the .npz file's SHA-256 and the arrays' content hash."""
    v = verify_outputs(m, snapshot, paths, content=_npz_content(arrays_content_sha256))
    # The top-level copies of the two hashes are what runs pin; they name the same file.
    for key, out_key in (("arrays_sha256", "sha256"), ("arrays_content_sha256", "content_sha256")):
        declared = m.get(key)
        outs = [o for o in m.get("outputs") or [] if o.get(out_key)]
        if declared and outs and declared not in v.hashes:
            v.hashes[declared] = v.hashes.get(outs[0][out_key])
    return v


def verify_outputs(
    m: Manifest, snapshot: Snapshot, paths: ProjectPaths,
    content: Callable[[Path], str] | None = None,
) -> Verification:
    """Generic: re-hash every `outputs[*]` file that declares a `sha256` (runs, studies, ...)."""
    v = Verification()
    for out in m.get("outputs") or []:
        if not out.get("path"):
            continue
        rel = str(out["path"])
        v.artefacts.append(rel)
        path = paths.absolute(rel)
        if not _exists(v, m, path, rel, [out.get("sha256"), out.get("content_sha256")]):
            continue
        v.files += 1
        file_sha = sha256_file(path)
        _check_registered_file(v, m, snapshot, rel, file_sha, out.get("sha256"))
        v.compare(m, "file SHA-256", out.get("sha256"), file_sha, rel)
        if out.get("content_sha256"):
            if content is None:
                v.issues.append(Issue("content_unverifiable", f"{rel}: no content hash is known "
                                      f"for {m.kind} artefacts; only the file SHA-256 was checked",
                                      subject=m.id, kind=m.kind, name=m.name, path=rel,
                                      severity=WARNING))
                continue
            try:
                found = content(path)
            except Exception as exc:  # any failure to read the arrays means they are not proven
                v.hashes[out["content_sha256"]] = None
                v.add("artefact_unreadable", f"{rel}: unreadable ({_one_line(exc)})", m,
                      expected=out["content_sha256"], found=file_sha, path=rel)
                continue
            v.compare(m, "content hash", out["content_sha256"], found, rel)
        if out.get("bytes") is not None and path.stat().st_size != out["bytes"]:
            v.add("artefact_size_changed", f"{rel}: {path.stat().st_size} bytes, the manifest "
                  f"says {out['bytes']}", m, expected=str(out["bytes"]),
                  found=str(path.stat().st_size), path=rel)
    return v


def verify_run(m: Manifest, snapshot: Snapshot, paths: ProjectPaths) -> Verification:
    """A training run: the checkpoint file, and the `train.runs` row that reports its metrics."""
    v = verify_outputs(m, snapshot, paths)
    row = snapshot.runs.get(m.id)
    outs = m.get("outputs") or []
    if row is None:
        v.add("run_unregistered", f"train.runs has no row for run {m.id[:12]}", m,
              path="train.runs")
        return v
    datasets = [i.id for i in m.inputs if i.kind == "dataset"]
    if outs and row["checkpoint_sha256"] != outs[0].get("sha256"):
        v.add("run_row_disagrees", f"train.runs row of {m.id[:12]}: checkpoint_sha256 differs "
              "from the manifest's", m, expected=outs[0].get("sha256"),
              found=row["checkpoint_sha256"], path="train.runs")
    _check_predictions(v, m, snapshot, f"run {m.id[:12]}")
    _check_metrics(v, m, row, f"train.runs row of {m.id[:12]}", "train.runs", "run")
    if datasets and row["dataset_id"] not in datasets:
        v.add("run_row_disagrees", f"train.runs row of {m.id[:12]}: dataset_id differs from the "
              "manifest's input", m, expected=datasets[0], found=row["dataset_id"],
              path="train.runs")
    final = (m.get("config") or {}).get("final")
    if m.get("purpose") == "final" and (final or {}).get("format") != FINAL_FORMAT:
        v.issues.append(Issue(
            "final_run_old_format", f"run {m.id[:12]}: a final run of format "
            f"{(final or {}).get('format', 1)} (stopped early and took its threshold on the last "
            f"validation block), not {FINAL_FORMAT} (epochs and threshold from the best trial's "
            "folds): not comparable with final runs made now", subject=m.id, kind=m.kind,
            name=m.name, expected=str(FINAL_FORMAT), found=str((final or {}).get("format", 1)),
            path="train.runs", severity=WARNING))
    if final:
        _check_final_epochs(v, m, snapshot, final)
        _check_fold_provenance(v, m, snapshot, row, final)
        _check_final_threshold(v, m, snapshot, row, final)
    return v


def _check_final_epochs(v: Verification, m: Manifest, snapshot: Snapshot,
                        final: dict[str, Any]) -> None:
    """A final run's epoch count, re-derived from the stored best epochs of the fold runs its
    `config["final"]` names (fts.train.final), against what it records and what it trained."""
    where = f"run {m.id[:12]}: config.final"
    folds = [snapshot.runs.get(r) for r in final.get("fold_run_ids") or []]
    if not folds or any(f is None for f in folds):
        v.add("final_plan_disagrees", f"{where} names fold runs that train.runs does not hold",
              m, path="train.runs")
        return
    best = [int(f["best_epoch"]) for f in folds if f is not None]
    # The documented rule (fts.train.final.EPOCHS_RULE), re-derived here rather than imported:
    # an audit that called the code it checks would agree with any bug in it (and importing
    # fts.train would load torch into every `fts audit`).
    epochs = statistics.median_high(b + 1 for b in best)
    recorded = (final.get("fold_best_epochs"), final.get("epochs"), m.get("epochs_run"))
    if recorded != (best, epochs, epochs):
        v.add("final_plan_disagrees", f"{where}: the fold runs' best epochs {best} give {epochs} "
              f"epochs; the run records {recorded[0]} -> {recorded[1]} and trained {recorded[2]}",
              m, expected=str(epochs), found=str(recorded[2]), path="train.runs")


def _check_fold_provenance(v: Verification, m: Manifest, snapshot: Snapshot,
                           row: dict[str, Any], final: dict[str, Any]) -> None:
    """The fold runs a final run's `config.final` names belong to its cell's best trial: the
    same study, the trial `experiments.cells.best_trial` records, the same dataset."""
    cell = next((c for c in snapshot.cells if m.id in c["final_run_ids"]), None)
    for run_id in final.get("fold_run_ids") or []:
        fold = snapshot.runs.get(run_id)
        if fold is None:
            continue  # reported by _check_final_epochs
        want = {"study": row["study"], "dataset_id": row["dataset_id"],
                **({"trial_number": cell["best_trial"]} if cell is not None else {})}
        wrong = [f"{k} {fold[k]!r} (not {w!r})" for k, w in want.items() if fold[k] != w]
        if wrong:
            v.add("final_folds_foreign", f"run {m.id[:12]}: config.final names fold run "
                  f"{run_id[:12]} of another {', '.join(wrong)}: not the best trial's folds",
                  m, expected=canonical_json(want), found=canonical_json(
                      {k: fold[k] for k in want}), path="train.runs")


def _check_final_threshold(v: Verification, m: Manifest, snapshot: Snapshot,
                           row: dict[str, Any], final: dict[str, Any]) -> None:
    """A final run's threshold and val_metrics, re-derived from the stored fold-validation
    predictions its `config.final` names: the F1-maximising threshold of the pooled
    predictions (scikit-learn's precision-recall curve, not the trainer's code) and the
    pooled log-loss, count and positives."""
    from sklearn.metrics import log_loss, precision_recall_curve

    where = f"run {m.id[:12]}: config.final"
    splits = (final.get("threshold_source") or {}).get("splits") or []
    pairs = list(zip(final.get("fold_run_ids") or [], splits, strict=False))
    parts = [snapshot.fold_predictions.get(pair) for pair in pairs]
    if not pairs or len(pairs) != len(splits) or any(p is None or len(p[0]) == 0 for p in parts):
        v.add("final_threshold_disagrees", f"{where}: the fold-validation predictions it names "
              "are not all stored", m, path="train.predictions")
        return
    y = np.concatenate([np.asarray(p[0], dtype=np.int64) for p in parts if p is not None])
    prob = np.concatenate([np.asarray(p[1], dtype=np.float64) for p in parts if p is not None])
    if y.min() == y.max():
        threshold = 0.5  # F1 is undefined with one class: the documented fallback
    else:
        precision, recall, candidates = precision_recall_curve(y, prob)
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        threshold = float(candidates[int(np.argmax(f1[:-1]))])
    loss = float(log_loss(y, np.clip(prob, 1e-7, 1 - 1e-7), labels=[0, 1]))
    val = row.get("val_metrics") or {}
    test = row.get("test_metrics") or {}
    found = {"threshold": final.get("threshold"), "val threshold": val.get("threshold"),
             "test threshold": test.get("threshold"), "val n": val.get("n"),
             "val positives": val.get("positives"), "val log_loss": val.get("log_loss")}
    want = {"threshold": threshold, "val threshold": threshold, "test threshold": threshold,
            "val n": len(y), "val positives": int(y.sum()), "val log_loss": loss}
    wrong = [k for k in want if not _close(found[k], want[k])]
    if wrong:
        v.add("final_threshold_disagrees", f"{where}: the pooled fold-validation predictions "
              f"give {', '.join(f'{k} {want[k]!r}' for k in wrong)}; the run records "
              f"{', '.join(f'{found[k]!r}' for k in wrong)}", m,
              expected=canonical_json({k: want[k] for k in wrong}),
              found=canonical_json({k: found[k] for k in wrong}), path="train.runs")


def _close(found: Any, want: float | int) -> bool:
    """Equal within float rounding (metrics pass through JSON)."""
    return isinstance(found, int | float) and abs(float(found) - float(want)) <= 1e-9 * max(
        1.0, abs(float(want)))


def verify_baseline(m: Manifest, snapshot: Snapshot, paths: ProjectPaths) -> Verification:
    """A baseline: its stored predictions (re-hashed) and its `experiments.baselines` row."""
    bid = str(m.get("baseline_id"))
    v = Verification(artefacts=[f"experiments.baselines {bid}", f"train.predictions {bid}"])
    if str(m.get("version")) != str(BASELINE_FORMAT):
        v.issues.append(Issue(
            "baseline_old_format", f"baseline {bid}: format {m.get('version')} (tree count and "
            f"threshold chosen on the last validation block, fit on train only), not "
            f"{BASELINE_FORMAT} (chosen on the folds, fit on train + val): not comparable with "
            "baselines made now", subject=m.id, kind=m.kind, name=m.name,
            expected=str(BASELINE_FORMAT), found=str(m.get("version")),
            path="experiments.baselines", severity=WARNING))
    _check_predictions(v, m, snapshot, f"baseline {bid}")
    row = snapshot.baselines.get(bid)
    if row is None:
        v.add("baseline_unregistered", f"experiments.baselines has no row for {bid}", m,
              path="experiments.baselines")
        return v
    where = f"experiments.baselines row {bid}"
    _check_metrics(v, m, row, where, "experiments.baselines", "baseline")
    datasets = [i.id for i in m.inputs if i.kind == "dataset"]
    if (datasets and row["dataset_id"] not in datasets) or row["model"] != m.get("model"):
        v.add("baseline_row_disagrees", f"{where}: dataset_id or model differs from the "
              "manifest's", m, expected=f"{datasets[:1]} {m.get('model')}",
              found=f"{row['dataset_id']} {row['model']}", path="experiments.baselines")
    return v


def verify_study(m: Manifest, snapshot: Snapshot, paths: ProjectPaths) -> Verification:
    """A study: each finished trial it lists (state, params, value, run id) against what
    `hpo_trials` replays from the Optuna journal now; `trials_sha256` recomputed from those."""
    where = f"hpo_trials (study {m.name})"
    v = Verification(artefacts=[where])
    declared = str(m.get("trials_sha256") or "")
    if m.get("storage") != "warehouse":
        v.hashes[declared] = declared  # not ours to re-read: trusted, and said so
        v.issues.append(Issue("study_unverifiable", f"study {m.name}: its trials live in "
                              f"{m.get('storage')} storage, not in the warehouse; not re-read",
                              subject=m.id, kind=m.kind, name=m.name, severity=WARNING))
        return v
    stored = {t["number"]: t for t in snapshot.study_trials.get(m.name, [])}
    found: list[dict[str, Any]] = []
    for listed in m.get("trials") or []:
        now = stored.get(listed["number"])
        if now is None:
            v.add("study_trial_missing", f"{where}: trial {listed['number']} is no longer a "
                  "finished trial of the study", m, expected=listed["state"], found=None,
                  path=where)
            continue
        found.append(now)
        changed = sorted(k for k in listed if canonical_json(listed[k]) != canonical_json(now[k]))
        if changed:
            v.add("study_trial_changed", f"{where}: trial {listed['number']} "
                  f"{', '.join(changed)} changed since the study manifest was written", m,
                  expected=canonical_json({k: listed[k] for k in changed}),
                  found=canonical_json({k: now[k] for k in changed}), path=where)
    missing = len(found) < len(m.get("trials") or [])
    v.hashes[declared] = None if missing else sha256_json(found)
    return v


def _check_predictions(v: Verification, m: Manifest, snapshot: Snapshot, what: str) -> None:
    """Each split's stored predictions against the content hash the manifest pinned."""
    for split, declared in sorted((m.get("predictions_sha256") or {}).items()):
        where = f"train.predictions ({what}, split {split})"
        found, rows = snapshot.prediction_hashes.get((m.id, split), (None, 0))
        if rows == 0:
            v.hashes[declared] = None
            v.add("predictions_missing", f"{where}: no stored predictions", m,
                  expected=declared, found=None, path=where)
        else:
            v.compare(m, "content hash of the stored predictions", declared, found, where,
                      code="predictions_changed")


def _check_metrics(v: Verification, m: Manifest, row: dict[str, Any], where: str, table: str,
                   kind: str) -> None:
    """The metrics a researcher reports, as stored in the row, against the manifest's."""
    for key in ("val_metrics", "test_metrics"):
        if canonical_json(row[key]) != canonical_json(m.get(key)):  # text: NaN equals NaN
            v.add(f"{kind}_metrics_disagree", f"{where}: {key} differ from the manifest's", m,
                  expected=canonical_json(m.get(key)), found=canonical_json(row[key]),
                  path=table)


def _exists(v: Verification, m: Manifest, path: Path, rel: str, declared: list[Any]) -> bool:
    if path.is_file():
        return True
    for d in declared:
        if d:
            v.hashes[str(d)] = None
    v.add("artefact_missing", f"{rel}: the file is missing", m,
          expected=next((str(d) for d in declared if d), None), found=None, path=rel)
    return False


def _check_registered_file(v: Verification, m: Manifest, snapshot: Snapshot, rel: str,
                           file_sha: str, declared: str | None = None) -> None:
    """Compare a file with its `meta.artifacts` row (tiers and runs register theirs).

    When the manifest itself declares the file SHA-256 (`declared`), the file is compared with
    that; the row then only has to agree with the manifest. A tier manifest cannot hold its
    file's SHA (the file's footer holds the manifest id), so the row is its file-level pin.
    """
    row = snapshot.artifacts.get((rel, m.id))
    if row is None:
        owners = sorted(mid for path, mid in snapshot.artifacts if path == rel)
        # Dataset files are named by their arrays' content: two dataset manifests may share
        # one (and those written before the publish path existed have no row of their own).
        if owners and m.kind != "dataset":
            v.add("artefact_owner_changed", f"{rel}: meta.artifacts says the file belongs to "
                  f"manifest {owners[0][:12]}", m, expected=m.id, found=owners[0], path=rel)
        elif m.kind in ("tier", "run"):
            v.add("artefact_unregistered", f"{rel}: no meta.artifacts row", m, path=rel)
        return
    if declared is not None and row["sha256"] != declared:
        v.add("artefact_registry_disagrees", f"{rel}: meta.artifacts holds another SHA-256 than "
              "the manifest", m, expected=declared, found=row["sha256"], path=rel)
    elif declared is None and row["sha256"] != file_sha:
        v.add("artefact_changed", f"{rel}: file SHA-256 differs from meta.artifacts", m,
              expected=row["sha256"], found=file_sha, path=rel)


def _npz_content(hasher: Callable[[dict[str, Any]], str]) -> Callable[[Path], str]:
    def content(path: Path) -> str:
        import numpy as np

        with np.load(path, allow_pickle=False) as npz:
            return hasher({k: npz[k] for k in npz.files})

    return content


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


_CHECKS: dict[str, Callable[[Manifest, Snapshot, ProjectPaths], Verification]] = {
    "raw": verify_raw,
    "tier": verify_tier,
    "dataset": verify_dataset,
    "run": verify_run,
    "baseline": verify_baseline,
    "study": verify_study,
}
