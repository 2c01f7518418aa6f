"""Positives per split and fold, and the rule that selection data holds enough of them."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fts.core.errors import ValidationError
from fts.datasets import DatasetSpec, SplitPolicy, build_dataset
from fts.datasets.splits import to_days
from tests.datasets.helpers import naive_labels

FOLDS = SplitPolicy(val_days=150, test_days=150, folds=3, fold_val_days=100)


def _written(paths) -> set[str]:
    dirs = [paths.datasets_data, paths.manifests / "dataset"]
    return {str(p) for d in dirs if d.exists() for p in d.iterdir()}


def _independent_positives(prices, region: dict, h: int, p: float) -> int:
    """Positives of a region counted from raw bars by the target's definition (purge included)."""
    lo = to_days(np.datetime64(region["first_date"]).astype(object))
    hi = to_days(np.datetime64(region["end_date_exclusive"]).astype(object))
    total = 0
    for bars in prices.values():
        labels = np.asarray(naive_labels(bars.high, bars.close, h, p))
        guard = np.append(bars.days[h:], [np.iinfo(np.int64).max] * h)
        keep = (bars.days >= lo) & (bars.days < hi) & (guard < hi)
        total += int(np.nansum(labels[keep]))
    return total


def test_positives_are_counted_per_split_and_fold_and_summed_for_selection(project) -> None:
    paths, prices = project
    ds = build_dataset(paths, DatasetSpec("t20", 1, 1.0, split=FOLDS, min_val_positives=0))
    counts = ds.manifest["counts"]
    for name in ("fold0.val", "fold1.val", "fold2.val", "val", "test", "fold0.train"):
        assert counts[name]["positives"] == int((ds.split(name).labels == 1).sum())
    regions = ds.manifest["split"]["regions"]
    for name in ("fold0.val", "fold1.val", "val"):  # val is the last fold's block
        assert counts[name]["positives"] == _independent_positives(prices, regions[name], 1, 1.0)
    sel = ds.manifest["selection"]
    assert sel["splits"] == ["fold0.val", "fold1.val", "fold2.val"]
    assert sel["positives"] == sum(counts[f"fold{j}.val"]["positives"] for j in range(3))
    assert sel["min_val_positives"] == 0 and ds.spec.min_val_positives == 0


def test_too_few_selection_positives_is_refused_in_one_line_writing_nothing(project) -> None:
    paths, _ = project
    allowed = build_dataset(paths, DatasetSpec("t20", 1, 1.0, split=FOLDS, min_val_positives=0))
    have = allowed.manifest["selection"]["positives"]
    before = _written(paths)
    with pytest.raises(ValidationError) as err:
        build_dataset(paths, DatasetSpec("t20", 1, 1.0, split=FOLDS, min_val_positives=have + 1))
    message = str(err.value)
    assert "\n" not in message
    assert re.search(rf"fold0.val, fold1.val, fold2.val\) has {have} positive labels, fewer than "
                     rf"min_val_positives {have + 1}", message)
    assert "val_days" in message and "min_val_positives = 0" in message
    assert _written(paths) == before
    # Exactly enough passes; the rule without folds names the validation split.
    build_dataset(paths, DatasetSpec("t20", 1, 1.0, split=FOLDS, min_val_positives=have))
    single = SplitPolicy(val_days=150, test_days=150)
    with pytest.raises(ValidationError, match=r"validation split 'val' has \d+ positive labels"):
        build_dataset(paths, DatasetSpec("t20", 1, 1.0, split=single, min_val_positives=10_000))


def test_the_override_is_part_of_the_dataset_identity(project) -> None:
    paths, _ = project
    a = build_dataset(paths, DatasetSpec("t20", 1, 1.0, split=FOLDS, min_val_positives=0))
    b = build_dataset(paths, DatasetSpec("t20", 1, 1.0, split=FOLDS, min_val_positives=1))
    assert a.id != b.id
    assert (a.manifest["spec"]["min_val_positives"], b.manifest["spec"]["min_val_positives"]) == (0, 1)


def test_fts_train_refuses_too_few_positives_in_one_line_and_records_an_override(
        built_project_dir) -> None:
    import json

    from click.testing import CliRunner

    from fts.cli import cli
    from fts.core.hashing import sha256_file

    def tree() -> dict[str, str]:
        root = built_project_dir
        return {str(f.relative_to(root)): sha256_file(f) for f in sorted(root.rglob("*"))
                if f.is_file() and f.parts[len(root.parts)] in ("data", "manifests")}

    args = ["--project-dir", str(built_project_dir), "train", "--tier", "a20", "--budget", "20K",
            "--horizon", "1", "--threshold", "1", "--ctx", "16", "--epochs", "1",
            "--max-batches", "1"]
    before = tree()
    refused = CliRunner().invoke(cli, [*args, "--min-val-positives", "76"])
    assert refused.exit_code == 1
    errors = [line for line in refused.output.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "Traceback" not in refused.output
    # fts train's split on the sample: one validation block over the 600 days the 3 folds of
    # the studies cover, 75 positives (docs/datasets.md): what the run stops and thresholds on.
    assert "validation split 'val' has 75 positive labels" in errors[0]
    assert tree() == before
    done = CliRunner().invoke(cli, [*args, "--min-val-positives", "0", "--json"])
    assert done.exit_code == 0, done.output
    run_id = json.loads(done.output[done.output.index("{"):])["run_id"]
    from fts.project import Project

    config = json.loads(Project(built_project_dir).sql(
        f"select config from train.runs where run_id = '{run_id}'").to_pylist()[0]["config"])
    assert config["dataset"]["min_val_positives"] == 0 and config["dataset"]["inputs"] == "scale_free"

