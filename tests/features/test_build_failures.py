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


def _two_bad_tickers(project_dir: Path) -> Project:
    # Ingestion refuses a broken bar (high < low, a non-positive price): what only the tier
    # checks catch is too little history for a tier's warm-up (SHORT: 230 rows, enough for
    # a20's 199, too few for a50's 252) and an empty volume cell loaded before ingestion
    # refused those (GAPPY: a20's OBV stays null from there).
    project = _with_ticker(project_dir, "SHORT", "2016-01-04", 230)
    _with_ticker_csv(project, "GAPPY", "2016-01-04", 400)
    _empty_volume_on(project, "GAPPY", "2017-03-01")
    return project


def _with_ticker_csv(project: Project, ticker: str, start: str, rows: int) -> None:
    dates = pd.bdate_range(start, periods=rows)
    close = 100 * np.exp(np.cumsum(np.random.default_rng(5).normal(0, 0.01, rows)))
    csv = project.root.parent / f"{ticker}.csv"
    pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Open": close, "High": close * 1.01,
                  "Low": close * 0.99, "Close": close, "Volume": 1000.0}).to_csv(csv, index=False)
    project.ingest_csv(csv, ticker)


def test_every_failing_ticker_and_check_is_named_and_nothing_is_written(
        sample_project_dir: Path) -> None:
    project = _two_bad_tickers(sample_project_dir)
    before = tree_snapshot(sample_project_dir), table_fingerprint(sample_project_dir)
    with pytest.raises(BuildError) as err:
        project.build_tier("a50")
    message = str(err.value)
    assert message.startswith("2 ticker(s) failed the tier checks, nothing was written: ")
    assert "GAPPY: tier a20: columns obv, " in message
    assert "check volume_null_only_without_volume failed" in message
    assert "SHORT: tier a50: ticker SHORT has 230 rows of history" in message
    assert "--skip-invalid" in message
    assert (tree_snapshot(sample_project_dir), table_fingerprint(sample_project_dir)) == before


def test_skip_invalid_builds_the_rest_and_records_who_was_left_out_and_why(
        sample_project_dir: Path) -> None:
    from tests.ingest.helpers import run_fts

    project = _two_bad_tickers(sample_project_dir)
    result = run_fts(sample_project_dir, "build-tier", "a50", "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert "a20: excluded GAPPY: tier a20: columns obv, " in result.output
    assert "a50: excluded SHORT: tier a50: ticker SHORT has 230 rows" in result.output
    # SHORT passes a20 (only a50's warm-up is too long for it); GAPPY fails a20, so a50,
    # which reads a20, leaves it out too.
    rows = {t: set(project.sql(f"select distinct ticker from {t}").column("ticker").to_pylist())
            for t in ("a20", "a50")}
    assert rows == {"a20": {"^GSPC", "SHORT"}, "a50": {"^GSPC"}}
    a20, a50 = project.describe("a20")["build"], project.describe("a50")["build"]
    assert list(a20["excluded"]) == ["GAPPY"]
    assert sorted(a50["excluded"]) == ["GAPPY", "SHORT"]
    assert a50["excluded"]["SHORT"][0].startswith("tier a50: ticker SHORT has 230 rows")
    assert a50["excluded"]["GAPPY"][0].startswith("tier a20: columns obv, ")
    shown = run_fts(sample_project_dir, "describe", "a50")
    assert "SHORT: EXCLUDED by --skip-invalid: tier a50: ticker SHORT has 230 rows" in shown.output
    # A new load of a ticker that still fails is refused without the flag: an exclusion is
    # never extended silently.
    _with_ticker_csv(project, "SHORT", "2016-01-04", 240)
    with pytest.raises(BuildError, match="tier a50: ticker SHORT has 240 rows"):
        project.build_tier("a50")


def test_an_exclusion_stands_while_its_load_and_definition_do(sample_project_dir: Path) -> None:
    from tests.ingest.helpers import run_fts

    project = _two_bad_tickers(sample_project_dir)
    first = project.build_tier("a50", skip_invalid=True)
    keys = {t: project.describe(t)["build"] for t in ("a20", "a50")}
    # Nothing changed: the tier is up to date, without the flag (what `fts run` and `fts train`
    # ask), and says who is left out and that they were not recomputed.
    result = run_fts(sample_project_dir, "build-tier", "a50")
    assert result.exit_code == 0, result.output
    assert "a50: up to date (" in result.output and "2 excluded" in result.output
    assert "a50: excluded SHORT: tier a50: ticker SHORT has 230 rows" in result.output
    assert "(standing: not recomputed by this build)" in result.output
    again = project.build_tier("a50")
    assert again.up_to_date and again.target.manifest_id == first.target.manifest_id
    assert sorted(again.target.excluded) == ["GAPPY", "SHORT"]
    # Named with --ticker, an excluded ticker is tried again (and refused again, unchanged).
    with pytest.raises(BuildError, match="tier a50: ticker SHORT has 230 rows"):
        project.build_tier("a50", tickers=["SHORT"])
    # A new ticker's load rebuilds that ticker only; the exclusions stand, keys and all.
    _with_ticker_csv(project, "ACME", "2015-01-02", 700)
    grown = project.build_tier("a50")
    assert grown.target.built == ["ACME"]
    assert all(set(r.built) <= {"ACME"} for r in grown.tiers)
    after = {t: project.describe(t)["build"] for t in ("a20", "a50")}
    for t in ("a20", "a50"):
        assert after[t]["excluded"] == keys[t]["excluded"]
    from fts.warehouse.registry import get_manifest

    with project.connect() as con:
        m = get_manifest(con, after["a50"]["manifest_id"])
    assert sorted(m["excluded_keys"]) == ["GAPPY", "SHORT"]
    assert all(len(k) == 64 for k in m["excluded_keys"].values())


def test_a_ticker_left_out_upstream_stays_out_of_a_new_tier(sample_project_dir: Path) -> None:
    project = _with_ticker(sample_project_dir, "GAPPY", "2016-01-04", 400)
    _empty_volume_on(project, "GAPPY", "2017-03-01")
    project.build_tier("a20", skip_invalid=True)
    # a50 is built for the first time, a20 is up to date with GAPPY excluded: a50 must not
    # compute GAPPY over the a20 rows its checks refused; it inherits the exclusion.
    result = project.build_tier("a50")
    assert [r.tier for r in result.tiers if not r.up_to_date] == ["a50"]
    a50 = project.describe("a50")["build"]
    assert list(a50["excluded"]) == ["GAPPY"]
    assert a50["excluded"]["GAPPY"][0].startswith("tier a20: columns obv, ")
    assert set(project.sql("select distinct ticker from a50").column("ticker").to_pylist()) == {
        "^GSPC"}


def test_a_ticker_failing_a_tier_is_left_out_of_the_tiers_that_read_it() -> None:
    from fts.features.build_prepare import Failures

    failures = Failures()
    failures.add("a20", "GAPPY", BuildError("tier a20: GAPPY broke; nothing was written"))
    failures.add("a50", "SHORT", BuildError("tier a50: SHORT too short; nothing was written"))
    assert failures.excluded_from("a20", set()) == {"GAPPY": ["tier a20: GAPPY broke"]}
    # a50 reads a20: GAPPY's a20 rows are missing, so its a50 rows are left out as well.
    assert failures.excluded_from("a50", {"a20"}) == {
        "GAPPY": ["tier a20: GAPPY broke"], "SHORT": ["tier a50: SHORT too short"]}
    assert failures.excluded_from("vix", set()) == {}


def test_a_ticker_build_keeps_the_exclusions_of_the_tickers_it_leaves_alone(
        sample_project_dir: Path) -> None:
    from tests.ingest.helpers import run_fts

    project = _two_bad_tickers(sample_project_dir)
    project.build_tier("a50", skip_invalid=True)
    before = {t: project.describe(t)["build"]["excluded"] for t in ("a20", "a50")}
    assert sorted(before["a50"]) == ["GAPPY", "SHORT"]
    _with_ticker_csv(project, "ACME", "2015-01-02", 700)
    result = run_fts(sample_project_dir, "build-tier", "a50", "--ticker", "ACME")
    assert result.exit_code == 0, result.output
    # GAPPY and SHORT were neither rebuilt nor dropped: still recorded as excluded, with why.
    after = {t: project.describe(t)["build"] for t in ("a20", "a50")}
    assert after["a50"]["excluded"] == before["a50"] and after["a20"]["excluded"] == before["a20"]
    assert set(project.sql("select distinct ticker from a50").column("ticker").to_pylist()) == {
        "^GSPC", "ACME"}
    # Each exclusion is printed once, not by the build and again by the command.
    assert result.output.count("a50: excluded SHORT: ") == 1
    assert result.output.count("a20: excluded GAPPY: ") == 1
    # Rebuilding an excluded ticker that now passes lifts its exclusion.
    _with_ticker_csv(project, "GAPPY", "2016-01-04", 410)  # a new, whole load
    project.build_tier("a20", tickers=["GAPPY"])
    assert project.describe("a20")["build"]["excluded"] == {}


def test_a_chunk_failing_with_no_single_ticker_to_blame_is_not_swallowed(
        sample_project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fts.features.build_prepare as prepare

    project = _with_ticker(sample_project_dir, "ACME", "2015-01-02", 400)
    real = prepare.validate_tier

    def whole_chunk_check(tier, frame, columns, volume_tickers):  # type: ignore[no-untyped-def]
        # A check that only the chunk as a whole fails (every ticker alone passes).
        if frame["ticker"].nunique() > 1:
            raise ValidationError("rows of several tickers fail together", source=f"tier {tier}")
        return real(tier, frame, columns, volume_tickers)

    monkeypatch.setattr(prepare, "validate_tier", whole_chunk_check)
    before = tree_snapshot(sample_project_dir), table_fingerprint(sample_project_dir)
    for skip_invalid in (False, True):
        with pytest.raises(ValidationError, match="several tickers fail together"):
            project.build_tier("a20", skip_invalid=skip_invalid)
    assert (tree_snapshot(sample_project_dir), table_fingerprint(sample_project_dir)) == before
