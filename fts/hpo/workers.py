"""Which process owns a RUNNING trial, and failing the trials of processes that died.

Each trial records `worker` = "host:pid:start-time" when it starts. A RUNNING trial whose
worker is on this host and no longer alive (or whose pid now belongs to a process started at
another time) was killed: it is marked FAIL with that reason, so the study can finish with the
requested number of finished trials. Trials of workers on other hosts are left alone.
"""

from __future__ import annotations

import os
import socket

import optuna
import psutil
from optuna.trial import TrialState


def _start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def worker_id() -> str:
    """This process's identity: host, pid and start time (pids get reused)."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid):.3f}"


def is_dead(worker: str) -> bool:
    """True when `worker` ran on this host and that process no longer exists."""
    try:
        host, pid, started = worker.rsplit(":", 2)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    now = _start_time(int(pid))
    return now is None or f"{now:.3f}" != started


def fail_dead_workers(study: optuna.Study) -> list[int]:
    """Mark RUNNING trials of dead local workers FAIL with a reason; return their numbers."""
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker", "")
        if worker and is_dead(worker):
            storage = study._storage
            storage.set_trial_user_attr(
                t._trial_id, "fail_reason",
                f"worker {worker} died while the trial was running (killed or crashed)")
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            failed.append(t.number)
    return failed
