"""`fts hpo show STUDY`: the best trial, its parameters and real size, and the extremes."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import TrialState

from fts.core.errors import NotFoundError
from fts.core.paths import ProjectPaths
from fts.hpo.stale import fail_stale_running_trials, stale_running_trials
from fts.hpo.storage import study_storage

_STALE_REASON = "its worker died or went silent while the trial was running (found stale)"
# The estimate a trial started with beside what it really cost (fts.hpo.search._cost_attrs).
COST_ATTRS = ("estimate_seconds_per_epoch", "seconds_per_epoch", "estimate_memory_bytes",
              "peak_rss_bytes", "cpu_percent_mean")


def _trial_row(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return {
        "number": t.number, "state": t.state.name, "value": t.value,
        "params": dict(t.params), "n_params": t.user_attrs.get("n_params"),
        "best_epoch": t.user_attrs.get("best_epoch"), "epochs_run": t.user_attrs.get("epochs_run"),
        "val_auc": t.user_attrs.get("val_auc"), "run_id": t.user_attrs.get("run_id"),
        "extreme": t.user_attrs.get("extreme"),
        **{k: t.user_attrs.get(k) for k in COST_ATTRS},
        "reason": t.user_attrs.get("fail_reason") or t.user_attrs.get("prune_reason"),
    }


def show_study(paths: ProjectPaths, name: str, storage_url: str | None = None) -> dict[str, Any]:
    """Summary of a study: attributes, counts by state, best trial, and the extremes' trials.

    Opening the study fails the RUNNING trials whose worker is dead or silent past the grace
    period (fts.hpo.stale), so no phantom RUNNING trial is shown; `stale_failed` lists them
    ({number: why}).
    """
    storage = study_storage(paths, storage_url)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError as exc:
        names = sorted(s.study_name for s in optuna.get_all_study_summaries(storage))
        raise NotFoundError(f"no study {name!r} (studies: {', '.join(names) or 'none'})") from exc
    dead = stale_running_trials(storage, name)
    failed = fail_stale_running_trials(storage, name, _STALE_REASON) if dead else []
    trials = study.get_trials(deepcopy=False)
    counts = {s.name: sum(t.state == s for t in trials) for s in TrialState}
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = min(complete, key=lambda t: (t.value, t.number)) if complete else None
    attrs = {k: v for k, v in study.user_attrs.items() if k != "search_space"}
    return {
        "study": name,
        "attributes": attrs,
        "counts": {k: v for k, v in counts.items() if v},
        "best": _trial_row(best) if best else None,
        "extremes": [_trial_row(t) for t in trials if t.user_attrs.get("extreme")],
        "trials": [_trial_row(t) for t in trials],
        "stale_failed": {n: dead[n] for n in failed},
    }
