"""No phantom RUNNING (issue 13, item 8): a trial whose heartbeat is older than the grace period
is shown stale, with its age, by `hpo_trials`, and failed by any process that opens the study
(`fts hpo show` included); a trial whose worker beats stays RUNNING."""

from __future__ import annotations

import json
import time
from pathlib import Path

import optuna

from fts.core.paths import ProjectPaths
from fts.hpo import journal_storage
from fts.hpo.stale import heartbeat
from fts.hpo.views import HEARTBEAT_GRACE_S
from fts.warehouse import connect
from tests.ingest.helpers import run_fts


def _age_trial(paths: ProjectPaths, number: int, seconds: int) -> None:
    """Make trial `number` look like another host's worker last heard from `seconds` ago."""
    with connect(paths.warehouse) as con:
        (trial_id,) = con.execute("SELECT trial_id FROM hpo_trials WHERE number = ?",
                                  [number]).fetchone()
        con.execute(
            """UPDATE hpo.journal SET written_at = written_at - to_seconds(?),
                   writer_host = 'another-host'
               WHERE seq = (SELECT seq FROM hpo.journal WHERE op_code = 4 ORDER BY seq
                            LIMIT 1 OFFSET ?)
                  OR TRY_CAST(log->>'trial_id' AS BIGINT) = ?""",
            [seconds, trial_id, trial_id])


def _trials(project: Path) -> list[dict]:
    result = run_fts(project, "sql", "select number, state, stale, heartbeat_age_s, fail_reason "
                     "from hpo_trials order by number", "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_trial_silent_past_the_grace_period_is_shown_stale_then_failed_on_open(
    paths: ProjectPaths,
):
    study = optuna.create_study(study_name="s", storage=journal_storage(paths))
    study.ask()  # trial 0: RUNNING, its worker then "dies" on another host
    study.ask()  # trial 1: RUNNING, recently heard from
    old = HEARTBEAT_GRACE_S + 3600
    _age_trial(paths, 0, old)

    rows = _trials(paths.root)
    assert [(r["number"], r["state"], r["stale"]) for r in rows] == [
        (0, "RUNNING", True), (1, "RUNNING", False)]
    assert old <= rows[0]["heartbeat_age_s"] < old + 120
    assert 0 <= rows[1]["heartbeat_age_s"] < 120

    shown = run_fts(paths.root, "hpo", "show", "s")
    assert shown.exit_code == 0, shown.output
    assert ("trial 0 was RUNNING but stale (no heartbeat for 1h 5m (grace period "
            f"{HEARTBEAT_GRACE_S}s)): marked FAIL") in shown.stdout
    assert "trial 1 was" not in shown.stdout

    rows = _trials(paths.root)
    assert [(r["number"], r["state"], r["stale"]) for r in rows] == [
        (0, "FAIL", False), (1, "RUNNING", False)]
    assert rows[0]["fail_reason"].startswith("its worker died or went silent")
    assert rows[0]["heartbeat_age_s"] is None  # only RUNNING trials have an age


def test_a_worker_that_beats_keeps_its_trial_running(paths: ProjectPaths, monkeypatch):
    import fts.hpo.stale as stale

    storage = journal_storage(paths)
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    _age_trial(paths, 0, HEARTBEAT_GRACE_S + 60)
    assert [r["stale"] for r in _trials(paths.root)] == [True]

    monkeypatch.setattr(stale, "HEARTBEAT_INTERVAL_S", 0.05)
    with heartbeat(storage, trial):
        time.sleep(0.3)
    rows = _trials(paths.root)
    assert [(r["state"], r["stale"]) for r in rows] == [("RUNNING", False)]
    assert rows[0]["heartbeat_age_s"] < 60
    shown = run_fts(paths.root, "hpo", "show", "s")
    assert shown.exit_code == 0 and "stale" not in shown.stdout


def test_the_audit_warns_about_a_stale_trial_and_still_exits_0(paths: ProjectPaths):
    study = optuna.create_study(study_name="s", storage=journal_storage(paths))
    study.ask()
    study.ask()
    _age_trial(paths, 1, HEARTBEAT_GRACE_S + 100)
    result = run_fts(paths.root, "audit")
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if "RUNNING but" in line]
    assert len(warned) == 1, result.output
    assert "study s: trial 1 is RUNNING but its worker has been silent for 4" in warned[0]
    assert f"(grace period {HEARTBEAT_GRACE_S}s)" in warned[0]
