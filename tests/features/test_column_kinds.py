"""Column kinds: every declared column says how it depends on the price and volume scale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fts.cli import cli
from fts.core.errors import ConfigError
from fts.features.declarations import KINDS, load_feature_project
from tests.features.toy import make_toy_project

REPO = Path(__file__).resolve().parents[2]


def test_every_shipped_column_declares_one_of_the_four_kinds() -> None:
    project = load_feature_project(REPO / "features_sql")
    for tier in ("vix", "a20", "a50", "a100"):
        kinds = {c.name: c.kind for c in project.columns(tier)}
        assert set(kinds.values()) <= set(KINDS), tier
    a100 = {c.name: c.kind for c in project.columns("a100")}
    # Hand-checked against the definitions: only these depend on the price or volume scale.
    assert sorted(n for n, k in a100.items() if k == "price_level") == sorted(
        ["dema_9", "dema_10", "dema_20", "dema_25", "dema_90", "sma_12", "sma_50", "sma_100",
         "sma_200", "vwap_20", "ema_12", "ema_26"])
    assert sorted(n for n, k in a100.items() if k == "price_difference") == sorted(
        ["macd_line", "atr_14", "macd_histogram", "sma_50_slope", "sma_200_slope"])
    assert sorted(n for n, k in a100.items() if k == "volume_scaled") == ["adosc", "kvo_signal", "obv"]
    assert {c.kind for c in project.columns("vix")} == {"scale_free"}


@pytest.mark.parametrize("line, message", [
    ("", "column ret_1: no `kind`"),
    ("    kind: percent\n", "column ret_1: kind 'percent'"),
])
def test_a_missing_or_unknown_kind_is_an_error_naming_file_and_column(
        tmp_path: Path, line: str, message: str) -> None:
    make_toy_project(tmp_path)
    meta = tmp_path / "features_sql" / "toy" / "toy.yml"
    meta.write_text(meta.read_text().replace("    kind: scale_free\n", line, 1))
    with pytest.raises(ConfigError, match=message) as err:
        load_feature_project(tmp_path / "features_sql")
    assert str(meta) in str(err.value) and "price_level" in str(err.value)


def test_a_kind_is_metadata_it_does_not_change_the_build_or_version(tmp_path: Path) -> None:
    project = make_toy_project(tmp_path)
    first = project.build_tier("toy").target
    meta = tmp_path / "features_sql" / "toy" / "toy.yml"
    meta.write_text(meta.read_text().replace("kind: price_level", "kind: price_difference"))
    again = project.build_tier("toy").target
    assert again.up_to_date and again.manifest_id == first.manifest_id


def test_describe_shows_each_columns_kind(tmp_path: Path) -> None:
    make_toy_project(tmp_path)
    runner = CliRunner()
    out = runner.invoke(cli, ["--project-dir", str(tmp_path), "describe", "toy"])
    assert out.exit_code == 0, out.output
    line = next(x for x in out.output.splitlines() if x.strip().startswith("close_x2"))
    assert "price_level" in line
    doc = json.loads(runner.invoke(cli, ["--project-dir", str(tmp_path), "describe", "toy",
                                         "--json"]).output)
    assert {c["name"]: c["kind"] for c in doc["columns"]} == {"ret_1": "scale_free",
                                                             "close_x2": "price_level"}
