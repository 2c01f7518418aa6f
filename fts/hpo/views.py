"""The session views `hpo_trials` and `hpo_studies`: Optuna's journal (`hpo.journal`) in SQL.

They are TEMP views made on every open (fts.warehouse.schema.create_session_views), so they
work on read-only connections and always match the code, and views stored in the warehouse for
other DuckDB clients (part of the schema DDL). The warehouse gets both through
fts.warehouse.view_sources, where this module registers them on import (fts/__init__ imports
it first): the warehouse layer never imports hpo. Binding them costs ~20 ms, so a
warehouse whose journal is empty gets empty views with the same columns instead (~1 ms).

hpo_trials: study, number, state (COMPLETE/FAIL/PRUNED/RUNNING/WAITING), params (JSON, real
  values: categorical indexes decoded), value (first objective), user_attrs (JSON), n_params,
  dataset_manifest_id, duration_s, epochs_run, best_epoch, fail_reason (from user attrs),
  values (JSON list), started_at / completed_at (UTC), trial_id, and worker_host / worker_pid /
  worker_started: the process that made the trial RUNNING (NULL for synced copies);
  heartbeat_at (UTC): the last sign of life of the trial (its latest journal op or worker
  heartbeat, `hpo.heartbeats`); heartbeat_age_s: seconds since then, for RUNNING trials;
  stale: TRUE for a RUNNING trial not heard from for HEARTBEAT_GRACE_S (its worker is most
  likely dead: any process that opens the study marks it FAIL, see fts.hpo.stale).
hpo_studies: study, direction, tier, budget, horizon, threshold (user attr `threshold_pct`),
  dataset_manifest_id (from the study's user attrs), user_attrs (JSON), n_trials, n_complete,
  n_pruned, n_fail, n_running, n_waiting, best_value (best COMPLETE value, single objective),
  created_at.
"""

from __future__ import annotations

import enum
import json
from typing import Any

import duckdb

from fts.warehouse.view_sources import ViewSource, register_view_source


class OP(enum.IntEnum):
    """Optuna's journal op codes (optuna.storages.journal._storage.JournalOperation): an
    on-disk format, so stable; kept here, in one place, rather than imported from a private
    module (a test compares them with Optuna's). The views below and fts.hpo.journal /
    fts.hpo.sync use these names, never the numbers."""

    CREATE_STUDY = 0
    DELETE_STUDY = 1
    SET_STUDY_USER_ATTR = 2
    SET_STUDY_SYSTEM_ATTR = 3
    CREATE_TRIAL = 4
    SET_TRIAL_PARAM = 5
    SET_TRIAL_STATE_VALUES = 6
    SET_TRIAL_INTERMEDIATE_VALUE = 7
    SET_TRIAL_USER_ATTR = 8
    SET_TRIAL_SYSTEM_ATTR = 9
    DISCARD_TRIALS = 10

#: A running trial's worker records a heartbeat this often (seconds; fts.hpo.stale.heartbeat).
HEARTBEAT_INTERVAL_S = 30
#: A RUNNING trial not heard from for this long is stale: ten missed beats, so a worker whose
#: beats wait for a reader holding the warehouse for a few minutes is not declared dead.
HEARTBEAT_GRACE_S = 300

# `hpo_trials` and `hpo_studies` replay Optuna's journal (optuna/storages/journal/_storage.py,
# JournalStorageReplayResult) in SQL, so they can never disagree with it:
# - a CREATE_STUDY (op 0) succeeds when no live study has that name; study ids count the
#   successful ones. DELETE_STUDY (1) ends a study. Both need the ops in order: a recursive CTE.
# - a CREATE_TRIAL (4) counts when its study is live; trial ids count those over the whole
#   journal, trial numbers within the study.
# - trial ops (5 param, 6 state/values, 8 user attr) apply from the trial's creation until the
#   op that finishes it (state COMPLETE 1 / PRUNED 2 / FAIL 3); later ones are ignored. A second
#   RUNNING (0) op on a trial lost the race to pop a WAITING (4) trial and is ignored.
# Categorical params are stored as an index into the distribution's choices: decoded here.
# One divergence: Optuna also drops a SET_TRIAL_PARAM whose distribution conflicts with an
# earlier trial's (the worker gets an error and the trial fails); the view still shows the value.
_HPO_CTES = """
study_ops AS (
    SELECT row_number() OVER (ORDER BY seq) AS rn, seq, op_code,
           log->>'study_name' AS name, TRY_CAST(log->>'study_id' AS BIGINT) AS study_id
    FROM {src} WHERE op_code IN ({CREATE_STUDY}, {DELETE_STUDY})
),
study_replay(rn, seq, name, live, next_id, created_id, deleted_id) AS (
    SELECT 0::BIGINT, NULL::BIGINT, NULL::VARCHAR, []::STRUCT(id BIGINT, name VARCHAR)[],
           0::BIGINT, NULL::BIGINT, NULL::BIGINT
    UNION ALL
    SELECT o.rn, o.seq, o.name,
        CASE WHEN o.op_code = {CREATE_STUDY}
                  AND NOT list_contains(list_transform(r.live, lambda s: s.name), o.name)
                 THEN list_append(r.live, {{'id': r.next_id, 'name': o.name}})
             WHEN o.op_code = {DELETE_STUDY} THEN list_filter(r.live, lambda s: s.id <> o.study_id)
             ELSE r.live END,
        r.next_id + CASE WHEN o.op_code = {CREATE_STUDY}
                  AND NOT list_contains(list_transform(r.live, lambda s: s.name), o.name)
                 THEN 1 ELSE 0 END,
        CASE WHEN o.op_code = {CREATE_STUDY}
                  AND NOT list_contains(list_transform(r.live, lambda s: s.name), o.name)
                 THEN r.next_id END,
        CASE WHEN o.op_code = {DELETE_STUDY}
                  AND list_contains(list_transform(r.live, lambda s: s.id), o.study_id)
                 THEN o.study_id END
    FROM study_replay r JOIN study_ops o ON o.rn = r.rn + 1
),
spans AS (
    SELECT c.created_id AS study_id, c.name AS study, c.seq AS created_seq,
           d.seq AS deleted_seq
    FROM study_replay c LEFT JOIN study_replay d ON d.deleted_id = c.created_id
    WHERE c.created_id IS NOT NULL
)"""

_HPO_TRIALS = """CREATE OR REPLACE TEMP VIEW hpo_trials AS
WITH RECURSIVE {ctes},
created AS (
    SELECT row_number() OVER (ORDER BY j.seq) - 1 AS trial_id,
           row_number() OVER (PARTITION BY s.study_id ORDER BY j.seq) - 1 AS number,
           s.study, s.deleted_seq, j.seq AS create_seq, j.log,
           coalesce(TRY_CAST(j.log->>'state' AS INTEGER), 0) AS created_state,
           j.writer_host, j.writer_pid, j.writer_started, j.written_at
    FROM {src} j JOIN spans s ON s.study_id = TRY_CAST(j.log->>'study_id' AS BIGINT)
         AND j.seq > s.created_seq AND (s.deleted_seq IS NULL OR j.seq < s.deleted_seq)
    WHERE j.op_code = {CREATE_TRIAL}
),
trial_ops AS (
    SELECT t.trial_id, j.seq, j.op_code, j.log, TRY_CAST(j.log->>'state' AS INTEGER) AS state,
           j.writer_host, j.writer_pid, j.writer_started, j.written_at
    FROM {src} j JOIN created t ON t.trial_id = TRY_CAST(j.log->>'trial_id' AS BIGINT)
         AND j.seq > t.create_seq
    WHERE j.op_code IN ({SET_TRIAL_PARAM}, {SET_TRIAL_STATE_VALUES}, {SET_TRIAL_INTERMEDIATE_VALUE}, {SET_TRIAL_USER_ATTR}, {SET_TRIAL_SYSTEM_ATTR})
),
seen AS (
    SELECT trial_id, max(written_at) AS at FROM trial_ops GROUP BY trial_id
),
finish AS (
    SELECT trial_id, seq, state, log FROM trial_ops WHERE op_code = {SET_TRIAL_STATE_VALUES} AND state IN (1, 2, 3)
    QUALIFY row_number() OVER (PARTITION BY trial_id ORDER BY seq) = 1
),
trials AS (
    SELECT t.*,
           CASE WHEN t.created_state IN (1, 2, 3) THEN t.create_seq ELSE f.seq END AS end_seq,
           CASE WHEN t.created_state IN (1, 2, 3) THEN t.created_state ELSE f.state END
               AS end_state,
           CASE WHEN t.created_state IN (1, 2, 3) THEN t.log ELSE f.log END AS end_log
    FROM created t LEFT JOIN finish f USING (trial_id)
),
popped AS (
    SELECT o.trial_id, o.log, o.writer_host, o.writer_pid, o.writer_started
    FROM trial_ops o JOIN trials t USING (trial_id)
    WHERE o.op_code = {SET_TRIAL_STATE_VALUES} AND o.state = 0 AND t.created_state = 4
      AND (t.end_seq IS NULL OR o.seq < t.end_seq)
    QUALIFY row_number() OVER (PARTITION BY o.trial_id ORDER BY o.seq) = 1
),
applied AS (
    SELECT o.* FROM trial_ops o JOIN trials t USING (trial_id)
    WHERE o.op_code IN ({SET_TRIAL_PARAM}, {SET_TRIAL_USER_ATTR}) AND (t.end_seq IS NULL OR o.seq < t.end_seq)
),
param_rows AS (
    SELECT t.trial_id, t.create_seq AS seq, e.id AS ord, e.key AS name, e.value AS internal,
           json(t.log->'distributions'->>e.key) AS dist
    FROM trials t, json_each(t.log->'params') e
    UNION ALL
    SELECT trial_id, seq, 0, log->>'param_name', log->'param_value_internal',
           json(log->>'distribution')
    FROM applied WHERE op_code = {SET_TRIAL_PARAM}
),
params AS (
    SELECT trial_id, CAST('{{' || string_agg(to_json(name)::VARCHAR || ':' || (
        CASE WHEN dist->>'name' = 'CategoricalDistribution'
                 THEN json_extract(dist->'attributes'->'choices',
                                   '$[' || CAST(CAST(internal AS DOUBLE) AS BIGINT) || ']')
             WHEN dist->>'name' IN ('IntDistribution', 'IntUniformDistribution',
                                    'IntLogUniformDistribution')
                 THEN to_json(CAST(CAST(internal AS DOUBLE) AS BIGINT))
             ELSE internal END)::VARCHAR, ',' ORDER BY first_pos) || '}}' AS JSON) AS params
    FROM (SELECT *, min([seq, ord]) OVER (PARTITION BY trial_id, name) AS first_pos FROM param_rows
          QUALIFY row_number() OVER (PARTITION BY trial_id, name ORDER BY seq DESC) = 1)
    GROUP BY trial_id
),
attr_rows AS (
    SELECT t.trial_id, t.create_seq AS seq, e.id AS ord, e.key, e.value
    FROM trials t, json_each(t.log->'user_attrs') e
    UNION ALL
    SELECT a.trial_id, a.seq, 0, e.key, e.value
    FROM applied a, json_each(a.log->'user_attr') e WHERE a.op_code = {SET_TRIAL_USER_ATTR}
),
attrs AS (
    SELECT trial_id, CAST('{{' || string_agg(to_json(key)::VARCHAR || ':' || value::VARCHAR, ','
                                         ORDER BY first_pos) || '}}' AS JSON) AS user_attrs
    FROM (SELECT *, min([seq, ord]) OVER (PARTITION BY trial_id, key) AS first_pos FROM attr_rows
          QUALIFY row_number() OVER (PARTITION BY trial_id, key ORDER BY seq DESC) = 1)
    GROUP BY trial_id
),
shaped AS (
    SELECT t.trial_id, t.study, t.number,
        CASE coalesce(t.end_state, CASE WHEN t.created_state = 4 AND p.trial_id IS NULL
                                        THEN 4 ELSE 0 END)
            WHEN 0 THEN 'RUNNING' WHEN 1 THEN 'COMPLETE' WHEN 2 THEN 'PRUNED'
            WHEN 3 THEN 'FAIL' WHEN 4 THEN 'WAITING' END AS state,
        coalesce(pa.params, '{{}}'::JSON) AS params,
        CASE WHEN json_type(t.end_log->'values') = 'ARRAY' THEN t.end_log->'values'
             WHEN json_type(t.log->'values') = 'ARRAY' THEN t.log->'values'
             WHEN json_type(t.log->'value') IN ('DOUBLE', 'BIGINT', 'UBIGINT')
                 THEN json_array(t.log->'value') END AS "values",
        coalesce(a.user_attrs, '{{}}'::JSON) AS user_attrs,
        make_timestamp(epoch_us(TRY_CAST(coalesce(p.log->>'datetime_start',
                                                  t.log->>'datetime_start') AS TIMESTAMPTZ)))
            AS started_at,
        make_timestamp(epoch_us(TRY_CAST(t.end_log->>'datetime_complete' AS TIMESTAMPTZ)))
            AS completed_at,
        CASE WHEN t.created_state = 4 THEN p.writer_host ELSE t.writer_host END AS worker_host,
        CASE WHEN t.created_state = 4 THEN p.writer_pid ELSE t.writer_pid END AS worker_pid,
        CASE WHEN t.created_state = 4 THEN p.writer_started ELSE t.writer_started END
            AS worker_started,
        greatest(t.written_at, s.at, b.beat_at) AS heartbeat_at
    FROM trials t LEFT JOIN popped p USING (trial_id) LEFT JOIN params pa USING (trial_id)
         LEFT JOIN attrs a USING (trial_id) LEFT JOIN seen s USING (trial_id)
         LEFT JOIN {beats} b USING (trial_id)
    WHERE t.deleted_seq IS NULL
)
SELECT study, number, state, params, TRY_CAST("values"->>0 AS DOUBLE) AS value,
       user_attrs,
       TRY_CAST(user_attrs->>'n_params' AS BIGINT) AS n_params,
       user_attrs->>'dataset_manifest_id' AS dataset_manifest_id,
       (epoch_us(completed_at) - epoch_us(started_at)) / 1e6 AS duration_s,
       TRY_CAST(user_attrs->>'epochs_run' AS INTEGER) AS epochs_run,
       TRY_CAST(user_attrs->>'best_epoch' AS INTEGER) AS best_epoch,
       user_attrs->>'fail_reason' AS fail_reason,
       "values", started_at, completed_at, trial_id, worker_host, worker_pid, worker_started,
       heartbeat_at, age_s AS heartbeat_age_s,
       coalesce(age_s > {grace}, false) AS stale
FROM (SELECT *, CASE WHEN state = 'RUNNING' THEN (epoch_us(now() AT TIME ZONE 'UTC')
                                                  - epoch_us(heartbeat_at)) / 1e6 END AS age_s
      FROM shaped)"""

_HPO_STUDIES = """CREATE OR REPLACE TEMP VIEW hpo_studies AS
WITH RECURSIVE {ctes},
live AS (
    SELECT s.study_id, s.study, j.log, j.written_at
    FROM spans s JOIN {src} j ON j.seq = s.created_seq WHERE s.deleted_seq IS NULL
),
attr_rows AS (
    SELECT l.study_id, j.seq, 0 AS ord, e.key, e.value
    FROM live l JOIN {src} j ON j.op_code = {SET_STUDY_USER_ATTR}
         AND TRY_CAST(j.log->>'study_id' AS BIGINT) = l.study_id,
         json_each(j.log->'user_attr') e
),
attrs AS (
    SELECT study_id, CAST('{{' || string_agg(to_json(key)::VARCHAR || ':' || value::VARCHAR, ','
                                         ORDER BY first_pos) || '}}' AS JSON) AS user_attrs
    FROM (SELECT *, min([seq, ord]) OVER (PARTITION BY study_id, key) AS first_pos FROM attr_rows
          QUALIFY row_number() OVER (PARTITION BY study_id, key ORDER BY seq DESC) = 1)
    GROUP BY study_id
),
counts AS (
    SELECT study, count(*) AS n_trials,
           count(*) FILTER (state = 'COMPLETE') AS n_complete,
           count(*) FILTER (state = 'PRUNED') AS n_pruned,
           count(*) FILTER (state = 'FAIL') AS n_fail,
           count(*) FILTER (state = 'RUNNING') AS n_running,
           count(*) FILTER (state = 'WAITING') AS n_waiting,
           min(value) FILTER (state = 'COMPLETE') AS min_value,
           max(value) FILTER (state = 'COMPLETE') AS max_value
    FROM hpo_trials GROUP BY study
),
shaped AS (
    SELECT l.study,
           array_to_string(list_transform(TRY_CAST(l.log->'directions' AS INTEGER[]),
               lambda d: CASE d WHEN 1 THEN 'MINIMIZE' WHEN 2 THEN 'MAXIMIZE'
                                ELSE 'NOT_SET' END), ',') AS direction,
           coalesce(a.user_attrs, '{{}}'::JSON) AS user_attrs, l.written_at AS created_at,
           c.*
    FROM live l LEFT JOIN attrs a USING (study_id) LEFT JOIN counts c USING (study)
)
SELECT study, direction,
       user_attrs->>'tier' AS tier, user_attrs->>'budget' AS budget,
       TRY_CAST(user_attrs->>'horizon' AS INTEGER) AS horizon,
       TRY_CAST(user_attrs->>'threshold_pct' AS DOUBLE) AS threshold,
       user_attrs->>'dataset_manifest_id' AS dataset_manifest_id, user_attrs,
       coalesce(n_trials, 0) AS n_trials, coalesce(n_complete, 0) AS n_complete,
       coalesce(n_pruned, 0) AS n_pruned, coalesce(n_fail, 0) AS n_fail,
       coalesce(n_running, 0) AS n_running, coalesce(n_waiting, 0) AS n_waiting,
       CASE direction WHEN 'MINIMIZE' THEN min_value WHEN 'MAXIMIZE' THEN max_value END
           AS best_value,
       created_at
FROM shaped"""


TRIALS_COLUMNS = [
    ("study", "VARCHAR"), ("number", "BIGINT"), ("state", "VARCHAR"), ("params", "JSON"),
    ("value", "DOUBLE"), ("user_attrs", "JSON"), ("n_params", "BIGINT"),
    ("dataset_manifest_id", "VARCHAR"), ("duration_s", "DOUBLE"), ("epochs_run", "INTEGER"),
    ("best_epoch", "INTEGER"), ("fail_reason", "VARCHAR"), ("values", "JSON"),
    ("started_at", "TIMESTAMP"), ("completed_at", "TIMESTAMP"), ("trial_id", "BIGINT"),
    ("worker_host", "VARCHAR"), ("worker_pid", "INTEGER"), ("worker_started", "DOUBLE"),
    ("heartbeat_at", "TIMESTAMP"), ("heartbeat_age_s", "DOUBLE"), ("stale", "BOOLEAN"),
]
STUDIES_COLUMNS = [
    ("study", "VARCHAR"), ("direction", "VARCHAR"), ("tier", "VARCHAR"), ("budget", "VARCHAR"),
    ("horizon", "INTEGER"), ("threshold", "DOUBLE"), ("dataset_manifest_id", "VARCHAR"),
    ("user_attrs", "JSON"), ("n_trials", "BIGINT"), ("n_complete", "BIGINT"),
    ("n_pruned", "BIGINT"), ("n_fail", "BIGINT"), ("n_running", "BIGINT"),
    ("n_waiting", "BIGINT"), ("best_value", "DOUBLE"), ("created_at", "TIMESTAMP"),
]


_NO_BEATS = "(SELECT NULL::BIGINT AS trial_id, NULL::TIMESTAMP AS beat_at WHERE false)"


def hpo_view_statements(source: str = "hpo.journal",
                        beats: str = "hpo.heartbeats") -> list[str]:
    """The CREATE TEMP VIEW statements of `hpo_trials` and `hpo_studies` over `source` (the
    journal) and `beats` (the heartbeats table, or a query with its trial_id, beat_at)."""
    ops = {op.name: int(op) for op in OP}
    ctes = _HPO_CTES.format(src=source, **ops)
    return [view.format(ctes=ctes, src=source, beats=beats, grace=HEARTBEAT_GRACE_S, **ops)
            for view in (_HPO_TRIALS, _HPO_STUDIES)]


def empty_view_statements() -> list[str]:
    """`hpo_trials` / `hpo_studies` with their columns and no rows (nothing to replay)."""
    return [
        f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT "
        + ", ".join(f'NULL::{typ} AS "{col}"' for col, typ in columns) + " WHERE false"
        for name, columns in (("hpo_trials", TRIALS_COLUMNS), ("hpo_studies", STUDIES_COLUMNS))
    ]


def create_hpo_views(con: duckdb.DuckDBPyConnection) -> None:
    """Define `hpo_trials` and `hpo_studies` on `con` (read-only connections included)."""
    try:
        has_rows = con.execute("SELECT EXISTS (SELECT 1 FROM hpo.journal)").fetchall()[0][0]
    except duckdb.CatalogException:  # a warehouse made before hpo.journal, opened read-only
        has_rows = False
    try:  # a warehouse made before hpo.heartbeats, opened read-only: the journal alone
        con.execute("SELECT 1 FROM hpo.heartbeats LIMIT 0")
        beats = "hpo.heartbeats"
    except duckdb.CatalogException:
        beats = _NO_BEATS
    statements = hpo_view_statements(beats=beats) if has_rows else empty_view_statements()
    for stmt in statements:
        con.execute(stmt)


def finished_trial_records(con: duckdb.DuckDBPyConnection, study: str) -> list[dict[str, Any]]:
    """The finished (COMPLETE / PRUNED) trials of `study` as a study manifest records them:
    number, state, params, value and the trial's run id, by number, plus `fold_run_ids` for a
    trial that trained one model per walk-forward fold (absent otherwise, so records of older
    trials, and the hashes pinned over them, are unchanged). Read from `hpo_trials` (define it
    first: `create_hpo_views`), so the writer and `fts audit` read them alike."""
    rows = con.execute(
        """SELECT number, state, params, value, user_attrs->>'run_id',
                  user_attrs->>'fold_run_ids' FROM hpo_trials
           WHERE study = ? AND state IN ('COMPLETE', 'PRUNED') ORDER BY number""",
        [study]).fetchall()
    return [{"number": int(n), "state": s, "params": json.loads(p) if p else {}, "value": v,
             "run_id": r, **({"fold_run_ids": json.loads(f)} if f else {})}
            for n, s, p, v, r, f in rows]


def best_finished_trial(trials: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The COMPLETE trial of `finished_trial_records` with the lowest value (ties: the lowest
    number) as {number, value, params}; None when no trial completed."""
    complete = [t for t in trials if t["state"] == "COMPLETE" and t["value"] is not None]
    if not complete:
        return None
    best = min(complete, key=lambda t: (t["value"], t["number"]))
    return {"number": best["number"], "value": best["value"], "params": best["params"]}


def persistent_view_statements() -> list[str]:
    """`hpo_trials` / `hpo_studies` as views stored in the warehouse, for any DuckDB client
    (made with the schema: fts.warehouse.schema)."""
    return [stmt.replace("CREATE OR REPLACE TEMP VIEW ", "CREATE OR REPLACE VIEW main.", 1)
            for stmt in hpo_view_statements()]


register_view_source(ViewSource("hpo", persistent_view_statements, create_hpo_views))
