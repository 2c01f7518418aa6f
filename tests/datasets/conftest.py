"""A shared synthetic project: 2 tickers x 1500 business days, tiers t20 (warm-up 20 rows) and
t50 (warm-up 300 rows, so it starts later). Tests that change a tier use their own project."""

from __future__ import annotations

import pytest

from fts.core.paths import ProjectPaths
from tests.datasets.helpers import Prices, make_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectPaths, dict[str, Prices]]:
    return make_project(tmp_path_factory.mktemp("datasets"))
