"""`fts run --dry-run`: every cell with its real parameter count, and nothing written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

import fts.experiments.plan as plan_module
from fts.cli import cli
from fts.core.paths import ProjectPaths
from fts.experiments import load_experiment
from fts.train.arch import select_architecture
from fts.train.dryrun import n_features_of
from models_torch import PatchTST, PatchTSTConfig, count_parameters

# a100 is not built in the fixture: the dry run must say so, not build it.
STUDY = """
name = "plan"
tiers = ["a20", "a100"]
budgets = ["20K", "100K", "2B"]
horizons = [1, 3]
thresholds = [1.0]
trials = 2
seeds = [0, 1]
ctx_len = 32
[split]
mode = "tail_days"
val_days = 150
test_days = 150
folds = 2
[dataset]
min_val_positives = 0  # a smoke study on a short validation span: not about selection
"""


def snapshot(root: Path) -> tuple[list[Any], dict[str, list[str]]]:
    """The manifests/ and data/ file trees, and every warehouse table's rows."""
    files = sorted((p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                   for folder in ("manifests", "data") for p in (root / folder).rglob("*")
                   if p.is_file())
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                             "WHERE table_type = 'BASE TABLE'").fetchall()
        rows = {f"{s}.{t}": sorted(map(repr, con.execute(f'SELECT * FROM "{s}"."{t}"').fetchall()))
                for s, t in tables}
    return files, rows


def test_dry_run_lists_every_cell_with_real_parameter_counts_and_writes_nothing(
        built_project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A 16 GiB machine, whatever this one has: the 2B cells cannot fit it.
    monkeypatch.setattr(plan_module, "available_memory_bytes", lambda _device: 16 * 2**30)
    root = built_project_dir
    study = tmp_path / "plan.toml"
    study.write_text(STUDY)
    before = snapshot(root)
    text = CliRunner().invoke(cli, ["--project-dir", str(root), "run", str(study), "--dry-run"])
    assert text.exit_code == 0, text.output
    result = CliRunner().invoke(cli, ["--project-dir", str(root), "run", str(study), "--dry-run",
                                      "--json"])
    assert result.exit_code == 0, result.output
    assert snapshot(root) == before

    plans = json.loads(result.stdout)  # progress goes to stderr with --json
    keys = [f"{t}:{b}:h{h}:p1" for h in (1, 3) for t in ("a20", "a100") for b in ("20K", "100K", "2B")]
    assert [p["cell"] for p in plans] == keys
    assert "a100: not built" in text.output
    for key in keys:
        assert key in text.output
    paths = ProjectPaths(root)
    exp = load_experiment(study)
    for p in plans:
        n = n_features_of(paths, p["tier"])
        # The study's default levels: RevIN with its window stats fed to the head.
        cfg = select_architecture(p["budget"], n, 32, template=PatchTSTConfig(
            n_features=n, ctx_len=32, revin_stats=True))
        assert p["n_params"] == count_parameters(cfg)
        if p["budget"] == "2B":
            assert not p["fits"] and p["seconds_per_epoch"] is None
            assert p["n_params"] > 1_000_000_000
        else:
            assert p["n_params"] == sum(t.numel() for t in PatchTST(cfg).parameters())
            assert p["fits"] and p["estimate"] == "measured"
            assert p["train_samples"] > 0 and p["seconds_per_epoch"] > 0
            assert p["memory_bytes"] > 0
            # 2 trials x 2 fold models + 2 seeded final runs, every epoch.
            assert p["cell_hours"] == pytest.approx(
                p["seconds_per_epoch"] * exp.max_epochs * (2 * 2 + 2) / 3600)
    assert text.output.count("DOES NOT FIT") == 4
