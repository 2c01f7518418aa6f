"""`fts.Project` has a method per command, and the CLI commands are thin calls to them."""

from __future__ import annotations

import inspect
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from fts.cli import cli
from fts.project import Project
from tests.test_cli_docs import _commands

# Each command and the Project method(s) it calls.
METHODS = {
    "fts audit": ["audit", "trace"], "fts build-tier": ["build_tier"],
    "fts describe": ["describe", "schema"], "fts evaluate": ["evaluate"], "fts gc": ["gc"],
    "fts hpo": ["hpo", "search"], "fts hpo dashboard": ["hpo_dashboard"],
    "fts hpo export": ["hpo_export"], "fts hpo list": ["hpo_list"],
    "fts hpo show": ["hpo_show"], "fts hpo sync": ["hpo_sync"], "fts hpo trials": ["hpo_trials"],
    "fts ingest": [], "fts ingest csv": ["ingest_csv"], "fts ingest sample": ["ingest_sample"],
    "fts ingest yfinance": ["ingest_yfinance"], "fts init": ["init"],
    "fts lineage": ["lineage"], "fts models": ["models"], "fts predict": ["predict", "load_run"],
    "fts report": ["report"], "fts run": ["run", "plan", "experiment"], "fts sql": ["sql"],
    "fts tiers": ["tiers"], "fts train": ["train", "dry_run"],
}


def test_every_command_has_a_documented_project_method() -> None:
    commands = {full for full, _ in _commands(cli)}
    assert commands == set(METHODS), "a command without its Project method(s) here"
    for full, names in METHODS.items():
        for name in names:
            method = getattr(Project, name, None)
            assert callable(method), f"{full}: Project.{name} is missing"
            assert (inspect.getdoc(method) or "").strip(), f"Project.{name} has no docstring"


@pytest.mark.parametrize("args, method, returned, printed", [
    (["evaluate", "abc", "--force"], "evaluate", {"roc_auc": 0.5}, '"roc_auc": 0.5'),
    (["report", "demo"], "report", Path("data/reports/demo/report.md"), "report written"),
    (["hpo", "sync", "postgresql://h/db", "s"], "hpo_sync", 3, "3 trials copied"),
    (["hpo", "export", "s", "--to", "sqlite:///x.db"], "hpo_export", 4, "4 trials copied"),
    (["predict", "abc"], "predict",
     pd.DataFrame({"ticker": ["A"], "date": [pd.Timestamp("2020-01-02").date()], "prob": [0.25]}),
     "2020-01-02"),
    (["run", "studies/demo.toml"], "run", [], "0 cells"),
])
def test_the_cli_is_a_thin_call_to_the_project(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], method: str,
    returned: object, printed: str,
) -> None:
    calls: list[tuple[tuple, dict]] = []

    def stub(self: Project, *a: object, **kw: object) -> object:
        calls.append((a, kw))
        return returned

    monkeypatch.setattr(Project, method, stub)
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "demo.toml").write_text(
        (Path(__file__).resolve().parent.parent / "studies" / "demo.toml").read_text())
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert len(calls) == 1 and printed in result.output
