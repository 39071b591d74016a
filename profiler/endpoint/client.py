"""One streamed request to an OpenAI-compatible server, timed from the client: :func:`send` -> :class:`RequestRecord`.

Timings follow ``vllm bench serve`` (vllm/benchmarks/lib/endpoint_request_func.py and vllm/benchmarks/serve.py,
vllm-project/vllm at 009e6d4a1cd6) so the numbers compare with it and with guidellm:

- the clock is ``time.perf_counter`` (CLOCK_MONOTONIC on Linux); a request's clock starts when its headers are on
  the wire (aiohttp's ``on_request_headers_sent`` trace, :func:`open_session`), so neither the client's own
  preparation of the request nor a new connection's TCP/TLS handshake is charged to the server. ``vllm bench
  serve`` reads its clock before the POST, which adds both: nothing at one stream on a kept-alive connection, but
  when 16 streams start at once the 16th waits ~5 ms for the 15 before it to be prepared and written (measured
  against the fake server's own send stamps; benchmarks/endpoint_overhead.py);
- **TTFT** = arrival of the first chunk carrying generated text - send;
- **ITL** = every gap between consecutive text chunks (pooled over requests for the percentiles);
- **E2E** = arrival of the last text chunk - send (vLLM's ``latency``);
- **TPOT** = (E2E - TTFT) / (output tokens - 1), per request with 2 or more output tokens;
- **output tokens** = the server's ``usage.completion_tokens`` (asked for with ``stream_options.include_usage``),
  else the number of text chunks.

Bytes are stamped as they arrive and parsed only once the load point is over (:class:`Response`,
:mod:`profiler.endpoint.sse`). A request that
fails is a record with ``error_class`` set (one of :data:`ERROR_CLASSES`) and its message; nothing raises here but
cancellation.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from profiler.endpoint.sse import SseDecoder, tally

# Failure classes, each reported once with its count (profiler.endpoint.stats.failure_lines).
ERROR_CLASSES = ("cannot connect", "HTTP error", "timeout", "stream cut", "malformed stream", "server error event",
                 "incomplete stream", "no tokens")
MAX_ERROR_BODY = 4096  # bytes of an error response read for its message (an HTML error page can be large)


@dataclass(frozen=True)
class Endpoint:
    """Where and how requests go. ``headers`` may hold the API key: never printed, never written
    (:meth:`describe` is what reports use)."""

    url: str  # the full /v1/completions or /v1/chat/completions URL
    api: str  # "completions" or "chat"
    model: str  # the served model name sent in every request
    timeout_s: float = 300.0
    ignore_eos: bool = False
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    def body(self, prompt: str, max_tokens: int) -> dict[str, Any]:
        """The request body: greedy (temperature 0, as vllm bench serve sends), streamed, usage in the last chunk."""
        body: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens, "temperature": 0.0, "stream": True,
                                "stream_options": {"include_usage": True}}
        if self.api == "chat":
            body["messages"] = [{"role": "user", "content": prompt}]
        else:
            body["prompt"] = prompt
        if self.ignore_eos:  # vLLM / SGLang extension: generate exactly max_tokens
            body["ignore_eos"] = True
        return body


@dataclass(frozen=True)
class RequestRecord:
    """One request as the client saw it; times in seconds, ``sent_s`` from the start of its load point."""

    index: int
    sent_s: float
    ok: bool
    ttft_s: float = math.nan
    e2e_s: float = math.nan
    itl_s: tuple[float, ...] = ()
    output_tokens: int = 0
    prompt_tokens: int | None = None
    error_class: str | None = None
    error: str | None = None
    server_model: str | None = None

    @property
    def tpot_s(self) -> float:
        if not self.ok or self.output_tokens < 2:
            return math.nan
        return (self.e2e_s - self.ttft_s) / (self.output_tokens - 1)


def _fail(index: int, sent_s: float, cls: str, message: str, **kw: Any) -> RequestRecord:
    return RequestRecord(index=index, sent_s=sent_s, ok=False, error_class=cls, error=message[:200], **kw)


def _error_message(status: int, reason: str | None, body: bytes) -> str:
    text = body[:MAX_ERROR_BODY].decode("utf-8", errors="replace").strip()
    try:
        err = json.loads(text)
        err = err.get("error", err) if isinstance(err, dict) else err
        text = str(err.get("message", err) if isinstance(err, dict) else err)
    except ValueError:
        pass
    text = " ".join(text.split())[:150]
    return f"HTTP {status} {reason or ''}".rstrip() + (f": {text}" if text else "")


def _events(chunks: list[tuple[float, bytes]]) -> list[tuple[float, str]]:
    """Frame the stamped byte chunks into events, each at the arrival of the chunk that completed it."""
    decoder, events = SseDecoder(), []
    for t, chunk in chunks:
        events.extend((t, data) for data in decoder.feed(chunk))
    last = chunks[-1][0] if chunks else 0.0
    events.extend((last, data) for data in decoder.close())
    return events


def _record(index: int, sent: float, start: float, chunks: list[tuple[float, bytes]], cut: str | None) -> RequestRecord:
    t = tally(_events(chunks))
    common = dict(prompt_tokens=t.prompt_tokens, server_model=t.server_model)
    sent_s = sent - start
    if t.error_class:
        return _fail(index, sent_s, t.error_class, t.error or "", **common)
    if cut:
        return _fail(index, sent_s, "stream cut", f"the connection closed mid-stream after {t.text_chunks} text "
                     f"chunks ({cut})", **common)
    if not t.token_times:
        return _fail(index, sent_s, "no tokens", "the response streamed no generated text", **common)
    if not t.done:
        return _fail(index, sent_s, "incomplete stream", f"the stream ended after {t.text_chunks} text chunks without "
                     "[DONE] or a finish_reason", **common)
    times = t.token_times
    itl = tuple(b - a for a, b in zip(times, times[1:], strict=False))
    out = t.completion_tokens if t.completion_tokens else t.text_chunks
    return RequestRecord(index=index, sent_s=sent_s, ok=True, ttft_s=times[0] - sent, e2e_s=times[-1] - sent,
                         itl_s=itl, output_tokens=out, **common)


@dataclass(frozen=True)
class Response:
    """A request's raw outcome: its stamped byte chunks (or the failure it met before any). Parsing waits for
    :meth:`record`, which the load generator calls once the point is over, so that a stream ending never spends
    event-loop time (a JSON decode per chunk) while other streams' tokens wait to be stamped."""

    index: int
    sent: float
    start: float
    chunks: tuple[tuple[float, bytes], ...] = ()
    cut: str | None = None
    failure: RequestRecord | None = None

    @property
    def size(self) -> int:
        return sum(len(c) for _, c in self.chunks)

    def record(self) -> RequestRecord:
        return self.failure or _record(self.index, self.sent, self.start, list(self.chunks), self.cut)


def open_session(connections: int = 0) -> Any:
    """An aiohttp.ClientSession for :func:`send`: unlimited connections (0; aiohttp's default caps at 100) kept
    alive, and the trace that starts each request's clock when its headers are sent."""
    import aiohttp

    async def headers_sent(session, ctx, params) -> None:
        holder = ctx.trace_request_ctx
        if isinstance(holder, list) and not holder:
            holder.append(time.perf_counter())

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(headers_sent)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections), trace_configs=[trace])


async def send(session: Any, endpoint: Endpoint, prompt: str, max_tokens: int, index: int = 0,
               start: float | None = None) -> Response:
    """POST one streamed request on `session` (an aiohttp.ClientSession) and stamp what arrives (module
    docstring); `start` is the load point's start on the same clock (``sent_s`` is measured from it).
    ``(await send(...)).record()`` is the request's record."""
    import aiohttp

    body = json.dumps(endpoint.body(prompt, max_tokens)).encode()  # bytes: aiohttp sends them as they are
    headers = {**endpoint.headers, "Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=endpoint.timeout_s)
    chunks: list[tuple[float, bytes]] = []
    clock = time.perf_counter
    sent = clock()
    start = sent if start is None else start

    def failed(cls: str, message: str) -> Response:
        return Response(index, sent, start, failure=_fail(index, sent - start, cls, message))

    cut = None
    on_wire: list[float] = []  # the headers-sent time, filled by open_session's trace (else the time above)
    try:
        async with session.post(endpoint.url, data=body, headers=headers, timeout=timeout,
                                trace_request_ctx=on_wire) as resp:
            sent = on_wire[0] if on_wire else sent
            if resp.status != 200:
                return failed("HTTP error", _error_message(resp.status, resp.reason,
                                                           await resp.content.read(MAX_ERROR_BODY)))
            try:
                async for chunk in resp.content.iter_any():
                    chunks.append((clock(), chunk))
            except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                cut = type(exc).__name__
    except asyncio.TimeoutError:
        got = f", {len(chunks)} chunks received" if chunks else ", before any token"
        return failed("timeout", f"no complete response within {endpoint.timeout_s:g} s{got}")
    except aiohttp.ClientConnectorError as exc:
        reason = exc.os_error.strerror if exc.os_error and exc.os_error.strerror else str(exc)
        return failed("cannot connect", f"cannot connect to {exc.host}:{exc.port} ({reason})")
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError) as exc:
        if not chunks:
            return failed("stream cut", f"the server closed the connection before answering ({type(exc).__name__})")
        cut = type(exc).__name__
    except aiohttp.ClientError as exc:
        return failed("cannot connect", f"{type(exc).__name__}: {exc}"[:200])
    return Response(index, sent, start, tuple(chunks), cut)
