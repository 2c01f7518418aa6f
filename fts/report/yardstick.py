"""Baselines as the yardstick: every cell is tested against the class prior and every
non-prior baseline of its target on the same test samples (the best one on validation is the
headline), and the family is Holm-corrected.

The tested quantity is the one the scaling fit uses: the mean over the cell's seeds of each
final run's test metric, minus the baseline's. (Scoring the seed ENSEMBLE, the mean
probability, instead would test a different and, by convexity of the log-loss, never worse
quantity than the fitted points, and would leave seed variation out of the interval.) The
test rides on the joint bootstrap of `fts.report.joint`: each replicate draws one circular
block resample of the test dates, scores every final run AND the baseline on it, resamples the
cell's seeds (k of k, re-expanded), and takes the mean over the drawn seeds of the per-run
differences. The interval is the expanded percentile interval of those replicates and the
p-value the bootstrap-SE t-test of `fts.report.stats.bootstrap_p_value`, both with the number of
date blocks as the number of units and the Welch-Satterthwaite degrees of freedom of the date
and seed parts of the variance (`test_df`: with 3 seeds whose spread dominates, about 2, not
the blocks' b-1).

Every non-prior baseline is tested (role "other baseline" but for the headline one), so the
choice of the headline cannot hide a baseline that beats a cell. The "best baseline", the
headline, is the non-prior baseline with the lowest VALIDATION metric (its stored
`val_metrics`, pooled over the walk-forward folds where the study has them): choosing it on
the test split would make the test pick its own yardstick. The Holm correction
runs over every baseline test of the report at once (statsmodels' `multipletests`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from scipy.stats import t as student_t
from statsmodels.stats.multitest import multipletests

from fts.report.bootstrap import MIN_BLOCKS, get_metric, jsonable, percentile_bounds
from fts.report.joint import BLOCK_LEN, joint_points
from fts.report.stats import bootstrap_p_value, satterthwaite_df

PRIOR = "class_prior"
FAMILY_ALPHA = 0.05
LEVEL = 0.95


@dataclass(frozen=True)
class BaselineTest:
    """One cell against one baseline: mean over the cell's seeds of (run - baseline) of the
    test metric."""

    cell: str
    baseline: str  # the baseline's model name
    role: str  # "class prior", "best baseline" or "other baseline"
    metric: str
    cell_value: float  # mean over seeds of each final run's metric (the fitted point)
    baseline_value: float
    difference: float
    lo: float
    hi: float
    p: float
    n_samples: int
    n_seeds: int = 0
    p_holm: float = math.nan
    verdict: str = "not tested"  # "cell better", "baseline better", "no significant difference"
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["interval"] = [d.pop("lo"), d.pop("hi")]
        return jsonable(d)


def best_baseline(val_scores: dict[str, float | None],
                  metric: str = "log_loss") -> str | None:
    """The non-prior baseline with the best VALIDATION `metric` ({model: its stored validation
    value}); None when no non-prior baseline has one."""
    m = get_metric(metric)
    scores = {name: float(v) for name, v in val_scores.items()
              if name != PRIOR and isinstance(v, int | float) and not math.isnan(v)}
    if not scores:
        return None
    pick = max if m.higher_is_better else min
    return pick(sorted(scores), key=scores.__getitem__)  # sorted: ties go to the first name


def seed_date_tests(y: Any, dates: Any, run_probs: Any, run_cells: Any, baseline: str,
                    role: str, baseline_probs: Any, metric: str = "log_loss", *,
                    n_boot: int = 500, block_len: int = BLOCK_LEN, seed: int = 0,
                    level: float = LEVEL) -> list[BaselineTest]:
    """Every cell (runs grouped by `run_cells`) against one baseline on the samples y (n,),
    dates (n,): run_probs (runs, n), baseline_probs (n,). Not Holm-adjusted (`adjust`)."""
    m = get_metric(metric)
    pts = joint_points(y, run_probs, dates, run_cells, metric, n_boot=n_boot,
                       block_len=block_len, level=level, seed=seed, extra=[baseline_probs])
    base, base_star = float(pts.extra_values[0]), pts.extra_replicates[:, 0]
    out = []
    for g, cell in enumerate(pts.groups):
        mine = pts.group_index == g
        k = int(mine.sum())
        diff = float(pts.run_values[mine].mean()) - base
        d_star = pts.replicates[:, mine].mean(axis=1) - base_star
        d_star = d_star[~np.isnan(d_star)]
        notes = []
        if k == 1:
            notes.append("one seed: seed variation is not in the interval")
        if pts.n_blocks < MIN_BLOCKS:
            notes.append(f"only {pts.n_blocks} date blocks; the interval is coarse")
        if math.isnan(diff) or d_star.size < 2:
            lo = hi = p = math.nan
            notes.append(f"{m.name} is undefined on these samples")
        else:
            df = test_df(d_star, pts.run_values[mine] - base, pts.n_blocks)
            lo, hi = percentile_bounds(d_star, level, pts.n_blocks, df)
            # k of k seed draws have few distinct values (27 for 3 seeds): the percentiles
            # cannot reach a t(~2) tail, so widen to the t interval the p-value uses.
            half = (student_t.ppf(0.5 + level / 2.0, df) * math.sqrt(pts.n_blocks / (
                pts.n_blocks - 1.0)) * float(np.std(d_star, ddof=1)))
            lo, hi = min(lo, diff - half), max(hi, diff + half)
            p = bootstrap_p_value(d_star, diff, pts.n_blocks, df)
        out.append(BaselineTest(str(cell), baseline, role, m.name, diff + base, base, diff, lo,
                                hi, p, int(np.asarray(y).size), k,
                                warning="; ".join(notes) or None))
    return out


def test_df(d_star: np.ndarray, per_seed: np.ndarray, n_blocks: int) -> float:
    """Degrees of freedom of the t-test of a seed-mean difference (Welch-Satterthwaite).

    Its bootstrap variance has two parts: the date blocks' (b-1 degrees of freedom) and the
    seeds' (k-1). The seed part is estimated directly, var(per-seed differences) / k (what the
    re-expanded k-of-k seed resampling adds); the date part is the rest of the bootstrap-SE
    variance. With 3 seeds whose spread dominates, the df falls to about 2, not b-1 = 12: a
    t(12) there would reject a true null about 3 times as often as the nominal level.
    """
    k = per_seed.size
    total = n_blocks / (n_blocks - 1.0) * float(np.var(d_star, ddof=1))
    seed_var = float(np.var(per_seed, ddof=1)) / k if k >= 2 else 0.0
    return satterthwaite_df(total - seed_var, n_blocks - 1.0, seed_var, k - 1.0)


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
            why = ("none stored" if role == "class prior" else "no non-prior baseline stored "
                   "with a validation log-loss to choose it by")
            lines.append(f"No cell could be tested against the {role} ({why}).")
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
    others = [t for t in tests if t.role == "other baseline"]
    if others:  # every non-prior baseline is tested, not only the one chosen on validation
        names = sorted({t.baseline for t in others})
        wins = sorted({f"{t.cell} vs {t.baseline}" for t in others if t.verdict == "cell better"})
        lines.append(f"Against the other non-prior baseline(s) ({', '.join(names)}; same Holm "
                     f"family): {len(wins)} significant win(s) of {len(others)} test(s)"
                     + (f": {', '.join(wins)}." if wins else "."))
    return lines
