"""Per-ticker tier storage and incremental builds on the real engine: one file per ticker, the
tier folder holding exactly the current build (for pandas and pyarrow readers), `--ticker`
keeping the other tickers, a new load rebuilding only its ticker, and a per-ticker build equal
to the whole-universe build."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from fts.audit import audit_project
from fts.core.hashing import table_content_sha256
from fts.project import Project
from tests.conftest import REPO


def _bars(csv: Path, start: str, rows: int, seed: int, scale: float = 1.0) -> Path:
    dates = pd.bdate_range(start, periods=rows)
    close = 100 * scale * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, rows)))
    pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Open": close, "High": close * 1.01,
                  "Low": close * 0.99, "Close": close, "Volume": 1000.0 + seed}).to_csv(
        csv, index=False)
    return csv


def _project(root: Path, tickers: dict[str, int]) -> Project:
    """The sample (^GSPC, ^VIX) plus random-walk tickers inside the ^VIX range."""
    shutil.copytree(REPO / "features_sql", root / "features_sql")
    project = Project(root)
    for i, (ticker, rows) in enumerate(tickers.items()):
        project.ingest_csv(_bars(root.parent / f"{i}.csv", "2015-01-02", rows, seed=i + 1), ticker)
    return project


def _manifest(project: Project, tier: str) -> dict:
    with project.connect(read_only=True) as con:
        [(body,)] = con.execute(
            "SELECT m.body FROM meta.tier_current c JOIN meta.manifests m ON m.id = c.manifest_id "
            "WHERE c.tier = ?", [tier]).fetchall()
    import json

    return json.loads(body)


def _rows(project: Project, tier: str) -> pd.DataFrame:
    return project.sql(f"SELECT * FROM {tier} ORDER BY ticker, date").to_pandas()


def test_one_file_per_ticker_and_readers_of_the_folder_see_exactly_the_current_build(
        sample_project_dir: Path) -> None:
    project = _project(sample_project_dir, {"BRK.B": 600})
    project.build_tier("a20")
    folder = sample_project_dir / "data" / "tiers" / "a20"
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 2 and names[0].startswith("a20-%5EGSPC-") and "-BRK.B-" in names[1]
    first = _rows(project, "a20")
    assert set(first["ticker"]) == {"^GSPC", "BRK.B"}

    # A new load of BRK.B: a plain build rebuilds BRK.B alone, ^GSPC's file is kept as is.
    gspc_file = next(folder.glob("a20-%5EGSPC-*"))
    project.ingest_csv(_bars(sample_project_dir.parent / "next.csv", "2015-01-02", 650, seed=9),
                       "BRK.B")
    result = project.build_tier("a20")
    assert (result.target.built, result.target.kept) == (["BRK.B"], 1)
    assert gspc_file.exists()
    current = _rows(project, "a20")
    assert len(current) == len(first) + 50 and (current["ticker"] == "BRK.B").sum() == \
        (first["ticker"] == "BRK.B").sum() + 50

    # The superseded BRK.B file left the folder; every reader of it returns the current rows.
    assert len(list(folder.iterdir())) == 2
    assert len(list((sample_project_dir / "data" / "superseded" / "tiers" / "a20").iterdir())) == 1
    for frame in (pd.read_parquet(folder), ds.dataset(folder).to_table().to_pandas()):
        got = frame.sort_values(["ticker", "date"]).reset_index(drop=True)
        assert len(got) == len(current)
        assert got["dema_20"].tolist() == current["dema_20"].tolist()
    # Both builds, the superseded one included, audit clean; the tier hash is its tickers'.
    report = audit_project(project.paths)
    assert report.ok and not report.warnings, [i.message for i in report.issues + report.warnings]
    assert project.build_tier("a20").up_to_date


def test_ticker_rebuilds_that_ticker_and_keeps_every_other(sample_project_dir: Path) -> None:
    project = _project(sample_project_dir, {"ACME": 700, "BETA": 700})
    project.build_tier("a50")
    before = _manifest(project, "a50")
    project.ingest_csv(_bars(sample_project_dir.parent / "acme2.csv", "2015-01-02", 720, seed=7),
                       "ACME")
    project.ingest_csv(_bars(sample_project_dir.parent / "beta2.csv", "2015-01-02", 720, seed=8),
                       "BETA")
    result = project.build_tier("a50", tickers=["ACME"])
    assert [(t.tier, t.built, t.kept) for t in result.tiers] == [
        ("a20", ["ACME"], 2), ("a50", ["ACME"], 2)]
    after = _manifest(project, "a50")
    assert after["tickers"] == ["ACME", "BETA", "^GSPC"]
    old = {o["ticker"]: o for o in before["outputs"]}
    new = {o["ticker"]: o for o in after["outputs"]}
    assert new["BETA"] == old["BETA"] and new["^GSPC"] == old["^GSPC"]  # kept, not rebuilt
    assert new["ACME"]["path"] != old["ACME"]["path"]
    assert after["row_count"] == before["row_count"] + 20
    # BETA's newer load is still to build: a plain build now rebuilds BETA only.
    again = project.build_tier("a50")
    assert [(t.built, t.kept) for t in again.tiers] == [(["BETA"], 2), (["BETA"], 2)]
    report = audit_project(project.paths)
    assert report.ok and not report.warnings, [i.message for i in report.issues + report.warnings]


def test_a_ticker_built_alone_equals_its_rows_in_a_whole_universe_build(
        sample_project_dir: Path, tmp_path: Path) -> None:
    # No tier column is cross-sectional: each ticker's rows depend on its own bars (and the
    # market-wide ^VIX) only, so a per-ticker rebuild equals a full build. a100 reads every
    # shipped tier but a200, ^VIX included.
    project = _project(sample_project_dir, {"ACME": 700, "BETA": 700})
    project.build_tier("a100")
    alone_dir = tmp_path / "alone"
    shutil.copytree(sample_project_dir, alone_dir, ignore=shutil.ignore_patterns("data", "manifests"))
    # The same warehouse without any build: copy, then drop the tier pointers' builds.
    alone = Project(alone_dir)
    with alone.connect(read_only=False) as con:
        con.execute("DELETE FROM meta.tier_current")
    alone.build_tier("a100", tickers=["BETA"])
    whole = pq.read_table(next((sample_project_dir / "data/tiers/a100").glob("a100-BETA-*")))
    single = pq.read_table(next((alone_dir / "data/tiers/a100").glob("a100-BETA-*")))
    assert single.num_rows == whole.num_rows > 0
    assert table_content_sha256(single.replace_schema_metadata(None)) == \
        table_content_sha256(whole.replace_schema_metadata(None))
    assert set(_rows(alone, "a100")["ticker"]) == {"BETA"}  # and only BETA was built
