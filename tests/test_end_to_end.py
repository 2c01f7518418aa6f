"""The smoke configuration, end to end through the real CLI: two tickers, every tier, a
three-trial study per cell, seeded final runs, a report from stored results, and an audit that
holds. It asserts that the loss falls and that the lineage holds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from fts.cli import cli
from fts.project import Project

REPO = Path(__file__).resolve().parent.parent

SMOKE = """
name = "smoke"
tiers = ["a20", "a50"]
budgets = ["10K", "20K"]
horizons = [1]
thresholds = [1.0]
trials = 3
seeds = [0, 1]
ctx_len = 16
[split]
mode = "tail_days"
val_days = 150
test_days = 150
[dataset]
min_val_positives = 0  # a smoke study on a short validation span: not about selection
[training]
max_epochs = 3
patience = 3
max_train_batches = 4
"""


def second_ticker_csv(path: Path) -> None:
    """A few hundred bars of a synthetic ticker, Yahoo-style, overlapping the VIX sample."""
    rng = np.random.default_rng(5)
    dates = pd.bdate_range("2016-01-04", "2018-12-31")
    close = 40 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, len(dates))))
    open_ = close * np.exp(rng.normal(0, 0.003, len(dates)))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.006, len(dates))))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.006, len(dates))))
    pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Open": open_, "High": high, "Low": low,
                  "Close": close, "Adj Close": close,
                  "Volume": rng.integers(1e5, 1e6, len(dates))}).to_csv(path, index=False)


def invoke(root: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--project-dir", str(root), *args])
    assert result.exit_code == 0, f"fts {' '.join(args)}:\n{result.output}"
    return result.output


def test_smoke_study_end_to_end(sample_project_dir: Path, tmp_path: Path) -> None:
    root = sample_project_dir
    shutil.copytree(REPO / "features_sql", root / "features_sql")
    second_ticker_csv(tmp_path / "syn.csv")
    invoke(root, "ingest", "csv", str(tmp_path / "syn.csv"), "--ticker", "SYN")
    for tier in ("vix", "a20", "a50", "a100"):
        invoke(root, "build-tier", tier)
    assert "up to date" in invoke(root, "build-tier", "a100")
    project = Project(root)
    tickers = project.sql("select distinct ticker from a100 order by 1").column("ticker").to_pylist()
    assert tickers == ["SYN", "^GSPC"]

    study = tmp_path / "smoke.toml"
    study.write_text(SMOKE)
    invoke(root, "run", str(study))
    assert invoke(root, "run", str(study)).count("done, skipped") == 4

    cells = project.sql("select * from experiments.cells order by cell").to_pylist()
    assert len(cells) == 4
    finished = project.sql("select study, count(*) as n from hpo_trials where state in "
                           "('COMPLETE', 'PRUNED') group by 1").to_pylist()
    assert sorted(r["n"] for r in finished) == [3, 3, 3, 3]
    runs = project.sql("select * from train.runs where purpose = 'final'").to_pandas()
    assert len(runs) == 8 and set(runs["seed"]) == {0, 1}
    # The loss falls: in the runs that trained more than one epoch (a final run trains the
    # fold runs' median best epoch count, which may be 1), the last epoch's training loss is
    # below the first's.
    epochs = project.sql("select run_id, epoch, train_loss from train.epochs "
                         "order by run_id, epoch").to_pandas()
    by_run = epochs.groupby("run_id")["train_loss"]
    several = by_run.count() > 1
    first, last = by_run.first()[several], by_run.last()[several]
    assert len(first) >= 8 and (last < first).mean() >= 0.75, (first, last)
    # Tiers compared in one study use the same sample dates.
    test_dates = project.sql(
        "select r.tier, count(distinct p.date) as n, min(p.date) as lo, max(p.date) as hi "
        "from train.predictions p join train.runs r using (run_id) where p.split = 'test' "
        "group by 1 order by 1").to_pylist()
    assert test_dates[0]["n"] == test_dates[1]["n"] and test_dates[0]["lo"] == test_dates[1]["lo"]

    out = invoke(root, "report", "smoke")
    report = (root / "data" / "reports" / "smoke" / "report.md").read_text()
    assert "report written" in out
    assert "no power-law fit" in report and "2 distinct model sizes" in report
    assert "Holm" in report and "class_prior" in report
    for run_id in runs["run_id"]:
        assert run_id in report  # each number's manifest is named
    assert (root / "data" / "reports" / "smoke" / "scaling.png").stat().st_size > 10_000

    audit = CliRunner().invoke(cli, ["--project-dir", str(root), "audit", "--json"])
    assert audit.exit_code == 0, audit.output
    kinds = json.loads(audit.output)
    assert kinds["ok"] is True
    chain = invoke(root, "audit", "--run", runs["run_id"].iloc[0])
    assert "raw" in chain.lower() and "^GSPC" in chain
    # A search result's lineage too: the best trial of a cell, down to the raw loads.
    best = project.sql("select study, best_trial from experiments.cells limit 1").to_pylist()[0]
    trial_chain = invoke(root, "audit", "--trial", f"{best['study']}:{best['best_trial']}")
    assert "^GSPC" in trial_chain and "chain holds" in trial_chain
