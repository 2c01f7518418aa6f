"""Pick the best available device and use every CPU core."""

from __future__ import annotations

import os

import torch


def pick_device(requested: str = "auto") -> torch.device:
    """cuda if available, else mps, else cpu; or the requested one (validated)."""
    if requested != "auto":
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device cuda was requested but no CUDA GPU is available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def use_all_cores() -> int:
    """Let torch's intra-op pool use every core this process may run on; returns the count."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
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
