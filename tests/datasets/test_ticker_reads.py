"""A dataset reads only its own tickers' files of a per-ticker tier build (memory bounded by the
dataset, not the universe), still verified against their hashes."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pytest

from fts.core.errors import NotFoundError
from fts.datasets import sources
from fts.warehouse.tier_files import locate
from tests.features.test_incremental import _manifest, _project


def test_a_dataset_of_one_ticker_reads_that_tickers_file_only(sample_project_dir: Path) -> None:
    project = _project(sample_project_dir, {"ACME": 600})
    project.build_tier("a20")
    outputs = {o["ticker"]: o for o in _manifest(project, "a20")["outputs"]}
    assert set(outputs) == {"ACME", "^GSPC"}
    with project.connect(read_only=True) as con:
        tier = sources.tier_build(con, project.paths, "a20")
    whole = tier.read()
    # The other ticker's file gone: a read of ACME alone never opens it.
    locate(project.paths, outputs["^GSPC"]["path"]).unlink()
    acme = tier.read(tickers=["ACME"])
    assert set(acme.column("ticker").to_pylist()) == {"ACME"}
    assert acme.equals(whole.filter(pc.equal(whole.column("ticker"), "ACME")))
    assert acme.num_rows == outputs["ACME"]["rows"]
    with pytest.raises(NotFoundError, match=r"\^GSPC"):
        tier.read()
    # A ticker the build lacks reads every file (so the caller can name what the tier has).
    with pytest.raises(NotFoundError, match=r"\^GSPC"):
        tier.read(tickers=["ACME", "NOPE"])
