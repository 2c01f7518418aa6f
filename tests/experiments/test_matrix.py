"""Study matrices: the shipped ones parse, and malformed ones are refused with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from fts.core.errors import ConfigError, NotFoundError
from fts.experiments import load_experiment

STUDIES = Path(__file__).resolve().parents[2] / "studies"


def test_demo_matrix_is_small_and_complete() -> None:
    exp = load_experiment(STUDIES / "demo.toml")
    assert exp.tiers == ("a20", "a50") and exp.horizons == (1,) and exp.thresholds == (1.0,)
    # At least 4 sizes on one target (a scaling fit), and searches that search: the trials
    # go beyond the first one (the centre) to TPE.
    assert len(exp.budgets) >= 4 and len(exp.seeds) == 3 and exp.trials >= 2
    assert exp.channels == "mixed"
    assert [c.key for c in exp.cells()][:4] == [f"a20:{b}:h1:p1" for b in exp.budgets]


def test_scaling_matrix_is_the_full_question() -> None:
    exp = load_experiment(STUDIES / "scaling.toml")
    assert set(exp.tiers) == {"a20", "a50", "a100", "a200"}
    assert set(exp.budgets) == {"2M", "20M", "200M", "2B"}
    assert set(exp.horizons) == {1, 3, 5} and exp.thresholds == (1.0,)
    assert len(exp.cells()) == 48 and len(exp.seeds) == 5


@pytest.mark.parametrize(("text", "message"), [
    ('tiers = ["a20"]\nbudgets = ["2M"]\nhorizons = [1]\nthresholds = [1]\ntrails = 3', "unknown key"),
    ('tiers = ["a20"]\nbudgets = ["2Q"]\nhorizons = [1]\nthresholds = [1]', "budget"),
    ('tiers = []\nbudgets = ["2M"]\nhorizons = [1]\nthresholds = [1]', "non-empty"),
    ('budgets = ["2M"]\nhorizons = [1]\nthresholds = [1]', "`tiers` is required"),
    ('tiers = ["a20"\n', "not valid TOML"),
    ('tiers = ["a20"]\nbudgets = ["2M"]\nhorizons = [1]\nthresholds = [1]\n[training]\nepochs = 3', "unknown \\[training\\]"),
    ('tiers = ["a20"]\nbudgets = ["2M"]\nhorizons = [1]\nthresholds = [1]\n[dataset]\ninput = "raw"', "unknown \\[dataset\\]"),
    ('tiers = ["a20"]\nbudgets = ["2M"]\nhorizons = [1]\nthresholds = [1]\n[dataset]\ninputs = "levels"', "inputs 'levels'"),
    ('tiers = ["a20"]\nbudgets = ["2M"]\nhorizons = [1]\nthresholds = [1]\n[dataset]\nmin_val_positives = -1', "min_val_positives"),
])
def test_malformed_matrices_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_experiment(path)


def test_missing_study_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        load_experiment(tmp_path / "nope.toml")


def test_dataset_options_default_to_scale_free_inputs_and_50_positives(tmp_path: Path) -> None:
    path = tmp_path / "plain.toml"
    path.write_text('tiers = ["a20"]\nbudgets = ["2M"]\nhorizons = [1]\nthresholds = [1]\n')
    exp = load_experiment(path)
    assert (exp.inputs, exp.min_val_positives, exp.split.folds) == ("scale_free", 50, 3)
    path.write_text(path.read_text() + '[dataset]\ninputs = "raw"\nmin_val_positives = 0\n')
    exp = load_experiment(path)
    assert (exp.inputs, exp.min_val_positives) == ("raw", 0)
@pytest.mark.parametrize("channels", ["independent", "mixed", "search"])
def test_channel_mode_is_a_study_field_that_reaches_its_studies(tmp_path: Path,
                                                                channels: str) -> None:
    from fts.experiments.runner import cell_settings, study_spec

    path = tmp_path / "c.toml"
    path.write_text(f'tiers = ["a20"]\nbudgets = ["2M"]\nhorizons = [1]\nthresholds = [1]\n'
                    f'channels = "{channels}"\n')
    exp = load_experiment(path)
    cell = exp.cells()[0]
    assert exp.channels == channels and study_spec(exp, cell, None).channels == channels
    # The default stays out of a cell's settings, so cells finished before the field existed
    # still match their stored settings; another mode changes them.
    assert ("channels" in cell_settings(exp, cell, None)) == (channels != "independent")


def test_an_unknown_channel_mode_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('tiers = ["a20"]\nbudgets = ["2M"]\nhorizons = [1]\nthresholds = [1]\n'
                    'channels = "both"\n')
    with pytest.raises(ConfigError, match="channels"):
        load_experiment(path)
