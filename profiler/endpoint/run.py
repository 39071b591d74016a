"""`inferplan endpoint`'s run: find the server, size the prompts, drive each load point, summarise, say what failed.

:func:`measure` is the one entry point: an :class:`EndpointRequest` in, an :class:`EndpointResult` out (its
:meth:`EndpointResult.document` is the JSON ``--format json`` prints, which :mod:`profiler.interop.endpoint_doc`
reads back as a serving report, so ``plan --profile``, ``calibrate`` and ``simulate --profile`` take it).
The API key travels only in the request headers: no field of the result, no message, holds it.
"""

from __future__ import annotations

import asyncio
import gc
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from profiler.endpoint import prompts as prompt_lengths
from profiler.endpoint.client import Endpoint, RequestRecord, open_session, send
from profiler.endpoint.load import LoadPoint, PointRun, run_point
from profiler.endpoint.stats import Slo, failure_lines, saturation, summary
from profiler.errors import InvalidValueError
from profiler.interop.endpoint_doc import MARKER as DOC_MARKER  # the key that marks this module's document

DOC_VERSION = 1
MAX_REQUESTS = 100_000  # per point: a run of more is no load test but a soak (and holds every record in memory)
MAX_DURATION_S = 24 * 3600.0
MAX_CONCURRENCY = 4096  # streams in flight from one client process (one socket each; ulimit -n is often 1024+)
SWEEP_CAP = 256  # the throughput point of --sweep sends everything at once with at most this many in flight
DISCOVERY_TIMEOUT_S = 10.0
METRICS_INTERVAL_S = 0.5  # two scrapes a second: a short point still gets a few, and a scrape costs the server ~1 ms
PROBE_TRIES = 3


@dataclass(frozen=True)
class EndpointRequest:
    url: str
    model: str | None = None  # the served model name; None: the one /v1/models lists
    api: str = "completions"
    input_tokens: int = 1000
    output_tokens: int = 250
    points: tuple[LoadPoint, ...] = ()
    sweep: int = 0  # > 0: a sweep with this many rates between the synchronous and throughput points
    requests: int = 100
    duration_s: float = 300.0
    timeout_s: float = 300.0
    slo: Slo = field(default_factory=Slo)
    seed: int = 0
    ignore_eos: bool = False
    tokenizer: Path | None = None
    metrics: bool = True
    api_key: str | None = field(default=None, repr=False)
    max_concurrency: int | None = None  # the cap of rate points and of the sweep's throughput point


@dataclass
class EndpointResult:
    """Everything measured (mutable only while the run fills it; the CLI reads it after each point)."""

    url: str  # without credentials
    settings: dict[str, Any]
    server: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    runs: list[PointRun] = field(default_factory=list)
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def records(self) -> list[RequestRecord]:
        return [r for run in self.runs for r in run.records]

    def failures(self) -> list[str]:
        return failure_lines(self.records)

    def saturation(self) -> list[str]:
        return saturation(self.rows, Slo(self.settings.get("slo_ttft_ms"), self.settings.get("slo_tpot_ms")))

    def document(self) -> dict[str, Any]:
        return {DOC_MARKER: DOC_VERSION, "url": self.url, "date": self.settings.get("date"), "server": self.server,
                "settings": self.settings, "points": self.rows, "failures": self.failures(),
                "saturation": self.saturation(), "interrupted": self.interrupted, "notes": self.notes}


def public_url(url: str) -> str:
    """`url` without user:password and without its query (where keys like ?api_key= travel): safe to print."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def request_url(url: str, api: str) -> tuple[str, str, str]:
    """(the completions URL, the API it serves, the server's base URL) from what the user gave: the server
    (http://host:8000), its /v1, or the full endpoint path (which then decides the API)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidValueError(f"URL '{public_url(url)}' is not an http(s) URL of a server (e.g. "
                                "http://127.0.0.1:8000 or https://host/v1)")
    path = parts.path.rstrip("/")
    for suffix, which in (("/chat/completions", "chat"), ("/completions", "completions")):
        if path.endswith(suffix):
            api, path = which, path[: -len(suffix)]
            break
    base_path = path[:-3] if path.endswith("/v1") else path
    v1 = path if path.endswith("/v1") else path + "/v1"
    full = urlunsplit((parts.scheme, parts.netloc, v1 + ("/chat/completions" if api == "chat" else "/completions"),
                       parts.query, ""))
    return full, api, urlunsplit((parts.scheme, parts.netloc, base_path, parts.query, ""))


async def _get_json(session, url: str, headers) -> tuple[int | None, Any]:
    import aiohttp

    try:
        async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=DISCOVERY_TIMEOUT_S)) as r:
            try:
                return r.status, await r.json(content_type=None)
            except ValueError:
                return r.status, None
    except asyncio.TimeoutError:
        return None, f"no answer within {DISCOVERY_TIMEOUT_S:g} s"
    except aiohttp.ClientConnectorError as exc:
        return None, exc.os_error.strerror if exc.os_error and exc.os_error.strerror else str(exc)
    except aiohttp.ClientError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:160]


async def _discover(session, base: str, req: EndpointRequest, headers) -> dict[str, Any]:
    """The served models (/v1/models) and version (/version, vLLM and SGLang; /info, TGI), best effort, and the
    model to send: the one asked, or the only one served."""
    status, doc = await _get_json(session, base + "/v1/models", headers)
    if status is None:
        raise InvalidValueError(f"cannot reach {public_url(base)}/v1/models ({doc}); is the server running, and is "
                                "the URL its address?")
    served = [m.get("id") for m in doc.get("data", []) if isinstance(m, dict) and isinstance(m.get("id"), str)] \
        if isinstance(doc, dict) and isinstance(doc.get("data"), list) else []
    roots = {m.get("id"): m.get("root") for m in doc.get("data", []) if isinstance(m, dict)} if served else {}
    version = None
    for path, key in (("/version", "version"), ("/info", "version")):
        st, info = await _get_json(session, base + path, headers)
        if st == 200 and isinstance(info, dict) and isinstance(info.get(key), str):
            version = info[key][:80]
            break
    model = req.model
    if model is None:
        if len(served) != 1:
            said = f"it serves {', '.join(served[:5])}" if served else \
                f"{public_url(base)}/v1/models answered HTTP {status} with no model list"
            raise InvalidValueError(f"name the served model with --model NAME ({said})")
        model = served[0]
    return {"model": model, "served_models": served[:20], "root": roots.get(model), "version": version}


async def _probe_lengths(session, endpoint: Endpoint, req: EndpointRequest) -> prompt_lengths.LengthFit:
    """Two short requests (2 output tokens each) whose usage gives tokens per word (profiler.endpoint.prompts); a
    server failing them all ends the run with its answer, before any load is sent."""
    import random

    counts = []
    for n in prompt_lengths.PROBE_WORDS:
        text = prompt_lengths.words(n, random.Random(req.seed + 10_000 + n))
        for _ in range(PROBE_TRIES):  # a server failing some requests still gets measured (its failures counted)
            rec = (await send(session, endpoint, text, 2)).record()
            if rec.ok:
                break
        else:
            raise InvalidValueError(f"the first requests to {public_url(endpoint.url)} failed {PROBE_TRIES} times, so "
                                    f"no load was sent: {rec.error_class}: {rec.error}")
        counts.append((n, rec.prompt_tokens))
    return prompt_lengths.fit_from_probes(counts)


def sweep_rates(sync_rate: float, max_rate: float, n: int) -> list[float]:
    """`n` Poisson rates from just above the synchronous rate up to the throughput point's rate, evenly spaced
    (guidellm's sweep: synchronous, throughput, then rates interpolated between the two)."""
    if not (sync_rate > 0 and max_rate > 0):
        return []
    lo, hi = min(sync_rate, max_rate), max(sync_rate, max_rate)
    return [lo + (hi - lo) * (i + 1) / n for i in range(n)]


async def _measure(req: EndpointRequest, result: EndpointResult, on_point: Callable | None,
                   on_record: Callable | None, on_server: Callable | None, stop: asyncio.Event) -> None:

    from profiler.endpoint import scrape, server_metrics

    full, api, base = request_url(req.url, req.api)
    headers = {"Authorization": f"Bearer {req.api_key}"} if req.api_key else {}
    async with open_session() as session:
        server = await _discover(session, base, req, headers)
        result.server.update(server)
        if on_server is not None:
            on_server(server)
        endpoint = Endpoint(full, api, server["model"], req.timeout_s, req.ignore_eos, headers)
        if req.tokenizer is not None:
            count = prompt_lengths.tokenizer_counter(req.tokenizer)
            fit = prompt_lengths.LengthFit(1.0, 0.0, f"tokenizer {req.tokenizer.name}")
        else:
            count, fit = None, await _probe_lengths(session, endpoint, req)
        result.settings["prompt_length"] = fit.method
        points = list(req.points)
        if req.sweep:
            cap = req.max_concurrency or SWEEP_CAP
            points = [LoadPoint("concurrency", concurrency=1), LoadPoint("throughput", concurrency=cap)]
        i = 0
        while i < len(points) and not stop.is_set():
            point = points[i]
            texts = prompt_lengths.make_prompts(req.requests, req.input_tokens, fit, req.seed + 7919 * i, count)
            snaps: list = []
            scrape_stop = asyncio.Event()
            scraper = asyncio.ensure_future(scrape.scrape_until(
                session, scrape.metrics_url(base), scrape_stop, METRICS_INTERVAL_S, snaps)) \
                if req.metrics else None
            run = await run_point(session, endpoint, point, texts, req.output_tokens, req.duration_s, stop,
                                  seed=req.seed + i, on_record=on_record)
            row = summary(run, req.slo, req.input_tokens, req.output_tokens)
            if scraper is not None:
                scrape_stop.set()
                reason = await scraper
                row.update({f"server_{k}": v for k, v in server_metrics.summarise(snaps).items()})
                if reason and reason not in result.notes:
                    result.notes.append(reason)
            result.runs.append(run)
            result.rows.append(row)
            if req.sweep and i == 1:  # the synchronous and throughput points set the sweep's rates
                rates = sweep_rates(result.rows[0]["request_throughput"], row["request_throughput"], req.sweep)
                points += [LoadPoint("rate", rate=float(f"{r:.3g}"), concurrency=req.max_concurrency) for r in rates]
            if on_point is not None:
                on_point(result, i, len(points))
            i += 1
        result.interrupted = stop.is_set()


def measure(req: EndpointRequest, on_point: Callable | None = None, on_record: Callable | None = None,
            on_server: Callable | None = None) -> EndpointResult:
    """Run the load test (module docstring). Ctrl-C (SIGINT) stops it at once, keeping every finished request:
    the result comes back with ``interrupted`` set. `on_point(result, i, n)` is called after each point (the CLI
    writes its file there, so nothing measured is lost), `on_record(record)` after each request, `on_server(info)`
    once the server answered /v1/models, before any load (it may raise to stop the run)."""
    settings = {"api": req.api, "input_tokens": req.input_tokens, "output_tokens": req.output_tokens,
                "requests": req.requests, "duration_s": req.duration_s, "timeout_s": req.timeout_s,
                "seed": req.seed, "ignore_eos": req.ignore_eos, "slo_ttft_ms": req.slo.ttft_ms,
                "slo_tpot_ms": req.slo.tpot_ms, "sweep": req.sweep,
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    result = EndpointResult(public_url(req.url), settings, {})

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, stop.set)
            handled = True
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            handled = False
        try:
            await _measure(req, result, on_point, on_record, on_server, stop)
        finally:
            if handled:
                loop.remove_signal_handler(signal.SIGINT)

    started = time.perf_counter()
    # Objects that exist now (the CLI, pandas, a test runner's whole heap) are moved out of the collector's sight:
    # a full collection over them, triggered by the allocations of a burst of requests, would stall the event loop
    # for milliseconds and land in the latencies measured. Only what the run allocates is collected meanwhile.
    gc.collect()
    gc.freeze()
    try:
        asyncio.run(main())
    except KeyboardInterrupt:  # SIGINT while no handler was installed (before the loop ran)
        result.interrupted = True
    finally:
        gc.unfreeze()
    result.settings["wall_s"] = round(time.perf_counter() - started, 3)
    return result


def check_request(req: EndpointRequest) -> EndpointRequest:
    """Bounds and consistency, one line each, before anything is sent."""
    request_url(req.url, req.api)
    if req.api not in ("completions", "chat"):
        raise InvalidValueError(f"--api must be completions or chat, not '{req.api}'")
    if not req.points and not req.sweep:
        raise InvalidValueError("give the load: --rates 1,2,4, --concurrency 1,8,32 or --sweep")
    for name, value, top in (("--requests", req.requests, MAX_REQUESTS), ("--input-tokens", req.input_tokens, 2**20),
                             ("--output-tokens", req.output_tokens, 2**20)):
        if not 1 <= value <= top:
            raise InvalidValueError(f"{name} must be between 1 and {top:,}, got {value}")
    for name, value in (("--duration", req.duration_s), ("--timeout", req.timeout_s)):
        if not (math.isfinite(value) and 0 < value <= MAX_DURATION_S):
            raise InvalidValueError(f"{name} must be a number of seconds in (0, {MAX_DURATION_S:g}], got {value:g}")
    for p in req.points:
        if p.concurrency is not None and not 1 <= p.concurrency <= MAX_CONCURRENCY:
            raise InvalidValueError(f"concurrency {p.concurrency}: between 1 and {MAX_CONCURRENCY:,} streams")
        if p.rate is not None and not (math.isfinite(p.rate) and 0 < p.rate <= 1e5):
            raise InvalidValueError(f"rate {p.rate:g}: requests per second must be in (0, 100000]")
    for name, value in (("--ttft-p99", req.slo.ttft_ms), ("--tpot-p99", req.slo.tpot_ms)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InvalidValueError(f"{name} must be a positive number of ms, got {value:g}")
    if req.output_tokens < 2:
        raise InvalidValueError("--output-tokens must be 2 or more: inter-token latency needs two tokens")
    return req
