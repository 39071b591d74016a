"""How much does `inferplan endpoint`'s own client distort the inter-token latency it measures?

    python benchmarks/endpoint_overhead.py                     # 1, 50, 200 and 400 concurrent streams
    python benchmarks/endpoint_overhead.py --streams 200 --tokens 150

The fake OpenAI server (tests/endpoint/fake_server.py) runs in its own process and writes, in every token chunk,
the ``time.perf_counter()`` at which it sent it (``stamp``). On Linux perf_counter is CLOCK_MONOTONIC, one clock
for every process of the machine, so the client's arrival stamp minus the server's send stamp is each token's
delivery lag, and the difference between a gap the client measured and the same gap as the server sent it is the
client's (plus the kernel's loopback) distortion of that ITL sample. The load is the client's real path:
profiler.endpoint.load.run_point with `concurrency` streams, each a full request (TTFT 80 ms, ITL 20 ms, the issue's
script). Server and client share the machine's cores, as they would not in production, so this is an upper bound.

Printed per concurrency: the server's own median gap (what was sent), the client's median ITL, the median and p99 of
|client gap - server gap| per token, the median and p99 delivery lag, and the client process's CPU use. The target
(issue 16): at >= 200 streams on a 2-core machine, ITL distorted by no more than 2 ms (median per-gap distortion
and the shift of the median ITL).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from profiler.endpoint import client, load  # noqa: E402
from tests.endpoint.fake_server import serve  # noqa: E402

TTFT_MS, ITL_MS = 80.0, 20.0


async def _point(url: str, streams: int, tokens: int, rounds: int) -> dict:

    endpoint = client.Endpoint(url + "/v1/completions", "completions", "fake-model", timeout_s=120.0)
    raws: dict[int, tuple] = {}
    real_send = client.send

    async def send(*args, **kwargs):
        response = await real_send(*args, **kwargs)
        raws[response.index] = response.chunks  # the server's stamps are read from them after the point
        return response

    load.send = send  # the load generator's own path, its stamped chunks kept
    try:
        async with client.open_session() as session:
            cpu0, wall0 = time.process_time(), time.perf_counter()
            run = await load.run_point(session, endpoint, load.LoadPoint("concurrency", concurrency=streams),
                                       ["w " * 50] * (streams * rounds), tokens, 600.0, asyncio.Event())
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        load.send = real_send
    client_gaps, server_gaps, distortion, lag = [], [], [], []
    for rec in run.records:
        if not rec.ok:
            continue
        stamps = []
        for t, data in client._events(list(raws[rec.index])):
            if data.startswith("{") and '"t":' in data:
                obj = json.loads(data)
                if obj.get("choices") and "t" in obj:
                    stamps.append((t, obj["t"]))
        for (c0, s0), (c1, s1) in zip(stamps, stamps[1:], strict=False):
            client_gaps.append(c1 - c0)
            server_gaps.append(s1 - s0)
            distortion.append(abs((c1 - c0) - (s1 - s0)))
        lag.extend(c - s for c, s in stamps)
    ms = 1e3
    out = {"streams": streams, "requests_ok": sum(r.ok for r in run.records),
           "failed": sum(not r.ok for r in run.records), "client_cpu": cpu / wall, "gaps": len(distortion),
           "distortion_p50": np.median(distortion) * ms, "distortion_p99": np.percentile(distortion, 99) * ms,
           "lag_p50": np.median(lag) * ms, "lag_p99": np.percentile(lag, 99) * ms}
    for q in (50, 90, 99):
        out[f"server_itl_p{q}"] = np.percentile(server_gaps, q) * ms
        out[f"client_itl_p{q}"] = np.percentile(client_gaps, q) * ms
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", default="1,50,200,400", help="comma-separated concurrencies")
    parser.add_argument("--tokens", type=int, default=100, help="output tokens per request")
    parser.add_argument("--rounds", type=int, default=2, help="requests per stream")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs; server: TTFT {TTFT_MS:g} ms, ITL {ITL_MS:g} ms, {args.tokens} tokens "
          f"per request, {args.rounds} requests per stream; times in ms")
    print(f"{'streams':>7} {'ok':>5} {'fail':>4} {'ITL p50 srv/cli':>15} {'ITL p90 srv/cli':>15} "
          f"{'ITL p99 srv/cli':>15} {'|d| p50':>7} {'|d| p99':>7} {'lag p50':>7} {'lag p99':>7} {'cli CPU':>7}")
    with serve(ttft_ms=TTFT_MS, itl_ms=ITL_MS, stamp=True) as url:
        for streams in (int(s) for s in args.streams.split(",")):
            r = asyncio.run(_point(url, streams, args.tokens, args.rounds))
            pairs = [f"{r[f'server_itl_{q}']:.2f}/{r[f'client_itl_{q}']:.2f}" for q in ("p50", "p90", "p99")]
            print(f"{r['streams']:>7} {r['requests_ok']:>5} {r['failed']:>4} {pairs[0]:>15} {pairs[1]:>15} "
                  f"{pairs[2]:>15} {r['distortion_p50']:>7.3f} "
                  f"{r['distortion_p99']:>7.2f} {r['lag_p50']:>7.2f} {r['lag_p99']:>7.2f} {r['client_cpu']:>7.0%}",
                  flush=True)
    print("|d| = |client gap - server gap| per token (the client's distortion of one ITL sample); lag = arrival - "
          "send of each token; cli CPU = the client process's CPU time / wall time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
