"""Channel levels in a study: RevIN's stats path and the normalization are part of the study's
identity (a resume asking for others is refused), a study stored before they existed reads as
RevIN without stats, and the architecture list is counted with the stats path."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from fts.core.errors import ConfigError
from fts.hpo import journal_storage
from fts.hpo.search import open_study
from fts.hpo.space import build_space, parse_arch_key
from fts.hpo.study import StudySpec
from fts.project import Project
from fts.train.dryrun import n_features_of
from models_torch import PatchTST, PatchTSTConfig


def _spec(name: str, **kw: object) -> StudySpec:
    return StudySpec(tier="a20", budget="20K", ctx_len=32, name=name, **kw)  # type: ignore[arg-type]


def test_a_study_resumed_with_other_levels_is_refused(built_project_dir: Path) -> None:
    paths = Project(built_project_dir).paths
    n = n_features_of(paths, "a20")
    study, space = open_study(paths, _spec("lv"), None, "ds", n, 1)
    assert study.user_attrs["revin_stats"] is True and study.user_attrs["normalization"] == "revin"
    # Every architecture's count is the real module's, with the 2C stats inputs of the head.
    for key in space.archs[:3]:
        model = PatchTST(PatchTSTConfig(n_features=n, ctx_len=32, revin_stats=True,
                                        **parse_arch_key(key)))
        assert space.n_params[key] == sum(p.numel() for p in model.parameters())
    with pytest.raises(ConfigError, match="revin_stats: study has True, asked False"):
        open_study(paths, _spec("lv", revin_stats=False), None, "ds", n, 1)


def test_a_study_stored_before_the_levels_reads_as_revin_without_stats(
        built_project_dir: Path) -> None:
    paths = Project(built_project_dir).paths
    n = n_features_of(paths, "a20")
    legacy = _spec("old", revin_stats=False)
    study = optuna.create_study(study_name="old", storage=journal_storage(paths))
    for key, value in legacy.identity("ds").items():
        if key not in ("normalization", "revin_stats"):  # what an older fts stored
            study.set_user_attr(key, value)
    study.set_user_attr("search_space", build_space("20K", n, 32).to_dict())
    open_study(paths, legacy, None, "ds", n, 1)  # the same settings: resumed
    with pytest.raises(ConfigError, match="revin_stats: study has False, asked True"):
        open_study(paths, _spec("old"), None, "ds", n, 1)
