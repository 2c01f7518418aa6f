"""The study's sampler draws new settings in every process, and the same ones for the same study."""

from __future__ import annotations

import optuna

from fts.hpo.sampler import TrialSeededSampler


def _objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-4, 3e-3, log=True)
    trial.suggest_float("dropout", 0.0, 0.4)
    trial.suggest_categorical("batch_size", [32, 64, 128])
    return lr


def _params(study: optuna.Study) -> list[tuple[float, float]]:
    return [(t.params["lr"], t.params["dropout"]) for t in study.trials]


def _run(storage: optuna.storages.BaseStorage, n: int, *, create: bool = False) -> optuna.Study:
    """`n` more trials with a new study handle and sampler, as a new process would."""
    if create:
        optuna.create_study(study_name="s", storage=storage)
    study = optuna.load_study(study_name="s", storage=storage, sampler=TrialSeededSampler(3))
    study.optimize(_objective, n_trials=n)
    return study


def test_a_resumed_study_does_not_replay_the_draws_of_its_first_run() -> None:
    storage = optuna.storages.InMemoryStorage()
    _run(storage, 2, create=True)
    resumed = _run(storage, 2)
    first, then = _params(resumed)[:2], _params(resumed)[2:]
    assert len(set(first + then)) == 4  # TPESampler(seed=3) in each process repeats 0-1 as 2-3


def test_two_workers_on_one_study_draw_different_settings() -> None:
    storage = optuna.storages.InMemoryStorage()
    optuna.create_study(study_name="s", storage=storage)
    a, b = (optuna.load_study(study_name="s", storage=storage, sampler=TrialSeededSampler(3))
            for _ in range(2))
    for _ in range(3):
        a.optimize(_objective, n_trials=1)
        b.optimize(_objective, n_trials=1)
    assert len(set(_params(a))) == 6


def test_a_fresh_study_with_the_same_seed_draws_the_same_settings() -> None:
    one = _run(optuna.storages.InMemoryStorage(), 10, create=True)  # start-up trials and TPE
    two = _run(optuna.storages.InMemoryStorage(), 10, create=True)
    assert _params(one) == _params(two)
    other = optuna.create_study(sampler=TrialSeededSampler(4))
    other.optimize(_objective, n_trials=2)
    assert _params(other) != _params(one)[:2]
