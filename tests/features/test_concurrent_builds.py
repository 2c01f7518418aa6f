"""Two `--ticker` builds of one tier at once: the one publishing second planned against a build
that is no longer current, so it refuses instead of silently dropping the other's tickers."""

from __future__ import annotations

from pathlib import Path

import pytest

import fts.features.build as build_module
from fts.core.errors import BuildError
from fts.features.build import build_tier
from tests.features.test_incremental import _bars, _manifest, _project


def test_a_build_planned_before_another_published_refuses_and_loses_nothing(
        sample_project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(sample_project_dir, {"ACME": 700})
    project.build_tier("a20")
    project.ingest_csv(_bars(sample_project_dir.parent / "acme2.csv", "2015-01-02", 720, seed=7),
                       "ACME")
    project.ingest_csv(_bars(sample_project_dir.parent / "beta.csv", "2015-01-02", 700, seed=8),
                       "BETA")
    real_tidy = build_module.tidy_folders
    calls = []

    def other_build_in_between(paths, build):  # type: ignore[no-untyped-def]
        # Runs right after the outer build planned: the other build publishes BETA first.
        calls.append(1)
        if len(calls) == 1:
            assert build_tier(paths, "a20", tickers=["BETA"]).target.built == ["BETA"]
        return real_tidy(paths, build)

    monkeypatch.setattr(build_module, "tidy_folders", other_build_in_between)
    with pytest.raises(BuildError, match=r"^tier a20: another build published it while this "
                                         r"one ran; nothing was published, run the command again$"):
        project.build_tier("a20", tickers=["ACME"])
    # BETA's build is current and whole; nothing of the refused build reached the folder.
    after = _manifest(project, "a20")
    assert after["tickers"] == ["ACME", "BETA", "^GSPC"]
    folder = sample_project_dir / "data" / "tiers" / "a20"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        Path(o["path"]).name for o in after["outputs"])
    # Running it again (as the message says) publishes ACME's new load and keeps BETA.
    monkeypatch.setattr(build_module, "tidy_folders", real_tidy)
    again = project.build_tier("a20", tickers=["ACME"])
    assert (again.target.built, again.target.kept) == (["ACME"], 2)
    assert _manifest(project, "a20")["tickers"] == ["ACME", "BETA", "^GSPC"]
    rows = project.sql("SELECT ticker, count(*) AS n FROM a20 GROUP BY 1").to_pandas()
    assert set(rows["ticker"]) == {"ACME", "BETA", "^GSPC"}
