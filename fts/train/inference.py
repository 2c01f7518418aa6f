"""A stored run as a usable model: `load_run` and `predict_run` (`Project.load_run`,
`Project.predict`, `fts predict`).

A run's checkpoint carries its resolved config, its input columns in order and the dataset
rules that shaped them (spec and normalization); checkpoints written before those were stored
take them from the run's dataset manifest. Predictions go through fts.datasets.inference,
which builds windows with the same functions as the training dataset.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from fts.core.errors import ManifestMismatch
from fts.core.hashing import sha256_file
from fts.core.paths import ProjectPaths
from fts.datasets import DatasetSpec, SplitArrays
from fts.datasets.inference import prediction_windows
from fts.datasets.sources import dataset_manifest
from fts.train.device import pick_device
from fts.train.evaluate import find_run
from fts.train.loop import predict
from models_torch import PatchTST, PatchTSTConfig


@dataclass
class LoadedRun:
    """A stored run, ready to predict.

    model: the PatchTST with the run's best-epoch weights (eval mode, on the CPU).
    config: the resolved run config (as in `train.runs.config`).
    feature_names: the input columns, in the order the model reads them.
    dataset_spec: the dataset rules (tier, ctx_len, horizon, threshold, tickers, split, ...).
    normalization: how the inputs were normalised ({"method": ...}, z-score statistics of the
      train split when "train_zscore").
    decision_threshold: the probability cut chosen on the validation split.
    input_kinds: each feature's declared kind as the run's dataset recorded it (its
      `model_inputs`), for scale-free inputs; None for raw inputs.
    """

    run_id: str
    model: PatchTST
    config: dict[str, Any]
    feature_names: list[str]
    dataset_spec: DatasetSpec
    normalization: dict[str, Any]
    decision_threshold: float | None
    dataset_manifest_id: str
    input_kinds: list[str] | None = None

    @property
    def tier(self) -> str:
        return self.dataset_spec.tier

    @property
    def ctx_len(self) -> int:
        return self.dataset_spec.ctx_len


def load_run(paths: ProjectPaths, run_id: str) -> LoadedRun:
    """Open a stored run (a unique run id prefix is enough), verifying its checkpoint hash."""
    run = find_run(paths, run_id)
    path = paths.absolute(run["checkpoint_path"])
    if sha256_file(path) != run["checkpoint_sha256"]:
        raise ManifestMismatch(f"{run['checkpoint_path']}: checkpoint does not match its hash")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    config = json.loads(run["config"])
    manifest = dataset_manifest(None, paths, run["dataset_id"])
    if "feature_names" in ckpt:
        names, spec, norm = ckpt["feature_names"], ckpt["dataset_spec"], ckpt["normalization"]
    else:  # a checkpoint from before they were stored: the dataset manifest has them
        names, spec, norm = (manifest["feature_names"], manifest["spec"],
                             manifest["normalization"])
    # The kinds the training dataset transformed by (not today's declarations, which may have
    # been corrected since): predictions see exactly the inputs the model was trained on.
    recorded = (manifest.get("model_inputs") or {}).get("features")
    kinds = [recorded[n]["kind"] for n in names] if recorded else None
    model = PatchTST(PatchTSTConfig.from_dict(config["model"]))
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    threshold = json.loads(run["val_metrics"]).get("threshold")
    return LoadedRun(run["run_id"], model, config, list(names), DatasetSpec.from_dict(spec),
                     dict(norm), threshold, run["dataset_id"], kinds)


def predict_run(
    paths: ProjectPaths, run: LoadedRun, *, dates: Sequence[dt.date] | None = None,
    since: dt.date | None = None, device: str = "auto",
) -> pd.DataFrame:
    """Probabilities of `run` on its tier's current build: for `dates`, every date from
    `since`, or (neither) each ticker's latest date. Columns: ticker, date, prob (by ticker,
    date)."""
    target = pick_device(device)
    found = prediction_windows(paths, run.dataset_spec, run.feature_names, run.normalization,
                               dates=dates, since=since, kinds=run.input_kinds)
    n = len(found.windows)
    split = SplitArrays(found.windows, np.zeros(n, dtype=np.int8), found.dates)
    bf16 = bool(run.config.get("train", {}).get("bf16", False))
    run.model.to(target)
    try:
        probs = predict(run.model, split, target, bf16=bf16)
    finally:
        run.model.to("cpu")
    return pd.DataFrame({"ticker": found.tickers, "date": pd.to_datetime(found.dates).date,
                         "prob": probs})
