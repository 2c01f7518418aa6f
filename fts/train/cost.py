"""What a run really cost, measured while it trains: wall seconds per epoch (in the history),
the process's peak resident memory, its mean CPU utilisation, and on CUDA the peak memory
torch allocated. Stored beside the estimate the run started with (fts.train.estimate)."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

import psutil
import torch

SAMPLE_SECONDS = 0.05  # how often the resident memory is read


class CostMeter:
    """Context manager measuring a block: peak RSS (sampled by a thread every
    `SAMPLE_SECONDS`, and at both ends), CPU seconds of the process, wall seconds."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.peak_rss = 0
        self._cpu0 = 0.0
        self._t0 = 0.0
        self.result: dict[str, Any] = {}

    def _rss(self) -> None:
        self.peak_rss = max(self.peak_rss, self._process.memory_info().rss)

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._rss()

    def _cpu(self) -> float:
        times = self._process.cpu_times()
        return times.user + times.system

    def __enter__(self) -> CostMeter:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self._rss()
        self._cpu0, self._t0 = self._cpu(), time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self._rss()
        wall = time.perf_counter() - self._t0
        cpu = self._cpu() - self._cpu0
        self.result = {
            "wall_seconds": wall,
            "peak_rss_bytes": self.peak_rss,
            # 100 % = one core busy for the whole wall time (psutil's convention).
            "cpu_percent_mean": 100.0 * cpu / wall if wall > 0 else 0.0,
            "threads": torch.get_num_threads(),
        }
        if self.device.type == "cuda":
            self.result["cuda_max_allocated_bytes"] = int(
                torch.cuda.max_memory_allocated(self.device))
