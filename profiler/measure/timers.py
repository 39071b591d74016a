"""Timing device work without lying (measurement.md §3.4 items 6-8, §7 items 1-2).

``time_call(fn, device, policy)`` calls ``fn`` ``policy.warmup`` times untimed, then repeats it until BOTH
``min_count`` repetitions and ``min_time_s`` of measured time are reached (or a cap), and returns the
median and inter-quartile spread (optimum-benchmark ``trackers/latency.py`` records per-repetition
events; ``scenarios/inference/scenario.py`` stops on a minimum duration and count).

On CUDA every repetition is bracketed by a pair of CUDA events; the host synchronises once per batch of
repetitions (never inside the timed region) and reads the events afterwards, so the numbers are device
time, not enqueue time. On the CPU each repetition is timed with ``time.perf_counter``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TimerPolicy:
    """How long and how often to repeat. Defaults: gpt-fast/optimum-benchmark practice (>= 3 warm-ups,
    >= 5 timed repetitions, a window long enough for the clocks to settle)."""

    warmup: int = 3
    min_count: int = 5
    min_time_s: float = 0.5
    max_count: int = 10_000
    max_time_s: float = 60.0

    @classmethod
    def quick(cls) -> TimerPolicy:
        """For the CPU smoke path and tests: one warm-up, three repetitions."""
        return cls(warmup=1, min_count=3, min_time_s=0.0, max_count=50, max_time_s=30.0)


@dataclass(frozen=True)
class Timing:
    """Seconds. ``count`` timed repetitions spanning ``total_s`` of measured time."""

    median_s: float
    q1_s: float
    q3_s: float
    min_s: float
    max_s: float
    count: int
    total_s: float
    method: str  # "cuda-events" or "perf_counter"

    @property
    def iqr_s(self) -> float:
        return self.q3_s - self.q1_s

    @classmethod
    def from_samples(cls, samples: list[float], method: str) -> Timing:
        arr = np.asarray(samples, dtype=float)
        q1, med, q3 = np.percentile(arr, [25, 50, 75])
        return cls(float(med), float(q1), float(q3), float(arr.min()), float(arr.max()), len(arr),
                   float(arr.sum()), method)


def _done(count: int, measured_s: float, wall_s: float, p: TimerPolicy) -> bool:
    if count >= p.max_count or wall_s >= p.max_time_s:
        return True
    return count >= p.min_count and measured_s >= p.min_time_s


def _time_cpu(fn: Callable[[], object], p: TimerPolicy) -> Timing:
    samples: list[float] = []
    start = time.perf_counter()
    while not _done(len(samples), sum(samples), time.perf_counter() - start, p):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return Timing.from_samples(samples, "perf_counter")


def _time_cuda(fn: Callable[[], object], p: TimerPolicy, dev) -> Timing:
    import torch

    samples: list[float] = []
    start = time.perf_counter()
    batch = max(1, p.min_count)
    while not _done(len(samples), sum(samples), time.perf_counter() - start, p):
        pairs = []
        for _ in range(batch):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            pairs.append((a, b))
        torch.cuda.synchronize(dev)  # outside every timed region
        samples += [a.elapsed_time(b) / 1e3 for a, b in pairs]  # ms -> s
        mean = sum(samples) / len(samples)
        left = max(p.min_time_s - sum(samples), 0.0)
        batch = int(min(max(left / max(mean, 1e-9), 1), 1000, p.max_count - len(samples)) or 1)
    return Timing.from_samples(samples, "cuda-events")


def time_call(fn: Callable[[], object], device, policy: TimerPolicy | None = None) -> Timing:
    """Time `fn` on `device` (a torch.device or "cpu"/"cuda[:N]") under `policy`."""
    from profiler.measure.device import is_cuda, synchronize

    p = policy or TimerPolicy()
    for _ in range(p.warmup):
        fn()
    synchronize(device)
    return _time_cuda(fn, p, device) if is_cuda(device) else _time_cpu(fn, p)
