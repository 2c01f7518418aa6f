"""Every feature of every shipped tier is written as DOUBLE, as its pandera schema declares:
a SQL expression of another type (a CASE of bare 0.0 literals is DECIMAL) is refused, never
written as another type."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fts.core.errors import ValidationError
from fts.project import Project
from tests.conftest import REPO


@pytest.fixture
def project_dir(sample_project_dir: Path) -> Path:
    shutil.copytree(REPO / "features_sql", sample_project_dir / "features_sql")
    return sample_project_dir


@pytest.mark.parametrize("tier", ["vix", "a20"])
def test_built_tiers_store_every_feature_as_float64(project_dir: Path, tier: str) -> None:
    result = Project(project_dir).build_tier(tier)
    schema = pq.read_schema(next((project_dir / result.target.parquet_path).glob("*.parquet")))
    features = [f for f in schema if f.name not in ("ticker", "date")]
    assert features and all(f.type == pa.float64() for f in features), [
        (f.name, str(f.type)) for f in features if f.type != pa.float64()]


def test_a_decimal_feature_is_refused(project_dir: Path) -> None:
    sql = project_dir / "features_sql" / "vix" / "vix_asof.sql"
    text = sql.read_text()
    assert "as double) as vix_regime" in text
    sql.write_text(text.replace("when close < 15 then 0 when close < 25 then 1 when close >= 25 "
                                "then 2 end\n             as double)",
                                "when close < 15 then 0.0 when close < 25 then 1.0 "
                                "when close >= 25 then 2.0 end\n             as decimal(2, 1))"))
    yml = project_dir / "features_sql" / "vix" / "vix.yml"
    yml.write_text(yml.read_text().replace("version: 2", "version: 3"))
    with pytest.raises(ValidationError, match=r"column vix_regime: check dtype\('float64'\)"):
        Project(project_dir).build_tier("vix")
    assert not list((project_dir / "data" / "tiers").rglob("*.parquet"))
