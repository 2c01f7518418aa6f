"""`sources:` in project.yml is checked when it is read, and a model naming a source that is not
declared is refused in one line that names the file and the fix, with nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fts.core.errors import BuildError, ConfigError
from fts.features import load_feature_project
from tests.features.toy import make_toy_project, tree_snapshot
from tests.ingest.helpers import run_fts

BARS = {"name": "ohlcv", "kind": "ohlcv"}
VIX = {"name": "vix", "kind": "series", "ticker": "^VIX", "max_staleness_days": 5}


def _project_with(tmp_path: Path, sources: object) -> Path:
    root = tmp_path / "features_sql"
    root.mkdir()
    (root / "project.yml").write_text(yaml.safe_dump({"sources": sources}))
    return root


@pytest.mark.parametrize(("sources", "message"), [
    ({"name": "ohlcv"}, "`sources` must be a list of mappings"),
    ([BARS, {"kind": "series"}], "source #2 needs at least a `name` and a `kind`"),
    ([BARS, {**VIX, "kind": "table"}], "source vix: kind 'table'; declare `kind:` as one of ohlcv, series"),
    ([BARS, {"name": "vix", "ticker": "^VIX"}], "source vix: no `kind`"),
    ([BARS, VIX, VIX], "source 'vix' is declared twice"),
    ([BARS, {**VIX, "ticker": None}], "source vix: a series needs `ticker:`"),
    ([BARS, {k: v for k, v in VIX.items() if k != "max_staleness_days"}],
     "source vix: a series needs `max_staleness_days:`"),
    ([BARS, {**VIX, "max_staleness_days": -1}], "a series needs `max_staleness_days:`"),
    ([BARS, {**VIX, "columns": ["close", "adj"]}], "`columns` must list distinct raw columns"),
    ([BARS, {**VIX, "max_stale_days": 5}], "unknown key(s) max_stale_days for kind series"),
    ([{**BARS, "ticker": "X"}], "source ohlcv: unknown key(s) ticker for kind ohlcv"),
    ([VIX], "declare exactly one source of kind `ohlcv`"),
    ([BARS, {**BARS, "name": "bars"}], "exactly one source of kind `ohlcv` (the per-ticker bars), found ohlcv, bars"),
    ([BARS, {**VIX, "name": "my-vix"}], "a source name is letters, digits and underscores"),
])
def test_a_bad_declaration_is_refused_naming_the_file(tmp_path: Path, sources, message) -> None:
    root = _project_with(tmp_path, sources)
    with pytest.raises(ConfigError) as err:
        load_feature_project(root)
    assert str(err.value).startswith(f"{root / 'project.yml'}: ")
    assert message in str(err.value)


def test_a_bad_declaration_is_one_line_from_the_cli(tmp_path: Path) -> None:
    make_toy_project(tmp_path)
    yml = tmp_path / "features_sql" / "project.yml"
    yml.write_text(yml.read_text().replace("kind: series", "kind: serie"))
    result = run_fts(tmp_path, "describe", "toy")
    assert result.exit_code == 1
    assert result.stderr == (f"error: {yml}: source vix: kind 'serie'; declare `kind:` as one of "
                             "ohlcv, series\n")


def test_declarations_are_read_with_their_defaults(tmp_path: Path) -> None:
    project = load_feature_project(_project_with(tmp_path, [BARS, {**VIX, "ticker": "^vix"}]))
    vix = project.sources["vix"]
    assert (vix.ticker, vix.columns, vix.max_staleness_days) == ("^VIX", ("close",), 5)
    assert project.ohlcv_source == "ohlcv"
    # A project.yml from before sources existed reads the bars only.
    (tmp_path / "features_sql" / "project.yml").write_text("vars: {}\n")
    assert list(load_feature_project(tmp_path / "features_sql").sources) == ["ohlcv"]


@pytest.mark.parametrize(("model", "old", "new", "message"), [
    ("toy/toy.sql", "source('ohlcv')", "source('rates')",
     "toy.sql: source('rates') names no declared source; declare it under `sources:` in "
     "features_sql/project.yml (declared: ohlcv, vix)"),
    ("toy/toy.sql", "source('ohlcv')", "source('raw', 'ohlcv')",
     "toy.sql: source('raw', 'ohlcv'): name one declared source; write source('ohlcv')"),
    ("toy/toy_double.py", 'ctx.source("ohlcv")', 'ctx.source("rates")',
     "toy_double.py:5: ctx.source('rates') names no declared source"),
    ("toy2/toy2.sql", "as_of('vix')", "as_of('ohlcv')", "as_of('ohlcv'): ohlcv is the bars source (kind ohlcv)"),
])
def test_an_undeclared_source_is_refused_in_one_line(tmp_path: Path, model, old, new, message):
    make_toy_project(tmp_path)
    path = tmp_path / "features_sql" / model
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    before = tree_snapshot(tmp_path)
    result = run_fts(tmp_path, "build-tier", "toy2")
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert tree_snapshot(tmp_path) == before


def test_a_series_column_without_values_is_named(tmp_path: Path) -> None:
    project = make_toy_project(tmp_path)  # ^VIX is close-only: no open values
    yml = tmp_path / "features_sql" / "project.yml"
    yml.write_text(yml.read_text().replace("max_staleness_days: 5", "max_staleness_days: 5\n"
                                           "    columns: [open, close]"))
    with pytest.raises(BuildError, match=r"source vix: ticker \^VIX has no open values"):
        project.build_tier("toy2")


def test_the_series_declaration_is_part_of_the_definition(tmp_path: Path) -> None:
    """Pointing a series at another ticker changes what its readers compute: refused under the
    same version; its description does not count."""
    project = make_toy_project(tmp_path, tickers=("AAA", "BBB"))
    project.build_tier("toy2")
    yml = tmp_path / "features_sql" / "project.yml"
    original = yml.read_text()
    yml.write_text(original.replace("kind: series", "kind: series\n    description: fear gauge"))
    assert project.build_tier("toy2").up_to_date
    yml.write_text(original.replace('ticker: "^VIX"', 'ticker: "BBB"'))
    with pytest.raises(ConfigError, match="tier toy2: its definition changed but its version"):
        project.build_tier("toy2")
    project.build_tier("toy")  # toy reads no series: its definition is unchanged


def test_describe_lists_the_sources_a_tier_reads(tmp_path: Path) -> None:
    make_toy_project(tmp_path)
    lines = run_fts(tmp_path, "describe", "toy2").stdout.splitlines()
    assert "  sources: ohlcv (ohlcv), vix (series ^VIX close, NULL after 5 days)" in lines
    assert "  sources: ohlcv (ohlcv)" in run_fts(tmp_path, "describe", "toy").stdout.splitlines()
