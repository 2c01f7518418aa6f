"""Two real worker processes on one study (warehouse journal, PostgreSQL): no duplicate or
lost trials, exactly N COMPLETE; `fts sql` keeps working while they run."""

from __future__ import annotations

import json
from pathlib import Path

import optuna

from fts.core.paths import ProjectPaths
from fts.hpo import study_storage
from fts.warehouse import connect
from tests.hpo.conftest import finish, wait_for

TOTAL = 12


def _start_together(spawn, tmp_path: Path, outs: list[Path], **where: object) -> list:
    go = tmp_path / "go"
    workers = [(spawn("optimize", study="race", total=TOTAL, out=out, sleep=0.1, go=go,
                      marker=tmp_path / f"ready{k}", **where), tmp_path / f"ready{k}")
               for k, out in enumerate(outs)]
    for proc, ready in workers:
        wait_for(ready, proc)
    go.write_text("go")
    return [proc for proc, _ in workers]


def _check_study(storage: optuna.storages.BaseStorage, outs: list[Path]) -> None:
    trials = optuna.load_study(study_name="race", storage=storage).trials
    numbers = [t.number for t in trials]
    assert numbers == list(range(len(trials)))  # unique and gap-free
    complete = {t.number: t for t in trials if t.state == optuna.trial.TrialState.COMPLETE}
    assert sorted(complete) == list(range(TOTAL))  # exactly TOTAL, the first TOTAL tickets
    # surplus trials (a worker started one while the other completed the last) are PRUNED
    assert all(t.state == optuna.trial.TrialState.PRUNED for t in trials[TOTAL:])
    assert len(trials) <= TOTAL + 1

    reported: dict[int, float] = {}
    pids = set()
    for out in outs:
        for line in (out.read_text() if out.exists() else "").splitlines():
            row = json.loads(line)
            assert row["number"] not in reported, "a trial completed by two workers"
            reported[row["number"]] = row["value"]
    assert reported == {n: t.value for n, t in complete.items()}  # nothing lost or changed
    pids = {t.user_attrs["pid"] for t in complete.values()}
    assert len(pids) == 2, "both workers ran trials"


def test_two_processes_share_a_warehouse_study(paths: ProjectPaths, tmp_path: Path,
                                               spawn) -> None:
    optuna.create_study(study_name="race", storage=study_storage(paths))
    stop = tmp_path / "stop"
    reader = spawn("read", project=paths.root, stop=stop, out=tmp_path / "reads.json")
    outs = [tmp_path / f"w{k}.jsonl" for k in range(2)]
    workers = _start_together(spawn, tmp_path, outs, project=paths.root)
    for worker in workers:
        finish(worker)
    stop.write_text("x")
    finish(reader)

    _check_study(study_storage(paths), outs)
    reads = json.loads((tmp_path / "reads.json").read_text())
    assert reads["errors"] == [] and reads["ok"] >= 1, reads
    assert reads["counts"] == sorted(reads["counts"])  # the view only ever grew
    with connect(paths.warehouse, read_only=True) as con:
        n, last = con.execute("SELECT count(*), max(seq) FROM hpo.journal").fetchall()[0]
        assert n == last + 1  # the journal has no gaps
        assert con.execute("SELECT count(*) FROM hpo_trials WHERE study = 'race' "
                           "AND state = 'COMPLETE'").fetchall() == [(TOTAL,)]


def test_two_processes_share_a_postgres_study(paths: ProjectPaths, pg_url: str,
                                              tmp_path: Path, spawn) -> None:
    optuna.create_study(study_name="race", storage=study_storage(paths, pg_url))
    outs = [tmp_path / f"w{k}.jsonl" for k in range(2)]
    workers = _start_together(spawn, tmp_path, outs, url=pg_url)
    for worker in workers:
        finish(worker)
    _check_study(study_storage(paths, pg_url), outs)
