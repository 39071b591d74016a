"""A scripted OpenAI-compatible streaming server (aiohttp.web) for testing and benchmarking the endpoint load tester.

It answers like vLLM's OpenAI front end, on a timetable we choose, so a test can assert exact token counts and
timings and provoke every failure the client must survive. Nothing here computes anything: every token is " w".

Wire format (what a vLLM server sends; the fake copies the shapes, not the code):
  - POST /v1/completions, POST /v1/chat/completions. With "stream": true the answer is Server-Sent Events,
    `Content-Type: text/event-stream`, each event `data: <compact json>\\n\\n`, ending with `data: [DONE]\\n\\n`
    (OpenAI API reference, "Streaming": https://platform.openai.com/docs/api-reference/completions/create#stream;
    vLLM vllm/entrypoints/openai/serving_completion.py and serving_chat.py, *_stream_generator).
  - Completion chunks: object "text_completion", choices[0].text; chat chunks: object "chat.completion.chunk",
    choices[0].delta. The chat stream opens with a role-only delta {"role": "assistant", "content": ""}
    (vLLM serving_chat.py sends it in the generator's first iteration, together with the first token; the fake
    sends it at once, on arrival, the harsher case for a client that must not take it for the first token).
  - The last token's chunk carries finish_reason "length" (max_tokens reached) or "stop" (EOS, see --eos-after).
  - stream_options.include_usage: one more chunk, "choices": [] and "usage" {prompt_tokens, completion_tokens,
    total_tokens}, after the last token and before [DONE] (OpenAI "stream_options"; vLLM the same).
  - Errors use OpenAI's shape {"error": {"message", "type", "param", "code"}}; an unknown model is 404
    "The model `X` does not exist." and an over-long request 400 "This model's maximum context length is ..."
    (vLLM vllm/entrypoints/openai/serving_engine.py, _check_model and _validate_input).

Scripted tokenizer (token counts are exact so tests can assert them):
  - completions: prompt_tokens = number of whitespace-separated words of "prompt" (a list of strings: all of
    them; a list of ints: its length, i.e. pre-tokenised ids).
  - chat: prompt_tokens = sum over messages of (words of its content + 4) + 3. The 4 per message and 3 per
    request are this fake chat template's overhead (role markers and the assistant prefix), in the spirit of
    OpenAI's counting recipe for chat prompts; a real template's overhead depends on the model.
  - completion tokens: exactly max_tokens (default 16; chat also accepts max_completion_tokens), unless
    eos_after=K and the request does not set ignore_eos: then min(max_tokens, max(K, min_tokens)) with
    finish_reason "stop" if that is below max_tokens (vLLM: min_tokens suppresses EOS until reached).

Timing (seconds on the server's event-loop clock, loop.time(), CLOCK_MONOTONIC on Linux):
  - start = the moment the request is admitted (its arrival when max_running is unlimited).
  - token 0 at start + ttft_ms, token i at the previous token's target + gap, gap = itl_ms + itl_per_stream_ms *
    (requests running when the gap starts). Targets are absolute: the server sleeps until each target, so a late
    wake-up does not push later tokens back (no drift); GET /debug/stats reports how late the writes were.
  - Load model: itl_per_stream_ms makes decoding slow down with the batch size (every running request adds that
    many ms per token, like a memory-bound decode step); max_running caps the batch: requests beyond it wait in a
    FIFO queue (vllm:num_requests_waiting) before their TTFT clock starts, so TTFT grows with load the way it
    does on a saturated server. A request whose client disconnects leaves the batch (aiohttp handler_cancellation,
    like vLLM aborting a request on disconnect).
  - stamp: every token chunk carries an extra top-level field "t" = time.perf_counter() taken just before the
    write (CLOCK_MONOTONIC on Linux, system-wide, so a client on the same host can compare it with its own
    time.perf_counter()).

Failure modes (FakeOptions.fail; fail_every=K fails every K-th request by arrival order, 1 = all):
  status500 (HTTP 500, JSON error), status429 (HTTP 429, Retry-After: 1), cut (after cut_after tokens the
  connection is closed without the chunked terminator: the client sees a broken body, not a clean end), slow (first
  token after slow_s seconds), malformed (after 2 tokens an event `data: {not json`, then the stream goes on),
  error_event (after 2 tokens an event {"error": {...engine died...}} then [DONE]), no_done (a clean end after the
  last token but no usage chunk and no [DONE]). Without "stream": cut closes the connection with no answer,
  malformed answers 200 with a body that is not JSON, error_event answers 500 "engine died", the others behave as
  above. A mode that acts "after N tokens" acts after the last token when the request asks for fewer.

Other endpoints: GET /v1/models, GET /version, GET /health, GET /metrics (Prometheus text, vLLM V1 names, see
_metrics_text), GET /debug/requests (the last DEBUG_KEEP POST bodies as received; DELETE clears it),
GET /debug/stats (counters and write lateness).

Use: `with serve(ttft_ms=50) as url: ...` (server in a subprocess, so it does not share the client's event loop),
`with serve_in_thread(fail="cut") as url: ...` (in-process thread, quicker to start), or
`python -m tests.endpoint.fake_server --port 0 --ttft-ms 80 --itl-ms 20` (prints `READY <port>`).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import json
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

FAIL_MODES = ("status500", "status429", "cut", "slow", "malformed", "error_event", "no_done")
"""The failure modes FakeOptions.fail accepts (module docstring says what each sends)."""

DEFAULT_MAX_TOKENS = 16
"""Completion tokens when the request gives no max_tokens (OpenAI's documented default for /v1/completions)."""

DEBUG_KEEP = 2000
"""How many POST bodies GET /debug/requests keeps (the oldest are dropped), so a long benchmark stays bounded."""

VERSION = "0.0-fake"
"""What GET /version answers (vLLM answers {"version": "<vllm version>"} there)."""

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository root: the subprocess runs `python -m tests.endpoint.fake_server` from here."""

_WORD = b" w"
_JSON = {"separators": (",", ":")}


@dataclass(frozen=True)
class FakeOptions:
    """How the fake behaves. Times in milliseconds unless the name says _s (seconds).

    model: the served model name; root: what /v1/models reports as its origin (vLLM reports the HF repo there);
    max_model_len: context length in tokens (prompt + max_tokens above it is a 400); block_size (tokens per KV block)
    and num_gpu_blocks: the KV-cache size behind vllm:kv_cache_usage_perc and vllm:cache_config_info.
    require_key: when set, every /v1/* request needs `Authorization: Bearer <require_key>` (else 401).
    metrics=False makes /metrics a 404 (a server started without it). The others: module docstring.
    """

    model: str = "fake-model"
    ttft_ms: float = 80.0
    itl_ms: float = 20.0
    itl_per_stream_ms: float = 0.0
    max_running: int | None = None
    stamp: bool = False
    require_key: str | None = None
    fail: str | None = None
    fail_every: int = 1
    cut_after: int = 3
    slow_s: float = 30.0
    eos_after: int | None = None
    metrics: bool = True
    root: str = "meta-llama/Llama-3.1-8B-Instruct"
    max_model_len: int = 4096
    block_size: int = 16
    num_gpu_blocks: int = 2048

    def __post_init__(self) -> None:
        if self.fail is not None and self.fail not in FAIL_MODES:
            raise ValueError(f"fail must be one of {', '.join(FAIL_MODES)}; got {self.fail!r}")
        for name in ("ttft_ms", "itl_ms", "itl_per_stream_ms", "slow_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)!r}")
        for name in ("fail_every", "max_model_len", "block_size", "num_gpu_blocks"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)!r}")
        if self.max_running is not None and self.max_running < 1:
            raise ValueError(f"max_running must be >= 1 or None; got {self.max_running!r}")
        if self.cut_after < 0:
            raise ValueError(f"cut_after must be >= 0; got {self.cut_after!r}")
        if self.eos_after is not None and self.eos_after < 1:
            raise ValueError(f"eos_after must be >= 1 or None; got {self.eos_after!r}")


# ---------------------------------------------------------------------------------------------------------------
# Requests: parse a body into what to send (pure)


class BadRequest(Exception):
    """A request the fake refuses: HTTP status, OpenAI error type, one-line message."""

    def __init__(self, status: int, err_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.err_type, self.message = status, err_type, message


@dataclass(frozen=True)
class Plan:
    """What one request gets: prompt tokens (scripted tokenizer), completion tokens, and how it ends."""

    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "length" or "stop"
    stream: bool
    include_usage: bool


def _words(text: Any) -> int:
    """Whitespace-separated words of a message content: a string, None, or a list of {"type":"text","text"} parts."""
    if text is None:
        return 0
    if isinstance(text, str):
        return len(text.split())
    if isinstance(text, list):
        texts = [p["text"] for p in text if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return sum(len(t.split()) for t in texts)
    raise BadRequest(400, "BadRequestError", "message content must be a string or a list of parts")


def prompt_tokens_of(body: dict, chat: bool) -> int:
    """The scripted tokenizer's prompt length (module docstring): words, plus the fake chat template's overhead."""
    if chat:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest(400, "BadRequestError", "messages must be a non-empty list of {role, content}")
        total = 3
        for m in messages:
            if not isinstance(m, dict):
                raise BadRequest(400, "BadRequestError", "each message must be an object {role, content}")
            total += _words(m.get("content")) + 4
        return total
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return len(prompt.split())
    if isinstance(prompt, list) and prompt and all(isinstance(p, int) and not isinstance(p, bool) for p in prompt):
        return len(prompt)
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        return sum(len(p.split()) for p in prompt)
    raise BadRequest(400, "BadRequestError", "prompt must be a string, a list of strings or a list of token ids")


def _int_field(body: dict, name: str, default: int | None) -> int | None:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(400, "BadRequestError", f"{name} must be a non-negative integer; got {value!r}")
    return value


def plan_request(body: Any, chat: bool, opts: FakeOptions) -> Plan:
    """Check a request body and decide its token counts; raises BadRequest (vLLM's checks, vLLM's messages)."""
    if not isinstance(body, dict):
        raise BadRequest(400, "BadRequestError", "the request body must be a JSON object")
    model = body.get("model")
    if model is not None and model != opts.model:
        raise BadRequest(404, "NotFoundError", f"The model `{model}` does not exist.")
    prompt = prompt_tokens_of(body, chat)
    max_tokens = _int_field(body, "max_tokens", None)
    if max_tokens is None and chat:
        max_tokens = _int_field(body, "max_completion_tokens", None)
    if max_tokens is None:
        max_tokens = DEFAULT_MAX_TOKENS
    if max_tokens < 1:
        raise BadRequest(400, "BadRequestError", f"max_tokens must be at least 1, got {max_tokens}.")
    if prompt + max_tokens > opts.max_model_len:
        raise BadRequest(
            400,
            "BadRequestError",
            f"This model's maximum context length is {opts.max_model_len} tokens. However, you requested "
            f"{prompt + max_tokens} tokens ({prompt} in the messages, {max_tokens} in the completion). "
            "Please reduce the length of the messages or completion.",
        )
    min_tokens = _int_field(body, "min_tokens", 0) or 0
    n, finish = max_tokens, "length"
    if opts.eos_after is not None and not body.get("ignore_eos"):
        eos = max(opts.eos_after, min_tokens)
        if eos < max_tokens:
            n, finish = eos, "stop"
    stream = bool(body.get("stream"))
    stream_options = body.get("stream_options") or {}
    include_usage = stream and isinstance(stream_options, dict) and bool(stream_options.get("include_usage"))
    return Plan(prompt, n, finish, stream, include_usage)


def _usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _error_body(status: int, err_type: str, message: str) -> dict:
    return {"error": {"message": message, "type": err_type, "param": None, "code": status}}


def _error(status: int, err_type: str, message: str, headers: dict | None = None) -> web.Response:
    return web.json_response(_error_body(status, err_type, message), status=status, headers=headers)


# ---------------------------------------------------------------------------------------------------------------
# Chunks: every event's bytes built once per request


def _event(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, **_JSON).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"
MALFORMED = b"data: {not json\n\n"
ENGINE_DIED = _event({"error": {"message": "engine died", "type": "InternalServerError", "code": 500}})


@dataclass(frozen=True)
class Chunks:
    """The bytes of one request's events. With stamp, a token event is head + ',"t":<perf_counter>}' + '\\n\\n'."""

    role: bytes | None  # chat only
    mid: bytes  # a token event, not the last (complete, or a head without the closing brace when stamped)
    last: bytes  # the last token's event (idem)
    usage: bytes
    stamped: bool


def build_chunks(rid: str, created: int, model: str, chat: bool, plan: Plan, stamp: bool) -> Chunks:
    """Serialise the request's chunks once; per token only the stamp (when asked) changes."""
    kind = "chat.completion.chunk" if chat else "text_completion"
    base = {"id": rid, "object": kind, "created": created, "model": model}

    def token(finish: str | None) -> bytes:
        if chat:
            choice = {"index": 0, "delta": {"content": _WORD.decode()}, "logprobs": None, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": _WORD.decode(), "logprobs": None, "finish_reason": finish}
        ev = _event({**base, "choices": [choice]})
        return ev[:-3] if stamp else ev  # drop '}\n\n': the stamp and the closing brace go on per write

    role = None
    if chat:
        delta = {"role": "assistant", "content": ""}
        role = _event({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]})
    p, n = plan.prompt_tokens, plan.completion_tokens
    usage = _event({**base, "choices": [], "usage": _usage(p, n)})
    return Chunks(role, token(None), token(plan.finish_reason), usage, stamp)


def _stamped(head: bytes) -> bytes:
    return b"%s,\"t\":%r}\n\n" % (head, time.perf_counter())


# ---------------------------------------------------------------------------------------------------------------
# Server state: the batch, the queue, the counters


class _State:
    """Everything the handlers share (one event loop, so no locks)."""

    def __init__(self, opts: FakeOptions) -> None:
        self.opts = opts
        self.arrivals = 0  # POSTs to /v1/*completions that passed the key check, numbered from 1
        self.running = 0  # admitted requests (TTFT or decoding)
        self.queue: collections.deque[asyncio.Future] = collections.deque()  # FIFO of requests beyond max_running
        self.held = 0  # KV tokens held by running requests: prompt + generated so far
        self.prompt_total = 0
        self.generation_total = 0
        self.late_sum = 0.0  # seconds: write time - target, summed over token writes
        self.late_max = 0.0
        self.writes = 0
        self.received: collections.deque[dict] = collections.deque(maxlen=DEBUG_KEEP)

    async def admit(self) -> None:
        """Take a place in the batch, waiting in FIFO order while max_running requests run."""
        cap = self.opts.max_running
        if cap is None or (self.running < cap and not self.queue):
            self.running += 1
            return
        fut = asyncio.get_running_loop().create_future()
        self.queue.append(fut)
        try:
            await fut  # release() hands its place over: running is already counted for us
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # we were handed a place but leave before using it
            else:
                with contextlib.suppress(ValueError):
                    self.queue.remove(fut)
            raise

    def release(self) -> None:
        while self.queue:
            fut = self.queue.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self.running -= 1


STATE = web.AppKey("fake_state", _State)


async def _sleep_until(loop: asyncio.AbstractEventLoop, when: float) -> None:
    """Sleep until loop.time() >= when (an absolute target, so errors do not accumulate)."""
    fut = loop.create_future()
    handle = loop.call_at(when, _wake, fut)
    try:
        await fut
    except asyncio.CancelledError:
        handle.cancel()
        raise


def _wake(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


# ---------------------------------------------------------------------------------------------------------------
# Handlers


def _fails(st: _State, n: int) -> str | None:
    fail, every = st.opts.fail, st.opts.fail_every
    return fail if fail is not None and n % every == 0 else None


async def _completions(request: web.Request) -> web.StreamResponse:
    return await _generate(request, chat=False)


async def _chat(request: web.Request) -> web.StreamResponse:
    return await _generate(request, chat=True)


async def _generate(request: web.Request, chat: bool) -> web.StreamResponse:
    st = request.app[STATE]
    opts = st.opts
    try:
        body = json.loads(await request.read())
    except ValueError:
        return _error(400, "BadRequestError", "the request body is not valid JSON")
    try:
        plan = plan_request(body, chat, opts)
    except BadRequest as e:
        return _error(e.status, e.err_type, e.message)
    st.arrivals += 1
    n = st.arrivals
    fail = _fails(st, n)
    if fail == "status500":
        return _error(500, "InternalServerError", "fake server: scripted HTTP 500")
    if fail == "status429":
        return _error(429, "RateLimitError", "fake server: scripted HTTP 429", headers={"Retry-After": "1"})
    rid = f"{'chatcmpl' if chat else 'cmpl'}-{n}"
    created = int(time.time())
    if plan.stream:
        return await _stream(request, st, plan, build_chunks(rid, created, opts.model, chat, plan, opts.stamp), fail)
    return await _whole(request, st, plan, rid, created, chat, fail)


def _special_at(fail: str | None, plan: Plan, cut_after: int) -> int:
    """Before which token index the failure acts (-1: none); after the last token when the request is shorter."""
    if fail == "cut":
        return min(cut_after, plan.completion_tokens)
    if fail in ("malformed", "error_event"):
        return min(2, plan.completion_tokens)
    return -1


async def _stream(request: web.Request, st: _State, plan: Plan, ch: Chunks, fail: str | None) -> web.StreamResponse:
    opts = st.opts
    loop = asyncio.get_running_loop()
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    write = resp.write
    n = plan.completion_tokens
    special = _special_at(fail, plan, opts.cut_after)
    itl = opts.itl_ms / 1000.0
    per_stream = opts.itl_per_stream_ms / 1000.0
    sent = 0
    admitted = False
    try:
        if ch.role is not None:
            await write(ch.role)
        await st.admit()
        admitted = True
        st.held += plan.prompt_tokens
        st.prompt_total += plan.prompt_tokens
        target = loop.time() + (opts.slow_s if fail == "slow" else opts.ttft_ms / 1000.0)
        mid, last, stamped = ch.mid, ch.last, ch.stamped
        for i in range(n + 1):
            if i == special:
                await _sleep_until(loop, target)
                if fail == "cut":
                    resp.force_close()
                    if request.transport is not None:
                        request.transport.close()
                    return resp
                if fail == "malformed":
                    await write(MALFORMED)
                else:  # error_event
                    await write(ENGINE_DIED)
                    await write(DONE)
                    await resp.write_eof()
                    return resp
            if i == n:
                break
            await _sleep_until(loop, target)
            late = loop.time() - target
            st.late_sum += late
            if late > st.late_max:
                st.late_max = late
            st.writes += 1
            data = last if i == n - 1 else mid
            await write(_stamped(data) if stamped else data)
            sent += 1
            st.held += 1
            st.generation_total += 1
            target += itl + per_stream * st.running if per_stream else itl
        if fail != "no_done":
            if plan.include_usage:
                await write(ch.usage)
            await write(DONE)
        await resp.write_eof()
    except ConnectionError:  # the client went away mid-stream: nothing more to send
        pass
    finally:
        if admitted:
            st.held -= plan.prompt_tokens + sent
            st.release()
    return resp


async def _whole(request: web.Request, st: _State, plan: Plan, rid: str, created: int, chat: bool, fail: str | None):
    """A non-streamed answer, sent when its last token would have been: same admission, same timetable."""
    opts = st.opts
    loop = asyncio.get_running_loop()
    if fail == "cut":
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)  # never delivered: the connection is gone
    itl = opts.itl_ms / 1000.0
    per_stream = opts.itl_per_stream_ms / 1000.0
    sent = 0
    await st.admit()
    try:
        st.held += plan.prompt_tokens
        st.prompt_total += plan.prompt_tokens
        target = loop.time() + (opts.slow_s if fail == "slow" else opts.ttft_ms / 1000.0)
        for _ in range(plan.completion_tokens):
            await _sleep_until(loop, target)
            sent += 1
            st.held += 1
            st.generation_total += 1
            target += itl + per_stream * st.running
    finally:
        st.held -= plan.prompt_tokens + sent
        st.release()
    if fail == "malformed":
        return web.Response(status=200, body=b"{not json", content_type="application/json")
    if fail == "error_event":
        return _error(500, "InternalServerError", "engine died")
    text = _WORD.decode() * plan.completion_tokens
    if chat:
        choice = {"index": 0, "message": {"role": "assistant", "content": text}}
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": text}
        obj = "text_completion"
    choice.update(logprobs=None, finish_reason=plan.finish_reason)
    usage = _usage(plan.prompt_tokens, plan.completion_tokens)
    return web.json_response(
        {"id": rid, "object": obj, "created": created, "model": opts.model, "choices": [choice], "usage": usage}
    )


async def _models(request: web.Request) -> web.Response:
    opts = request.app[STATE].opts
    model = {
        "id": opts.model,
        "object": "model",
        "created": int(time.time()),
        "owned_by": "fake",
        "root": opts.root,
        "parent": None,
        "max_model_len": opts.max_model_len,
    }
    return web.json_response({"object": "list", "data": [model]})


async def _version(request: web.Request) -> web.Response:
    return web.json_response({"version": VERSION})


async def _health(request: web.Request) -> web.Response:
    return web.Response(status=200)


def _metrics_text(st: _State) -> str:
    """Prometheus text exposition (format 0.0.4) of the vLLM V1 engine gauges the load tester reads.

    Names, types and help texts follow vLLM's V1 Prometheus logger (vllm/v1/metrics/loggers.py,
    PrometheusStatLogger): vllm:num_requests_running and vllm:num_requests_waiting (gauges), vllm:kv_cache_usage_perc
    (gauge, fraction 0..1 of KV blocks in use; older releases call it vllm:gpu_cache_usage_perc),
    vllm:num_preemptions (counter, exposed as vllm:num_preemptions_total), vllm:prompt_tokens_total and
    vllm:generation_tokens_total (counters), vllm:cache_config_info (gauge 1.0 whose labels carry
    CacheConfig.metrics_info(); the real one carries more labels). The fake's KV usage is token-exact: tokens held
    by running requests (prompt + generated so far) / (num_gpu_blocks * block_size).
    """
    o = st.opts
    name = o.model.replace("\\", "\\\\").replace('"', '\\"')
    label = f'{{model_name="{name}"}}'
    usage = st.held / (o.num_gpu_blocks * o.block_size)
    rows = [
        ("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.", label, st.running),
        ("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.", label, len(st.queue)),
        ("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.", label, usage),
        ("vllm:num_preemptions_total", "counter", "Cumulative number of preemption from the engine.", label, 0),
        ("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.", label, st.prompt_total),
        ("vllm:generation_tokens_total", "counter", "Number of generation tokens processed.", label,
         st.generation_total),
        (
            "vllm:cache_config_info",
            "gauge",
            "Information of the LLMEngine CacheConfig",
            f'{{block_size="{o.block_size}",cache_dtype="auto",gpu_memory_utilization="0.9",'
            f'num_gpu_blocks="{o.num_gpu_blocks}"}}',
            1,
        ),
    ]
    out = []
    for name, kind, doc, labels, value in rows:
        out += [f"# HELP {name} {doc}", f"# TYPE {name} {kind}", f"{name}{labels} {float(value)!r}"]
    return "\n".join(out) + "\n"


async def _metrics(request: web.Request) -> web.Response:
    st = request.app[STATE]
    if not st.opts.metrics:
        raise web.HTTPNotFound()
    return web.Response(text=_metrics_text(st), content_type="text/plain", charset="utf-8")


async def _debug_requests(request: web.Request) -> web.Response:
    st = request.app[STATE]
    if request.method == "DELETE":
        st.received.clear()
        return web.json_response([])
    return web.json_response(list(st.received))


async def _debug_stats(request: web.Request) -> web.Response:
    st = request.app[STATE]
    return web.json_response(
        {
            "requests": st.arrivals,
            "running": st.running,
            "waiting": len(st.queue),
            "tokens_sent": st.writes,
            "late_ms_mean": 1000.0 * st.late_sum / st.writes if st.writes else 0.0,
            "late_ms_max": 1000.0 * st.late_max,
        }
    )


@web.middleware
async def _record_and_authorise(request: web.Request, handler):
    """Log every POST body for /debug/requests, then apply the API-key check to /v1/*."""
    st = request.app[STATE]
    if request.method == "POST":
        raw = await request.read()  # aiohttp keeps it: the handler reads it again for free
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        st.received.append({"path": request.path, "body": body, "has_auth": "Authorization" in request.headers})
    key = st.opts.require_key
    if key is not None and request.path.startswith("/v1/"):
        if request.headers.get("Authorization") != f"Bearer {key}":
            return _error(401, "AuthenticationError", "invalid api key")
    return await handler(request)


def make_app(opts: FakeOptions | None = None) -> web.Application:
    """The aiohttp application; run it the way _runner() does (no access log, handler cancellation)."""
    app = web.Application(middlewares=[_record_and_authorise])
    app[STATE] = _State(opts or FakeOptions())
    app.router.add_post("/v1/completions", _completions)
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/version", _version)
    app.router.add_get("/health", _health)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/debug/requests", _debug_requests)
    app.router.add_delete("/debug/requests", _debug_requests)
    app.router.add_get("/debug/stats", _debug_stats)
    return app


def _runner(app: web.Application) -> web.AppRunner:
    # access_log=None: no per-request logging; handler_cancellation: a disconnect ends the request (frees its
    # batch place); shutdown_timeout: do not wait for slow-mode sleepers when stopping.
    return web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.2)


# ---------------------------------------------------------------------------------------------------------------
# Command line


_FLAGS: dict[str, str] = {f.name: "--" + f.name.replace("_", "-") for f in dataclasses.fields(FakeOptions)}
_FLAGS["metrics"] = "--no-metrics"


def build_parser() -> argparse.ArgumentParser:
    d = FakeOptions()
    p = argparse.ArgumentParser(
        prog="python -m tests.endpoint.fake_server",
        description="Scripted OpenAI-compatible streaming server for tests (prints 'READY <port>' once listening).",
    )
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--model", default=d.model)
    p.add_argument("--ttft-ms", type=float, default=d.ttft_ms, help="admission to first token, ms")
    p.add_argument("--itl-ms", type=float, default=d.itl_ms, help="gap between tokens, ms")
    p.add_argument("--itl-per-stream-ms", type=float, default=d.itl_per_stream_ms, help="gap added per running request")
    p.add_argument("--max-running", type=int, default=None, help="batch cap; more requests queue FIFO (default none)")
    p.add_argument("--stamp", action="store_true", help='add "t": time.perf_counter() to each token chunk')
    p.add_argument("--require-key", default=None, help="API key every /v1/* request must send as a Bearer token")
    p.add_argument("--fail", choices=FAIL_MODES, default=None, help="failure mode")
    p.add_argument("--fail-every", type=int, default=d.fail_every, help="fail every K-th request (1: all)")
    p.add_argument("--cut-after", type=int, default=d.cut_after, help="tokens before a 'cut' closes the connection")
    p.add_argument("--slow-s", type=float, default=d.slow_s, help="first-token delay of 'slow', seconds")
    p.add_argument("--eos-after", type=int, default=None, help="stop with finish_reason 'stop' after K tokens")
    p.add_argument("--no-metrics", dest="metrics", action="store_false", help="answer 404 on /metrics")
    p.add_argument("--root", default=d.root, help="the model's origin reported by /v1/models")
    p.add_argument("--max-model-len", type=int, default=d.max_model_len, help="context length, tokens")
    p.add_argument("--block-size", type=int, default=d.block_size, help="KV block size, tokens")
    p.add_argument("--num-gpu-blocks", type=int, default=d.num_gpu_blocks, help="KV blocks")
    return p


def options_from_args(args: argparse.Namespace) -> FakeOptions:
    return FakeOptions(**{f.name: getattr(args, f.name) for f in dataclasses.fields(FakeOptions)})


def options_to_argv(opts: FakeOptions) -> list[str]:
    """Command-line flags that reproduce `opts` (only those that differ from the defaults)."""
    default = FakeOptions()
    argv: list[str] = []
    for f in dataclasses.fields(FakeOptions):
        value = getattr(opts, f.name)
        if value == getattr(default, f.name):
            continue
        if f.name in ("stamp", "metrics"):
            argv.append(_FLAGS[f.name])
        else:
            argv += [_FLAGS[f.name], str(value)]
    return argv


async def _serve_forever(opts: FakeOptions, host: str, port: int) -> None:
    runner = _runner(make_app(opts))
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {runner.addresses[0][1]}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        opts = options_from_args(args)
    except ValueError as e:
        parser.error(str(e))
    try:
        asyncio.run(_serve_forever(opts, args.host, args.port))
    except OSError as e:  # e.g. the port is taken
        print(f"fake_server: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------------------------------------------------
# Test helpers: a server for the length of a `with`


def _merge(opts: FakeOptions | None, overrides: dict) -> FakeOptions:
    return dataclasses.replace(opts or FakeOptions(), **overrides)


@contextlib.contextmanager
def serve(opts: FakeOptions | None = None, *, ready_timeout_s: float = 30.0, **overrides: Any) -> Iterator[str]:
    """Run the fake in a subprocess (its own interpreter and event loop) and yield its base URL.

    `serve(ttft_ms=50)` and `serve(FakeOptions(...), fail="cut")` both work. Raises RuntimeError, with the
    server's stderr, when it exits or does not print READY within ready_timeout_s. Stops it with SIGTERM (then
    SIGKILL after 5 s) when the `with` ends.
    """
    opts = _merge(opts, overrides)
    cmd = [sys.executable, "-m", "tests.endpoint.fake_server", "--port", "0", *options_to_argv(opts)]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
        try:
            port = _wait_ready(proc, err, ready_timeout_s)
            yield f"http://127.0.0.1:{port}"
        finally:
            _stop(proc)
            if proc.stdout is not None:
                proc.stdout.close()


def _wait_ready(proc: subprocess.Popen, err: Any, timeout_s: float) -> int:
    lines: queue.Queue[bytes] = queue.Queue()
    reader = threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True)
    reader.start()
    try:
        line = lines.get(timeout=timeout_s)
    except queue.Empty:
        _stop(proc)
        raise RuntimeError(f"fake server did not print READY within {timeout_s:g} s: {_tail(err)}") from None
    if not line.startswith(b"READY "):
        _stop(proc)
        raise RuntimeError(f"fake server exited (code {proc.returncode}) before READY: {_tail(err)}")
    return int(line.split()[1])


def _tail(err: Any, limit: int = 2000) -> str:
    err.seek(0)
    text = err.read().decode("utf-8", "replace").strip()
    return text[-limit:] or "(no stderr)"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def serve_in_thread(opts: FakeOptions | None = None, **overrides: Any) -> Iterator[str]:
    """Run the fake on its own event loop in a background thread of this process and yield its base URL.

    Quicker to start than serve(); the server shares this interpreter (and its GIL), so use it where timing
    does not matter (protocol and error-mode tests).
    """
    app = make_app(_merge(opts, overrides))
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        runner = _runner(app)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            box["port"] = runner.addresses[0][1]
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = e
            started.set()
            loop.close()
            return
        started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    thread = threading.Thread(target=run, name="fake-openai-server", daemon=True)
    thread.start()
    started.wait()
    if "error" in box:
        raise RuntimeError(f"fake server (thread) did not start: {box['error']}")
    try:
        yield f"http://127.0.0.1:{box['port']}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
