"""Builds of the shipped tiers that must fail: the message names the real cause, and a failed
multi-tier build leaves the files and the warehouse exactly as they were."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fts.core.errors import BuildError, ValidationError
from fts.project import Project
from tests.conftest import REPO
from tests.features.toy import tree_snapshot
from tests.ingest.helpers import table_fingerprint


def _with_ticker(project_dir: Path, ticker: str, start: str, rows: int) -> Project:
    """The sample project plus the shipped declarations and `rows` random-walk bars of `ticker`."""
    shutil.copytree(REPO / "features_sql", project_dir / "features_sql")
    dates = pd.bdate_range(start, periods=rows)
    close = 100 * np.exp(np.cumsum(np.random.default_rng(3).normal(0, 0.01, rows)))
    csv = project_dir.parent / f"{ticker}.csv"
    pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Open": close, "High": close * 1.01,
                  "Low": close * 0.99, "Close": close, "Volume": 1000.0}).to_csv(csv, index=False)
    project = Project(project_dir)
    project.ingest_csv(csv, ticker)
    return project


def test_a_later_tier_failing_leaves_no_file_of_an_earlier_tier(sample_project_dir: Path) -> None:
    # 230 rows inside the ^VIX range: enough for a20 (warm-up 199), too few for a50 (252).
    project = _with_ticker(sample_project_dir, "SHORT", "2016-01-04", 230)
    before = tree_snapshot(sample_project_dir), table_fingerprint(sample_project_dir)

    with pytest.raises(BuildError, match="tier a50: ticker SHORT has 230 rows"):
        project.build_tier("a100")

    assert (tree_snapshot(sample_project_dir), table_fingerprint(sample_project_dir)) == before
    assert not (sample_project_dir / "data").exists()
    project.build_tier("a20")  # a20 alone was fine all along
    assert (sample_project_dir / "data" / "tiers" / "a20").exists()


def test_too_little_history_names_missing_vix_dates_not_the_row_count(
    sample_project_dir: Path,
) -> None:
    # 600 rows are plenty, but the sample's ^VIX closes end on 2019-01-03.
    project = _with_ticker(sample_project_dir, "LATE", "2019-06-03", 600)
    with pytest.raises(BuildError) as err:
        project.build_tier("a100", tickers=["LATE"])
    message = str(err.value)
    assert ("no ^VIX close within 5 days for LATE's dates 2019-06-03..2021-09-17 "
            "(^VIX loaded 2014-01-03..2019-01-03)") in message
    assert "rows of history" not in message


def _empty_volume_on(project: Project, ticker: str, date: str) -> None:
    # What a warehouse loaded before ingestion refused a single empty volume cell may hold.
    with project.connect(read_only=False) as con:
        con.execute("UPDATE raw.ohlcv_history SET volume = NULL WHERE ticker = ? AND date = ?",
                    [ticker, date])


def test_null_volume_features_name_the_columns_not_the_ticker(sample_project_dir: Path) -> None:
    project = _with_ticker(sample_project_dir, "GAPPY", "2016-01-04", 400)
    _empty_volume_on(project, "GAPPY", "2017-03-01")  # after a20's warm-up
    with pytest.raises(ValidationError) as err:
        project.build_tier("a20", tickers=["GAPPY"])
    message = str(err.value)
    assert message.startswith("tier a20: columns obv, ")
    assert "check volume_null_only_without_volume failed" in message
    assert "(first: GAPPY 2017-03-01)" in message
    assert "column ticker" not in message


def test_an_empty_volume_inside_the_warm_up_is_named_not_the_row_count(
    sample_project_dir: Path,
) -> None:
    project = _with_ticker(sample_project_dir, "GAPPY", "2016-01-04", 400)
    _empty_volume_on(project, "GAPPY", "2016-09-01")  # before a20's warm-up ends
    with pytest.raises(BuildError, match=r"GAPPY has 1 empty volume cell\(s\) among its volumes "
                                         r"\(first on 2016-09-01\)"):
        project.build_tier("a20", tickers=["GAPPY"])
