"""The core install works without the optional extras; a command that needs one says which."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fts.cli import cli
from fts.core.errors import ConfigError
from fts.core.paths import ProjectPaths


def test_yfinance_missing_is_one_line_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "yfinance", None)  # `import yfinance` now fails
    result = CliRunner().invoke(cli, ["--project-dir", str(tmp_path), "ingest", "yfinance", "SPY"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: fts ingest yfinance needs the yfinance package: pip install 'fts[yfinance]'"]
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_postgres_driver_missing_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from fts.hpo.storage import study_storage

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "psycopg" else real(name, *a))
    with pytest.raises(ConfigError, match=r"needs psycopg.*pip install 'fts\[postgres\]'"):
        study_storage(ProjectPaths(tmp_path), "postgresql://u@127.0.0.1:1/db")


def test_the_dashboard_extra_missing_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)
    result = CliRunner().invoke(cli, ["--project-dir", str(tmp_path), "hpo", "dashboard"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [(
        "error: fts hpo dashboard needs optuna-dashboard: pip install 'fts[dashboard]'")]


def test_the_core_dependencies_leave_the_extras_out() -> None:
    import tomllib

    meta = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    core = " ".join(meta["project"]["dependencies"]).lower()
    for extra_only in ("yfinance", "psycopg", "arch", "plotly", "optuna-dashboard"):
        assert extra_only not in core
    assert "torch>=" in core and "torch==" not in core
    assert meta["project"]["requires-python"] == ">=3.11"
    extras = meta["project"]["optional-dependencies"]
    assert {"yfinance", "postgres", "viz", "dashboard", "dev"} <= set(extras)
    assert "fts[yfinance,postgres,viz,dashboard]" in extras["dev"]
