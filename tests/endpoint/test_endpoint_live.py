"""`inferplan endpoint` against a real HTTP server on 127.0.0.1 (tests/endpoint/fake_server.py).

Timing checks use the server in its own process (its event loop never waits on ours); protocol and failure checks
use it in a thread (faster to start). Each asserts what the client measured against what the server was told
to do."""

from __future__ import annotations

import json
import socket

import pytest

from profiler.endpoint import run
from profiler.endpoint.load import LoadPoint
from profiler.endpoint.stats import Slo
from profiler.errors import InvalidValueError
from tests.endpoint.fake_server import serve, serve_in_thread


def _req(url, points, **kw):
    base = dict(url=url, input_tokens=60, output_tokens=12, points=tuple(points), requests=12, duration_s=60.0,
                timeout_s=20.0, metrics=False)
    base.update(kw)
    return run.check_request(run.EndpointRequest(**base))


def test_scripted_ttft_and_itl_are_measured_within_10_percent_at_1_to_16_streams():
    """The issue's target: TTFT 80 ms and ITL 20 ms, p50 within 10% at 1 to 16 concurrent streams."""
    with serve(ttft_ms=80, itl_ms=20) as url:
        points = [LoadPoint("concurrency", concurrency=c) for c in (1, 4, 16)]
        result = run.measure(_req(url, points, requests=24, output_tokens=10))
    assert [r["point"] for r in result.rows] == ["synchronous", "concurrent 4", "concurrent 16"]
    for row in result.rows:
        assert row["completed"] == 24 and row["failed"] == 0, row["point"]
        assert row["ttft_p50"] == pytest.approx(80, rel=0.10), row["point"]
        assert row["itl_p50"] == pytest.approx(20, rel=0.10), row["point"]
        assert row["tpot_p50"] == pytest.approx(20, rel=0.10), row["point"]
        assert row["e2e_p50"] == pytest.approx(80 + 9 * 20, rel=0.10), row["point"]
        assert row["output_tokens"] == 10 and row["input_tokens"] == pytest.approx(60, abs=2)
    # Little's law on what the client saw: 24 requests at 16 streams are a round of 16, then one of 8: 12 on average
    assert result.rows[2]["in_flight"] == pytest.approx(12, rel=0.25)


def test_rates_keep_up_until_the_server_saturates():
    """A server running 2 requests at a time (~0.3 s each: ~6.5 req/s at most) keeps up with 3 req/s, not 20."""
    with serve_in_thread(ttft_ms=60, itl_ms=20, max_running=2) as url:
        points = [LoadPoint("rate", rate=r, arrivals="constant") for r in (3.0, 20.0)]
        result = run.measure(_req(url, points, requests=16, metrics=True))
    slow, fast = result.rows
    # the server's /metrics, scraped during the points: 2 running at most, a queue only at 20 req/s
    assert fast["server_running_max"] == 2 and fast["server_waiting_max"] >= 3 and slow["server_waiting_max"] <= 1
    assert fast["server_kv_capacity_tokens"] == 16 * 2048 and fast["server_engine"] == "vllm"
    assert slow["keeps_up"] is True and fast["keeps_up"] is False
    assert fast["request_throughput"] < 8 and fast["ttft_p99"] > 3 * slow["ttft_p99"]
    assert result.saturation()[0].startswith("saturation: at 20 req/s")


def test_sweep_runs_synchronous_throughput_then_rates_between():
    with serve_in_thread(ttft_ms=20, itl_ms=5, max_running=4) as url:
        result = run.measure(_req(url, [], sweep=2, requests=8, slo=Slo(ttft_ms=500.0, tpot_ms=50.0)))
    kinds = [r["kind"] for r in result.rows]
    assert kinds == ["concurrency", "throughput", "rate", "rate"]
    sync, top = result.rows[0]["request_throughput"], result.rows[1]["request_throughput"]
    rates = [r["offered_rate"] for r in result.rows[2:]]
    assert sync < rates[0] < rates[1] == pytest.approx(top, rel=1e-3)
    assert all(r["goodput"] >= 0 for r in result.rows)


@pytest.mark.parametrize(("fail", "extra", "cls", "words"), [
    ("status500", {}, "HTTP error", "HTTP 500"),
    ("cut", {"cut_after": 3}, "stream cut", "closed mid-stream after 3"),
    ("malformed", {}, "malformed stream", "not JSON"),
    ("error_event", {}, "server error event", "engine died"),
    ("slow", {"slow_s": 5.0}, "timeout", "within 1 s"),
])
def test_each_failure_class_is_counted_once_and_the_rest_measured(fail, extra, cls, words):
    with serve_in_thread(ttft_ms=5, itl_ms=2, fail=fail, fail_every=3, **extra) as url:
        result = run.measure(_req(url, [LoadPoint("concurrency", concurrency=4)], timeout_s=1.0))
    row = result.rows[0]
    assert row["failed"] >= 3 and row["completed"] >= 6 and row["completed"] + row["failed"] == 12
    lines = result.failures()
    assert len(lines) == 1 and lines[0].startswith(f"{cls}: {row['failed']} requests (first: ") and words in lines[0]


def test_a_server_failing_everything_ends_before_any_load_with_its_answer():
    with serve_in_thread(fail="status500") as url, pytest.raises(InvalidValueError, match="failed 3 times.*HTTP 500"):
        run.measure(_req(url, [LoadPoint("concurrency", concurrency=1)]))


def test_nothing_listening_is_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    with pytest.raises(InvalidValueError, match=f"cannot reach http://127.0.0.1:{port}/v1/models"):
        run.measure(_req(f"http://127.0.0.1:{port}", [LoadPoint("concurrency", concurrency=1)]))


def test_api_key_goes_in_the_header_only(monkeypatch):
    key = "sk-test-DO-NOT-PRINT-123"
    with serve_in_thread(require_key=key, ttft_ms=5, itl_ms=2) as url:
        with pytest.raises(InvalidValueError, match="HTTP 401"):
            run.measure(_req(url, [LoadPoint("concurrency", concurrency=1)], requests=2))
        result = run.measure(_req(url, [LoadPoint("concurrency", concurrency=2)], requests=4, api_key=key))
        import urllib.request
        with urllib.request.urlopen(url + "/debug/requests") as resp:
            seen = json.loads(resp.read())
    assert result.rows[0]["completed"] == 4 and all(r["has_auth"] for r in seen[-4:])
    assert key not in json.dumps(result.document(), default=str) and key not in repr(result)
    body = seen[-1]["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True} and body["max_tokens"] == 12


def test_chat_api_does_not_take_the_role_chunk_for_the_first_token():
    with serve_in_thread(ttft_ms=60, itl_ms=10) as url:
        result = run.measure(_req(url, [LoadPoint("concurrency", concurrency=2)], api="chat", requests=4))
    row = result.rows[0]
    assert row["completed"] == 4 and row["ttft_p50"] == pytest.approx(60, rel=0.3)
    assert row["output_tokens"] == 12
