"""Pick the best available device and use every CPU core."""

from __future__ import annotations

import os

import torch

from fts.core.errors import ConfigError

DEVICE_TYPES = ("cpu", "cuda", "mps")  # what fts trains on; `auto` picks the best of them


def pick_device(requested: str = "auto") -> torch.device:
    """cuda if available, else mps, else cpu; or the requested one (validated).

    A device that is not one of `DEVICE_TYPES`, or one this machine does not have, is a
    `ConfigError` (one line from the CLI), never torch's own error.
    """
    if requested != "auto":
        return _requested_device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _requested_device(requested: str) -> torch.device:
    try:
        device: torch.device | None = torch.device(requested)
    except (RuntimeError, ValueError):  # torch's message lists every backend it knows
        device = None
    if device is None or device.type not in DEVICE_TYPES:
        raise ConfigError(f"device {requested!r} is not a device fts can train on; "
                          "use auto, cpu, cuda, cuda:N or mps")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {requested!r} was requested but no CUDA GPU is available; "
                              "use --device auto or cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ConfigError(f"device {requested!r} was requested but this machine has "
                              f"{count} CUDA GPU(s) (cuda:0 to cuda:{count - 1})")
    if device.type == "mps" and not _mps_available():
        raise ConfigError(f"device {requested!r} was requested but Apple MPS is not available "
                          "on this machine; use --device auto or cpu")
    return device


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


THREADS_ENV = "FTS_TORCH_THREADS"


def use_all_cores() -> int:
    """Let torch's intra-op pool use every core this process may run on; returns the count.

    `FTS_TORCH_THREADS=N` caps it, for processes that share the cores with others (parallel
    test workers, several search workers on one machine): oversubscribed threads spin and
    make every process slower.
    """
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    cap = os.environ.get(THREADS_ENV, "").strip()
    if cap:
        if not cap.isdigit() or int(cap) < 1:
            raise ConfigError(f"{THREADS_ENV}={cap!r}: give a whole number of threads >= 1")
        n = min(n, int(cap))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def available_memory_bytes(device: torch.device) -> int:
    """Memory the run may use: free GPU memory, or available system memory on CPU/MPS."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)
