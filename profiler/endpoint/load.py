"""Load points and the arrivals that drive them: :func:`run_point` sends one point's requests and keeps every record.

Three kinds of point, as ``vllm bench serve`` and guidellm name them (vllm/benchmarks/serve.py ``get_request``:
Poisson arrivals at ``--request-rate`` with burstiness 1, an optional ``--max-concurrency`` cap; guidellm's
``synchronous`` / ``concurrent`` / ``constant`` / ``poisson`` / ``throughput`` profiles):

- ``rate``: requests arrive at `rate` per second, exponential gaps (Poisson, seeded) or equal gaps (constant),
  whether or not earlier ones finished; an optional cap holds arrivals beyond it until a slot frees (vLLM's
  semaphore).
- ``concurrency``: exactly C requests in flight; each finished request is replaced at once (guidellm
  ``concurrent``; concurrency 1 is ``synchronous``).
- ``throughput``: every request at t = 0, at most the cap in flight (vLLM's rate inf; guidellm ``throughput``).

Bounds: a point sends at most `requests` requests and none after `duration_s`; requests still running at the end
get up to the per-request timeout to finish, then are cancelled and counted as unfinished (never as errors, never
in the latencies). A set `stop` event (Ctrl-C) ends the point at once: running requests are cancelled, everything
finished is kept, and the run is marked interrupted.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from profiler.endpoint.client import Endpoint, RequestRecord, Response, send

KINDS = ("rate", "concurrency", "throughput")
# Raw stream bytes a point keeps unparsed (client.Response) before parsing the oldest at once: 100 requests x 250
# tokens x ~200 bytes per chunk is 5 MB, so only soak-sized points ever parse during the load.
RAW_BUDGET_BYTES = 256 << 20
ARRIVALS = ("poisson", "constant")


@dataclass(frozen=True)
class LoadPoint:
    kind: str  # one of KINDS
    rate: float | None = None  # requests per second (kind "rate")
    concurrency: int | None = None  # in flight (kind "concurrency"), or the cap (other kinds; None: no cap)
    arrivals: str = "poisson"

    @property
    def label(self) -> str:
        if self.kind == "rate":
            cap = f", cap {self.concurrency}" if self.concurrency else ""
            return f"{self.arrivals} {self.rate:g}/s{cap}"
        if self.kind == "concurrency":
            return "synchronous" if self.concurrency == 1 else f"concurrent {self.concurrency}"
        return f"all at once, cap {self.concurrency}" if self.concurrency else "all at once"


@dataclass(frozen=True)
class PointRun:
    """What one point measured: every finished request's record, and how the point ended."""

    point: LoadPoint
    records: tuple[RequestRecord, ...]
    duration_s: float  # first send to last completion
    unfinished: int  # cancelled at the bound or by Ctrl-C
    interrupted: bool


def arrival_times(point: LoadPoint, n: int, seed: int) -> list[float]:
    """Send times (s from the point's start) of `n` requests of a ``rate`` point."""
    if point.kind != "rate":
        return [0.0] * n
    rng = random.Random(seed)
    gaps = [rng.expovariate(point.rate) if point.arrivals == "poisson" else 1.0 / point.rate for _ in range(n)]
    times, t = [], 0.0
    for g in gaps:
        times.append(t)  # the first request at t = 0, as vLLM sends it
        t += g
    return times


async def run_point(session, endpoint: Endpoint, point: LoadPoint, prompts: Sequence[str], max_tokens: int,
                    duration_s: float, stop: asyncio.Event, seed: int = 0, on_record=None) -> PointRun:
    """Send `prompts` (one request each, at most) as `point` says, within `duration_s`; see the module docstring."""
    n = len(prompts)
    start = time.perf_counter()
    deadline = start + duration_s
    responses: list[Response | RequestRecord] = []  # parsed (a record) once the point is over, or over budget
    held = [0, 0]  # raw bytes held unparsed, and the index in `responses` of the oldest unparsed one
    started = 0
    cap = asyncio.Semaphore(point.concurrency) if point.concurrency and point.kind != "concurrency" else None

    async def one(i: int) -> None:
        nonlocal started
        if cap is not None:
            await cap.acquire()
        started += 1
        try:
            response = await send(session, endpoint, prompts[i], max_tokens, i, start)
        finally:
            if cap is not None:
                cap.release()
        responses.append(response)
        held[0] += response.size
        while held[0] > RAW_BUDGET_BYTES and held[1] < len(responses):  # parse the oldest now: memory stays bounded
            old = responses[held[1]]
            held[0] -= old.size
            responses[held[1]] = old.record()
            held[1] += 1
        if on_record is not None:
            on_record(response)

    tasks: list[asyncio.Task] = []  # rate and throughput points: one task per request
    if point.kind == "concurrency":
        feeder = _workers(one, n, point.concurrency or 1, deadline, stop)
    else:
        feeder = _arrivals(one, arrival_times(point, n, seed), start, deadline, stop, tasks)
    issuing, stopper = asyncio.ensure_future(feeder), asyncio.ensure_future(stop.wait())
    await asyncio.wait({issuing, stopper}, return_when=asyncio.FIRST_COMPLETED)
    limit = max(deadline, time.perf_counter()) + endpoint.timeout_s  # what is running gets its timeout to finish
    pending = {t for t in tasks if not t.done()}
    while pending and not stop.is_set() and time.perf_counter() < limit:
        await asyncio.wait(pending | {stopper}, timeout=limit - time.perf_counter(),
                           return_when=asyncio.FIRST_COMPLETED)
        pending = {t for t in tasks if not t.done()}
    for t in (issuing, stopper, *pending):
        t.cancel()
    await asyncio.gather(issuing, stopper, *pending, return_exceptions=True)
    records = [r if isinstance(r, RequestRecord) else r.record() for r in responses]
    end = max((start + r.sent_s + r.e2e_s for r in records if r.ok), default=start)
    return PointRun(point, tuple(sorted(records, key=lambda r: r.index)), max(end - start, 0.0),
                    started - len(records), stop.is_set())


async def _arrivals(one, times: list[float], start: float, deadline: float, stop: asyncio.Event,
                    tasks: list[asyncio.Task]) -> None:
    for i, t in enumerate(times):
        at = start + t
        if at > deadline or stop.is_set():
            return
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i)))


async def _workers(one, n: int, concurrency: int, deadline: float, stop: asyncio.Event) -> None:
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            if stop.is_set() or time.perf_counter() > deadline:
                return
            await one(i)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))
