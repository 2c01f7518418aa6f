"""Each cell's hyperparameter search as the report shows it: the objective of every finished
trial with the best so far, and the parameters' importance (Optuna's
`optuna.importance.get_param_importances`, fANOVA with a fixed seed so that a report is
reproducible). Studies are opened from the warehouse journal, as `fts hpo show` opens them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import optuna
from optuna.importance import FanovaImportanceEvaluator
from optuna.study import StudyDirection
from optuna.trial import TrialState

from fts.core.paths import ProjectPaths
from fts.hpo.storage import study_storage
from fts.report.curves import running_best

#: Finished trials a study needs before parameter importance means anything: fANOVA fits a
#: random forest on (parameters -> objective), which says nothing from a handful of points.
MIN_IMPORTANCE_TRIALS = 5


@dataclass
class StudyHistory:
    """A study's finished trials (number, objective, best so far) and parameter importance
    (`importance` is None with a `reason` when it could not be computed)."""

    study: str
    numbers: np.ndarray
    values: np.ndarray
    best: np.ndarray
    minimize: bool = True
    importance: dict[str, float] | None = None
    reason: str | None = None
    n_trials: dict[str, int] = field(default_factory=dict)


def param_importance(study: optuna.Study) -> tuple[dict[str, float] | None, str | None]:
    """({parameter: importance}, None), or (None, why not) for a study with too few finished
    trials or nothing that varied."""
    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if len(done) < MIN_IMPORTANCE_TRIALS:
        return None, (f"{len(done)} finished trial(s); parameter importance needs at least "
                      f"{MIN_IMPORTANCE_TRIALS}")
    try:
        found = optuna.importance.get_param_importances(
            study, evaluator=FanovaImportanceEvaluator(seed=0))
    except (ValueError, RuntimeError) as exc:  # e.g. no parameter shared by every trial
        return None, f"Optuna could not compute it: {exc}"
    if not found:
        return None, "no parameter varied across the finished trials"
    return {k: float(v) for k, v in found.items()}, None


def study_history(study: optuna.Study) -> StudyHistory:
    """The objective per finished trial (in trial order), the best so far, and importance."""
    trials = study.get_trials(deepcopy=False)
    done = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.number)
    minimize = study.direction != StudyDirection.MAXIMIZE
    values = np.array([t.value for t in done], dtype=float)
    importance, reason = param_importance(study)
    counts = {s.name: sum(t.state == s for t in trials) for s in TrialState}
    return StudyHistory(study.study_name, np.array([t.number for t in done], dtype=int), values,
                        running_best(values, minimize), minimize, importance, reason,
                        {k: v for k, v in counts.items() if v})


def load_histories(paths: ProjectPaths, names: list[str]) -> dict[str, StudyHistory | str]:
    """{study name: its StudyHistory, or why it could not be read} for the warehouse's
    studies (read only: nothing is written)."""
    storage = study_storage(paths, None)
    out: dict[str, StudyHistory | str] = {}
    for name in names:
        try:
            out[name] = study_history(optuna.load_study(study_name=name, storage=storage))
        except KeyError:
            out[name] = "the study is not in the warehouse (synced from elsewhere and removed?)"
    return out
