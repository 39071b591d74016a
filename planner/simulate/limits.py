"""How much one simulation may be asked to do: the bounds `inferplan simulate` refuses beyond, with their sources.

Each bound is checked before the work it guards (no array is allocated for a run that is refused), except
:data:`MAX_ENGINE_ITERATIONS`, the simulator's own backstop for the work no input check can foresee.

Timings behind the request and iteration caps: the simulator (pure Python + NumPy, one core) on a 2-core
development machine, `inferplan simulate` with the default lengths (1000 / 250 tokens, sigma 0.6):

==========================================================  ==========  =========  =================
run                                                          requests    wall       event iterations
==========================================================  ==========  =========  =================
llama-3.1-8b on an H100, 10/s for 1000 s (below capacity)    1e4         2.8 s      35 k
llama-3.1-8b, 20/s for 5000 s (near capacity)                1e5         19 s       -
llama-3.1-8b, 1000/s for 100 s (overloaded)                  1e5         10.5 s     66 k
smollm2-135m, 100/s for 1000 s                               1e5         20-29 s    361 k
smollm2-135m, 100/s for 2500 s                               2.5e5       48 s       -
llama-3.1-8b, 20/s for 12500 s                               2.5e5       48 s       -
llama-3.1-8b, 10000/s for 100 s                              1e6         80 s       -
llama-3.1-8b, 20/s for 50000 s                               1e6         229 s      -
==========================================================  ==========  =========  =================

So about 0.2 ms per request (1.4 GB of memory at 1e6 requests): :data:`MAX_SIM_REQUESTS` = 500,000 keeps a run
under about two minutes and holds a 24-hour ``--diurnal`` day at a mean of up to 5.8 requests/s. One iteration
of the event loop costs 3-15 us (15 us for 97 requests of 100,000 output tokens queueing for the KV cache:
1.05 M iterations, 15.7 s; 3 us for 200,000 requests at --max-num-seqs 1: 50 M iterations, 158 s and 6.7 GB
before a cap); ordinary runs need under 4 per request (361 k for the 1e5 requests above), so
:data:`MAX_ENGINE_ITERATIONS` = 10 M covers 5x that at 500,000 requests and stops the pathological ones within
about two minutes.
"""

from __future__ import annotations

from planner.limits import MAX_REQUEST_TOKENS as _PLANNER_MAX_REQUEST_TOKENS

MAX_SIM_REQUESTS = 500_000  # requests one simulation may take (rate x duration, or trace rows kept): ~2 min
MAX_ENGINE_ITERATIONS = 10_000_000  # event-loop iterations (steps; a decode-only stretch counts one): ~2 min
# One request's prompt or output: the planner's bound (planner.limits), 10^8 tokens, 10x the longest context window
# published (Llama 4 Scout's 10M tokens; Meta, "The Llama 4 herd", 5 April 2025).
MAX_REQUEST_TOKENS = int(_PLANNER_MAX_REQUEST_TOKENS)
# --plot with a trace replays the whole trace at each rate the capacity search probes and at the 8 loads of the
# curve (planner.simulate_api.load_curve): a 20,000-row trace took 71 s (8 probes + 8 loads, llama-3.1-8b on an
# H100); a --rate run probes 3,000 requests at a time whatever its length (10 s).
MAX_PLOT_TRACE_REQUESTS = 20_000
# A trace may hold more rows than one run simulates (--duration replays its first stretch), up to 5x the cap;
# its file at most 128 bytes a row at that count (a row of the three columns is ~25-35 bytes; room for extras).
MAX_TRACE_ROWS = 5 * MAX_SIM_REQUESTS
MAX_TRACE_BYTES = 128 * 2**20
MAX_CURVE_BYTES = 64 * 2**10  # a --diurnal file: 24 numbers, with comments
# Simulated time [s] a run's arrivals may span (--duration, a trace's timestamps): 10^9 s, 31.7 years. Simulated
# time is a float64, whose spacing at 1e9 is 1.2e-7 s, far below a step's milliseconds; at 1e15 s it is 0.125 s and
# steps no longer advance the clock.
MAX_SIM_SECONDS = 1e9
# Lognormal sigma of the request lengths (mean fixed, mu = ln(mean) - sigma^2/2). The p99 / mean of such lengths is
# exp(2.326 sigma - sigma^2/2): 3.4 at the default 0.6, 15 at its peak (sigma 2.33), 3.7 at 4, and below 1 past
# sigma 4.65, where the mean is carried by under 1% of the requests and the lengths drawn no longer show it.
MAX_SIGMA = 4.0
# Inter-arrival coefficient of variation. Above 10 (a gamma shape under 0.01) the arrivals in a window of
# minutes are no longer near rate x duration: at CV 100, 2/s over 2 min drew a median of 2,042 arrivals
# (expected 240), at CV 1000, 194,972; no request-count check could bound such a run beforehand.
MAX_CV = 10.0
# Below this CV the gaps are exactly 1/rate (deterministic arrivals): the gamma's shape 1/CV^2 > 1e12 differs
# from that by under 1e-6 relative, and 1/CV^2 overflows a float below CV ~1e-154.
DETERMINISTIC_CV = 1e-6

__all__ = ["DETERMINISTIC_CV", "MAX_CURVE_BYTES", "MAX_CV", "MAX_ENGINE_ITERATIONS", "MAX_PLOT_TRACE_REQUESTS",
           "MAX_REQUEST_TOKENS", "MAX_SIGMA", "MAX_SIM_REQUESTS", "MAX_SIM_SECONDS", "MAX_TRACE_BYTES",
           "MAX_TRACE_ROWS"]
