"""The fake OpenAI-compatible server checks itself: token counts, timetable, wire format, failure modes, metrics."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field

import aiohttp
import pytest

from tests.endpoint.fake_server import (
    REPO_ROOT,
    BadRequest,
    FakeOptions,
    build_parser,
    options_from_args,
    options_to_argv,
    plan_request,
    serve,
    serve_in_thread,
)

KV_TOKENS = 2048 * 16  # default num_gpu_blocks * block_size


@dataclass
class Got:
    """One streamed answer: status, the data payloads with the client's perf_counter at receipt, and any error."""

    status: int
    content_type: str
    events: list[tuple[float, str]] = field(default_factory=list)
    error: BaseException | None = None
    body: str = ""

    def json_events(self) -> list[dict]:
        return [json.loads(d) for _, d in self.events if d != "[DONE]"]


async def _fetch(url: str, path: str, body: dict, headers: dict | None = None, timeout: float = 10.0) -> Got:
    async with aiohttp.ClientSession() as s:
        return await _fetch_in(s, url, path, body, headers, timeout)


async def _fetch_in(s, url, path, body, headers=None, timeout=10.0) -> Got:
    try:
        async with s.post(url + path, json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            got = Got(r.status, r.headers.get("Content-Type", ""))
            if not r.headers.get("Content-Type", "").startswith("text/event-stream"):
                got.body = await r.text()
                return got
            try:
                async for line in r.content:
                    if line.startswith(b"data: "):
                        got.events.append((time.perf_counter(), line[6:].rstrip(b"\r\n").decode()))
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                got.error = e
            return got
    except (aiohttp.ClientError, asyncio.TimeoutError) as e:
        return Got(0, "", error=e)


def fetch(url: str, path: str, body: dict, **kw) -> Got:
    return asyncio.run(_fetch(url, path, body, **kw))


def get(url: str, path: str, headers: dict | None = None) -> tuple[int, str]:
    async def go():
        async with aiohttp.ClientSession() as s, s.get(url + path, headers=headers) as r:
            return r.status, await r.text()

    return asyncio.run(go())


def metrics(text: str) -> dict[str, float]:
    """Prometheus text -> {name: value} (the fake's samples carry one label set each)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name_labels, value = line.rsplit(" ", 1)
            out[name_labels.split("{", 1)[0]] = float(value)
    return out


COMPLETION = {"model": "fake-model", "prompt": "one two three", "max_tokens": 8, "stream": True}
HELLO = [{"role": "user", "content": "hello there"}]
CHAT = {"model": "fake-model", "messages": HELLO, "max_tokens": 4, "stream": True}


# ---------------------------------------------------------------------------------------------------------------
# Pure parts


def test_scripted_tokenizer_and_stop_rules():
    o = FakeOptions()
    assert plan_request({"prompt": "a  b\nc", "max_tokens": 5}, False, o).prompt_tokens == 3
    assert plan_request({"prompt": [1, 2, 3, 4]}, False, o).prompt_tokens == 4
    plan = plan_request({"prompt": "x"}, False, o)
    assert (plan.completion_tokens, plan.finish_reason, plan.stream) == (16, "length", False)
    chat = {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]}
    assert plan_request(chat, True, o).prompt_tokens == (2 + 4) + (1 + 4) + 3
    parts = {"messages": [{"role": "user", "content": [{"type": "text", "text": "a b c"}]}]}
    assert plan_request(parts, True, o).prompt_tokens == 3 + 4 + 3

    eos = FakeOptions(eos_after=3)
    assert plan_request({"prompt": "x", "max_tokens": 10}, False, eos).completion_tokens == 3
    assert plan_request({"prompt": "x", "max_tokens": 10}, False, eos).finish_reason == "stop"
    assert plan_request({"prompt": "x", "max_tokens": 10, "min_tokens": 6}, False, eos).completion_tokens == 6
    ignored = plan_request({"prompt": "x", "max_tokens": 10, "ignore_eos": True}, False, eos)
    assert (ignored.completion_tokens, ignored.finish_reason) == (10, "length")
    assert plan_request({"prompt": "x", "max_tokens": 2}, False, eos).finish_reason == "length"

    with pytest.raises(BadRequest, match="maximum context length is 4096") as e:
        plan_request({"prompt": "a b", "max_tokens": 4095}, False, o)
    assert e.value.status == 400
    with pytest.raises(BadRequest, match="does not exist") as e:
        plan_request({"model": "other", "prompt": "a"}, False, o)
    assert e.value.status == 404


def test_options_validate_and_round_trip_through_argv():
    opts = FakeOptions(
        model="m", ttft_ms=5, itl_ms=2.5, itl_per_stream_ms=0.5, max_running=3, stamp=True, require_key="k",
        fail="cut", fail_every=2, cut_after=1, slow_s=1.5, eos_after=4, metrics=False, root="r",
    )
    assert options_from_args(build_parser().parse_args(options_to_argv(opts))) == opts
    assert options_to_argv(FakeOptions()) == []
    with pytest.raises(ValueError, match="fail must be one of"):
        FakeOptions(fail="explode")
    with pytest.raises(ValueError, match="fail_every must be >= 1"):
        FakeOptions(fail_every=0)


def test_cli_bad_option_is_one_line_error():
    r = subprocess.run(
        [sys.executable, "-m", "tests.endpoint.fake_server", "--fail-every", "0"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=30,
    )
    assert r.returncode == 2
    assert "fail_every must be >= 1" in r.stderr and "Traceback" not in r.stderr


# ---------------------------------------------------------------------------------------------------------------
# A real subprocess: timetable, stamps, usage


def test_completions_stream_in_subprocess_keeps_its_timetable():
    body = {**COMPLETION, "stream_options": {"include_usage": True}}
    with serve(ttft_ms=80, itl_ms=20, stamp=True) as url:
        assert url.startswith("http://127.0.0.1:")
        t0 = time.perf_counter()
        got = fetch(url, "/v1/completions", body)
        status, version = get(url, "/version")
    assert got.status == 200 and got.content_type == "text/event-stream" and got.error is None
    assert got.events[-1][1] == "[DONE]"
    chunks = got.json_events()
    tokens, usage = chunks[:-1], chunks[-1]
    assert len(tokens) == 8
    assert all(c["object"] == "text_completion" and c["id"] == "cmpl-1" for c in tokens)
    assert [c["choices"][0]["text"] for c in tokens] == [" w"] * 8
    assert [c["choices"][0]["finish_reason"] for c in tokens] == [None] * 7 + ["length"]
    assert usage["choices"] == [] and usage["usage"] == {"prompt_tokens": 3, "completion_tokens": 8, "total_tokens": 11}
    # Client clock: first token ~80 ms after sending (loose: connection set-up, a busy CI box).
    recv = [t for t, _ in got.events[: len(tokens)]]
    assert 0.075 <= recv[0] - t0 < 0.080 + 0.25
    # Server stamps (perf_counter just before each write): the gaps are the scripted 20 ms.
    stamps = [c["t"] for c in tokens]
    assert (stamps[-1] - stamps[0]) / 7 == pytest.approx(0.020, abs=0.004)
    assert all(0 <= r - s < 0.25 for r, s in zip(recv, stamps, strict=True))  # same system-wide monotonic clock
    assert (status, json.loads(version)) == (200, {"version": "0.0-fake"})


# ---------------------------------------------------------------------------------------------------------------
# In-thread servers: protocol


@pytest.fixture(scope="module")
def url():
    with serve_in_thread(ttft_ms=10, itl_ms=2) as u:
        yield u


def test_chat_stream_opens_with_role_chunk(url):
    got = fetch(url, "/v1/chat/completions", CHAT)
    assert got.status == 200 and got.error is None and got.events[-1][1] == "[DONE]"
    chunks = got.json_events()
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["choices"][0]["delta"] for c in chunks[1:]] == [{"content": " w"}] * 4
    assert all(c["object"] == "chat.completion.chunk" and c["id"].startswith("chatcmpl-") for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert "usage" not in chunks[-1] and "t" not in chunks[-1]


def test_non_streamed_answers(url):
    got = fetch(url, "/v1/completions", {**COMPLETION, "stream": False, "max_tokens": 3})
    answer = json.loads(got.body)
    assert got.status == 200 and answer["choices"][0]["text"] == " w w w"
    assert answer["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
    got = fetch(url, "/v1/chat/completions", {**CHAT, "stream": False})
    answer = json.loads(got.body)
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": " w w w w"}
    assert answer["usage"]["prompt_tokens"] == 2 + 4 + 3


def test_models_health_and_bad_requests(url):
    status, text = get(url, "/v1/models")
    model = json.loads(text)["data"][0]
    assert (model["id"], model["max_model_len"]) == ("fake-model", 4096)
    assert model["root"] == "meta-llama/Llama-3.1-8B-Instruct" and model["owned_by"] == "fake"
    assert get(url, "/health")[0] == 200
    bad = fetch(url, "/v1/completions", {"model": "nope", "prompt": "a"})
    assert bad.status == 404 and "does not exist" in json.loads(bad.body)["error"]["message"]
    assert fetch(url, "/v1/completions", {"prompt": 7}).status == 400


def test_api_key_and_debug_requests():
    with serve_in_thread(require_key="sekret", ttft_ms=1, itl_ms=1) as u:
        denied = fetch(u, "/v1/completions", COMPLETION)
        assert denied.status == 401 and json.loads(denied.body)["error"]["message"] == "invalid api key"
        assert get(u, "/v1/models")[0] == 401
        assert get(u, "/v1/models", headers={"Authorization": "Bearer sekret"})[0] == 200
        ok = fetch(u, "/v1/completions", COMPLETION, headers={"Authorization": "Bearer sekret"})
        assert ok.status == 200 and len(ok.json_events()) == 8
        assert get(u, "/health")[0] == 200  # not under /v1
        _, text = get(u, "/debug/requests")
    seen = json.loads(text)
    assert [(r["path"], r["has_auth"]) for r in seen] == [("/v1/completions", False), ("/v1/completions", True)]
    assert seen[1]["body"] == COMPLETION


# ---------------------------------------------------------------------------------------------------------------
# Failure modes


def _one(fail: str, body: dict = COMPLETION, timeout: float = 10.0, **opts) -> Got:
    with serve_in_thread(fail=fail, ttft_ms=5, itl_ms=2, **opts) as u:
        return fetch(u, "/v1/completions", body, timeout=timeout)


@pytest.mark.parametrize(("fail", "status", "err_type"), [("status500", 500, "InternalServerError"),
                                                          ("status429", 429, "RateLimitError")])
def test_http_error_modes(fail, status, err_type):
    got = _one(fail)
    assert got.status == status and json.loads(got.body)["error"]["type"] == err_type


def test_cut_breaks_the_stream():
    got = _one("cut", cut_after=3)
    assert got.status == 200 and len(got.events) == 3
    assert isinstance(got.error, (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError))
    assert all(d != "[DONE]" for _, d in got.events)


def test_malformed_event_then_stream_goes_on():
    got = _one("malformed")
    data = [d for _, d in got.events]
    assert data[2] == "{not json" and data[-1] == "[DONE]" and got.error is None
    assert len(data) == 8 + 2  # 8 tokens, the bad event, [DONE]


def test_error_event_ends_the_stream():
    got = _one("error_event")
    data = [d for _, d in got.events]
    assert len(data) == 4 and data[-1] == "[DONE]"
    assert json.loads(data[2]) == {"error": {"message": "engine died", "type": "InternalServerError", "code": 500}}


def test_no_done_is_a_clean_but_incomplete_end():
    got = _one("no_done", body={**COMPLETION, "stream_options": {"include_usage": True}})
    assert got.error is None and len(got.events) == 8
    assert got.json_events()[-1]["choices"][0]["finish_reason"] == "length"


def test_slow_first_token_times_out_the_client():
    started = time.perf_counter()
    got = _one("slow", timeout=0.3, slow_s=30)
    assert isinstance(got.error, asyncio.TimeoutError) and got.events == []
    assert time.perf_counter() - started < 5  # and the server shut down without waiting for the sleeper


def test_fail_every_second_request():
    with serve_in_thread(fail="status500", fail_every=2, ttft_ms=1, itl_ms=1) as u:
        assert [fetch(u, "/v1/completions", COMPLETION).status for _ in range(4)] == [200, 500, 200, 500]


# ---------------------------------------------------------------------------------------------------------------
# Load model and metrics


def test_metrics_queue_and_kv_usage():
    prompt = " ".join(["w"] * 10)
    body = {**COMPLETION, "prompt": prompt, "max_tokens": 2}

    async def go(u):
        async with aiohttp.ClientSession() as s:
            first = asyncio.create_task(_fetch_in(s, u, "/v1/completions", body))
            await asyncio.sleep(0.05)
            second = asyncio.create_task(_fetch_in(s, u, "/v1/completions", body))
            await asyncio.sleep(0.1)  # first is in its 300 ms TTFT, second queued behind it
            async with s.get(u + "/metrics") as r:
                during = await r.text()
            a, b = await first, await second
            async with s.get(u + "/metrics") as r:
                after = await r.text()
            return a, b, during, after

    with serve_in_thread(ttft_ms=300, itl_ms=10, max_running=1) as u:
        t0 = time.perf_counter()
        a, b, during, after = asyncio.run(go(u))
    m = metrics(during)
    assert (m["vllm:num_requests_running"], m["vllm:num_requests_waiting"]) == (1, 1)
    assert m["vllm:kv_cache_usage_perc"] == 10 / KV_TOKENS
    assert m["vllm:num_preemptions_total"] == 0 and m["vllm:cache_config_info"] == 1
    assert 'block_size="16"' in during and 'num_gpu_blocks="2048"' in during
    assert "# TYPE vllm:num_requests_running gauge" in during and "# HELP vllm:kv_cache_usage_perc" in during
    m = metrics(after)
    assert (m["vllm:num_requests_running"], m["vllm:num_requests_waiting"], m["vllm:kv_cache_usage_perc"]) == (0, 0, 0)
    assert (m["vllm:prompt_tokens_total"], m["vllm:generation_tokens_total"]) == (20, 4)
    # The second request's TTFT clock started only when the first finished (~310 ms): ~610 ms after t0.
    assert b.events[0][0] - t0 > 0.55
    assert a.events[0][0] - t0 < b.events[0][0] - t0


def test_disconnect_frees_the_batch_place():
    async def go(u):
        async with aiohttp.ClientSession() as s:
            # The first client gives up after 0.15 s, inside its 100 ms + 200 * 5 ms stream.
            gone = await _fetch_in(s, u, "/v1/completions", {**COMPLETION, "max_tokens": 200}, timeout=0.15)
            t = time.perf_counter()
            nxt = await _fetch_in(s, u, "/v1/completions", {**COMPLETION, "max_tokens": 2})
            return gone, nxt, nxt.events[0][0] - t

    with serve_in_thread(ttft_ms=100, itl_ms=5, max_running=1) as u:
        gone, nxt, ttft = asyncio.run(go(u))
        stats = json.loads(get(u, "/debug/stats")[1])
    assert isinstance(gone.error, asyncio.TimeoutError) and nxt.error is None
    assert ttft < 0.5  # not queued behind the abandoned stream (which would hold the place ~0.9 s more)
    assert (stats["running"], stats["waiting"]) == (0, 0)


def test_itl_grows_with_running_streams():
    body = {**COMPLETION, "max_tokens": 11}

    async def go(u):
        async with aiohttp.ClientSession() as s:
            return await asyncio.gather(*(_fetch_in(s, u, "/v1/completions", body) for _ in range(2)))

    with serve_in_thread(ttft_ms=20, itl_ms=10, itl_per_stream_ms=10, stamp=True) as u:
        runs = asyncio.run(go(u))
    for got in runs:
        stamps = [c["t"] for c in got.json_events()]
        assert (stamps[-1] - stamps[0]) / 10 == pytest.approx(0.010 + 2 * 0.010, abs=0.006)


def test_no_metrics_is_404():
    with serve_in_thread(metrics=False) as u:
        assert get(u, "/metrics")[0] == 404
