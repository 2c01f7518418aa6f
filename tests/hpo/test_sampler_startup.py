"""Small searches search: TPE's random start-up never takes more than half the study."""

from __future__ import annotations

import pytest

from fts.hpo.sampler import startup_trials


@pytest.mark.parametrize(("n_trials", "startup"), [(1, 1), (3, 1), (4, 2), (10, 5), (16, 8),
                                                     (30, 8)])
def test_random_start_up_is_at_most_half_the_study(n_trials: int, startup: int) -> None:
    assert startup_trials(n_trials) == startup


@pytest.mark.parametrize(("n_trials", "startup"), [(4, 2), (30, 8)])
def test_a_study_opens_with_the_start_up_its_size_allows(tmp_path, n_trials: int,
                                                          startup: int) -> None:
    from fts.core.paths import ProjectPaths
    from fts.hpo.search import open_study
    from fts.hpo.study import StudySpec

    spec = StudySpec(tier="a20", budget="20K", ctx_len=32, name=f"s{n_trials}")
    study, _ = open_study(ProjectPaths(tmp_path), spec, None, "dataset-id", 20, n_trials)
    assert study.sampler._n_startup_trials == startup
