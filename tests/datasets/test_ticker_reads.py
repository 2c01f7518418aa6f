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


def test_rebuilding_another_ticker_keeps_the_dataset_and_its_id(sample_project_dir: Path) -> None:
    from fts.datasets.dataset import build_dataset
    from fts.datasets.spec import DatasetSpec
    from tests.features.test_incremental import _bars

    project = _project(sample_project_dir, {"ACME": 600})
    project.build_tier("a20")
    spec = DatasetSpec("a20", 1, 1.0, tickers=("^GSPC",), min_val_positives=0)
    gspc = build_dataset(project.paths, spec)
    everyone = build_dataset(project.paths, DatasetSpec("a20", 1, 1.0, min_val_positives=0))
    tier_before = _manifest(project, "a20")
    # A new load of ACME: the tier gets a new build (another manifest id) ...
    project.ingest_csv(_bars(sample_project_dir.parent / "acme2.csv", "2015-01-02", 640, seed=7),
                       "ACME")
    project.build_tier("a20")
    assert _manifest(project, "a20") != tier_before
    # ... but ^GSPC's rows are those of the build its dataset was made from: the same dataset
    # (so a study pinned to its id resumes), while a dataset of every ticker is rebuilt.
    again = build_dataset(project.paths, spec)
    assert again.id == gspc.id
    # `fts gc` keeps it (it reads rows the current build has), with the build it pins.
    from fts.audit import audit_project
    from fts.audit.gc import collect_garbage

    collect_garbage(project.paths, delete=True)
    assert build_dataset(project.paths, spec).id == gspc.id
    assert audit_project(project.paths).ok
    assert build_dataset(project.paths, DatasetSpec("a20", 1, 1.0, min_val_positives=0)).id \
        != everyone.id


def test_a_dataset_naming_an_excluded_ticker_says_why(sample_project_dir: Path) -> None:
    from fts.core.errors import ValidationError
    from fts.datasets.dataset import build_dataset
    from fts.datasets.spec import DatasetSpec
    from tests.features.test_build_failures import _empty_volume_on

    project = _project(sample_project_dir, {"GAPPY": 400})
    _empty_volume_on(project, "GAPPY", "2016-03-01")
    project.build_tier("a20", skip_invalid=True)
    with pytest.raises(ValidationError, match=r"GAPPY are excluded from tier a20's build .*"
                                              r"tier a20: columns obv, "):
        build_dataset(project.paths, DatasetSpec("a20", 1, 1.0, tickers=("GAPPY", "^GSPC")))


def test_a_dataset_registered_under_its_tier_builds_id_is_still_found(
        sample_project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fts.datasets.dataset as dataset_module
    from fts.datasets.spec import DatasetSpec

    project = _project(sample_project_dir, {"ACME": 600})
    project.build_tier("a20")
    spec = DatasetSpec("a20", 1, 1.0, tickers=("^GSPC",), min_val_positives=0)
    # As registered before datasets were keyed on their own tickers' rows.
    with monkeypatch.context() as m:
        m.setattr(dataset_module, "_tier_identity",
                  lambda tier, tickers: {"tier_manifest": tier.manifest.id})
        old = dataset_module.build_dataset(project.paths, spec)
    assert dataset_module.build_dataset(project.paths, spec).id == old.id
