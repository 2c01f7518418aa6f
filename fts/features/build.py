"""`build_tier`: build a tier (and the tiers it needs), one file per ticker, skipping what is
up to date.

The engine reads in one direction, one module per step:
1. `build_plan`: read the declarations, check versions, read the latest raw loads (short
   read-only open); per tier and ticker, the build key (fingerprint + that ticker's load + the
   market-wide loads the tier reads) decides what is up to date; if the target is, stop;
2. `batches`: split the tickers to compute into batches sized to the memory budget;
3. per batch: `runner.run_plan` runs every model in an in-memory DuckDB of its own (its
   memory_limit a share of the budget, `batches.duckdb_limit`), `build_prepare` trims and
   validates EVERY tier ticker by ticker, and `build_publish` stages each passing ticker's
   Parquet file under a temporary name; the batch is freed before the next one starts
   (`jobs` > 1: that many batches at once, each in a worker process with its share of the
   budget);
4. a ticker that failed a check refuses the whole build (every failing ticker and check named)
   unless `skip_invalid`, which leaves it out of that tier and the tiers reading it and records
   it, with why, in their manifests;
5. `build_publish`: one publication (`fts.warehouse.publish`) renames the staged files into the
   tier folders, writes the manifests and, in one warehouse transaction, registers them and
   points the tiers at their folders; then (still under the project lock) the files the new
   builds no longer list move to `data/superseded/tiers/` (`fts.warehouse.tier_files`).
Until step 5 commits, every reader of the warehouse still sees the previous build; if anything
fails before, the staged files are removed again (a kill leaves garbage that the next
publication of the tier or `fts gc --delete` clears, or, after the COMMIT, superseded files that
the next build of the tier or `fts gc --delete` moves out).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from fts.core.errors import BuildError
from fts.core.paths import ProjectPaths
from fts.features.batches import (
    default_memory_limit,
    duckdb_limit,
    duckdb_size,
    parse_memory_limit,
    plan_batches,
)
from fts.features.build_plan import (
    BUILD_FORMAT,
    BuildPlan,
    bars_relation,
    parent_tiers,
    plan_build,
    raw_row_counts,
    read_batch,
    run_batch,
)
from fts.features.build_prepare import (
    Failures,
    TickerRows,
    TierResult,
    prepare_batch,
    tier_manifest,
)
from fts.features.build_publish import (
    Stager,
    folders_removed_on_failure,
    keep_ticker,
    publish_tiers,
    stage_ticker,
    tidy_folders,
)
from fts.warehouse import connect
from fts.warehouse.publish import Publication, StagedFile, stage_file
from fts.warehouse.tier_files import tier_folder

__all__ = ["BUILD_FORMAT", "BuildResult", "TierResult", "build_tier", "parent_tiers"]


@dataclass
class BuildResult:
    """The outcome of `build_tier`: the target and every tier built on the way."""

    tier: str
    tiers: list[TierResult] = field(default_factory=list)

    @property
    def target(self) -> TierResult:
        return next(t for t in self.tiers if t.tier == self.tier)

    @property
    def up_to_date(self) -> bool:
        return self.target.up_to_date


def build_tier(
    paths: ProjectPaths, tier: str, *, tickers: Sequence[str] | None = None,
    skip_invalid: bool = False, memory_limit: str | None = None, jobs: int = 1,
    progress: Callable[[str], None] = lambda _: None,
) -> BuildResult:
    """Build `tier` and every tier it depends on; skip the tickers that are up to date.

    `tickers`: (re)build only these and keep every other ticker of the current build.
    `skip_invalid`: build the tickers that pass the checks and record the others as excluded
    (by default one failing ticker refuses the build, naming every failing ticker and check).
    `memory_limit`: the build's memory budget (e.g. "4GB"; default a quarter of the RAM).
    `jobs`: batches run in this many worker processes at once, sharing the budget.
    """
    started = time.perf_counter()
    if jobs < 1:
        raise BuildError(f"--jobs {jobs}: at least 1 process is needed")
    limit = parse_memory_limit(memory_limit) if memory_limit else default_memory_limit()
    with connect(paths.warehouse, read_only=True, session_views=False) as con:
        build = plan_build(paths, con, tier, tickers)
        counts = raw_row_counts(con, build.compute) if build.compute else {}
    tidy_folders(paths, build)  # what a build killed after its COMMIT left
    target = build.tiers[tier]
    if target.up_to_date:
        m = target.current
        assert m is not None
        left_out = f", {len(target.excluded)} excluded" if target.excluded else ""
        progress(f"{tier}: up to date (version {m['version']}, {m['row_count']} rows, "
                 f"{len(m['tickers'])} ticker(s){left_out}, manifest {m.id[:12]})")
        _report_exclusions(progress, tier, target.excluded, set())
        return BuildResult(tier, [TierResult(tier, m.id, True, int(m["row_count"]),
                                             str(target.current_path), kept=len(m["tickers"]),
                                             excluded=dict(target.excluded))])
    per_job = limit // jobs  # the workers share the budget
    batches = plan_batches(build.compute, counts, per_job)
    progress(f"{tier}: building {', '.join(build.to_build)} for {len(build.compute)} "
             f"ticker(s) ({len(target.kept)} kept) in {len(batches)} batch(es) of at most "
             f"{duckdb_size(per_job)}")
    with folders_removed_on_failure(paths, build.to_build), Publication(paths) as pub:
        failures = Failures()
        staged, seconds = _run_batches(paths, build, batches, pub, failures, per_job, jobs,
                                       progress)
        if failures.by_ticker and not skip_invalid:
            if len(failures.errors) == 1:
                raise failures.errors[0]
            raise BuildError(failures.message())
        results, items = _assemble(build, pub, staged, seconds, failures)
        # A `--ticker` build keeps the other tickers as planned: if another build published
        # since, publishing would drop its work, so it is refused. A whole build replaces every
        # ticker from the loads it read (as if run after the other), so two at once both land.
        publish_tiers(paths, pub, items,
                      {t: p.current.id if p.current is not None else None
                       for t, p in build.tiers.items()} if tickers else {})
    for r in results:
        _report_exclusions(progress, r.tier, r.excluded, set(failures.by_ticker))
    progress(f"{tier}: done in {time.perf_counter() - started:.1f}s")
    return BuildResult(tier, results)


def _report_exclusions(progress: Callable[[str], None], tier: str,
                       excluded: dict[str, list[str]], failed_now: set[str]) -> None:
    """One line per ticker left out of `tier`; those not recomputed say so."""
    for ticker, why in excluded.items():
        standing = ("" if ticker in failed_now else
                    " (standing: not recomputed by this build)")
        progress(f"{tier}: excluded {ticker}: {'; '.join(why)}{standing}")


_Staged = dict[str, list[tuple[dict[str, Any], StagedFile]]]


def stage_writers(jobs: int) -> int:
    """Threads staging one batch's files: the cores (at most 4) shared by the `jobs` batches
    that run at once, so a build never asks for more than the machine has."""
    try:
        cores = len(os.sched_getaffinity(0))  # the cores this process may run on
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores) // jobs)


def _run_batches(
    paths: ProjectPaths, build: BuildPlan, batches: list[list[str]], pub: Publication,
    failures: Failures, limit: int, jobs: int, progress: Callable[[str], None],
) -> tuple[_Staged, dict[str, float]]:
    """Run, check and stage every batch, in turn or `jobs` at a time in worker processes;
    {tier: [(output entry, staged file)]} and the seconds spent per tier."""
    staged: _Staged = {t: [] for t in build.to_build}
    seconds = dict.fromkeys(build.to_build, 0.0)

    def merge(part: _BatchResult) -> None:
        for t, files in part.staged.items():
            staged[t] += [(e, pub.take(f)) for e, f in files]
            seconds[t] += part.seconds[t]
        failures.by_ticker.update(part.failures.by_ticker)
        failures.errors += part.failures.errors

    if jobs > 1 and len(batches) > 1:
        progress(f"  {len(batches)} batches in {min(jobs, len(batches))} worker processes")
        # spawn, not fork: the parent's DuckDB engine and its threads must not be copied.
        with ProcessPoolExecutor(min(jobs, len(batches)), mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_batch_job, paths, build, b, limit, os.getpid(),
                                   stage_writers(jobs)) for b in batches]
            wait(futures)
        for fut in futures:  # every batch's files join the publication, so a failure removes them
            if fut.exception() is None:
                merge(fut.result())
        error = next((f.exception() for f in futures if f.exception() is not None), None)
        if error is not None:
            raise error
        return staged, seconds
    for i, batch in enumerate(batches, 1):
        if len(batches) > 1:
            progress(f"  batch {i}/{len(batches)}: {len(batch)} ticker(s)")
        merge(_one_batch(paths, build, batch, pub.stage, limit, progress, stage_writers(jobs)))
    return staged, seconds


@dataclass
class _BatchResult:
    staged: _Staged
    seconds: dict[str, float]
    failures: Failures


def _stage_all(stage: Stager, build: BuildPlan, tier: str, passed: list[TickerRows],
               writers: int) -> list[tuple[dict[str, Any], StagedFile]]:
    """Stage each passing ticker's file, `writers` at a time: hashing, Parquet encoding and
    fsync release the GIL, so threads overlap them (a third of a batch's time, serially).
    In ticker order; a failure raises once the others are done (each staged file is already
    its publication's, so it is removed with it)."""
    if writers <= 1 or len(passed) <= 1:
        return [stage_ticker(stage, build, tier, rows) for rows in passed]
    with ThreadPoolExecutor(writers, thread_name_prefix="fts-stage") as pool:
        return list(pool.map(lambda rows: stage_ticker(stage, build, tier, rows), passed))


def _one_batch(paths: ProjectPaths, build: BuildPlan, batch: list[str], stage: Stager,
               limit: int, progress: Callable[[str], None], writers: int = 1) -> _BatchResult:
    """Run the models over one batch of tickers, check each tier's rows ticker by ticker and
    stage the passing tickers' files (written to disk: nothing of the batch stays in memory)."""
    out = _BatchResult({t: [] for t in build.to_build}, dict.fromkeys(build.to_build, 0.0),
                       Failures())
    with connect(paths.warehouse, read_only=True, session_views=False) as con:
        raw = read_batch(con, build, batch)
    # The spill folder lives in the project (not the system's temp folder), where `fts gc`
    # finds it if this process is killed.
    session = run_batch(build, raw, progress, duckdb_limit(limit), paths.tiers_data)
    del raw  # the session holds its own copy
    with session:
        # The same for every tier's volume check, so asked once.
        volume_tickers = {r[0] for r in session.con.execute(
            f"SELECT ticker FROM {bars_relation(build)} GROUP BY 1 "
            "HAVING count(volume) > 0").fetchall()}
        for t in build.to_build:
            t0 = time.perf_counter()
            wanted = [x for x in batch if x in build.tiers[t].keys]
            if wanted:
                passed = prepare_batch(build, session.con, t, wanted, volume_tickers,
                                       out.failures)
                out.staged[t] += _stage_all(stage, build, t, passed, writers)
            out.seconds[t] += time.perf_counter() - t0
    return out


def _batch_job(paths: ProjectPaths, build: BuildPlan, batch: list[str], limit: int,
               owner: int, writers: int) -> _BatchResult:
    """One batch in a worker process: its files are staged under temporary names of the
    `owner` (the build's process, which publishes them); removed again if the batch fails."""
    written: list[StagedFile] = []

    def stage(rel: str, write: Callable[[Path], None]) -> StagedFile:
        # Called from the batch's staging threads: no `written[-1]`, another may have appended.
        staged = stage_file(paths, rel, write, owner)
        written.append(staged)
        return staged

    try:
        return _one_batch(paths, build, batch, stage, limit, lambda _: None, writers)
    except BaseException:
        for f in written:
            if f.tmp is not None:
                f.tmp.unlink(missing_ok=True)
        raise


def _assemble(build: BuildPlan, pub: Publication, staged: _Staged, seconds: dict[str, float],
              failures: Failures) -> tuple[list[TierResult], list[Any]]:
    """Each tier's manifest (kept and new tickers, exclusions standing and new) and what to
    publish with it."""
    results, items, manifests = [], [], {}
    for t in build.tier_order:
        p = build.tiers[t]
        if p.up_to_date:
            assert p.current is not None
            manifests[t] = p.current
            results.append(TierResult(t, p.current.id, True, int(p.current["row_count"]),
                                      str(p.current_path), kept=len(p.current["tickers"])))
            continue
        # The exclusions that stand (planned: same key, or not named by a `--ticker` build)
        # and the tickers that failed now, each with the build key it failed at.
        failed = failures.excluded_from(t, build.ancestors(t))
        excluded = dict(sorted({**p.excluded, **failed}.items()))
        excluded_keys = {x: (p.keys.get(x) or p.excluded_keys.get(x)) if x in failed
                         else p.excluded_keys.get(x) for x in excluded}
        new = [(e, f) for e, f in staged[t] if e["ticker"] not in excluded]
        files = sorted(new + [(e, keep_ticker(pub, e)) for e in p.kept.values()],
                       key=lambda ef: ef[0]["ticker"])
        if not files:
            raise BuildError(f"tier {t}: every ticker failed its checks, nothing was written: "
                             + failures.message())
        schema = (pub_schema(new) if new else dict(p.current["schema"]) if p.current else {})
        m = tier_manifest(build, t, [e for e, _ in files], manifests, excluded, excluded_keys,
                          schema)
        manifests[t] = m
        items.append((m, [f for _, f in files]))
        results.append(TierResult(t, m.id, False, int(m["row_count"]), tier_folder(t),
                                  seconds[t], [e["ticker"] for e, _ in new], len(p.kept),
                                  excluded))
    return results, items


def pub_schema(new: list[tuple[dict[str, Any], StagedFile]]) -> dict[str, str]:
    """The column types of a tier's files (read from the first new file's footer)."""
    import pyarrow.parquet as pq

    f = new[0][1]
    path = f.tmp if f.tmp is not None and f.tmp.exists() else None
    if path is None:  # pragma: no cover - a staged file is on disk until the commit
        return {}
    return {fld.name: str(fld.type) for fld in pq.read_schema(path)}
