"""Store a finished run: checkpoint file, run manifest, and rows in `train.runs`/`train.epochs`."""

from __future__ import annotations

import io
import platform
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import torch
from torch import nn

from fts.core.hashing import canonical_json, sha256_bytes, table_content_sha256
from fts.core.manifest import Input, Manifest
from fts.core.paths import ProjectPaths
from fts.datasets import Dataset
from fts.train.loop import FitResult
from fts.train.request import RunRequest
from fts.warehouse.publish import Publication

RUN_FORMAT = 1


@dataclass(frozen=True)
class RunRecord:
    """A stored run."""

    run_id: str
    n_params: int
    val_metrics: dict[str, Any]
    test_metrics: dict[str, Any] | None
    best_epoch: int
    epochs_run: int
    checkpoint_path: str
    config: dict[str, Any]
    history: list[dict[str, float]]


def store_run(
    paths: ProjectPaths, request: RunRequest, dataset: Dataset, model: nn.Module,
    resolved: dict[str, Any], result: FitResult, val_metrics: dict[str, Any],
    test_metrics: dict[str, Any] | None, predictions: dict[str, Any] | None = None,
) -> RunRecord:
    """Publish the checkpoint (named by its hash), the manifest and the run's rows together."""
    buffer = io.BytesIO()
    torch.save({"format": RUN_FORMAT, "config": resolved, "dataset_manifest_id": dataset.id,
                "best_epoch": result.best_epoch,
                # What a model needs to be used without guessing: its input columns in order
                # and the dataset rules that shaped them (fts.train.inference reads these).
                "feature_names": list(dataset.feature_names),
                "dataset_spec": dataset.manifest["spec"],
                "normalization": dataset.manifest["normalization"],
                "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}, buffer)
    data = buffer.getvalue()
    ckpt_sha = sha256_bytes(data)
    rel = f"data/runs/{ckpt_sha[:24]}.pt"
    prediction_hashes = {
        split: table_content_sha256(pa.Table.from_pandas(frame, preserve_index=False))
        for split, frame in (predictions or {}).items()
    }
    manifest = Manifest.create(
        kind="run", name=f"{request.tier}-h{request.horizon}-p{request.threshold_pct:g}",
        version=RUN_FORMAT,
        inputs=[Input(dataset.id, "dataset", dataset.manifest["arrays_content_sha256"])]
        + ([Input(request.study_manifest[0], "study", request.study_manifest[1])]
           if request.study_manifest else []),
        purpose=request.purpose, study=request.study, trial_number=request.trial_number,
        config=resolved, n_params=resolved["n_params"],
        best_epoch=result.best_epoch, epochs_run=result.epochs_run, history=result.history,
        val_metrics=val_metrics, test_metrics=test_metrics, seconds=result.seconds,
        outputs=[{"path": rel, "sha256": ckpt_sha, "bytes": len(data)}],
        predictions_sha256=prediction_hashes,
        environment={"python": platform.python_version(), "torch": torch.__version__,
                     "device": resolved["device"]},
    )

    def rows(con: Any) -> None:
        con.execute(
            """INSERT INTO train.runs VALUES (?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
               ?, ?, ?, ?, ?)""",
            [manifest.id, request.tier, dataset.id, request.horizon, request.threshold_pct,
             request.budget, resolved["n_params"], request.train.seed, canonical_json(resolved),
             canonical_json(val_metrics), canonical_json(test_metrics) if test_metrics else None,
             result.best_epoch, result.epochs_run, result.seconds, resolved["device"], rel,
             ckpt_sha, request.purpose, request.study, request.trial_number],
        )
        con.executemany(
            "INSERT INTO train.epochs VALUES (?, ?, ?, ?, ?)",
            [[manifest.id, h["epoch"], h["train_loss"], h["val_loss"], h["lr"]]
             for h in result.history],
        )
        if test_metrics is not None:
            con.execute("INSERT INTO train.test_evaluations VALUES (?, now(), FALSE, ?)",
                        [manifest.id, canonical_json(test_metrics)])
        for split, frame in (predictions or {}).items():
            con.register("__preds", frame.assign(run_id=manifest.id, split=split))
            con.execute("INSERT INTO train.predictions SELECT run_id, split, date, ticker, "
                        "label, prob FROM __preds")
            con.unregister("__preds")

    with Publication(paths) as pub:  # the checkpoint is named by its hash
        pub.commit([(manifest, [pub.stage_bytes(rel, data)])], rows)
    return RunRecord(manifest.id, resolved["n_params"], val_metrics, test_metrics,
                     result.best_epoch, result.epochs_run, rel, resolved, result.history)
