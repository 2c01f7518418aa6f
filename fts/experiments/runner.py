"""`fts run studies/NAME.toml`: HPO per cell, the best configuration retrained with every seed
(the test split evaluated once per final run), and baselines on the same windows and labels.

Final runs select nothing on one validation block: each trains on every sample before the test
region for the median of the best trial's fold runs' best epoch counts, and scores the test at
the threshold chosen on those fold runs' pooled validation predictions (fts.train.final). The
baselines choose their tree count and threshold on the folds the same way.

Resumable: a finished cell is skipped; inside a cell, a study resumes where it stopped and
seeds whose final run is stored are not trained again. A finished cell whose settings have
changed since (its stored fingerprint differs) is refused, never silently skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna

from fts.core.errors import ConfigError, FtsError
from fts.core.hashing import canonical_json, sha256_json
from fts.core.paths import ProjectPaths
from fts.datasets import Dataset, build_dataset, common_sample_start
from fts.experiments.baselines import (
    BASELINE_FORMAT,
    BASELINES,
    baseline_id,
    store_baselines,
)
from fts.experiments.matrix import Cell, Experiment
from fts.features import build_tier
from fts.hpo.guard import check_params_reached
from fts.hpo.search import run_study
from fts.hpo.space import arch_settings, key_channels, parse_arch_key
from fts.hpo.storage import study_storage
from fts.hpo.study import StudySpec
from fts.train.final import FINAL_FORMAT, FinalPlan, plan_final
from fts.train.request import RunRequest
from fts.train.run import run_training
from fts.warehouse import connect, transaction

Progress = Callable[[str], None]


@dataclass
class CellOutcome:
    cell: str
    skipped: bool
    final_runs: list[str]


def study_spec(exp: Experiment, cell: Cell, common_start: Any) -> StudySpec:
    return StudySpec(tier=cell.tier, budget=cell.budget, horizon=cell.horizon,
                     threshold_pct=cell.threshold_pct, ctx_len=exp.ctx_len, name=cell.study,
                     max_epochs=exp.max_epochs, patience=exp.patience,
                     max_train_batches=exp.max_train_batches, split=exp.split,
                     common_start=common_start, inputs=exp.inputs,
                     min_val_positives=exp.min_val_positives, channels=exp.channels,
                     **exp.levels)


class CellSettingsChanged(ConfigError):
    """A finished cell of the matrix was run with settings other than the study file's."""


def cell_settings(exp: Experiment, cell: Cell, common_start: Any) -> dict[str, Any]:
    """The cell's full resolved spec: everything that decides its stored results."""
    return json.loads(canonical_json({
        "tier": cell.tier, "budget": cell.budget, "horizon": cell.horizon,
        "threshold_pct": cell.threshold_pct, "ctx_len": exp.ctx_len, "trials": exp.trials,
        "seeds": list(exp.seeds), "split": exp.split.to_dict(), "inputs": exp.inputs,
        "min_val_positives": exp.min_val_positives,
        "common_start": str(common_start), "max_epochs": exp.max_epochs,
        "patience": exp.patience, "max_train_batches": exp.max_train_batches,
        # Only when not the default, so cells finished before channel modes existed still match.
        **({"channels": exp.channels} if exp.channels != "independent" else {}),
        **exp.levels_changed(),
        # How final runs and baselines are made: a cell finished under an older rule (final
        # runs stopped early on the last validation block) differs here, so it is refused.
        "final_format": FINAL_FORMAT, "baseline_format": BASELINE_FORMAT}))


def _done_cells(paths: ProjectPaths, experiment: str) -> dict[str, dict[str, Any] | None]:
    """{cell: stored settings} of the finished cells (None: stored before settings were)."""
    # Read-write so that an older warehouse gets the `settings` column (see warehouse.schema).
    with connect(paths.warehouse, project_root=paths.root) as con:
        rows = con.execute("SELECT cell, settings FROM experiments.cells WHERE experiment = ?",
                           [experiment]).fetchall()
    return {cell: json.loads(s) if s is not None else None for cell, s in rows}


def _refuse_changed(exp: Experiment, now: dict[str, dict[str, Any]],
                    done: dict[str, dict[str, Any] | None]) -> None:
    """Raise when a finished cell's stored settings differ from the study file's."""
    changed = {key: [k for k in sorted(set(old) | set(now[key])) if old.get(k) != now[key].get(k)]
               for key, old in done.items() if old is not None and key in now and old != now[key]}
    if not changed:
        return
    fields = sorted({f for fs in changed.values() for f in fs})
    key = next(iter(changed))
    example = "; ".join(f"{f} {done[key].get(f)!r} -> {now[key].get(f)!r}"  # type: ignore[union-attr]
                        for f in changed[key])
    raise CellSettingsChanged(
        f"{exp.name}: {len(changed)} finished cell(s) were run with other settings "
        f"({', '.join(fields)}; {key}: {example}); give the study a new `name` in "
        f"{exp.source or 'its file'} to run it afresh, or restore the settings to resume")


def _final_runs(paths: ProjectPaths, study: str, plan: FinalPlan) -> dict[int, str]:
    """{seed: run id} of the study's stored final runs; refuses runs made another way (an
    older format or another plan), which must never be mixed with new ones in one cell."""
    with connect(paths.warehouse, read_only=True, project_root=paths.root) as con:
        rows = con.execute("SELECT seed, run_id, config->'final' FROM train.runs WHERE study = ? "
                           "AND purpose = 'final' ORDER BY created_at", [study]).fetchall()
    want = _plan_identity(plan.to_dict())
    other = [run_id for _, run_id, final in rows
             if final is None or _plan_identity(json.loads(final)) != want]
    if other:
        raise CellSettingsChanged(
            f"{study}: {len(other)} stored final run(s) ({other[0][:12]}, ...) were made another "
            f"way than final-run format {FINAL_FORMAT} from the best trial's folds; give the "
            "study a new `name` to run it afresh")
    return {int(seed): run_id for seed, run_id, _ in rows}


# What makes two final runs comparable: not the prose of the rules (a wording edit must not
# refuse a resume), but the format, the epoch count, the threshold and the fold runs behind them.
PLAN_IDENTITY = ("format", "epochs", "threshold", "fold_run_ids")


def _plan_identity(final: dict[str, Any]) -> dict[str, Any]:
    """The parts of a `config["final"]` record that must agree for runs to share a cell."""
    return json.loads(canonical_json({k: final.get(k) for k in PLAN_IDENTITY}))


def prepare(paths: ProjectPaths, exp: Experiment, progress: Progress) -> Any:
    """Build every tier the matrix uses; return the common first sample date."""
    for tier in exp.tiers:
        build_tier(paths, tier, progress=progress)
    start = common_sample_start(paths, list(exp.tiers), ctx_len=exp.ctx_len)
    progress(f"{exp.name}: tiers {', '.join(exp.tiers)} compared from their common start {start}")
    return start


def run_experiment(paths: ProjectPaths, exp: Experiment, *, progress: Progress = lambda _: None,
                   show_bar: bool = True, max_hours: float | None = None) -> list[CellOutcome]:
    """Execute the matrix; returns what happened to each cell.

    With `max_hours`, the unfinished cells are estimated first (`plan_experiment`) and the
    matrix is refused (`CannotFinish`) when one does not fit in memory or their total exceeds
    it.
    """
    start = prepare(paths, exp, progress)
    done = _done_cells(paths, exp.name)
    outcomes = []
    cells = exp.cells()
    settings = {cell.key: cell_settings(exp, cell, start) for cell in cells}
    _refuse_changed(exp, settings, done)
    if max_hours is not None:
        _refuse_unaffordable(paths, exp, set(done), max_hours, progress)
    for i, cell in enumerate(cells, 1):
        prefix = f"[{i}/{len(cells)}] {cell.key}"
        if cell.key in done:
            unchecked = done[cell.key] is None
            progress(f"{prefix}: done, skipped" + (
                " (stored before cell settings were recorded: not checked)" if unchecked else ""))
            outcomes.append(CellOutcome(cell.key, True, []))
            continue
        progress(f"{prefix}: search ({exp.trials} trials)")
        spec = study_spec(exp, cell, start)
        out = run_study(paths, spec, exp.trials, progress=progress, show_bar=show_bar)
        if out.best_trial is None:
            raise FtsError(f"{cell.study}: no trial completed; see `fts hpo show {cell.study}`")
        if out.manifest is None:  # pragma: no cover - run_study returns with N finished trials
            raise FtsError(f"{cell.study}: the study has fewer than {exp.trials} finished trials")
        pin = (out.manifest.id, str(out.manifest["trials_sha256"]))
        best = optuna.load_study(study_name=cell.study,
                                 storage=study_storage(paths, None)).trials[out.best_trial]
        plan = plan_final(paths, cell.study, best.number)
        progress(f"{prefix}: final runs: {plan.epochs} epochs (fold best "
                 f"{[b + 1 for b in plan.fold_best_epochs]}), threshold {plan.threshold:.4f} "
                 "from the pooled fold validation")
        runs = _final_runs(paths, cell.study, plan)
        # The study's own dataset (same spec and common start, so the same manifest).
        dataset = build_dataset(paths, spec_dataset(exp, cell), common_start=start)
        for seed in exp.seeds:
            if seed in runs:
                continue
            request = _final_request(exp, cell, spec, best.params, seed, pin, plan)
            record = run_training(paths, request, dataset=dataset,
                                  progress=lambda line, tag=f"{prefix}: seed {seed}": progress(
                                      f"{tag}: {line.strip()}"))
            runs[seed] = record.run_id
            progress(f"{prefix}: seed {seed}: test log-loss "
                     f"{record.test_metrics['log_loss']:.4f} (run {record.run_id[:12]})")
        # Stored final runs too: a resume must not finish a cell on runs that missed them.
        _check_final_settings(paths, spec, best.params, plan, [runs[s] for s in exp.seeds])
        _store_baselines(paths, exp, cell, dataset, progress)
        with connect(paths.warehouse, project_root=paths.root) as con, transaction(con):
            con.execute(
                "INSERT INTO experiments.cells (experiment, cell, tier, budget, horizon, "
                "threshold_pct, study, dataset_id, best_trial, final_run_ids, finished_at, "
                "settings, fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now(), ?, ?)",
                [exp.name, cell.key, cell.tier, cell.budget, cell.horizon, cell.threshold_pct,
                 cell.study, dataset.id, out.best_trial,
                 json.dumps([runs[s] for s in exp.seeds]), canonical_json(settings[cell.key]),
                 sha256_json(settings[cell.key])])
        outcomes.append(CellOutcome(cell.key, False, [runs[s] for s in exp.seeds]))
    return outcomes


class FinalSettingsLost(FtsError):
    """A final run did not get the best trial's settings, dataset or model."""


def _check_final_settings(paths: ProjectPaths, spec: StudySpec, params: dict[str, Any],
                          plan: FinalPlan, run_ids: list[str]) -> None:
    """Raise unless every final run carries the best trial's sampled parameters and the study's
    fixed settings (the search's own guard, `check_params_reached`), and trained the same
    dataset and model config as the fold runs its epoch count and threshold came from."""
    with connect(paths.warehouse, read_only=True, project_root=paths.root) as con:
        configs = {r: json.loads(c) for r, c in con.execute(
            "SELECT run_id, config FROM train.runs WHERE list_contains(?, run_id)",
            [list(run_ids) + list(plan.fold_run_ids)]).fetchall()}
    folds = [configs[r] for r in plan.fold_run_ids]
    for run_id in run_ids:
        config = configs[run_id]
        where = f"{spec.name}: final run {run_id[:12]}"
        try:
            check_params_reached(params, config, {"arch": arch_settings},
                                 fixed={"model": spec.model_options,
                                        "dataset": {"normalization": spec.normalization}})
        except FtsError as exc:  # the guard's wording is a trial's: keep only what was lost
            lost = str(exc).split(": the trial is failed")[0]
            raise FinalSettingsLost(f"{where}: the best trial's {lost}; the cell is not "
                                    "finished") from None
        mine = _setup(config)
        for fold_id, fold in zip(plan.fold_run_ids, folds, strict=True):
            theirs = _setup(fold)
            diff = [f"{k} {theirs.get(k)!r} -> {mine.get(k)!r}"
                    for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
            if diff:
                raise FinalSettingsLost(
                    f"{where} differs from fold run {fold_id[:12]} ({'; '.join(diff)}): its "
                    "epoch count and threshold came from runs of another setup")


def _setup(config: dict[str, Any]) -> dict[str, Any]:
    """What a final run must share with its fold runs: the dataset and the whole model config."""
    return {"dataset": config["dataset"]["manifest_id"],
            **{f"model.{k}": v for k, v in config["model"].items()}}


def _refuse_unaffordable(paths: ProjectPaths, exp: Experiment, done: set[str],
                         max_hours: float, progress: Progress) -> None:
    """Estimate the unfinished cells; refuse the matrix when one cannot fit in memory or
    their total (every trial and final run at max_epochs: an upper bound) exceeds max_hours."""
    from fts.experiments.plan import plan_experiment
    from fts.train.estimate import WAYS_FORWARD, CannotFinish, format_hours

    plans = [p for p in plan_experiment(paths, exp, progress=progress) if p.cell not in done]
    ways = f"not started. Ways forward: {', '.join(WAYS_FORWARD)}"
    too_big = [p.cell for p in plans if not p.fits]
    if too_big:
        raise CannotFinish(f"{exp.name}: {len(too_big)} cell(s) do not fit in memory "
                           f"({', '.join(too_big[:3])}); {ways}")
    hours = sum(p.cell_hours or 0.0 for p in plans)
    progress(f"{exp.name}: {len(plans)} cell(s) to run, estimated at most "
             f"{format_hours(hours)} (--max-hours {max_hours:g})")
    if hours > max_hours:
        raise CannotFinish(f"{exp.name}: {len(plans)} cell(s) are estimated at "
                           f"{format_hours(hours)}, over --max-hours {max_hours:g}; {ways}")


def spec_dataset(exp: Experiment, cell: Cell) -> Any:
    from fts.datasets import DatasetSpec

    return DatasetSpec(tier=cell.tier, horizon=cell.horizon, threshold_pct=cell.threshold_pct,
                       ctx_len=exp.ctx_len, split=exp.split, inputs=exp.inputs,
                       min_val_positives=exp.min_val_positives, normalization=exp.normalization)


def _final_request(exp: Experiment, cell: Cell, spec: StudySpec, params: dict[str, Any],
                   seed: int, study_manifest: tuple[str, str], plan: FinalPlan) -> RunRequest:
    train = spec.train_config(params, 0)
    import dataclasses

    return RunRequest(tier=cell.tier, budget=cell.budget, horizon=cell.horizon,
                      threshold_pct=cell.threshold_pct, ctx_len=exp.ctx_len,
                      arch=parse_arch_key(params["arch"]), dropout=params["dropout"],
                      train=dataclasses.replace(train, seed=seed), split=exp.split,
                      common_start=spec.common_start, inputs=exp.inputs,
                      min_val_positives=exp.min_val_positives, evaluate_test=True, purpose="final",
                      study=cell.study, study_manifest=study_manifest,
                      channels=key_channels(params["arch"]), final=plan, **exp.levels)


def _store_baselines(paths: ProjectPaths, exp: Experiment, cell: Cell, dataset: Dataset,
                     progress: Progress) -> None:
    """Baselines once per experiment, tier and target (they do not depend on the budget)."""
    with connect(paths.warehouse, read_only=True, project_root=paths.root) as con:
        have = con.execute("SELECT count(*) FROM experiments.baselines WHERE experiment = ? AND "
                           "dataset_id = ?", [exp.name, dataset.id]).fetchall()[0][0]
    if have:
        with connect(paths.warehouse, read_only=True, project_root=paths.root) as con:
            versions = {v for (v,) in con.execute(
                "SELECT version FROM meta.manifests WHERE kind = 'baseline' AND "
                "body->>'experiment' = ? AND list_contains(?, body->>'baseline_id')",
                [exp.name, [baseline_id(exp.name, dataset.id, m) for m in BASELINES]]).fetchall()}
        if versions != {str(BASELINE_FORMAT)}:  # never mix baselines selected another way
            raise CellSettingsChanged(
                f"{exp.name}: the stored baselines of {cell.tier} h{cell.horizon} "
                f"p{cell.threshold_pct:g} have format {', '.join(sorted(versions)) or '?'}, not "
                f"{BASELINE_FORMAT}; give the study a new `name` to run it afresh")
        return
    stored = store_baselines(paths, exp.name, cell.tier, cell.horizon, cell.threshold_pct,
                             dataset)
    progress(f"{cell.tier} h{cell.horizon} p{cell.threshold_pct:g}: baselines "
             + ", ".join(f"{m['model']} {m['test_metrics']['log_loss']:.4f}" for m in stored))
