"""The search space: channel modes as a dimension, the centre, and which trials go first."""

from __future__ import annotations

import pytest

from fts.core.errors import ConfigError
from fts.hpo.space import SearchSpace, build_space, first_trials, key_channels, parse_arch_key
from fts.train.arch import select_architecture
from models_torch import PatchTSTConfig, count_parameters


@pytest.mark.parametrize("channels", ["independent", "mixed"])
def test_a_mode_space_holds_real_counts_and_the_train_default_as_centre(channels):
    space = build_space("20K", 20, 32, channels)
    assert {key_channels(k) for k in space.archs} == {channels}
    for key in space.archs[::5] + (space.centre,):
        cfg = PatchTSTConfig(n_features=20, ctx_len=32, channels=channels, **parse_arch_key(key))
        assert count_parameters(cfg) == space.n_params[key]
    template = PatchTSTConfig(n_features=20, ctx_len=32, channels=channels)
    picked = select_architecture("20K", 20, 32, template=template)
    assert space.centre in space.archs
    assert parse_arch_key(space.centre) == {k: getattr(picked, k) for k in
                                            parse_arch_key(space.centre)}


def test_search_mode_holds_both_grids():
    both = build_space("20K", 20, 32, "search")
    ind, mix = build_space("20K", 20, 32), build_space("20K", 20, 32, "mixed")
    assert set(both.archs) == set(ind.archs) | set(mix.archs)
    assert {key_channels(k) for k in both.archs} == {"independent", "mixed"}
    assert len(both.extremes) == len(ind.extremes) + len(mix.extremes)
    with pytest.raises(ConfigError, match="channels"):
        build_space("20K", 20, 32, "both")


def test_extremes_go_first_only_when_tpe_keeps_as_many_trials():
    space = build_space("20K", 20, 32)
    n = len(space.extremes)
    assert n >= 3
    assert first_trials(space, 2 * n) == list(space.extremes)
    assert first_trials(space, 2 * n - 1) == [("centre", space.centre)]
    assert first_trials(space, 1) == [("centre", space.centre)]


def test_a_space_stored_before_the_centre_falls_back_to_the_median():
    data = build_space("20K", 20, 32).to_dict()
    del data["centre"]
    old = SearchSpace.from_dict(data)
    counts = sorted(old.n_params[k] for k in old.archs)
    assert old.n_params[old.centre_key()] == counts[len(counts) // 2]


def test_a_study_stored_before_channel_modes_resumes_as_independent(paths) -> None:
    import optuna

    from fts.hpo import journal_storage
    from fts.hpo.search import open_study
    from fts.hpo.study import StudySpec

    spec = StudySpec(tier="a20", budget="20K", ctx_len=32, name="old")
    study = optuna.create_study(study_name="old", storage=journal_storage(paths))
    for key, value in spec.identity("ds").items():
        if key != "channels":  # what a study created before the field holds
            study.set_user_attr(key, value)
    study.set_user_attr("search_space", {k: v for k, v in build_space("20K", 20, 32).to_dict()
                                         .items() if k != "centre"})
    _, space = open_study(paths, spec, None, "ds", 20, 1)  # the same study: no error
    assert not space.centre and space.centre_key() in space.archs
    with pytest.raises(ConfigError, match="channels: study has 'independent', asked 'mixed'"):
        open_study(paths, spec.replace(channels="mixed"), None, "ds", 20, 1)
