"""Choosing the device: `auto` picks the best one; a bad or missing device is a one-line
`ConfigError`, from the library and from `fts train`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from fts.cli import cli
from fts.core.errors import ConfigError
from fts.train.device import pick_device


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine as one without CUDA or MPS (whatever it really has)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_auto_and_cpu_are_always_available(no_gpu: None) -> None:
    assert pick_device("auto") == torch.device("cpu")
    assert pick_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize(("requested", "message"), [
    ("bogus", "'bogus' is not a device fts can train on; use auto, cpu, cuda, cuda:N or mps"),
    ("", "'' is not a device"),
    ("cuda:x", "'cuda:x' is not a device"),
    ("meta", "'meta' is not a device"),
    ("cuda", "'cuda' was requested but no CUDA GPU is available"),
    ("cuda:0", "'cuda:0' was requested but no CUDA GPU is available"),
    ("mps", "'mps' was requested but Apple MPS is not available"),
])
def test_an_unknown_or_missing_device_is_a_config_error(no_gpu: None, requested: str,
                                                        message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        pick_device(requested)


def test_a_cuda_index_past_the_last_gpu_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert pick_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match=r"'cuda:2' was requested but this machine has 2 CUDA"):
        pick_device("cuda:2")


@pytest.mark.parametrize("requested", ["bogus", "cuda"])
def test_train_with_a_bad_device_says_so_in_one_line(no_gpu: None, sample_project_dir: Path,
                                                     requested: str) -> None:
    # The device is checked before the tier is built or a dataset assembled.
    result = CliRunner().invoke(cli, [
        "--project-dir", str(sample_project_dir), "train", "--tier", "a20", "--budget", "20K",
        "--horizon", "1", "--threshold", "1", "--device", requested])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: device '{requested}'"), result.output


def test_all_cores_by_default_and_capped_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from fts.train.device import use_all_cores

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("FTS_TORCH_THREADS", raising=False)
        assert use_all_cores() == len(os.sched_getaffinity(0)) == torch.get_num_threads()
        monkeypatch.setenv("FTS_TORCH_THREADS", "1")
        assert use_all_cores() == 1 == torch.get_num_threads()
        monkeypatch.setenv("FTS_TORCH_THREADS", "zero")
        with pytest.raises(ConfigError, match="FTS_TORCH_THREADS='zero'"):
            use_all_cores()
    finally:
        torch.set_num_threads(before)
