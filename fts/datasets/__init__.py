"""Datasets: leakage-free training sets assembled from a built tier and raw-price targets.

A dataset joins a tier's feature rows to `threshold_{p}pct` labels computed from raw prices,
chooses the samples that have a full window of ctx_len rows and a label, splits them by date
into train / val / test (purged so that no label window crosses into a later split), and
stores one float32 feature matrix plus the end row of every sample. No torch here: the
trainer turns the numpy arrays into tensors. See docs/datasets.md.
"""

from fts.datasets.dataset import (
    Dataset,
    SplitArrays,
    build_dataset,
    common_sample_start,
    load_dataset,
    split_counts,
)
from fts.datasets.inputs import INPUTS
from fts.datasets.normalize import NORMALIZATIONS
from fts.datasets.spec import DatasetSpec
from fts.datasets.splits import (
    MIN_SAMPLES,
    MIN_VAL_POSITIVES,
    PRETEST_SPLITS,
    SELECTION_SPLIT,
    SplitPolicy,
)
from fts.datasets.targets import TargetSpec, threshold_labels
from fts.datasets.windows import WindowSet

__all__ = [
    "INPUTS",
    "MIN_SAMPLES",
    "MIN_VAL_POSITIVES",
    "PRETEST_SPLITS",
    "SELECTION_SPLIT",
    "NORMALIZATIONS",
    "Dataset",
    "DatasetSpec",
    "SplitArrays",
    "SplitPolicy",
    "TargetSpec",
    "WindowSet",
    "build_dataset",
    "common_sample_start",
    "load_dataset",
    "split_counts",
    "threshold_labels",
]
