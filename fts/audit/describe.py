"""One-line descriptions of manifests, for chains and reports."""

from __future__ import annotations

import json
from typing import Any


def summarize(body: dict[str, Any]) -> str:
    """One line of what a manifest is (rows, dates, version, metrics, file)."""
    try:
        return _summarize(body)
    except (AttributeError, KeyError, TypeError, ValueError):  # an odd body is still audited
        return f"{body.get('kind')} {body.get('name')}"


def _summarize(body: dict[str, Any]) -> str:
    kind = body.get("kind")
    outs = body.get("outputs") or []
    path = outs[0].get("path") if outs else None
    if kind == "raw":
        return (f"{body.get('row_count')} rows {body.get('first_date')}..{body.get('last_date')}, "
                f"source {body.get('source_kind')}")
    if kind == "tier":
        if body.get("layout") == "per_ticker":  # one file per ticker in the tier folder
            path = f"{len(outs)} ticker file(s) in data/tiers/{body.get('tier')}"
        return f"v{body.get('version')}, {body.get('row_count')} rows, {path}"
    if kind == "dataset":
        counts = ", ".join(f"{k}={v.get('samples')}" for k, v in (body.get("counts") or {}).items())
        return f"{body.get('name')}, {counts}, {path}"
    if kind == "run":
        metrics = body.get("test_metrics") or body.get("val_metrics") or {}
        which = "test" if body.get("test_metrics") else "val"
        shown = ", ".join(f"{k} {metrics[k]:.4f}" for k in ("roc_auc", "log_loss")
                          if isinstance(metrics.get(k), int | float))
        trial = (f", study {body.get('study')} trial {body.get('trial_number')}"
                 if body.get("study") else "")
        return f"{body.get('purpose')}{trial}, {which} {shown or json.dumps(metrics)[:60]}, {path}"
    if kind == "baseline":
        loss = (body.get("test_metrics") or {}).get("log_loss")
        shown = f", test log_loss {loss:.4f}" if isinstance(loss, int | float) else ""
        return f"{body.get('model')} seed {body.get('seed')}{shown}, {body.get('baseline_id')}"
    if kind == "study":
        best = body.get("best_trial") or {}
        shown = (f"best trial {best.get('number')} val log-loss {best['value']:.4f}"
                 if isinstance(best.get("value"), int | float) else "no complete trial")
        return f"{body.get('n_trials')} finished trials, {shown}"
    return f"{kind} {body.get('name')}" + (f", {path}" if path else "")
