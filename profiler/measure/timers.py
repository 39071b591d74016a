"""Timing device work without lying (measurement.md §3.4 items 6-8, §7 items 1-2).

``time_call(fn, device, policy)`` calls ``fn`` ``policy.warmup`` times untimed, then repeats it until BOTH
``min_count`` repetitions and ``min_time_s`` of measured time are reached and, when ``max_rel_iqr`` is set,
the inter-quartile range is at most that fraction of the median (or a cap is hit), and returns the
median and inter-quartile spread (optimum-benchmark ``trackers/latency.py`` records per-repetition
events; ``scenarios/inference/scenario.py`` stops on a minimum duration and count).

On CUDA every repetition is bracketed by a pair of CUDA events; the host synchronises once per batch of
repetitions (never inside the timed region) and reads the events afterwards, so the numbers are device
time, not enqueue time. On the CPU each repetition is timed with ``time.perf_counter``.

On MPS each repetition is timed with ``time.perf_counter`` from the end of the previous synchronisation to the end of
``torch.mps.synchronize()`` after the step: the step's GPU work, its launch and one host wait, as a decode loop that
reads its token back pays them. torch.mps.Event(enable_timing=True) exists (torch >= 2.1, torch/mps/event.py) but
is no device clock: its completion time is a host timestamp taken in a Metal shared-event listener callback, and
``elapsed_time`` itself commits and waits on the stream (pytorch/pytorch@0aafd810d15fe1943f9badd40228f29e25a5014f:
aten/src/ATen/mps/MPSEvent.mm, MPSEvent::recordLocked, MPSEventPool::elapsedTime), so it adds a callback's
latency to a synchronised wall clock without removing the synchronisation. There are no CUDA graphs on MPS.

Every warm-up and repetition (CUDA: every batch of them) is a safe point for Ctrl-C (:func:`interrupt.check`):
a stopped sweep waits for one call of ``fn``, not for the policy's minimum time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from profiler.measure import interrupt

# A point whose inter-quartile spread exceeds this fraction of its median was timed on a busy machine (or one
# changing clocks): its note says so and `inferplan profile` warns. The CPU policy already repeats until the spread
# is under 10 % (max_rel_iqr), so a row past 25 % hit the policy's time cap while still unstable.
UNSTABLE_REL_SPREAD = 0.25


def unstable_note(median_s: float, spread_s: float) -> str | None:
    """'timing unstable: spread X% of median; machine busy?' when spread / median > UNSTABLE_REL_SPREAD."""
    if not median_s > 0 or not spread_s > UNSTABLE_REL_SPREAD * median_s:
        return None
    return f"timing unstable: spread {spread_s / median_s:.0%} of median; machine busy?"


@dataclass(frozen=True)
class TimerPolicy:
    """How long and how often to repeat. Defaults: gpt-fast/optimum-benchmark practice (>= 3 warm-ups,
    >= 5 timed repetitions, a window long enough for the clocks to settle)."""

    warmup: int = 3
    min_count: int = 5
    min_time_s: float = 0.5
    max_count: int = 10_000
    max_time_s: float = 60.0
    max_rel_iqr: float | None = None  # keep repeating while IQR / median exceeds this (until a cap)

    @classmethod
    def quick(cls) -> TimerPolicy:
        """For tests and side numbers (the eager step beside a graph): one warm-up, three repetitions."""
        return cls(warmup=1, min_count=3, min_time_s=0.0, max_count=50, max_time_s=30.0)

    @classmethod
    def cpu(cls) -> TimerPolicy:
        """The measured path on a CPU, where other processes share the cores: >= 7 repetitions over >= 0.3 s, and
        more (up to 10 s) while the spread exceeds 10 % of the median, so the median is not set by preemption
        bursts (3-repetition medians were seen 8x too slow). A 36 ms smollm2-135m decode step: ~9 repetitions;
        a 200 ms prefill: 7, 1.4 s; a step slowed for seconds by another process: extended, not cut at 2."""
        return cls(warmup=2, min_count=7, min_time_s=0.3, max_count=500, max_time_s=10.0, max_rel_iqr=0.10)


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
    method: str  # "cuda-events", "perf_counter" or "perf_counter, mps-synchronized"

    @property
    def iqr_s(self) -> float:
        return self.q3_s - self.q1_s

    @classmethod
    def from_samples(cls, samples: list[float], method: str) -> Timing:
        arr = np.asarray(samples, dtype=float)
        q1, med, q3 = np.percentile(arr, [25, 50, 75])
        return cls(float(med), float(q1), float(q3), float(arr.min()), float(arr.max()), len(arr),
                   float(arr.sum()), method)


def _stable(samples: list[float], p: TimerPolicy) -> bool:
    if p.max_rel_iqr is None or not samples:
        return True
    q1, med, q3 = np.percentile(samples, [25, 50, 75])
    return q3 - q1 <= p.max_rel_iqr * med


def _done(samples: list[float], wall_s: float, p: TimerPolicy) -> bool:
    if len(samples) >= p.max_count or wall_s >= p.max_time_s:
        return True
    return len(samples) >= p.min_count and sum(samples) >= p.min_time_s and _stable(samples, p)


def _time_cpu(fn: Callable[[], object], p: TimerPolicy) -> Timing:
    return _time_synced(fn, p, lambda: None, "perf_counter")


MPS_TIMER = "perf_counter, mps-synchronized"


def _time_synced(fn: Callable[[], object], p: TimerPolicy, sync: Callable[[], None], method: str) -> Timing:
    """Each repetition from the last sync to the end of `sync()` after `fn` (the caller synced before the first)."""
    samples: list[float] = []
    start = time.perf_counter()
    while not _done(samples, time.perf_counter() - start, p):
        interrupt.check()
        t0 = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - t0)
    return Timing.from_samples(samples, method)


def cuda_event_samples(fn: Callable[[], object], count: int, dev) -> list[float]:
    """`count` repetitions of `fn`, each bracketed by a pair of CUDA events; one host sync after the last, outside
    every timed region. Seconds per repetition."""
    import torch

    pairs = []
    for _ in range(count):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        pairs.append((a, b))
    torch.cuda.synchronize(dev)
    return [a.elapsed_time(b) / 1e3 for a, b in pairs]  # ms -> s


def _time_cuda(fn: Callable[[], object], p: TimerPolicy, dev) -> Timing:
    samples: list[float] = []
    start = time.perf_counter()
    batch = max(1, p.min_count)
    while not _done(samples, time.perf_counter() - start, p):
        interrupt.check()
        samples += cuda_event_samples(fn, batch, dev)
        mean = sum(samples) / len(samples)
        left = max(p.min_time_s - sum(samples), 0.0)
        batch = int(min(max(left / max(mean, 1e-9), 1), 1000, p.max_count - len(samples)) or 1)
    return Timing.from_samples(samples, "cuda-events")


def time_call(fn: Callable[[], object], device, policy: TimerPolicy | None = None) -> Timing:
    """Time `fn` on `device` (a torch.device or "cpu"/"cuda[:N]"/"mps") under `policy`."""
    from profiler.measure.device import is_cuda, is_mps, synchronize

    p = policy or TimerPolicy()
    for _ in range(p.warmup):
        interrupt.check()
        fn()
    synchronize(device)
    if is_mps(device):
        return _time_synced(fn, p, lambda: synchronize(device), MPS_TIMER)
    return _time_cuda(fn, p, device) if is_cuda(device) else _time_cpu(fn, p)
