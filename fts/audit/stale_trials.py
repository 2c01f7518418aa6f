"""Warnings for hyper-parameter trials shown RUNNING whose worker has gone silent.

A SIGKILLed worker leaves its trial RUNNING until a process opens the study and fails it
(fts.hpo.stale). The audit only reads: it reports each such trial as a warning (not tampering:
exit status 0), with how long it has been silent, read from the `hpo_trials` view.
"""

from __future__ import annotations

from fts.audit.findings import WARNING, Issue
from fts.core.paths import ProjectPaths
from fts.hpo.views import HEARTBEAT_GRACE_S, create_hpo_views
from fts.warehouse import connect


def stale_trial_warnings(paths: ProjectPaths) -> list[Issue]:
    """One warning per RUNNING trial not heard from for longer than the grace period."""
    with connect(paths.warehouse, read_only=True, session_views=False) as con:
        create_hpo_views(con)
        rows = con.execute(
            """SELECT study, number, heartbeat_age_s FROM hpo_trials
               WHERE stale ORDER BY study, number""").fetchall()
    return [
        Issue(code="trial_stale", kind="study", name=study, severity=WARNING,
              message=(f"study {study}: trial {number} is RUNNING but its worker has been "
                       f"silent for {age:.0f}s (grace period {HEARTBEAT_GRACE_S}s), most "
                       f"likely dead; `fts hpo show {study}` or the next `fts hpo` on the "
                       "study marks it FAIL"))
        for study, number, age in rows
    ]
