"""`fts report NAME`: a Markdown report with PNG figures under data/reports/NAME/, computed only
from stored results (SQL over the warehouse), with the manifests each number came from.

A cell's prediction for the test-metric, calibration and cell-comparison tables is the mean of
its seeds' probabilities (the seed ensemble); the scaling figure, the fits and the baseline
tests use every seed's own loss. The numbers behind the per-target blocks are in report.json
(`fts report NAME --json`).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from fts.core.hashing import sha256_file
from fts.core.manifest import Manifest
from fts.core.paths import ProjectPaths
from fts.report.bootstrap import block_bootstrap_ci
from fts.report.data import ReportData, load_report_data
from fts.report.diagnostics import write_diagnostics
from fts.report.figures import calibration_figure, scaling_figure
from fts.report.html import render_html
from fts.report.numbers import (
    JOINT_N_BOOT,
    baseline_frames,
    cell_ensembles,
    cells_with_channels,
    report_numbers,
)
from fts.report.provenance import current_reports, provenance_lines, report_inputs
from fts.report.stats import calibration_table, holm_labels, paired_bootstrap_test
from fts.report.target_md import target_sections
from fts.warehouse import connect
from fts.warehouse.publish import Publication, project_lock, temp_path

METRICS = ("roc_auc", "pr_auc", "brier", "log_loss")
N_BOOT = 500
#: The one baseline drawn beside the cells in the calibration plot (every target of it).
CALIBRATION_BASELINE = "logistic_regression"


def _ensemble(data: ReportData, split: str) -> dict[str, pd.DataFrame]:
    """Per cell (and per baseline), the seed-mean probability of each test sample."""
    out = cell_ensembles(data, split)
    frames = baseline_frames(data, split)
    for b in data.baselines.itertuples():
        if b.baseline_id in frames:
            out[f"{b.tier}:baseline:{b.model}:h{b.horizon}:p{b.threshold_pct:g}"] = (
                frames[b.baseline_id])
    return out


def calibration_models(names: list[str]) -> list[str]:
    """The curves of the calibration plot: every cell, and the CALIBRATION_BASELINE of each
    tier and target (keys `TIER:baseline:MODEL:hH:pP`)."""
    return [n for n in names if ":baseline:" not in n
            or n.split(":baseline:", 1)[1].split(":")[0] == CALIBRATION_BASELINE]


def _fmt_ci(ci) -> str:
    if ci.lo != ci.lo:  # NaN bounds: the bootstrap could not make an interval
        return f"{ci.estimate:.4f} (no interval: {ci.warning})"
    flag = " †" if ci.warning else ""
    return f"{ci.estimate:.4f} [{ci.lo:.4f}, {ci.hi:.4f}]{flag}"


def _metric_table(ens: dict[str, pd.DataFrame]) -> list[str]:
    lines = ["| model | n | positives | " + " | ".join(METRICS) + " |",
             "|---|---|---|" + "---|" * len(METRICS)]
    for name, frame in ens.items():
        y, p, d = frame["label"].to_numpy(), frame["prob"].to_numpy(), frame["date"].to_numpy()
        cis = [block_bootstrap_ci(y, p, d, m, n_boot=N_BOOT, seed=0) for m in METRICS]
        lines.append(f"| {name} | {len(frame)} | {int(y.sum())} | "
                     + " | ".join(_fmt_ci(c) for c in cis) + " |")
    return lines


def _comparisons(data: ReportData, ens: dict[str, pd.DataFrame]) -> list[str]:
    """Paired tests of tiers (same budget, target and channel mode), budgets (same tier, target
    and channel mode) and channel modes (same tier, budget and target) on test log-loss,
    Holm-corrected over the whole family."""
    cells = cells_with_channels(data)
    pairs = []
    for family, keys in (("tiers", ["budget", "horizon", "threshold_pct", "channels"]),
                         ("budgets", ["tier", "horizon", "threshold_pct", "channels"]),
                         ("channels", ["tier", "budget", "horizon", "threshold_pct"])):
        for _, group in cells.groupby(keys):
            pairs += [(family, a, b) for a, b in itertools.combinations(group["cell"], 2)]
    if not pairs:
        return ["No comparisons: the experiment has a single cell."]
    results, names = [], []
    for family, a, b in pairs:
        merged = ens[a].merge(ens[b], on=["date", "ticker"], suffixes=("_a", "_b"))
        r = paired_bootstrap_test(merged["label_a"].to_numpy(), merged["prob_a"].to_numpy(),
                                  merged["prob_b"].to_numpy(), merged["date"].to_numpy(),
                                  "log_loss", n_boot=N_BOOT, seed=0)
        results.append((family, a, b, len(merged), r))
        names.append(f"{a} vs {b}")
    holm = holm_labels([r.p_value for *_, r in results], names)
    lines = ["| compared | a | b | samples | log-loss a - b [95 % CI] | p | Holm p | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for (family, a, b, n, r), h in zip(results, holm, strict=True):
        lines.append(f"| {family} | {a} | {b} | {n} | {r.diff:+.4f} [{r.lo:+.4f}, {r.hi:+.4f}] | "
                     f"{r.p_value:.3f} | {h.adjusted_p:.3f} | {h.label} |")
    warnings = [f"- {a} vs {b}: {r.warning}" for _, a, b, _, r in results if r.warning]
    return lines + ([""] + warnings if warnings else [])


def _balance(data: ReportData) -> list[str]:
    lines = ["| dataset | tier | target | split | samples | positives | rate |",
             "|---|---|---|---|---|---|---|"]
    for did, body in data.datasets.items():
        for split, n in body["counts"].items():
            pos = body.get("positives", {}).get(split)
            if pos is None and isinstance(n, dict):
                n, pos = n.get("samples"), n.get("positives")
            rate = f"{pos / n:.3f}" if n and pos is not None else "-"
            lines.append(f"| {did[:12]} | {body['tier']['name']} | {body['name']} | {split} | "
                         f"{n} | {pos} | {rate} |")
    return lines


def write_report(paths: ProjectPaths, name: str,
                 progress: Callable[[str], None] = lambda _: None, *, n_boot: int = N_BOOT,
                 html: bool = False) -> Path:
    """Compute and write the report; returns the path of report.md (its numbers are in
    report.json beside it, `fts.report.numbers.report_numbers`). With `html`, also
    report.html: the same report as one self-contained page (`fts.report.html`)."""
    data = load_report_data(paths, name)
    final = paths.reports_data / name
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final)  # named by this process, so `fts gc` leaves it alone while it runs
    tmp.mkdir()
    try:
        progress(f"report {name}: {len(data.cells)} cells, {len(data.runs)} final runs")
        numbers = report_numbers(data, n_boot=n_boot, n_boot_joint=min(n_boot, JOINT_N_BOOT),
                                 progress=progress)
        (tmp / "report.json").write_text(json.dumps(numbers, indent=2, allow_nan=False) + "\n",
                                         encoding="utf-8")
        scaling_figure(numbers, tmp / "scaling.png")
        ens = _ensemble(data, "test")
        calib = {k: calibration_table(ens[k]["label"], ens[k]["prob"], n_bins=8)
                 for k in calibration_models(list(ens))}
        calibration_figure(calib, tmp / "calibration.png")
        md = [f"# Experiment `{name}`", "",
              "Every number below is computed from stored runs (SQL over the warehouse); the "
              "manifests they came from are listed at the end.", "",
              "## Scaling, one block per target", ""]
        md += target_sections(numbers)
        md += ["", "## Test metrics with 95 % date-block bootstrap intervals", "",
               "Cells use the mean probability of their seeds; baselines use the same windows "
               "and labels (the latest row of each window).", ""]
        table = _metric_table(ens)
        md += table
        if any("†" in line for line in table):
            md += ["", "† the interval rests on few date blocks (fewer than 10): read it as rough."]
        md += ["", "## Paired comparisons (test log-loss, Holm-corrected)", ""]
        md += _comparisons(data, ens)
        md += ["", "## Class balance per split", ""] + _balance(data)
        md += ["", "## Calibration", "",
               "Test split, 8 equal-count bins: each point with its exact 95 % interval on the "
               "observed rate (bins treated as independent samples, so a lower bound on the "
               "real uncertainty); the lower panel is the number of samples in each bin.", "",
               "![calibration](calibration.png)", ""]
        md += write_diagnostics(paths, data, tmp)
        md += ["## Provenance", ""] + provenance_lines(data)
        text = "\n".join(md) + "\n"
        (tmp / "report.md").write_text(text, encoding="utf-8")
        if html:
            (tmp / "report.html").write_text(render_html(text, tmp, f"Experiment {name}"),
                                             encoding="utf-8")
        outputs = [{"path": f"data/reports/{name}/{p.name}", "sha256": sha256_file(p)}
                   for p in sorted(tmp.iterdir())]
        # Under the lock, so that a report written at the same time cannot slip in between.
        with project_lock(paths), Publication(paths) as pub:
            with connect(paths.warehouse, read_only=True, project_root=paths.root) as con:
                # The files of the reports it replaces are overwritten: they are superseded.
                supersedes = current_reports(con, name)
            manifest = Manifest.create(kind="report", name=name, version=1,
                                       inputs=report_inputs(data), experiment=name,
                                       outputs=outputs, supersedes=supersedes)
            staged = [pub.stage(o["path"], lambda t, f=tmp / Path(o["path"]).name: os.replace(f, t))
                      for o in outputs]
            pub.commit([(manifest, staged)])
            if not html:
                # An earlier --html page belongs to a report this one superseded: removed, so
                # no page older than report.md sits beside it (the audit skips superseded
                # reports' files, which later reports overwrite anyway).
                (final / "report.html").unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final / "report.md"
