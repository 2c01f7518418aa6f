"""Benchmark: per-trial overhead of `fts hpo` (Optuna ask/tell, the DuckDB journal storage, the
heartbeat, trial attributes) against running the same trainer directly, in the same run.

Each trial of a small study is timed twice from the inside: the whole trial (`_run_trial`) and
the trainer calls it makes (`run_training`, one per walk-forward fold of the dataset). Then the trainer is run again directly, outside any
study, on exactly the requests the trials made. Printed: mean trial time, mean direct trainer
time, the overhead per trial in seconds, and that overhead as a share of a one-minute trial
(targets: under 1 s absolute and under 2 % of a one-minute trial).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import time
from typing import Any

from _common import sample_project

import fts.hpo.search as search
from fts.hpo.study import StudySpec
from fts.project import Project
from fts.train.run import run_training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tier", default="a20")
    parser.add_argument("--budget", default="20K")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--ctx", type=int, default=32)
    args = parser.parse_args()

    root = sample_project()
    project = Project(root)
    project.build_tier(args.tier)
    paths = project.paths
    spec = StudySpec(tier=args.tier, budget=args.budget, horizon=1, threshold_pct=1.0,
                     ctx_len=args.ctx, max_epochs=args.epochs, patience=args.epochs,
                     name="bench-overhead")

    trial_times: list[float] = []
    train_times: list[float] = []
    calls: list[tuple[Any, Any]] = []  # (request, dataset) of each trial's trainer calls
    per_trial: list[slice] = []  # the calls of each trial (one per fold)
    real_run_trial, real_run_training = search._run_trial, search.run_training

    def timed_trial(*a: Any, **kw: Any) -> Any:
        t0, first = time.perf_counter(), len(calls)
        try:
            return real_run_trial(*a, **kw)
        finally:
            trial_times.append(time.perf_counter() - t0)
            per_trial.append(slice(first, len(calls)))

    def timed_training(p: Any, request: Any, **kw: Any) -> Any:
        calls.append((request, kw.get("dataset")))
        t0 = time.perf_counter()
        try:
            return real_run_training(p, request, **kw)
        finally:
            train_times.append(time.perf_counter() - t0)

    search._run_trial, search.run_training = timed_trial, timed_training
    try:
        t0 = time.perf_counter()
        outcome = search.run_study(paths, spec, args.trials, show_bar=False)
        t_study = time.perf_counter() - t0
    finally:
        search._run_trial, search.run_training = real_run_trial, real_run_training

    # The reference: the same trainer on the same requests and dataset, called directly (no
    # study); without the dataset each direct run would redo the tier and dataset checks.
    direct_times = []
    for request, dataset in calls:
        t0 = time.perf_counter()
        run_training(paths, dataclasses.replace(request, purpose="train", study=None,
                                                trial_number=None), dataset=dataset)
        direct_times.append(time.perf_counter() - t0)

    mean_trial = statistics.fmean(trial_times)
    mean_direct = statistics.fmean(sum(direct_times[s]) for s in per_trial)
    inside = statistics.fmean(t - sum(train_times[s])
                              for t, s in zip(trial_times, per_trial, strict=True))
    against_direct = mean_trial - mean_direct
    study_setup = t_study - sum(trial_times)
    print(f"study {spec.name}: {outcome.finished} finished trials of {args.tier} {args.budget}, "
          f"{args.epochs} epochs each")
    print(f"  mean trial in the study        {mean_trial:8.3f} s")
    print(f"  mean direct trainer run        {mean_direct:8.3f} s   "
          f"ratio trial / direct {mean_trial / mean_direct:5.3f}x")
    print(f"  overhead per trial, measured inside the trial   {inside:7.3f} s")
    print(f"  overhead per trial, trial - direct run          {against_direct:7.3f} s  (target < 1 s)")
    worst = max(inside, against_direct)
    print(f"  as a share of a one-minute trial                {100 * worst / 60:7.2f} %  (target < 2 %)")
    print(f"  once per study (dataset, open study, stale check) {study_setup:5.3f} s")
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
