"""Scrape a server's Prometheus ``/metrics`` during a load point, on the load test's own event loop.

    scrape_until(session, url, stop, interval_s, out)
                                    async: GET url every interval until `stop` is set, appending
                                    server_metrics.ServerSnapshot's; None, or a one-line reason when given up
    metrics_url(base_url)           http://host:port[/prefix]/metrics from an OpenAI base URL (.../v1[/completions])

aiohttp is imported where a scrape runs (the ``endpoint`` extra).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from profiler.endpoint.prometheus import MAX_EXPOSITION_BYTES, looks_like_prometheus
from profiler.endpoint.server_metrics import ServerSnapshot, snapshot

SCRAPE_TIMEOUT_S = 2.0  # per GET (connect + headers + body); a scrape that takes longer is a failure
MAX_CONSECUTIVE_FAILURES = 5  # after the first success: this many failed scrapes in a row end the scraping
TRTLLM_PROMETHEUS_PATH = "/prometheus/metrics"  # trtllm-serve's Prometheus mount (openai_server.py mount_metrics)
_READ_CHUNK = 64 * 1024

_API_SUFFIXES = ("/v1/chat/completions", "/v1/completions", "/v1")


def metrics_url(base_url: str) -> str:
    """The /metrics URL of the server at `base_url`: scheme, host, port and any path prefix are kept; a trailing
    ``/v1``, ``/v1/completions`` or ``/v1/chat/completions`` (and trailing slashes) is dropped, as are query and
    fragment. ValueError (one line) when `base_url` is not an http(s) URL with a host."""
    parts = urlsplit(base_url.strip()) if isinstance(base_url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{base_url!r} is not an http(s) URL with a host, e.g. http://localhost:8000/v1")
    path = parts.path.rstrip("/")
    for suffix in _API_SUFFIXES:
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return urlunsplit((parts.scheme, parts.netloc, path.rstrip("/") + "/metrics", "", ""))


def _one_line(message: object, limit: int = 160) -> str:
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class _Fetched:
    text: str | None  # the exposition, or None on failure
    problem: str = ""  # on failure: what happened, e.g. "answered HTTP 404"
    json: bool = False  # the body was JSON (trtllm-serve's /metrics)
    status: int | None = None  # the HTTP status of a response other than 200


async def _read_bounded(response: Any) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_READ_CHUNK):
        room = MAX_EXPOSITION_BYTES - size
        if len(chunk) > room:
            chunks.append(chunk[:room])
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False


async def _fetch(session: Any, url: str, timeout_s: float) -> _Fetched:
    import aiohttp

    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout_s),
                               headers={"Accept": "text/plain"}) as response:
            if response.status != 200:
                return _Fetched(None, f"answered HTTP {response.status}", status=response.status)
            body, truncated = await _read_bounded(response)
            content_type = response.headers.get("Content-Type", "").lower()
            charset = response.charset or "utf-8"
    except asyncio.CancelledError:
        raise
    except asyncio.TimeoutError:
        return _Fetched(None, f"did not answer within {timeout_s:g} s")
    except aiohttp.ClientConnectorError as exc:
        return _Fetched(None, f"could not be reached ({_one_line(exc)})")
    except Exception as exc:  # any other client or protocol failure: a failed scrape, never an exception
        return _Fetched(None, f"failed ({type(exc).__name__}: {_one_line(exc)})")

    try:
        text = body.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        text = body.decode("utf-8", errors="replace")
    if truncated:
        text = text[: text.rfind("\n") + 1]
    head = text.lstrip()[:1]
    if "json" in content_type or head in ("{", "["):
        return _Fetched(None, "answered JSON, not Prometheus text", json=True)
    if "html" in content_type or head == "<":
        return _Fetched(None, "answered HTML, not Prometheus text")
    if not looks_like_prometheus(text):
        return _Fetched(None, "answered something that is not Prometheus text")
    return _Fetched(text)


def _trtllm_sibling(url: str) -> str | None:
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if not path.endswith("/metrics") or path.endswith(TRTLLM_PROMETHEUS_PATH):
        return None
    new_path = path[: -len("/metrics")] + TRTLLM_PROMETHEUS_PATH
    return urlunsplit((parts.scheme, parts.netloc, new_path, parts.query, ""))


async def _until_stopped(coro, stop: asyncio.Event):
    """Run `coro` unless `stop` is set first: (True, result), or (False, None) with `coro` cancelled."""
    task = asyncio.ensure_future(coro)
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return (True, task.result()) if not task.cancelled() else (False, None)


async def _sleep_until(deadline: float, stop: asyncio.Event) -> None:
    delay = deadline - asyncio.get_running_loop().time()
    if delay > 0:
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
        except asyncio.TimeoutError:
            pass


async def scrape_until(session: Any, url: str, stop: asyncio.Event, interval_s: float,
                       out: list[ServerSnapshot], clock: Callable[[], float] = time.perf_counter, *,
                       timeout_s: float = SCRAPE_TIMEOUT_S) -> str | None:
    """GET `url` at once and then every `interval_s` [s] until `stop` is set, appending one ServerSnapshot per
    successful scrape to `out` (t: `clock()` midway through the GET). A GET in flight when `stop` is set is
    abandoned, so the return follows `stop` within moments.

    Returns None, or a one-line reason when scraping was given up (snapshots taken until then stay in `out`):
    the first scrape failing (HTTP status other than 200, connection refused, no answer within `timeout_s`, a body
    that is not Prometheus text) ends it at once, e.g. "http://host:8000/metrics answered HTTP 404 ...; server
    metrics left out"; when that first body is JSON (trtllm-serve's /metrics), the sibling /prometheus/metrics is
    tried once instead. Later failures are counted and skipped; MAX_CONSECUTIVE_FAILURES in a row end it. A body is
    read up to MAX_EXPOSITION_BYTES. Never raises, except CancelledError when the task is cancelled."""
    try:
        return await _scrape(session, url, stop, interval_s, out, clock, timeout_s)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug or an odd clock must not take the load test down
        return f"scraping {url} stopped ({type(exc).__name__}: {_one_line(exc)}); server metrics left out"


async def _scrape(session, url, stop, interval_s, out, clock, timeout_s) -> str | None:
    if not (isinstance(interval_s, (int, float)) and math.isfinite(interval_s) and interval_s > 0):
        return f"scrape interval {interval_s!r} s is not a positive number; server metrics left out"
    loop = asyncio.get_running_loop()
    next_tick = loop.time()
    failures = 0
    first = True
    while not stop.is_set():
        started = clock()
        finished, fetched = await _until_stopped(_fetch(session, url, timeout_s), stop)
        if not finished:
            return None
        if first and fetched.json and (sibling := _trtllm_sibling(url)) is not None:
            finished, retry = await _until_stopped(_fetch(session, sibling, timeout_s), stop)
            if not finished:
                return None
            if retry.text is None:
                return (f"{url} {fetched.problem} (trtllm-serve's JSON iteration stats?), and {sibling} "
                        f"{retry.problem}; server metrics left out")
            url, fetched = sibling, retry
        t = (started + clock()) / 2
        if fetched.text is None:
            if first:
                hint = " (SGLang serves /metrics only with --enable-metrics)" if fetched.status == 404 else ""
                return f"{url} {fetched.problem}{hint}; server metrics left out"
            failures += 1
            if failures >= MAX_CONSECUTIVE_FAILURES:
                return (f"{url} failed {failures} scrapes in a row (last: {fetched.problem}); server metrics "
                        f"after that left out")
        else:
            first = False
            failures = 0
            out.append(snapshot(fetched.text, t))
        now = loop.time()
        while next_tick <= now:  # a scrape slower than the interval skips the ticks it overran
            next_tick += interval_s
        await _sleep_until(next_tick, stop)
    return None
