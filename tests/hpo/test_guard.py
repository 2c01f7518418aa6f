"""The guard that a sampled setting reaches the run it configured: a trial whose sampled value
is dropped on the way to the trainer is failed, never recorded as if it had trained with it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from fts.core.errors import FtsError
from fts.hpo.guard import SampledParamLost, check_params_reached
from fts.hpo.search import run_study
from fts.hpo.space import arch_settings, parse_arch_key
from fts.hpo.study import StudySpec
from fts.project import Project
from fts.train.config import TrainConfig

ARCH = "d16-L1-H2-ff32-p8s4"
PARAMS = {"arch": ARCH, "lr": 1e-3, "weight_decay": 0.05, "dropout": 0.1}
RESOLVED = {"model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32, "patch_len": 8,
                      "stride": 4, "dropout": 0.1},
            "train": {"lr": 1e-3, "weight_decay": 0.05}}
EXPAND = {"arch": parse_arch_key}


def test_a_config_that_carries_every_sampled_value_passes() -> None:
    check_params_reached(PARAMS, RESOLVED, EXPAND)


@pytest.mark.parametrize(("section", "key", "value", "named"), [
    ("train", "weight_decay", 0.01, "weight_decay=0.05"),   # the default won over the sample
    ("train", "lr", 3e-3, "lr=0.001"),
    ("model", "dropout", 0.0, "dropout=0.1"),
    ("model", "n_layers", 2, "arch.n_layers=1"),             # one field of the architecture
])
def test_a_value_that_differs_in_the_run_fails_naming_it(section, key, value, named) -> None:
    resolved = json.loads(json.dumps(RESOLVED))
    resolved[section][key] = value
    with pytest.raises(SampledParamLost, match=named.replace(".", r"\.")):
        check_params_reached(PARAMS, resolved, EXPAND)


def test_a_lost_channel_mode_fails() -> None:
    """A `mixed-` architecture whose run trained channel-independent fails the trial."""
    params = {**PARAMS, "arch": "mixed-" + ARCH}
    resolved = json.loads(json.dumps(RESOLVED))
    resolved["model"]["channels"] = "mixed"
    check_params_reached(params, resolved, {"arch": arch_settings})
    resolved["model"]["channels"] = "independent"
    with pytest.raises(SampledParamLost, match="arch.channels='mixed'"):
        check_params_reached(params, resolved, {"arch": arch_settings})


def test_a_value_no_section_consumed_fails() -> None:
    resolved = json.loads(json.dumps(RESOLVED))
    del resolved["train"]["weight_decay"]
    with pytest.raises(SampledParamLost, match="weight_decay=0.05 .the run has no such setting"):
        check_params_reached(PARAMS, resolved, EXPAND)


def test_a_trial_whose_sampled_weight_decay_is_dropped_fails(built_project_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The mutation a search can suffer silently: the training config is built without the
    sampled weight_decay, so the trainer's default is used. The trial must FAIL, naming it."""
    original = StudySpec.train_config

    def dropping(self: StudySpec, params: dict, trial_number: int) -> TrainConfig:
        return dataclasses.replace(original(self, params, trial_number),
                                   weight_decay=TrainConfig().weight_decay)

    monkeypatch.setattr(StudySpec, "train_config", dropping)
    spec = StudySpec(tier="a20", budget="20K", ctx_len=32, max_epochs=1, max_train_batches=1,
                     name="lost")
    with pytest.raises(FtsError, match="failed in a row"):
        run_study(Project(built_project_dir).paths, spec, 1, show_bar=False)
    rows = Project(built_project_dir).sql(
        "select state, fail_reason from hpo_trials where study = 'lost'").to_pylist()
    assert rows
    assert {r["state"] for r in rows} == {"FAIL"}
    assert all("weight_decay" in r["fail_reason"] for r in rows)


def test_a_study_setting_missing_from_the_run_fails_naming_it() -> None:
    """The study's fixed settings (not sampled: RevIN, its stats path, the normalization) are
    checked by section too."""
    resolved = json.loads(json.dumps(RESOLVED))
    resolved["model"].update(revin=True, revin_stats=True)
    resolved["dataset"] = {"normalization": "revin"}
    fixed = {"model": {"revin": True, "revin_stats": True}, "dataset": {"normalization": "revin"}}
    check_params_reached(PARAMS, resolved, EXPAND, fixed=fixed)
    resolved["model"]["revin_stats"] = False
    with pytest.raises(SampledParamLost, match=r"model\.revin_stats=True \(study setting"):
        check_params_reached(PARAMS, resolved, EXPAND, fixed=fixed)
    del resolved["dataset"]
    with pytest.raises(SampledParamLost, match=r"dataset\.normalization='revin'"):
        check_params_reached(PARAMS, resolved, EXPAND, fixed=fixed)


def test_a_trial_whose_revin_stats_is_dropped_fails(built_project_dir: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The study's revin_stats dropped between the StudySpec and the trial's RunRequest (the
    request's default, on with RevIN, wins): the trial must FAIL, naming it."""
    import fts.hpo.search as search
    from fts.train.request import RunRequest

    def dropping(**kw: object) -> RunRequest:
        return RunRequest(**{**kw, "revin_stats": None})

    monkeypatch.setattr(search, "RunRequest", dropping)
    spec = StudySpec(tier="a20", budget="20K", ctx_len=32, max_epochs=1, max_train_batches=1,
                     name="lost-stats", normalization="revin", revin_stats=False)
    with pytest.raises(FtsError, match="failed in a row"):
        run_study(Project(built_project_dir).paths, spec, 1, show_bar=False)
    rows = Project(built_project_dir).sql(
        "select state, fail_reason from hpo_trials where study = 'lost-stats'").to_pylist()
    assert rows and {r["state"] for r in rows} == {"FAIL"}
    assert all("revin_stats" in r["fail_reason"] for r in rows), rows
