"""The largest batch that fits at a context: analytic bracket, then binary search over real allocations
(measurement.md §3.4 item 9, §7 item 13).

    search_max_batch(fits, predicted, cap)  pure: bracket around `predicted` with growing steps, then bisect
    Budget                                  the memory a probe may use: the device's own (CUDA), or an injected
                                            byte limit checked against predicted and measured peak bytes
    probe_fits(...)                         one probe (cache + one prefill chunk + one decode step); a CUDA
                                            OOM or an exceeded budget -> False, memory freed, search goes on

The exception is left before cleaning up (its traceback pins the probe's tensors), then (CUDA) ``gc.collect`` and
``empty_cache``. Probes run eager (no graph capture, no compiled code), so an OOM does not poison the
process (vLLM and optimum-benchmark isolate runs in subprocesses for that case).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from profiler.measure.device import MeasuredOOM, free_memory, is_oom
from profiler.measure.memory import PeakTracker

MAX_BATCH_CAP = {"cuda": 4096, "cpu": 1024}  # search ceiling; engines default to max_num_seqs 256 (vLLM)
# A CPU has no device memory to exhaust: unless the library caller passes memory_limit_bytes (the CLI has no such
# option), the harness emulates a card holding the resident bytes plus this much, so the OOM search runs (in
# seconds) on the same path as on a GPU.
CPU_EMULATED_HEADROOM_BYTES = 16 * 2**20


def cpu_budget_note(resident_bytes: int) -> str:
    """What the memory boundary of a CPU run means, in the words a CLI user reads in the oom rows' notes."""
    return (f"CPU run: the memory boundary is an emulated card, not this machine's RAM: the model's resident "
            f"{resident_bytes / 2**20:,.1f} MiB plus a fixed {CPU_EMULATED_HEADROOM_BYTES >> 20} MiB for KV cache "
            "and activations, so max_batch and oom rows exercise the GPU path's search; on a GPU the card's own "
            "memory is the limit")


@dataclass(frozen=True)
class SearchResult:
    max_batch: int  # 0: not even one sequence fits
    capped: bool  # the cap itself fits: at least this many
    probes: tuple[tuple[int, bool], ...]  # (batch, fitted) in probe order
    predicted: int


def search_max_batch(fits: Callable[[int], bool], predicted: int, cap: int) -> SearchResult:
    """Largest b in [0, cap] with fits(b) (fits assumed monotone). Starts at the analytic `predicted`, steps
    by predicted/8 doubling each time until the boundary is bracketed, then bisects."""
    seen: dict[int, bool] = {}

    def test(b: int) -> bool:
        if b not in seen:
            seen[b] = fits(b)
        return seen[b]

    def result(best: int, capped: bool = False) -> SearchResult:
        return SearchResult(best, capped, tuple(seen.items()), predicted)

    start = min(max(predicted, 1), cap)
    step = max(1, start // 8)
    if test(start):
        lo, hi = start, None
        while hi is None:
            if lo >= cap:
                return result(cap, capped=True)
            nxt = min(cap, lo + step)
            lo, hi = (nxt, None) if test(nxt) else (lo, nxt)
            step *= 2
    else:
        lo, hi = None, start
        while lo is None:
            if hi <= 1:
                return result(0)
            nxt = max(1, hi - step)
            lo, hi = (nxt, hi) if test(nxt) else (None, nxt)
            step *= 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if test(mid) else (lo, mid)
    return result(lo)


@dataclass(frozen=True)
class Budget:
    """``limit_bytes`` None = only the device's real capacity (CUDA OOM) bounds a probe."""

    limit_bytes: int | None
    description: str

    def check(self, needed: int, what: str) -> None:
        if self.limit_bytes is not None and needed > self.limit_bytes:
            raise MeasuredOOM(f"{what} {needed:,} B exceeds the memory budget of {self.limit_bytes:,} B "
                              f"({self.description})")


def predict_max_batch(available_bytes: int, resident_bytes: int, per_sequence_bytes: int,
                      activation_bytes: int) -> int:
    """The analytic bracket: sequences whose KV fits beside what is resident and one step's activations."""
    room = available_bytes - resident_bytes - activation_bytes
    return max(0, room // max(per_sequence_bytes, 1))


def probe_fits(probe: Callable[[], None], dev, budget: Budget, resident_bytes: int, predicted_bytes: int,
               nvml=None) -> tuple[bool, int]:
    """Run `probe` under the budget: (fitted, measured peak bytes or 0 when refused before running)."""
    peak, oom = 0, False
    try:
        budget.check(predicted_bytes, "predicted need")
        with PeakTracker(dev, base_bytes=resident_bytes, nvml=nvml) as tracker:
            probe()
        peak = tracker.peak_device
        budget.check(peak, "measured peak")
    except Exception as exc:  # noqa: BLE001 - only an OOM is a boundary; anything else propagates
        if not is_oom(exc):
            raise
        oom = True
    free_memory(dev)  # outside the except block: its traceback no longer pins the probe's tensors
    return not oom, peak
