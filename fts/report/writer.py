"""`fts report NAME`: a Markdown report with PNG figures under data/reports/NAME/, computed only
from stored results (SQL over the warehouse), with the manifests each number came from.

A cell's prediction for the interval and comparison tables is the mean of its seeds'
probabilities (the seed ensemble); the scaling figure and fit use every seed's own loss.
"""

from __future__ import annotations

import itertools
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
from fts.report.figures import calibration_figure, scaling_figure
from fts.report.provenance import current_reports, provenance_lines, report_inputs
from fts.report.scaling import fit_power_law
from fts.report.stats import calibration_table, holm_labels, paired_bootstrap_test
from fts.warehouse import connect
from fts.warehouse.publish import Publication, project_lock, temp_path

METRICS = ("roc_auc", "pr_auc", "brier", "log_loss")
N_BOOT = 500
#: The one baseline drawn beside the cells in the calibration plot (every target of it).
CALIBRATION_BASELINE = "logistic_regression"


def _ensemble(data: ReportData, split: str) -> dict[str, pd.DataFrame]:
    """Per cell (and per baseline), the seed-mean probability of each test sample."""
    preds = data.predictions[data.predictions["split"] == split]
    out: dict[str, pd.DataFrame] = {}
    for cell, runs in data.runs.groupby("cell"):
        rows = preds[preds["run_id"].isin(runs["run_id"])]
        out[cell] = rows.groupby(["date", "ticker"], as_index=False).agg(
            label=("label", "first"), prob=("prob", "mean"))
    for b in data.baselines.itertuples():
        rows = preds[preds["run_id"] == b.baseline_id]
        out[f"{b.tier}:baseline:{b.model}:h{b.horizon}:p{b.threshold_pct:g}"] = rows[
            ["date", "ticker", "label", "prob"]].reset_index(drop=True)
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
    """Paired tests of tiers (same budget and target) and budgets (same tier and target) on
    test log-loss, Holm-corrected over the whole family."""
    cells = data.cells
    pairs = []
    for _, group in cells.groupby(["budget", "horizon", "threshold_pct"]):
        pairs += [("tiers", a, b) for a, b in itertools.combinations(group["cell"], 2)]
    for _, group in cells.groupby(["tier", "horizon", "threshold_pct"]):
        pairs += [("budgets", a, b) for a, b in itertools.combinations(group["cell"], 2)]
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


def _scaling(data: ReportData, out_dir: Path) -> list[str]:
    points = pd.DataFrame({
        "tier": data.runs["tier"], "n_params": data.runs["n_params"].astype(float),
        "seed": data.runs["seed"],
        "val_log_loss": data.runs["val_metrics"].map(lambda m: m["log_loss"]),
        "test_log_loss": data.runs["test_metrics"].map(lambda m: m["log_loss"]),
    })
    fits, lines = {}, []
    for tier, group in points.groupby("tier"):
        for split in ("val", "test"):
            fit = fit_power_law(group["n_params"], group[f"{split}_log_loss"], n_boot=300, seed=0)
            fits[f"{tier}:{split}"] = fit
            if fit.ok:
                lines.append(f"- {tier}, {split}: L(N) = {fit.E:.4f} + {fit.A:.3g}·N^-α with "
                             f"α = {fit.alpha:.3f} [{fit.alpha_ci[0]:.3f}, {fit.alpha_ci[1]:.3f}]"
                             + "".join(f"; note: {n}" for n in fit.notes))
            else:
                lines.append(f"- {tier}, {split}: no power-law fit: {fit.reason}")
    scaling_figure(points, fits, out_dir / "scaling.png")
    table = points.groupby(["tier", "n_params"]).agg(
        seeds=("seed", "count"), val=("val_log_loss", "mean"), val_sd=("val_log_loss", "std"),
        test=("test_log_loss", "mean"), test_sd=("test_log_loss", "std")).reset_index()
    rows = ["| tier | real params | seeds | val log-loss (mean ± sd) | test log-loss (mean ± sd) |",
            "|---|---|---|---|---|"]
    rows += [f"| {r.tier} | {int(r.n_params):,} | {r.seeds} | {r.val:.4f} ± {r.val_sd:.4f} | "
             f"{r.test:.4f} ± {r.test_sd:.4f} |" for r in table.fillna(0).itertuples()]
    return rows + [""] + lines


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


def write_report(paths: ProjectPaths, name: str, progress: Callable[[str], None] = lambda _: None) -> Path:
    """Compute and write the report; returns the path of report.md."""
    data = load_report_data(paths, name)
    final = paths.reports_data / name
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final)  # named by this process, so `fts gc` leaves it alone while it runs
    tmp.mkdir()
    try:
        progress(f"report {name}: {len(data.cells)} cells, {len(data.runs)} final runs")
        ens = _ensemble(data, "test")
        calib = {k: calibration_table(ens[k]["label"], ens[k]["prob"], n_bins=8)
                 for k in calibration_models(list(ens))}
        calibration_figure(calib, tmp / "calibration.png")
        md = [f"# Experiment `{name}`", "",
              "Every number below is computed from stored runs (SQL over the warehouse); the "
              "manifests they came from are listed at the end.", "",
              "## Scaling: log-loss against real parameter count", "", "![scaling](scaling.png)", ""]
        md += _scaling(data, tmp)
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
        md += ["", "## Calibration", "", "![calibration](calibration.png)", ""]
        md += ["## Provenance", ""] + provenance_lines(data)
        (tmp / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")
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
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final / "report.md"
