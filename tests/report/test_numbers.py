"""The report's numbers on synthetic targets with known laws: one fit per target (nothing
pooled), the test metric fitted (never the validation one), both parameter axes, and every cell
tested against the class prior and every non-prior baseline (the best on validation the
headline) with Holm over the whole family."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import log_loss

from fts.report.numbers import report_numbers
from fts.report.scaling import fit_power_law
from tests.report.synthetic import FLOPS_PER_PARAM, HEAD, SIZES, report_data

TARGETS = {("a20", 1, "independent"): 0.60, ("a20", 3, "independent"): 0.40,
           ("a20", 1, "mixed"): 0.50}


@pytest.fixture(scope="module")
def synthetic():
    data = report_data(TARGETS)
    return data, report_numbers(data, n_boot=100, n_boot_joint=100)


def hand_holm(p: list[float]) -> np.ndarray:
    """Holm's adjusted p-values, written out: sorted p times (m - rank), running max, cap 1."""
    order = np.argsort(p, kind="stable")
    m = len(p)
    adj = np.minimum(1.0, np.maximum.accumulate([(m - i) * p[j] for i, j in enumerate(order)]))
    out = np.empty(m)
    out[order] = adj
    return out


def test_one_block_per_target_and_each_fit_finds_its_own_e(synthetic):
    _, numbers = synthetic
    keys = [(b["tier"], b["horizon"], b["threshold_pct"], b["channels"]) for b in numbers["targets"]]
    assert keys == [("a20", 1, 1.0, "independent"), ("a20", 1, 1.0, "mixed"),
                    ("a20", 3, 1.0, "independent")]
    assert numbers["channel_modes"] == ["independent", "mixed"]
    for block in numbers["targets"]:
        truth = TARGETS[(block["tier"], block["horizon"], block["channels"])]
        fit = block["fit"]
        assert fit["n_sizes"] == len(SIZES) and fit["n_points"] == 3 * len(SIZES)
        assert fit["E_ci95"][0] <= truth <= fit["E_ci95"][1], (block["horizon"], fit)
        others = {v for v in TARGETS.values() if v != truth}
        assert not any(fit["E_ci95"][0] <= o <= fit["E_ci95"][1] for o in others)
        assert "test dates" in fit["interval_covers"] and "not the hyperparameter search" in (
            fit["interval_covers"])
    json.dumps(numbers, allow_nan=False)  # plain JSON


def test_points_carry_both_parameter_axes_compute_and_the_selection_metric(synthetic):
    data, numbers = synthetic
    block = numbers["targets"][0]
    assert [p["params"] for p in block["points"]] == [int(s) for s in SIZES]
    for i, p in enumerate(block["points"]):
        assert p["nonhead_params"] == p["params"] - HEAD and p["head_params"] == HEAD
        assert p["encoder_params"] == p["params"] - HEAD - 100
        assert p["train_flops_per_sample"] == FLOPS_PER_PARAM * p["params"]
        assert p["seeds"] == [0, 1, 2]
        # The search's best objective chose the cell; the final runs' own validation loss is
        # a different number, kept beside it.
        assert p["selection_metric"] == pytest.approx(0.2 + 0.01 * i)
        assert p["final_val_metric"] == pytest.approx(0.1 + 0.01 * i)
        assert p["metric_ci95"][0] < p["metric"] < p["metric_ci95"][1]
        assert p["architecture"]["d_model"] == 16 * (i + 1)
        assert p["architecture"]["channels"] == "independent"
        assert p["settings"]["lr"] == 1e-3 and p["best_trial"] == 2
    assert block["fit_nonhead"]["n_sizes"] == len(SIZES) and block["reason_nonhead"] is None
    assert block["fit_encoder"]["n_sizes"] == len(SIZES) and block["reason_encoder"] is None
    assert block["param_counts_stored"] is True


def test_the_fit_is_of_the_test_metric_recomputed_from_predictions(synthetic):
    data, numbers = synthetic
    block = numbers["targets"][0]  # a20 h1 independent
    preds = data.predictions[data.predictions["split"] == "test"]
    runs = data.runs[data.runs["cell"].isin([p["cell"] for p in block["points"]])]
    values = [log_loss(preds[preds.run_id == r].label, preds[preds.run_id == r].prob)
              for r in runs.run_id]
    for p in block["points"]:
        mine = [v for v, c in zip(values, runs.cell, strict=True) if c == p["cell"]]
        assert p["per_seed"] == pytest.approx(mine, rel=1e-9)
    want = fit_power_law(runs.n_params, values, n_boot=0)
    assert block["fit"]["alpha"] == pytest.approx(want.alpha, rel=1e-6)
    assert block["fit"]["E"] == pytest.approx(want.E, rel=1e-6)


def test_every_cell_meets_the_prior_and_the_best_baseline_with_holm_over_the_family(synthetic):
    _, numbers = synthetic
    tests = [t for b in numbers["targets"] for t in b["baseline_tests"]]
    # Every cell against the prior and BOTH non-prior baselines (not only the chosen one).
    assert len(tests) == 3 * len(SIZES) * 3 == numbers["baseline_family"]["n_tests"]
    for block in numbers["targets"]:
        assert {(t["baseline"], t["role"]) for t in block["baseline_tests"]} == {
            ("class_prior", "class prior"), ("good", "best baseline"),
            ("bad", "other baseline")}
        assert all(set(t) >= {"cell", "baseline", "difference", "interval", "p", "p_holm"}
                   for t in block["baseline_tests"])
        levels = {b["model"]: b["metric"] for b in block["baselines"]}
        assert levels["good"] == pytest.approx(0.3) and levels["bad"] == pytest.approx(1.5)
        for t in block["baseline_tests"]:
            assert t["difference"] == pytest.approx(t["cell_value"] - t["baseline_value"])
            assert t["interval"][0] <= t["difference"] <= t["interval"][1]
    np.testing.assert_allclose([t["p_holm"] for t in tests], hand_holm([t["p"] for t in tests]))
    # Every cell (log-loss >= 0.4) is far worse than `good` (0.3): the baseline wins each test.
    assert {t["verdict"] for t in tests if t["role"] == "best baseline"} == {"baseline better"}
    assert any("No PatchTST cell beats the best baseline" in s for s in numbers["summary"])
    for block in numbers["targets"]:  # and per target, with Holm still over all 45 tests
        assert any(s.startswith("No PatchTST cell beats the best baseline on test log-loss "
                                "(Holm-adjusted p < 0.05 over 45 baseline tests)")
                   for s in block["summary"]), block["summary"]
    # `bad` (log-loss 1.5) loses to every cell: the other-baseline tests say so.
    assert {t["verdict"] for t in tests if t["role"] == "other baseline"} == {"cell better"}
    assert any(s.startswith("Against the other non-prior baseline(s) (bad; same Holm family): "
                            "15 significant win(s) of 15 test(s)") for s in numbers["summary"])


def test_the_encoder_fit_is_against_the_stored_encoder_counts(synthetic):
    # In mixed mode the embedding (here a quarter of the model) grows with the feature count,
    # so non-head parameters still carry it; the encoder axis does not.
    data, numbers = synthetic
    [block] = [b for b in numbers["targets"] if b["channels"] == "mixed"]
    runs = data.runs[data.runs["cell"].isin([p["cell"] for p in block["points"]])]
    runs = runs.sort_values(["cell", "seed"])
    values = [v for p in sorted(block["points"], key=lambda p: p["cell"]) for v in p["per_seed"]]
    encoder = [c["param_counts"]["encoder"] for c in runs["config"]]
    want = fit_power_law(encoder, values, n_boot=0)
    assert block["fit_encoder"]["A"] == pytest.approx(want.A, rel=1e-5)
    assert block["fit_encoder"]["alpha"] == pytest.approx(want.alpha, rel=1e-5)
    nonhead = fit_power_law([c["param_counts"]["total"] - HEAD for c in runs["config"]], values,
                            n_boot=0)
    assert abs(block["fit_nonhead"]["A"] - want.A) > 0.02 * want.A  # a different axis
    assert nonhead.ok
    assert all(p["encoder_params"] == p["params"] - HEAD - p["params"] // 4
               for p in block["points"])


def test_the_best_baseline_is_chosen_on_validation_not_on_test():
    # `bad` has the best stored validation log-loss, `good` the best test log-loss: the
    # yardstick is `bad`, so every cell (test log-loss < 1) beats it.
    data = report_data({("a20", 1, "independent"): 0.6},
                       baseline_val={"class_prior": 0.62, "good": 0.5, "bad": 0.2})
    block = report_numbers(data, n_boot=50, n_boot_joint=20)["targets"][0]
    assert block["best_baseline"] == "bad"
    best = [t for t in block["baseline_tests"] if t["role"] == "best baseline"]
    assert {t["baseline"] for t in best} == {"bad"} and len(best) == len(SIZES)
    assert {t["verdict"] for t in best} == {"cell better"}
    # The choice hides nothing: `good` (better on test) is tested against every cell too.
    other = [t for t in block["baseline_tests"] if t["role"] == "other baseline"]
    assert {t["baseline"] for t in other} == {"good"} and len(other) == len(SIZES)
    assert {t["verdict"] for t in other} == {"baseline better"}
    assert {b["model"]: b["selection_metric"] for b in block["baselines"]} == {
        "class_prior": 0.62, "good": 0.5, "bad": 0.2}
    # Without a validation log-loss no baseline is "best" (test never stands in for it).
    nan = float("nan")
    data = report_data({("a20", 1, "independent"): 0.6},
                       baseline_val={"class_prior": 0.62, "good": nan, "bad": nan})
    block = report_numbers(data, n_boot=50, n_boot_joint=20)["targets"][0]
    assert block["best_baseline"] is None
    assert {t["role"] for t in block["baseline_tests"]} == {"class prior", "other baseline"}
    assert any("No cell could be tested against the best baseline (no non-prior baseline "
               "stored with a validation log-loss" in line for line in block["summary"])


def test_seeds_are_grouped_by_cell_even_when_two_cells_have_the_same_size():
    # Cells B0 and B1 have the same parameter count; B1's runs are much worse (log-loss + ln 2
    # on every sample). Pooling the seeds of equal sizes would mix B1's runs into B0's
    # interval (and the other way round).
    sizes = np.array([1e5, 1e5, 1e6, 1e7, 1e8])
    data = report_data({("a20", 1, "independent"): 0.6}, sizes=sizes)
    preds = data.predictions
    worse = preds["run_id"].str.startswith("run-0-1-")  # the runs of cell B1
    p, y = preds.loc[worse, "prob"], preds.loc[worse, "label"]
    preds.loc[worse, "prob"] = np.where(y == 1, p / 2, 1 - (1 - p) / 2)
    block = report_numbers(data, n_boot=20, n_boot_joint=100)["targets"][0]
    by_cell = {pt["cell"]: pt for pt in block["points"]}
    b0, b1 = by_cell["a20:B0:h1:p1"], by_cell["a20:B1:h1:p1"]
    assert b1["metric"] > b0["metric"] + 0.5
    assert b0["metric_ci95"][1] < b0["metric"] + 0.15, b0
    assert b1["metric_ci95"][0] > b1["metric"] - 0.15, b1
    tested = [t["cell_value"] for t in block["baseline_tests"] if t["cell"] == "a20:B1:h1:p1"]
    assert tested == pytest.approx([b1["metric"]] * 3)


def test_a_cell_that_beats_a_weak_prior_is_named():
    data = report_data({("a20", 1, "independent"): 0.45}, prior_prob=0.02)
    numbers = report_numbers(data, n_boot=100, n_boot_joint=100)
    tests = numbers["targets"][0]["baseline_tests"]
    assert {t["verdict"] for t in tests if t["role"] == "class prior"} == {"cell better"}
    line = next(s for s in numbers["summary"] if "class prior" in s)
    assert line.startswith(f"{len(SIZES)} of {len(SIZES)} cell(s) beat the class prior")


def test_runs_without_param_counts_are_fitted_on_n_params_only_and_say_so():
    data = report_data({("a20", 1, "independent"): 0.6}, param_counts=False)
    block = report_numbers(data, n_boot=50, n_boot_joint=50)["targets"][0]
    assert block["fit"] is not None and block["fit_nonhead"] is None
    assert "param_counts" in block["reason_nonhead"] and block["param_counts_stored"] is False
    assert all(p["nonhead_params"] is None and p["train_flops_per_sample"] is None
               for p in block["points"])


def test_the_scaling_figure_draws_each_target_s_baselines(synthetic, tmp_path,
                                                                  monkeypatch):
    import matplotlib.axes

    from fts.report.figures import scaling_figure

    drawn: dict[str, list] = {}
    real_hline, real_title = matplotlib.axes.Axes.axhline, matplotlib.axes.Axes.set_title

    def hline(ax, y=0, *args, **kwargs):
        drawn.setdefault(ax.get_title(), []).append((kwargs.get("label"), y))
        return real_hline(ax, y, *args, **kwargs)

    def title(ax, text, *args, **kwargs):  # axhline runs before set_title: rekey its lines
        drawn[text] = drawn.pop("", [])
        return real_title(ax, text, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "axhline", hline)
    monkeypatch.setattr(matplotlib.axes.Axes, "set_title", title)
    _, numbers = synthetic
    scaling_figure(numbers, tmp_path / "scaling.png")
    assert (tmp_path / "scaling.png").stat().st_size > 10_000
    assert set(drawn) == {"a20 · h1 · +1 % · independent", "a20 · h1 · +1 % · mixed",
                          "a20 · h3 · +1 % · independent"}
    for block in numbers["targets"]:
        lines = dict(drawn[f"a20 · h{block['horizon']} · +1 % · {block['channels']}"])
        assert lines == pytest.approx({b["model"]: b["metric"] for b in block["baselines"]})


def test_results_of_an_older_format_are_flagged_in_json_and_in_words():
    from fts.experiments.baselines import BASELINE_FORMAT
    from fts.report.formats import BASELINE_FORMAT as REPORT_BASELINE_FORMAT
    from fts.report.target_md import target_sections

    assert REPORT_BASELINE_FORMAT == BASELINE_FORMAT  # the report's copy of the constant
    clean = report_numbers(report_data({("a20", 1, "independent"): 0.6}), n_boot=20,
                           n_boot_joint=10)
    assert clean["old_format"] is False and clean["caveats"] == []
    assert clean["targets"][0]["old_format"] == {"final_runs": [], "baselines": [],
                                                 "baselines_without_manifest": []}
    # Cell B2's final runs were stored before config.final; `bad` is a format-1 baseline
    # (manifest version 1, no selection record); `good` lost its manifest.
    data = report_data({("a20", 1, "independent"): 0.6})
    old_cell = data.runs["cell"] == "a20:B2:h1:p1"
    data.runs.loc[old_cell, "config"] = data.runs.loc[old_cell, "config"].map(
        lambda c: {k: v for k, v in c.items() if k != "final"})
    bad = data.baselines.loc[data.baselines["model"] == "bad", "manifest_id"].item()
    data.baseline_manifests[bad] = {"baseline_id": "x", "version": 1}
    data.baselines.loc[data.baselines["model"] == "good", "manifest_id"] = None
    numbers = report_numbers(data, n_boot=20, n_boot_joint=10)
    [block] = numbers["targets"]
    assert numbers["old_format"] is True
    assert block["old_format"] == {"final_runs": ["a20:B2:h1:p1"], "baselines": ["bad"],
                                   "baselines_without_manifest": ["good"]}
    assert {p["cell"]: p["final_format"] for p in block["points"]}["a20:B2:h1:p1"] == 1
    assert {b["model"]: b["format"] for b in block["baselines"]} == {
        "class_prior": 2, "good": None, "bad": 1}
    words = " ".join(numbers["caveats"])
    assert "final runs of 1 cell(s) (a20:B2:h1:p1) are of an older format" in words
    assert "baseline(s) bad are of an older format" in words
    assert "baseline(s) good have no manifest" in words
    md = "\n".join(target_sections(numbers))
    assert "**Older formats mixed in.**" in md and "a20:B2:h1:p1" in md.split("###")[0]
