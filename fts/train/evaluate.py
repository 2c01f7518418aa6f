"""Re-evaluating a stored run on its test split: refused unless forced, and a forced one is
recorded, so a reported test number is never the best of several looks."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import torch

from fts.core.errors import FtsError, ManifestMismatch, NotFoundError, ValidationError
from fts.core.hashing import canonical_json, sha256_file
from fts.core.paths import ProjectPaths
from fts.datasets import load_dataset
from fts.train.device import pick_device
from fts.train.loop import predict
from fts.train.metrics import classification_metrics
from fts.warehouse import connect, transaction
from models_torch import PatchTST, PatchTSTConfig


class TestAlreadyEvaluated(FtsError):
    """The run's test split was already evaluated; pass force=True to look again (recorded)."""


def find_run(paths: ProjectPaths, run_id: str) -> dict[str, Any]:
    """The `train.runs` row of a run id (a unique prefix is enough)."""
    with connect(paths.warehouse, read_only=True, project_root=paths.root) as con:
        rows = con.execute("SELECT * FROM train.runs WHERE starts_with(run_id, ?)", [run_id])
        cols = [d[0] for d in rows.description]
        found = [dict(zip(cols, r, strict=True)) for r in rows.fetchall()]
    if len(found) != 1:
        raise NotFoundError(f"run {run_id!r}: {'no run' if not found else 'ambiguous prefix'}")
    return found[0]


def load_checkpoint(path: Path, label: str) -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True`: tensors and plain values only.

    fts writes nothing else into a checkpoint; anything else (a pickled object, whose
    unpickling can run arbitrary code) is refused with a one-line `ValidationError`.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message is several paragraphs; its first line names the offending global.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationError(
            f"refused to load the checkpoint: it holds more than tensors and plain values, and "
            f"unpickling that could run code ({first})", source=label) from None


def evaluate_test(paths: ProjectPaths, run_id: str, *, force: bool = False) -> dict[str, Any]:
    """Evaluate a stored run's checkpoint on its dataset's test split."""
    run = find_run(paths, run_id)
    with connect(paths.warehouse, read_only=True, project_root=paths.root) as con:
        n = con.execute("SELECT count(*) FROM train.test_evaluations WHERE run_id = ?",
                        [run["run_id"]]).fetchall()[0][0]
    if n and not force:
        raise TestAlreadyEvaluated(
            f"run {run['run_id'][:12]}: the test split was already evaluated {n} time(s); "
            "looking again biases the result (use --force to do it anyway; it is recorded)")
    path = paths.absolute(run["checkpoint_path"])
    if sha256_file(path) != run["checkpoint_sha256"]:
        raise ManifestMismatch(f"{run['checkpoint_path']}: checkpoint does not match its hash")
    ckpt = load_checkpoint(path, run["checkpoint_path"])
    config = json.loads(run["config"])
    model = PatchTST(PatchTSTConfig.from_dict(config["model"]))
    model.load_state_dict(ckpt["state_dict"])
    dataset = load_dataset(paths, run["dataset_id"])
    device = pick_device()
    model.to(device)
    threshold = json.loads(run["val_metrics"])["threshold"]
    test = dataset.split("test")
    # The precision the run validated and first evaluated in (bf16 autocast or fp32).
    bf16 = bool(config["train"].get("bf16", False))
    metrics = classification_metrics(test.labels, predict(model, test, device, bf16=bf16), threshold)
    with connect(paths.warehouse, project_root=paths.root) as con, transaction(con):
        con.execute("INSERT INTO train.test_evaluations VALUES (?, now(), ?, ?)",
                    [run["run_id"], bool(n), canonical_json(metrics)])
    return metrics
