"""What the user of one simulated run must be told: requests the model cannot take, and caveats of the result.

Before a run (refusals: the run would not describe a deployment anyone can serve):

- :func:`overflow` — the share of a length-distribution pair whose prompt + output exceeds a limit
  (``max_model_len``), and the p99 of prompt + output, from a fixed-seed sample of
  :data:`OVERFLOW_SAMPLES` requests drawn exactly as the simulator draws them (rounded, clipped).

After a run (warnings: the numbers are right but easy to misread), :func:`run_warnings`:

- **rejections** — requests the engine refused up front, split by reason
  (:func:`rejection_counts`: longer than ``max_model_len``, or larger than the whole KV cache);
  they have no latency, and goodput counts them as misses;
- **instability** — the waiting queue grew through the window (``SimMetrics.stable`` is False):
  the offered load exceeds the replica's capacity, so the percentiles grow with the run length;
- **small samples** — fewer than :data:`SMALL_SAMPLE` measured requests: a p99 of ``N ≤ 101``
  values (``numpy.percentile``, linear) lies between the two largest, i.e. it is an order
  statistic of the slowest two requests, not an estimate of a 1 % tail.
"""

from __future__ import annotations

import numpy as np

from planner.simulate.arrivals import LengthDist, Requests, sample_lengths
from planner.simulate.engine import EngineConfig
from planner.simulate.metrics import SimMetrics

OVERFLOW_SAMPLES = 100_000  # requests drawn to estimate the share over max_model_len (±0.03 % at 1 %)
OVERFLOW_SEED = 0  # fixed: the same shape always gets the same verdict
# A p99 needs at least 100 samples for its 1 % tail to hold one request; below that numpy's linear
# percentile at 0.99·(N − 1) ≥ N − 2 interpolates between the two largest values.
SMALL_SAMPLE = 100


def overflow(input_tokens: LengthDist, output_tokens: LengthDist, limit: int) -> tuple[float, float]:
    """``(share, p99)``: share of requests with prompt + output > ``limit`` tokens, and the p99 of prompt +
    output [tokens], over :data:`OVERFLOW_SAMPLES` requests drawn as :func:`make_requests` draws them."""
    in_rng, out_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(OVERFLOW_SEED).spawn(2))
    total = sample_lengths(input_tokens, in_rng, OVERFLOW_SAMPLES) + sample_lengths(
        output_tokens, out_rng, OVERFLOW_SAMPLES)
    return float(np.mean(total > limit)), float(np.percentile(total, 99))


def rejection_counts(requests: Requests, config: EngineConfig, which: np.ndarray | None = None) -> dict[str, int]:
    """Refused requests (among ``which``, default all) by reason, as :func:`engine.rejected_mask` decides:
    ``max_model_len`` (prompt + output above it) and ``kv_cache`` (the rest: ``P + O − 1`` above the KV
    capacity)."""
    total = requests.input_tokens + requests.output_tokens
    which = np.ones(len(requests), dtype=bool) if which is None else which
    too_long = total > config.max_model_len if config.max_model_len is not None else np.zeros(len(total), bool)
    no_room = (total - 1 > config.kv_tokens) & ~too_long
    return {"max_model_len": int((too_long & which).sum()), "kv_cache": int((no_room & which).sum())}


def _rejected(m: SimMetrics, counts: dict[str, int], config: EngineConfig) -> str:
    arrived = m.requests_measured + m.requests_rejected
    why = []
    if counts["max_model_len"]:
        why.append(f"{counts['max_model_len']:,} longer than max_model_len {config.max_model_len:,} tokens "
                   "(prompt + output: shorten them or use a longer-context model)")
    if counts["kv_cache"]:
        why.append(f"{counts['kv_cache']:,} larger than the whole {config.kv_tokens:,}-token KV cache (the KV cache "
                   "is too small: use more TP, a smaller quant or fp8 KV)")
    return (f"{m.requests_rejected:,} of {arrived:,} requests ({m.rejected_fraction:.1%}) were rejected before "
            f"running: {'; '.join(why)}. They have no latency in the table; goodput counts them as misses.")


def run_warnings(m: SimMetrics, requests: Requests, config: EngineConfig, *, trace: bool = False) -> list[str]:
    """Caveats of a finished run (module docstring), each one sentence or two, most serious first;
    ``trace``: the run replayed a trace (the advice differs: its rate is not an option)."""
    out = []
    if m.requests_rejected:
        arr = requests.arrival_s
        counts = rejection_counts(requests, config, (arr >= m.window_start_s) & (arr <= m.window_end_s))
        out.append(_rejected(m, counts, config))
    if not m.stable:
        out.append(f"unstable: the offered load exceeds this replica's capacity (the waiting queue grew by "
                   f"{m.queue_growth:,.0f} requests over the {m.window_s:,.0f} s window), so the latencies keep "
                   "growing with the run length and these percentiles are not steady-state values; "
                   + ("this trace needs more than one replica" if trace else "lower --rate")
                   + ", or add --plot to find the rate one replica sustains.")
    n = m.requests_measured
    if n == 0:
        out.append("no accepted request arrived in the measurement window: there are no latencies to report.")
    elif n < SMALL_SAMPLE:
        out.append(f"only {n:,} requests measured (after the warm-up): the p99s are order statistics of {n:,} "
                   f"requests (between the two slowest), not stable estimates of a 1 % tail; simulate at least "
                   f"{SMALL_SAMPLE} requests (a longer --duration or trace), ideally 1,000+.")
    return out


__all__ = ["OVERFLOW_SAMPLES", "SMALL_SAMPLE", "overflow", "rejection_counts", "run_warnings"]
