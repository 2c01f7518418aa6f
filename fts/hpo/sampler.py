"""`TrialSeededSampler`: a TPE sampler whose random draws are seeded per trial, not per process.

`TPESampler(seed=s)` seeds its random state once, when the process builds it. Every process of
a study (a resumed run, a second worker) would then replay the same start-up draws and propose
exactly the settings of trials that already ran. Here each trial gets a fresh TPE sampler seeded
with (study seed, trial number): trial numbers are unique in a study, so no two trials share
their draws, and a fresh single-process study is still reproducible trial by trial (same seed,
same history -> same proposals).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, TPESampler
from optuna.trial import FrozenTrial, TrialState

from fts.core.hashing import sha256_bytes

N_STARTUP_TRIALS = 8


def startup_trials(n_trials: int) -> int:
    """Random trials before TPE models the results: 8, but never more than half the study, so a
    small search (the demo's 4 trials) still has trials that TPE chooses from what it has seen."""
    return max(1, min(N_STARTUP_TRIALS, n_trials // 2))


def trial_seed(seed: int, number: int) -> int:
    """The 32-bit seed of trial `number` of a study seeded with `seed` (stable across runs)."""
    return int(sha256_bytes(f"fts-hpo:{seed}:{number}".encode())[:8], 16)  # first 4 bytes


class TrialSeededSampler(BaseSampler):
    """TPE (`n_startup_trials` random ones first), seeded with (seed, trial number) per trial.

    Each process runs one trial at a time, so the sampler of the current trial is built in
    `before_trial` (where Optuna first tells the sampler the trial's number) and used until the
    next one.
    """

    def __init__(self, seed: int, n_startup_trials: int = N_STARTUP_TRIALS) -> None:
        self._seed = seed
        self._n_startup_trials = n_startup_trials
        self._current = self._tpe(0)

    def _tpe(self, number: int) -> TPESampler:
        return TPESampler(seed=trial_seed(self._seed, number),
                          n_startup_trials=self._n_startup_trials)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._current = self._tpe(trial.number)
        self._current.before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study,
                                    trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._current.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self._current.sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._current.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._current.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._current.reseed_rng()
