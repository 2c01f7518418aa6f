"""`fts describe TIER --schema`: the pandera schema that validates the tier, as YAML."""

from __future__ import annotations

from pathlib import Path

import pandera.pandas as pa
import pytest
import yaml
from click.testing import CliRunner

from fts.cli import cli
from fts.project import Project


def _schema(project: Path, tier: str) -> tuple[str, dict]:
    result = CliRunner().invoke(cli, ["--project-dir", str(project), "describe", tier, "--schema"])
    assert result.exit_code == 0, result.output
    return result.output, yaml.safe_load(result.output)


def test_the_schema_lists_every_declared_column_with_its_checks(built_project_dir: Path) -> None:
    text, doc = _schema(built_project_dir, "a20")
    declared = [c["name"] for c in Project(built_project_dir).describe("a20")["columns"]]
    assert list(doc["columns"]) == ["ticker", "date", *declared]
    # Declared [0, 100], widened by the rounding it allows: 1e-9 of the range (docs/features.md).
    assert doc["columns"]["rsi_daily"]["in_range"] == {
        "min_value": pytest.approx(-1e-7, abs=1e-15),
        "max_value": pytest.approx(100 + 1e-7, abs=1e-12), "include_min": True, "include_max": True}
    assert doc["strict"] is True and doc["ordered"] is True
    # The volume check names the columns that may be null and the tickers with volume now.
    (volume,) = doc["checks"]
    assert volume["options"]["check_name"] == "volume_null_only_without_volume"
    assert "obv" in volume["columns"] and volume["tickers"] == ["^GSPC"]
    assert isinstance(pa.DataFrameSchema.from_yaml(text), pa.DataFrameSchema)


def test_the_printed_schema_validates_the_built_tier(built_project_dir: Path) -> None:
    text, _ = _schema(built_project_dir, "a20")
    frame = Project(built_project_dir).sql("select * from a20").to_pandas()
    pa.DataFrameSchema.from_yaml(text).validate(frame, lazy=True)
    frame.loc[5, "rsi_daily"] = 101.0
    with pytest.raises(pa.errors.SchemaErrors, match="rsi_daily"):
        pa.DataFrameSchema.from_yaml(text).validate(frame, lazy=True)


def test_an_unknown_tier_is_one_line_on_stderr(built_project_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["--project-dir", str(built_project_dir), "describe",
                                      "nope", "--schema"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: unknown tier 'nope' (declared tiers: a100, a20, a200, a50, vix)"]
