"""Audit and lineage: prove which raw data, definitions and dataset a reported number came from.

- `audit_project(paths, *, only=None) -> AuditReport`: re-hash every artefact the manifests name
  (raw loads from the warehouse rows, tier Parquet files, dataset arrays, checkpoints, any
  `outputs[*].sha256`), check that manifest files and `meta.manifests` agree, that every input
  link still hashes to what was pinned, and that tier definitions match the version lock;
  study manifests against the Optuna journal (`hpo_trials`) and `experiments.cells`.
  Anything broken makes everything downstream `unproven`.
- `trace(paths, target) -> Chain`: one result's chain down to its raw loads, each node checked;
  `trace_trial(paths, study, n)` finds the run of an Optuna trial first.
- `column_lineage(paths, "a100.rsi_slope") -> ColumnLineage`: the raw columns and models a
  feature column is computed from, derived from the SQL (sqlglot) and the Python models' AST.
See docs/audit.md.
"""

from fts.audit.chain import Chain, ChainNode, parse_trial, trace, trace_trial
from fts.audit.engine import audit_project
from fts.audit.findings import BROKEN, MISSING, OK, UNPROVEN, AuditReport, Issue, NodeState
from fts.audit.lineage import ColumnLineage, ModelUse, column_lineage

__all__ = [
    "BROKEN",
    "MISSING",
    "OK",
    "UNPROVEN",
    "AuditReport",
    "Chain",
    "ChainNode",
    "ColumnLineage",
    "Issue",
    "ModelUse",
    "NodeState",
    "audit_project",
    "column_lineage",
    "parse_trial",
    "trace",
    "trace_trial",
]
