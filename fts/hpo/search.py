"""`run_study`: an Optuna search over architectures within a budget and training settings.

- The study's tier, budget, target, context and dataset manifest are study attributes; a
  resumed study must match them, and its trials train on exactly that dataset.
- `n_trials` is the number of finished trials (COMPLETE or PRUNED) the study must hold in
  total: a resumed study runs only the rest. A FAILED trial (an exception, a killed worker,
  Ctrl-C, a surplus trial of a race between workers) keeps its reason and does not count, so
  the study still ends with exactly N finished ones.
- The grid's extremes are queued as the first trials when the study leaves at least as many
  trials after them for TPE, else the budget's central architecture alone (`first_trials`);
  again on every open for those that have no live trial yet (a study resumed with more).
- The sampler is seeded per trial (fts.hpo.sampler): a resumed run or a second worker draws
  new settings, and a fresh study with the same seed draws the same ones.
- Trials are driven with ask/tell, so each outcome is recorded exactly as it happened: a value
  only for a trial that trained to its best epoch; never a made-up one.
- A study that holds its N finished trials gets a study manifest (fts.hpo.manifest): its
  trials, their runs and the best one; a resume to more trials supersedes it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from fts.core.errors import ConfigError, FtsError
from fts.core.manifest import Manifest
from fts.core.paths import ProjectPaths
from fts.hpo.guard import check_params_reached
from fts.hpo.manifest import write_study_manifest
from fts.hpo.sampler import TrialSeededSampler, startup_trials
from fts.hpo.space import (
    SearchSpace,
    arch_settings,
    build_space,
    first_trials,
    key_channels,
    parse_arch_key,
    suggest,
)
from fts.hpo.stale import fail_stale_running_trials, heartbeat, worker_tag
from fts.hpo.storage import parse_storage_url, study_storage
from fts.hpo.study import StudySpec
from fts.train.estimate import CannotFinish
from fts.train.folds import train_on_folds
from fts.train.levels import LEGACY
from fts.train.request import RunRequest
from fts.train.run import DoesNotFit, prepare_dataset, run_training

# What a study stored before a setting existed had (a resume asking the same still matches).
IDENTITY_DEFAULTS = {"channels": "independent", **LEGACY}
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
TAKEN = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)  # hold a place of the N
Progress = Callable[[str], None]


@dataclass
class StudyOutcome:
    """Where a study stands after `run_study`."""

    name: str
    finished: int
    ran_now: int
    failed_now: int
    stale_failed: list[int]
    best_value: float | None
    best_trial: int | None
    dataset_manifest_id: str
    manifest: Manifest | None = None  # the study manifest, once it holds its N finished trials


def _count(study: optuna.Study, states: tuple[TrialState, ...]) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def open_study(paths: ProjectPaths, spec: StudySpec, storage_url: str | None,
               dataset_id: str, n_features: int, n_trials: int) -> tuple[optuna.Study, SearchSpace]:
    """Create the study, or load it and check that it is the same study."""
    # PostgreSQL studies get Optuna's heartbeat, so a worker on another machine that dies is
    # noticed too; the warehouse journal knows each trial's writer process instead.
    storage = study_storage(paths, storage_url, heartbeat_interval=30 if storage_url else None,
                            grace_period=120 if storage_url else None)
    identity = spec.identity(dataset_id)
    sampler = TrialSeededSampler(spec.seed, startup_trials(n_trials))
    pruner = optuna.pruners.MedianPruner(n_startup_trials=6, n_warmup_steps=2)
    try:
        study = optuna.load_study(study_name=spec.name, storage=storage, sampler=sampler,
                                  pruner=pruner)
    except KeyError:
        study = None
    if study is not None:
        # Another process may have just created it and still be writing its attributes
        # ("search_space" is written last): wait for them rather than misread the study.
        deadline = time.monotonic() + 30
        while "search_space" not in study.user_attrs and time.monotonic() < deadline:
            time.sleep(0.2)
        attrs = study.user_attrs
        # A study stored before channel modes existed is channel-independent.
        stored = {k: attrs.get(k, IDENTITY_DEFAULTS.get(k)) for k in identity}
        if stored != identity:
            diff = ", ".join(f"{k}: study has {stored[k]!r}, asked {identity[k]!r}"
                             for k in identity if stored[k] != identity[k])
            raise ConfigError(f"study {spec.name!r} exists with different settings ({diff}); "
                              "it was left untouched: choose another --study name")
        space = SearchSpace.from_dict(attrs["search_space"])
    else:
        space = build_space(spec.budget, n_features, spec.ctx_len, spec.channels,
                            spec.model_options)
        study = optuna.create_study(study_name=spec.name, storage=storage, direction="minimize",
                                    sampler=sampler, pruner=pruner, load_if_exists=True)
        for key, value in identity.items():
            study.set_user_attr(key, value)
        study.set_user_attr("search_space", space.to_dict())
        study.set_user_attr("objective", "best-epoch validation log-loss, mean over the "
                            "dataset's walk-forward folds (one model per fold)")
    enqueue_missing_extremes(study, space, n_trials)
    return study, space


def enqueue_missing_extremes(study: optuna.Study, space: SearchSpace, n_trials: int) -> list[str]:
    """Queue the first trials (`first_trials`) that have no live trial yet; returns their labels.

    They run as ordinary trials, first (the sampler learns from them and the trials record
    them), at most as many as the study will still run: `n_trials` less its finished,
    running and already queued trials. A first trial is matched by its label (the trial user
    attr `extreme`); one whose only trials FAILED (killed, surplus, an error) is queued again.
    Two processes opening the same study at the same moment may both queue one (as Optuna's
    `enqueue_trial(skip_if_exists=True)` may): it then trains twice, as two ordinary trials.
    """
    trials = study.get_trials(deepcopy=False)
    live = [t for t in trials if t.state != TrialState.FAIL]
    covered = {t.user_attrs.get("extreme") for t in live}
    room = n_trials - len(live)
    queued: list[str] = []
    for label, key in first_trials(space, n_trials):
        if len(queued) >= room:
            break
        if label not in covered:
            study.enqueue_trial({"arch": key}, user_attrs={"extreme": label})
            queued.append(label)
    return queued


def claim_trial(study: optuna.Study, n_trials: int) -> optuna.Trial | None:
    """Ask for the next trial; None (and the trial told FAIL) when it would make N+1.

    Two workers can both see room for one more trial and both ask. Trial numbers are unique
    and ordered, so a trial is surplus when the trials numbered before it that are finished or
    running already make `n_trials`. It is told FAIL, with the user attr `fail_reason`, and
    never trains: FAIL and not PRUNED, because a pruned trial counts as finished and the study
    must end with exactly N finished trials.
    """
    trial = study.ask()
    ahead = sum(t.number < trial.number for t in study.get_trials(deepcopy=False, states=TAKEN))
    if ahead < n_trials:
        return trial
    trial.set_user_attr("worker", worker_tag())
    trial.set_user_attr("fail_reason", f"surplus: the study already has {n_trials} trials")
    study.tell(trial, state=TrialState.FAIL)
    return None


def run_study(paths: ProjectPaths, spec: StudySpec, n_trials: int, *,
              storage_url: str | None = None, progress: Progress = lambda _: None,
              show_bar: bool = True, max_hours: float | None = None) -> StudyOutcome:
    """Run (or resume) the study until it holds `n_trials` finished trials.

    With `max_hours`, the study's cost is estimated and printed first (fts.hpo.estimate), and
    a study that does not fit in memory or would take longer is refused (`CannotFinish`)
    before the study is created.
    """
    if n_trials < 1:
        raise ConfigError("--trials must be at least 1")
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # fts prints its own progress
    from fts.train.arch import budget_grid
    from fts.train.dryrun import n_features_of

    n_features = n_features_of(paths, spec.tier)  # unknown tier -> error before anything
    budget_grid(spec.budget, n_features, spec.ctx_len)  # a budget nothing fits -> error
    if storage_url:
        parse_storage_url(storage_url)  # a malformed URL -> error before any work
    dataset = None
    if max_hours is not None:
        from fts.hpo.estimate import estimate_study, sample_counts

        counts = sample_counts(paths, spec)  # from the built tier, writing nothing
        if counts is None:  # the tier must be built to count: build it, then estimate
            dataset = prepare_dataset(paths, spec.dataset_request(), progress)
            counts = dataset.counts
        estimate = estimate_study(paths, spec, n_trials, counts=counts, max_hours=max_hours)
        for line in estimate.lines():
            progress(line)
        if estimate.refusal:
            raise CannotFinish(estimate.refusal)
    dataset = dataset or prepare_dataset(paths, spec.dataset_request(), progress)
    study, space = open_study(paths, spec, storage_url, dataset.id, len(dataset.feature_names),
                              n_trials)
    outcome = StudyOutcome(spec.name, _count(study, FINISHED), 0, 0, [], None, None, dataset.id)
    bar = _bar(n_trials, outcome.finished, show_bar)
    if bar is not None:  # keep the bar intact: trial lines go above it
        from tqdm import tqdm

        progress = tqdm.write
    started = time.perf_counter()
    failed_in_a_row = 0
    try:
        while True:
            # Before every trial, not only at start: a RUNNING trial of a worker that died
            # meanwhile must not hold one of the N places (the survivor would stop short).
            stale = fail_stale_running_trials(
                study._storage, spec.name,
                "its worker process died while the trial was running (killed or crashed)")
            if stale:
                outcome.stale_failed += stale
                progress(f"marked {len(stale)} trial(s) of dead workers FAIL: {stale}")
            if _count(study, TAKEN) >= n_trials:
                break
            if failed_in_a_row > max(3, n_trials):
                raise FtsError(f"study {spec.name}: {failed_in_a_row} trials failed in a row "
                               "in this run; see `fts hpo show` for their reasons")
            state = _run_trial(paths, study, space, spec, dataset, progress, n_trials)
            if state is None:  # surplus: another worker took the last place
                continue
            outcome.ran_now += 1
            outcome.failed_now += state == TrialState.FAIL
            failed_in_a_row = failed_in_a_row + 1 if state == TrialState.FAIL else 0
            if bar is not None:
                bar.n = _count(study, FINISHED)
                best = _best(study)
                elapsed = time.perf_counter() - started
                left = (n_trials - bar.n) * elapsed / max(outcome.ran_now, 1)
                bar.set_postfix_str(f"best {best[1]:.4f}" if best else "best -")
                bar.set_description(f"{spec.name} (~{left / 60:.1f} min left)")
                bar.refresh()
    except KeyboardInterrupt:
        progress(f"interrupted: the current trial is marked FAIL; resume with the same command "
                 f"(study {spec.name!r} keeps its {_count(study, FINISHED)} finished trials)")
        raise
    finally:
        if bar is not None:
            bar.close()
    outcome.finished = _count(study, FINISHED)
    best = _best(study)
    if best:
        outcome.best_trial, outcome.best_value = best
    if outcome.finished >= n_trials:  # a worker that stops while others still train writes none
        outcome.manifest = write_study_manifest(paths, spec, dataset, study,
                                                external=bool(storage_url))
    return outcome


def _cost_attrs(config: dict[str, Any]) -> list[tuple[str, Any]]:
    """The trial's estimate beside what it really cost (for `fts hpo show`)."""
    cost, estimate = config.get("cost", {}), config.get("estimate", {})
    epochs = cost.get("epoch_seconds") or []
    return [("estimate_seconds_per_epoch", estimate.get("seconds_per_epoch")),
            ("seconds_per_epoch", sum(epochs) / len(epochs) if epochs else None),
            ("estimate_memory_bytes", estimate.get("memory_bytes")),
            ("peak_rss_bytes", cost.get("peak_rss_bytes")),
            ("cpu_percent_mean", cost.get("cpu_percent_mean"))]


def _best(study: optuna.Study) -> tuple[int, float] | None:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    t = min(complete, key=lambda t: (t.value, t.number))
    return t.number, float(t.value)


def _bar(total: int, initial: int, show: bool) -> Any:
    import sys

    if not show or not sys.stderr.isatty():  # a log file gets one line per trial instead
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="trial", dynamic_ncols=True)


def _run_trial(paths: ProjectPaths, study: optuna.Study, space: SearchSpace, spec: StudySpec,
               dataset: Any, progress: Progress, n_trials: int) -> TrialState | None:
    trial = claim_trial(study, n_trials)
    if trial is None:
        progress(f"another worker took the last of the {n_trials} trials: a trial asked at the "
                 "same moment is marked FAIL (surplus) and not run")
        return None
    with heartbeat(study._storage, trial):
        return _run_asked_trial(paths, study, trial, space, spec, dataset, progress)


def _run_asked_trial(paths: ProjectPaths, study: optuna.Study, trial: optuna.Trial,
                     space: SearchSpace, spec: StudySpec, dataset: Any,
                     progress: Progress) -> TrialState:
    trial.set_user_attr("worker", worker_tag())
    trial.set_user_attr("dataset_manifest_id", dataset.id)
    params = suggest(trial, space)
    arch = parse_arch_key(params["arch"])
    trial.set_user_attr("n_params", space.n_params[params["arch"]])
    request = RunRequest(
        tier=spec.tier, budget=spec.budget, horizon=spec.horizon,
        threshold_pct=spec.threshold_pct, ctx_len=spec.ctx_len, arch=arch,
        dropout=params["dropout"], train=spec.train_config(params, trial.number),
        split=spec.split, common_start=spec.common_start, tickers=spec.tickers,
        evaluate_test=False, purpose="trial", study=spec.name, trial_number=trial.number,
        channels=key_channels(params["arch"]), inputs=spec.inputs,
        min_val_positives=spec.min_val_positives, normalization=spec.normalization,
        revin_stats=spec.revin_stats,
    )

    def report(epoch: int, metrics: dict[str, float]) -> None:
        trial.report(metrics["val_loss"], epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch}: validation loss "
                                     f"{metrics['val_loss']:.4f} above the median")

    try:
        selection = train_on_folds(
            paths, request, dataset, on_epoch=report, run=run_training,
            progress=lambda line: progress(f"trial {trial.number}: {line.strip()}"))
        record = selection.last
    except optuna.TrialPruned as exc:
        trial.set_user_attr("prune_reason", str(exc))
        study.tell(trial, state=TrialState.PRUNED)
        progress(f"trial {trial.number}: {exc}")
        return TrialState.PRUNED
    except DoesNotFit as exc:
        trial.set_user_attr("prune_reason", f"predicted not to fit in memory: {exc}")
        study.tell(trial, state=TrialState.PRUNED)
        progress(f"trial {trial.number}: pruned before training: {exc}")
        return TrialState.PRUNED
    except KeyboardInterrupt:
        trial.set_user_attr("fail_reason", "interrupted by the user (Ctrl-C)")
        study.tell(trial, state=TrialState.FAIL)
        raise
    except (FtsError, RuntimeError, ValueError, MemoryError) as exc:
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]
        trial.set_user_attr("fail_reason", reason)
        study.tell(trial, state=TrialState.FAIL)
        progress(f"trial {trial.number}: FAIL {reason}")
        return TrialState.FAIL
    trial.set_user_attr("run_id", record.run_id)
    try:
        check_params_reached(params, record.config, {"arch": arch_settings},
                             fixed={"model": spec.model_options,
                                    "dataset": {"normalization": spec.normalization}})
    except FtsError as exc:
        trial.set_user_attr("fail_reason", str(exc)[:500])
        study.tell(trial, state=TrialState.FAIL)
        progress(f"trial {trial.number}: FAIL {exc}")
        return TrialState.FAIL
    for key, value in (("n_params", record.n_params), ("run_id", record.run_id),
                       ("epochs_run", record.epochs_run), ("best_epoch", record.best_epoch),
                       ("val_auc", record.val_metrics["roc_auc"]),
                       ("val_pr_auc", record.val_metrics["pr_auc"]),
                       ("val_brier", record.val_metrics["brier"]),
                       *_cost_attrs(record.config)):
        trial.set_user_attr(key, value)
    trial.set_user_attr("fold_val_log_loss", list(selection.fold_values))
    trial.set_user_attr("fold_run_ids", [r.run_id for r in selection.records])
    value = selection.value
    if not math.isfinite(value):  # pragma: no cover - the trainer raises first
        raise FtsError(f"trial {trial.number}: non-finite objective {value}")
    study.tell(trial, value)
    progress(f"trial {trial.number}: {params['arch']} ({record.n_params:,} params) "
             f"val log-loss {value:.4f} (best epoch {record.best_epoch})")
    return TrialState.COMPLETE

