"""Fail the RUNNING trials whose worker process died (SIGKILL, OOM killer, power cut).

A trial stays RUNNING forever if its process dies mid-trial. Before a search resumes, the
trials nobody runs any more are marked FAIL with the user attr `fail_reason`. How a RUNNING
trial is known to be dead, in order:

1. Warehouse journal: every `hpo.journal` row records the host, pid and start time of the
   process that appended it, so the process that made a trial RUNNING (created it, or popped
   it from the queue) is known without any help from the objective. On this host, the trial is
   dead when that pid no longer exists, is a zombie, or now belongs to a process started at
   another time (pid reuse). Optuna 5.0's JournalStorage has no heartbeat mechanism.
2. Any storage: a trial user attr `worker` = "HOST:PID:START" (what `fts hpo` sets first thing
   in the objective; see `worker_tag`) is judged the same way.
3. Warehouse journal, any host: a trial's worker records a heartbeat every
   HEARTBEAT_INTERVAL_S (`heartbeat`, into `hpo.heartbeats`); a RUNNING trial not heard from
   (no heartbeat, no journal op) for HEARTBEAT_GRACE_S is dead, unless its worker is on this
   host and alive (the process check wins: a beat can wait behind a long reader). `hpo_trials`
   shows the same judgement in SQL (`stale`, `heartbeat_age_s`).
4. RDBStorage created with `heartbeat_interval` (`study_storage(paths, url,
   heartbeat_interval=60)`): Optuna's heartbeat, across hosts: a trial whose heartbeat is older
   than the grace period is dead. `study.optimize` beats by itself; an ask/tell loop wraps the
   objective in `heartbeat(storage, trial)`.

A trial whose worker runs on another host and has no heartbeat is left alone: nothing here
can tell whether it is alive. `fail_stale_running_trials` runs wherever a study is opened
(`fts hpo` before each trial, `fts hpo show`), so a dead worker's trial does not stay RUNNING.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import optuna
import psutil
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from fts.core.errors import FtsError, NotFoundError
from fts.hpo.journal import DuckDBJournalBackend, writer_identity
from fts.hpo.views import HEARTBEAT_GRACE_S, HEARTBEAT_INTERVAL_S
from fts.warehouse import connect

# Start times are compared with this slack (seconds): psutil derives them from boot time and
# clock ticks, and they are stored rounded to milliseconds.
_START_SLACK_S = 1.0


@dataclass(frozen=True)
class Worker:
    """The process that runs a trial: host name, pid and process start time (epoch seconds)."""

    host: str
    pid: int
    started: float | None

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"


def this_worker() -> Worker:
    """This process."""
    return Worker(*writer_identity())


def worker_tag(worker: Worker | None = None) -> str:
    """"HOST:PID:START", the value of the trial user attr `worker` (default: this process)."""
    w = worker or this_worker()
    return f"{w.host}:{w.pid}:{w.started:.3f}"


def parse_worker_tag(tag: object) -> Worker | None:
    """The `Worker` of a "HOST:PID:START" tag, or None for anything else."""
    if not isinstance(tag, str):
        return None
    try:
        host, pid, started = tag.rsplit(":", 2)
        return Worker(host, int(pid), float(started))
    except ValueError:
        return None


def is_alive(worker: Worker) -> bool | None:
    """True/False for a process on this host; None (cannot tell) for one on another host."""
    if worker.host != socket.gethostname():
        return None
    try:
        proc = psutil.Process(worker.pid)
        status, created = proc.status(), proc.create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # exists, owned by someone else: assume it is the worker
    if status == psutil.STATUS_ZOMBIE:
        return False  # killed, not yet reaped by its parent
    return worker.started is None or abs(created - worker.started) <= _START_SLACK_S


@contextlib.contextmanager
def heartbeat(storage: BaseStorage, trial: optuna.Trial) -> Iterator[None]:
    """Keep `trial`'s Optuna heartbeat fresh while the block runs.

    The warehouse journal: a beat into `hpo.heartbeats` every HEARTBEAT_INTERVAL_S (a beat
    that cannot get the warehouse in time is skipped: the grace period spans ten of them).
    An RDBStorage with `heartbeat_interval`: Optuna's own beat (Optuna only beats inside
    `study.optimize`, not in ask/tell loops). Other storages: nothing.
    """
    backend = getattr(storage, "_backend", None)
    interval: float | None
    if isinstance(backend, DuckDBJournalBackend):
        interval = HEARTBEAT_INTERVAL_S

        def record() -> None:
            with contextlib.suppress(FtsError, duckdb.Error):
                backend.record_heartbeat(trial._trial_id, timeout=interval)  # type: ignore[attr-defined]
    else:
        interval = getattr(storage, "get_heartbeat_interval", lambda: None)()

        def record() -> None:
            storage.record_heartbeat(trial._trial_id)  # type: ignore[attr-defined]
    if interval is None:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            record()
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name="fts-hpo-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _journal_running(
    backend: DuckDBJournalBackend, study_name: str,
) -> tuple[dict[int, Worker], dict[int, float]]:
    """The RUNNING trials' workers and, for the stale ones, how long since their last sign of
    life (seconds), as the hpo_trials view replays them from the journal and heartbeats."""
    with connect(backend.path, read_only=True) as con:
        rows = con.execute(
            """SELECT number, worker_host, worker_pid, worker_started, stale, heartbeat_age_s
               FROM hpo_trials WHERE study = ? AND state = 'RUNNING'""",
            [study_name],
        ).fetchall()
    owners = {n: Worker(host, pid, started)
              for n, host, pid, started, _, _ in rows if pid is not None}
    silent = {n: float(age) for n, _, _, _, stale, age in rows if stale}
    return owners, silent


def format_age(seconds: float) -> str:
    """A duration as people say it: 45s, 12m 5s, 3h 2m."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s"
    return f"{s // 3600}h {s % 3600 // 60}m"


def _heartbeat_stale_ids(storage: BaseStorage, study_id: int) -> set[int]:
    # Optuna's BaseHeartbeat (RDBStorage): enabled when the storage has a heartbeat interval.
    interval = getattr(storage, "get_heartbeat_interval", None)
    if interval is None or interval() is None:
        return set()
    return set(storage._get_stale_trial_ids(study_id))  # type: ignore[attr-defined]


def stale_running_trials(storage: BaseStorage, study_name: str) -> dict[int, str]:
    """{trial number: why it is dead} for the RUNNING trials of `study_name` nobody runs."""
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        raise NotFoundError(f"no study named {study_name!r} in this storage") from None
    running = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
    if not running:
        return {}
    backend = getattr(storage, "_backend", None)
    owners, silent = (_journal_running(backend, study_name)
                      if isinstance(backend, DuckDBJournalBackend) else ({}, {}))
    heartbeat_stale = _heartbeat_stale_ids(storage, study_id)
    dead: dict[int, str] = {}
    for trial in running:
        worker = owners.get(trial.number) or parse_worker_tag(trial.user_attrs.get("worker"))
        alive = is_alive(worker) if worker is not None else None
        if alive is False:
            dead[trial.number] = f"worker process {worker} is gone"
        elif alive is None and trial.number in silent:
            dead[trial.number] = (f"no heartbeat for {format_age(silent[trial.number])} "
                                  f"(grace period {HEARTBEAT_GRACE_S}s)")
        elif trial._trial_id in heartbeat_stale:
            dead[trial.number] = "no heartbeat within the grace period"
    return dead


def fail_stale_running_trials(storage: BaseStorage, study_name: str, reason: str) -> list[int]:
    """Mark FAIL (user attr `fail_reason` = `reason`) the RUNNING trials whose worker died.

    Returns the numbers of the trials this call failed. Trials of live workers, or of workers
    that cannot be checked (another host, no heartbeat), are left RUNNING. Safe to run from
    several processes at once: a trial another process finished meanwhile is skipped.
    """
    dead = stale_running_trials(storage, study_name)  # NotFoundError for an unknown study
    study_id = storage.get_study_id_from_name(study_name)
    failed = []
    for number in sorted(dead):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
        try:
            storage.set_trial_user_attr(trial_id, "fail_reason", reason)
            if storage.set_trial_state_values(trial_id, TrialState.FAIL):
                failed.append(number)
        except UpdateFinishedTrialError:
            continue  # finished (or failed by another process) in the meantime
    return failed
