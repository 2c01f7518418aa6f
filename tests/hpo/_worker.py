"""Subprocess entry points for the hpo tests (real processes, real storages).

python tests/hpo/_worker.py optimize --project DIR | --url URL --study S --total N --out F
        [--marker M --go G]
    Optimizes a trivial objective until the study holds N COMPLETE trials; writes one JSON
    line {"number", "value"} per trial it completed to F. With --go: writes M once loaded and
    waits for G to exist before starting (so that several workers start together).
python tests/hpo/_worker.py hang --project DIR | --url URL --study S --marker F [--set-worker]
    Starts one trial in study.optimize (or with --ask: ask + fts.hpo.stale.heartbeat), user attr
    `worker` set with --set-worker, writes its number to F, then sleeps until killed.
python tests/hpo/_worker.py read --project DIR --stop F --out F2
    Counts hpo_trials rows with Project.sql until F exists; writes {"ok", "errors"} to F2.
python tests/hpo/_worker.py append --project DIR --tag T --batches K --size B
    Appends K batches of B raw logs through the journal backend.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere

import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from fts.core.paths import ProjectPaths  # noqa: E402
from fts.hpo import study_storage, worker_tag  # noqa: E402
from fts.hpo.stale import heartbeat  # noqa: E402


def _storage(args: argparse.Namespace) -> optuna.storages.BaseStorage:
    if args.url:
        return study_storage(ProjectPaths(Path(args.project or ".")), args.url,
                             heartbeat_interval=args.heartbeat)
    return study_storage(ProjectPaths(Path(args.project)))


def optimize(args: argparse.Namespace) -> None:
    study = optuna.load_study(study_name=args.study, storage=_storage(args),
                              sampler=optuna.samplers.RandomSampler())
    out = Path(args.out)

    def objective(trial: optuna.Trial) -> float:
        # MaxTrialsCallback stops a worker after a trial; another worker may already have
        # started one more, so the trial number (unique, from the storage) is the ticket that
        # makes the COMPLETE count exact: numbers from `total` on are surplus.
        if trial.number >= args.total:
            trial.study.stop()
            raise optuna.TrialPruned("budget reached")
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_categorical("act", ["relu", "gelu"])
        trial.set_user_attr("pid", os.getpid())
        time.sleep(args.sleep)
        return x

    def record(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state == TrialState.COMPLETE:
            with out.open("a") as f:
                f.write(json.dumps({"number": trial.number, "value": trial.value}) + "\n")

    if args.go:  # start together: write the marker, wait for the go file
        Path(args.marker).write_text("ready")
        while not Path(args.go).exists():
            time.sleep(0.01)
    study.optimize(objective, n_trials=10 * args.total, callbacks=[
        record, optuna.study.MaxTrialsCallback(args.total, states=(TrialState.COMPLETE,))])


def hang(args: argparse.Namespace) -> None:
    storage = _storage(args)
    study = optuna.load_study(study_name=args.study, storage=storage)
    if args.ask:  # the ask/tell way, as `fts hpo` runs trials
        trial = study.ask()
        with heartbeat(storage, trial):
            trial.suggest_float("x", 0.0, 1.0)
            Path(args.marker).write_text(str(trial.number))
            time.sleep(600)

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0.0, 1.0)
        if args.set_worker:
            trial.set_user_attr("worker", worker_tag())
        Path(args.marker).write_text(str(trial.number))
        time.sleep(600)
        return 0.0

    # optimize, not ask: Optuna's heartbeat thread only runs inside optimize.
    study.optimize(objective, n_trials=1)


def read(args: argparse.Namespace) -> None:
    from fts.project import Project

    ok, errors, counts = 0, [], []
    while not Path(args.stop).exists():
        try:
            counts.append(Project(args.project).sql("select count(*) from hpo_trials")
                          .column(0)[0].as_py())
            ok += 1
        except Exception as exc:  # noqa: BLE001 - reported to the test
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.05)
    Path(args.out).write_text(json.dumps({"ok": ok, "errors": errors, "counts": counts}))


def append(args: argparse.Namespace) -> None:
    from fts.hpo.journal import DuckDBJournalBackend

    backend = DuckDBJournalBackend(ProjectPaths(Path(args.project)).warehouse)
    for b in range(args.batches):
        backend.append_logs([{"op_code": 3, "worker_id": args.tag, "study_id": -1,
                              "system_attr": {"tag": args.tag, "batch": b, "i": i}}
                             for i in range(args.size)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["optimize", "hang", "read", "append"])
    parser.add_argument("--project")
    parser.add_argument("--url")
    parser.add_argument("--study")
    parser.add_argument("--total", type=int, default=10)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--out")
    parser.add_argument("--marker")
    parser.add_argument("--stop")
    parser.add_argument("--go")
    parser.add_argument("--tag", default="w")
    parser.add_argument("--set-worker", action="store_true")
    parser.add_argument("--ask", action="store_true")
    parser.add_argument("--heartbeat", type=int, default=None)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--size", type=int, default=3)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    {"optimize": optimize, "hang": hang, "read": read, "append": append}[args.mode](args)


if __name__ == "__main__":
    main()
