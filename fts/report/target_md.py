"""The report's per-target Markdown: for each target of `fts.report.numbers.report_numbers`,
its points, fits, baselines and their tests, and each cell's chosen settings."""

from __future__ import annotations

from typing import Any

from fts.report.figures import target_title
from fts.report.numbers import ARCH_KEYS, TRAIN_KEYS, fmt_interval


def _points_table(block: dict[str, Any]) -> list[str]:
    lines = ["| cell | total params | non-head params | encoder params | head params | "
             "train FLOPs / sample | seeds | test log-loss [95 % CI, dates x seeds] | "
             "search objective (selection metric, not fitted) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for p in block["points"]:
        lines.append(
            f"| {p['cell']} | {p['params']:,} | {_count(p['nonhead_params'])} | "
            f"{_count(p['encoder_params'])} | "
            f"{_count(p['head_params'])} | {_flops(p['train_flops_per_sample'])} | "
            f"{len(p['seeds'])} | {p['metric']:.4f} {fmt_interval(p['metric_ci95'])} | "
            f"{'-' if p['selection_metric'] is None else format(p['selection_metric'], '.4f')} |")
    return lines


def _count(value: Any) -> str:
    return "-" if value is None else f"{int(value):,}"


def _flops(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3g}"


def _fit_line(fit: dict[str, Any] | None, reason: str | None, axis: str) -> str:
    if not fit:
        return f"- against {axis}: no power-law fit: {reason}"
    notes = "".join(f"; note: {n}" for n in fit["notes"])
    return (f"- against {axis}: L(N) = {fit['E']:.4f} + {fit['A']:.3g}·N^-α, "
            f"α = {fit['alpha']:.3f} {fmt_interval(fit['alpha_ci95'], 3)}, "
            f"E = {fit['E']:.4f} {fmt_interval(fit['E_ci95'])}, "
            f"A = {fit['A']:.3g} {_fmt_pair(fit['A_ci95'])} "
            f"({fit['n_sizes']} sizes, {fit['n_points']} runs){notes}")


def _fmt_pair(ci: Any) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "(no interval)"
    return f"[{ci[0]:.3g}, {ci[1]:.3g}]"


def _baseline_lines(block: dict[str, Any]) -> list[str]:
    levels = ", ".join(f"{b['model']} {_num(b['metric'])} (validation {_num(b['selection_metric'])})"
                       for b in block["baselines"])
    best = block.get("best_baseline")
    lines = [f"Baselines, test log-loss on the same samples: {levels or 'none stored'}. "
             + (f"Best baseline (lowest validation log-loss, never chosen on test): {best}."
                if best else "No non-prior baseline has a validation log-loss: none is the "
                "best baseline."), ""]
    if not block["baseline_tests"]:
        return lines
    lines += ["Every cell is tested against the class prior and every non-prior baseline "
              "(the best one on validation is the headline; the others are 'other baseline'), "
              "all in one Holm family. Each test: the mean over the cell's seeds of (run − "
              "baseline) test log-loss, the quantity the fit uses; its interval resamples "
              "test-date blocks and seeds jointly, with Welch-Satterthwaite degrees of freedom "
              "for the two parts (3 seeds give the seed part 2).", "",
              "| cell | baseline | role | log-loss cell − baseline [95 % CI] | p | Holm p | "
              "verdict |", "|---|---|---|---|---|---|---|"]
    for t in block["baseline_tests"]:
        diff = "-" if t["difference"] is None else f"{t['difference']:+.4f}"
        ci = fmt_interval(t["interval"])
        p, ph = _fmt_p(t["p"]), _fmt_p(t["p_holm"])
        lines.append(f"| {t['cell']} | {t['baseline']} | {t['role']} | {diff} {ci} | {p} | "
                     f"{ph} | {t['verdict']} |")
    return lines


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _fmt_p(p: float | None) -> str:
    return "-" if p is None else "<0.001" if p < 0.001 else f"{p:.3f}"


def _settings_table(block: dict[str, Any]) -> list[str]:
    lines = ["| cell | best trial | " + " | ".join(ARCH_KEYS + TRAIN_KEYS) + " |",
             "|---|---|" + "---|" * (len(ARCH_KEYS) + len(TRAIN_KEYS))]
    for p in block["points"]:
        values = [p["architecture"].get(k) for k in ARCH_KEYS]
        values += [p["settings"].get(k) for k in TRAIN_KEYS]
        lines.append(f"| {p['cell']} | {p['best_trial']} | "
                     + " | ".join("-" if v is None else f"{v:g}" if isinstance(v, float)
                                  else str(v) for v in values) + " |")
    return lines


def target_sections(numbers: dict[str, Any]) -> list[str]:
    """One block per target: points, fits, baselines and their tests, chosen settings."""
    several = len(numbers["channel_modes"]) > 1
    md = ["Each target (tier, horizon, threshold" + (", channel mode" if several else "")
          + ") is fitted on its own: nothing is pooled across targets. Only the test "
          "log-loss is fitted; the search objective (the best trial's validation log-loss, "
          "the mean over the walk-forward folds) chose the architecture and the settings, so "
          "it is shown as the selection metric and never fitted.",
          "", f"Intervals on the points and on E, A and α cover "
          f"{numbers['targets'][0]['interval_covers']}."
          if numbers["targets"] else "", "", "**Against the baselines.** "
          + " ".join(numbers["summary"]), ""]
    if numbers.get("caveats"):  # results selected the older way, mixed in: say so first
        md += ["**Older formats mixed in.** " + " ".join(numbers["caveats"]), ""]
    md += ["![scaling](scaling.png)", ""]
    for block in numbers["targets"]:
        md += [f"### {target_title(block, several)}", "",
               f"{block['test_samples']} test samples on {block['test_dates']} dates.", ""]
        md += [" ".join(block["caveats"]), ""] if block.get("caveats") else []
        md += _points_table(block) + ["", "Power-law fits of the test log-loss:", ""]
        md += [_fit_line(block["fit"], block["reason"], "total parameters"),
               _fit_line(block["fit_nonhead"], block["reason_nonhead"],
                         "non-head parameters (total − head)"),
               _fit_line(block.get("fit_encoder"), block.get("reason_encoder"),
                         "encoder parameters (total − head − embedding; in mixed channel "
                         "mode the embedding grows with the feature count)")]
        # The blank line ends the table: a text line right after it would read as a row.
        md += [""] + _baseline_lines(block) + ["", " ".join(block.get("summary", [])), ""]
        md += ["", "Chosen architecture and settings (the search's best trial, retrained per "
               "seed):", ""] + _settings_table(block) + [""]
    return md
