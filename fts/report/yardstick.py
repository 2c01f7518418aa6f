"""Baselines as the yardstick: every cell is tested against the class prior and the best
baseline of its target on the same test samples, and the family is Holm-corrected.

Each test is the paired date-block bootstrap of `fts.report.stats.paired_bootstrap_test`
(calendar months of test dates resampled, both models scored on every resample) on the cell's
seed ensemble and the baseline's stored test predictions, joined on (date, ticker). The
"best baseline" of a target is the non-prior baseline with the lowest test metric on those
samples: picking it on the test split makes the yardstick as hard to beat as the test can show,
which errs against claiming that a model beats it. The Holm correction runs over every baseline
test of the report at once (statsmodels' `multipletests`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from fts.report.bootstrap import get_metric, jsonable
from fts.report.stats import paired_bootstrap_test

PRIOR = "class_prior"
FAMILY_ALPHA = 0.05


@dataclass(frozen=True)
class BaselineTest:
    """One cell against one baseline: difference cell - baseline of the test metric."""

    cell: str
    baseline: str  # the baseline's model name
    role: str  # "class prior" or "best baseline"
    metric: str
    cell_value: float
    baseline_value: float
    difference: float
    lo: float
    hi: float
    p: float
    n_samples: int
    p_holm: float = math.nan
    verdict: str = "not tested"  # "cell better", "baseline better", "no significant difference"
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["interval"] = [d.pop("lo"), d.pop("hi")]
        return jsonable(d)


def best_baseline(frames: dict[str, pd.DataFrame], metric: str = "log_loss") -> str | None:
    """The non-prior baseline with the best test `metric` (None when there is none)."""
    m = get_metric(metric)
    scores = {name: m(f["label"], f["prob"]) for name, f in frames.items() if name != PRIOR}
    scores = {k: v for k, v in scores.items() if not math.isnan(v)}
    if not scores:
        return None
    pick = max if m.higher_is_better else min
    return pick(scores, key=scores.__getitem__)


def compare_with(cell: str, ensemble: pd.DataFrame, name: str, role: str, frame: pd.DataFrame,
                 metric: str, n_boot: int, seed: int) -> BaselineTest:
    """The paired test of a cell's seed ensemble against one baseline on their shared samples."""
    merged = ensemble.merge(frame, on=["date", "ticker"], suffixes=("_c", "_b"))
    r = paired_bootstrap_test(merged["label_c"].to_numpy(), merged["prob_c"].to_numpy(),
                              merged["prob_b"].to_numpy(), merged["date"].to_numpy(), metric,
                              n_boot=n_boot, seed=seed)
    return BaselineTest(cell, name, role, metric, r.estimate_a, r.estimate_b, r.diff, r.lo, r.hi,
                        r.p_value, len(merged), warning=r.warning)


def target_tests(cells: dict[str, pd.DataFrame], baselines: dict[str, pd.DataFrame],
                 metric: str = "log_loss", n_boot: int = 500, seed: int = 0) -> list[BaselineTest]:
    """Every cell of one target against the class prior and the best baseline (not Holm-adjusted:
    `adjust` does that over the whole report's family)."""
    yardsticks = []
    if PRIOR in baselines:
        yardsticks.append((PRIOR, "class prior"))
    best = best_baseline(baselines, metric)
    if best is not None:
        yardsticks.append((best, "best baseline"))
    return [compare_with(cell, ens, name, role, baselines[name], metric, n_boot, seed)
            for cell, ens in cells.items() for name, role in yardsticks]


def holm_adjusted(p_values: list[float], alpha: float = FAMILY_ALPHA) -> list[tuple[float, bool]]:
    """(Holm-adjusted p, reject) per p-value, by statsmodels' `multipletests`; a NaN p (a test
    that could not be made) stays out of the family and comes back as (NaN, False)."""
    p = np.asarray(p_values, dtype=float)
    tested = ~np.isnan(p)
    adjusted, reject = np.full(p.size, math.nan), np.zeros(p.size, dtype=bool)
    if tested.any():
        # One call per report: multipletests runs gc.collect() on every Holm call.
        reject[tested], adjusted[tested] = multipletests(p[tested], alpha=alpha,
                                                         method="holm")[:2]
    return [(float(a), bool(r)) for a, r in zip(adjusted, reject, strict=True)]


def adjust(tests: list[BaselineTest], alpha: float = FAMILY_ALPHA) -> list[BaselineTest]:
    """Holm-adjust the p-values of the whole family and give each test its verdict."""
    adjusted = holm_adjusted([t.p for t in tests], alpha)
    out = []
    for t, (p_holm, reject) in zip(tests, adjusted, strict=True):
        higher = get_metric(t.metric).higher_is_better
        if math.isnan(p_holm):
            verdict = "not tested"
        elif not reject:
            verdict = "no significant difference"
        else:
            verdict = "cell better" if (t.difference > 0) == higher else "baseline better"
        out.append(replace(t, p_holm=p_holm, verdict=verdict))
    return out


def summary(tests: list[BaselineTest], alpha: float = FAMILY_ALPHA,
            family: int | None = None) -> list[str]:
    """In words: which cells beat the class prior and the best baseline, after Holm over a
    family of `family` tests (default: `tests` themselves)."""
    family = len(tests) if family is None else family
    lines = []
    for role in ("class prior", "best baseline"):
        group = [t for t in tests if t.role == role]
        if not group:
            lines.append(f"No cell could be tested against the {role} (none stored).")
            continue
        metric = group[0].metric.replace("_", "-")
        holm_note = f"Holm-adjusted p < {alpha:g} over {family} baseline tests"
        wins = sorted({t.cell for t in group if t.verdict == "cell better"})
        cells = sorted({t.cell for t in group})
        if not wins:
            lines.append(f"No PatchTST cell beats the {role} on test {metric} ({holm_note}); "
                         f"{len(cells)} cell(s) tested.")
        else:
            lines.append(f"{len(wins)} of {len(cells)} cell(s) beat the {role} on test "
                         f"{metric} ({holm_note}): {', '.join(wins)}.")
        losses = sorted({t.cell for t in group if t.verdict == "baseline better"})
        if losses:
            lines.append(f"The {role} is significantly better than {len(losses)} of "
                         f"{len(cells)} cell(s): {', '.join(losses)}.")
    return lines
