"""Timing GPU (or CPU) work honestly: warm-ups, repeats until both a minimum count and a minimum time,
CUDA events with one synchronisation after the loop (optimum-benchmark trackers/latency.py style),
median and inter-quartile spread."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Timing:
    median_s: float
    iqr_s: float
    reps: int


def time_call(fn: Callable[[], object], device: str, warmup: int = 2, min_reps: int = 5, min_time_s: float = 0.2,
              max_reps: int = 500) -> Timing:
    """Time `fn` after `warmup` calls; repeat until >= min_reps calls AND >= min_time_s (capped at max_reps)."""
    cuda = device.startswith("cuda")
    if cuda:
        import torch
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
    times: list[float] = []
    events = []
    start = time.perf_counter()
    while len(times) + len(events) < max_reps:
        if cuda:
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            events.append((a, b))
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        if len(times) + len(events) >= min_reps and time.perf_counter() - start >= min_time_s:
            if not cuda:
                break
            torch.cuda.synchronize()  # wall time above only counts enqueues until we sync
            if time.perf_counter() - start >= min_time_s:
                break
    if cuda:
        torch.cuda.synchronize()
        times = [a.elapsed_time(b) / 1e3 for a, b in events]
    arr = np.asarray(times)
    q1, q3 = np.percentile(arr, [25, 75])
    return Timing(float(np.median(arr)), float(q3 - q1), len(arr))
