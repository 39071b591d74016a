"""SSE framing, the token rules of a stream, and one request's record (profiler.endpoint.sse / client)."""

from __future__ import annotations

import json
import math

import pytest

from profiler.endpoint import client, sse


def _ev(obj) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def test_decoder_frames_events_split_anywhere_and_every_line_ending():
    stream = b'data: {"a": 1}\r\n\r\n: keep-alive\n\ndata: x\ndata: y\n\rdata:[DONE]\r\r'
    for cut in range(1, len(stream)):
        dec = sse.SseDecoder()
        events = dec.feed(stream[:cut]) + dec.feed(stream[cut:]) + dec.close()
        assert events == ['{"a": 1}', "x\ny", "[DONE]"], cut


def test_decoder_keeps_a_last_event_without_its_blank_line():
    dec = sse.SseDecoder()
    assert dec.feed(b"data: [DONE]") == []
    assert dec.close() == ["[DONE]"]


def test_tally_counts_text_chunks_not_role_chunks_and_reads_usage():
    chat = [{"choices": [{"delta": {"role": "assistant", "content": ""}}], "model": "m"},
            {"choices": [{"delta": {"content": " a"}}]},
            {"choices": [{"delta": {"reasoning_content": " think"}}]},
            {"choices": [{"delta": {"content": " b"}, "finish_reason": "length"}]},
            {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 5}}]
    events = [(float(i), json.dumps(o)) for i, o in enumerate(chat)] + [(9.0, "[DONE]")]
    t = sse.tally(events)
    assert t.token_times == (1.0, 2.0, 3.0)
    assert (t.prompt_tokens, t.completion_tokens, t.finish_reason, t.done, t.server_model) == (12, 5, "length",
                                                                                                True, "m")
    assert t.error is None


def test_tally_names_malformed_events_and_streamed_errors():
    t = sse.tally([(0.0, '{"choices": [{"text": "a"}]}'), (1.0, "{not json"), (2.0, "[DONE]")])
    assert t.error_class == "malformed stream" and "not JSON" in t.error
    t = sse.tally([(0.0, '{"error": {"message": "engine died"}}')])
    assert t.error_class == "server error event" and "engine died" in t.error


def _chunks(times_texts, finish=True, usage=None, done=True):
    out = []
    for i, (t, text) in enumerate(times_texts):
        choice = {"text": text, "finish_reason": "length" if finish and i == len(times_texts) - 1 else None}
        out.append((t, _ev({"choices": [choice]})))
    if usage:
        out.append((times_texts[-1][0], _ev({"choices": [], "usage": usage})))
    if done:
        out.append((times_texts[-1][0], b"data: [DONE]\n\n"))
    return out


def test_record_times_follow_vllm_bench_serve():
    chunks = _chunks([(10.08, " a"), (10.10, " b"), (10.13, " c")],
                     usage={"prompt_tokens": 100, "completion_tokens": 3})
    r = client._record(7, sent=10.0, start=9.0, chunks=chunks, cut=None)
    assert r.ok and r.index == 7 and r.sent_s == pytest.approx(1.0)
    assert r.ttft_s == pytest.approx(0.08) and r.e2e_s == pytest.approx(0.13)
    assert r.itl_s == pytest.approx((0.02, 0.03))
    assert r.tpot_s == pytest.approx((0.13 - 0.08) / 2)  # (E2E - TTFT) / (tokens - 1)
    assert (r.output_tokens, r.prompt_tokens) == (3, 100)


def test_usage_counts_tokens_when_chunks_hold_several():
    chunks = _chunks([(0.1, " a b"), (0.2, " c d")], usage={"prompt_tokens": 5, "completion_tokens": 4})
    r = client._record(0, 0.0, 0.0, chunks, None)
    assert r.output_tokens == 4 and r.itl_s == pytest.approx((0.1,))
    assert r.tpot_s == pytest.approx((0.2 - 0.1) / 3)


@pytest.mark.parametrize(("chunks", "cut", "cls"), [
    (_chunks([(0.1, " a")], finish=False, done=False), None, "incomplete stream"),
    (_chunks([(0.1, " a"), (0.2, " b")], finish=False, done=False), "ClientPayloadError", "stream cut"),
    ([(0.1, b"data: [DONE]\n\n")], None, "no tokens"),
])
def test_broken_streams_are_failures_of_a_named_class(chunks, cut, cls):
    r = client._record(0, 0.0, 0.0, chunks, cut)
    assert not r.ok and r.error_class == cls and r.error_class in client.ERROR_CLASSES
    assert math.isnan(r.ttft_s) and math.isnan(r.tpot_s)


def test_error_bodies_become_one_short_line():
    body = json.dumps({"error": {"message": "invalid api key\nsecond line", "code": 401}}).encode()
    assert client._error_message(401, "Unauthorized", body) == "HTTP 401 Unauthorized: invalid api key second line"
    page = client._error_message(502, "Bad Gateway", b"<html>" + b"x" * 10_000)
    assert page.startswith("HTTP 502 Bad Gateway: <html>") and len(page) < 200


def test_the_body_asks_for_a_stream_with_usage_and_never_holds_the_key():
    e = client.Endpoint("http://h/v1/chat/completions", "chat", "m", headers={"Authorization": "Bearer SECRET"})
    body = e.body("hello", 8)
    assert body["messages"] == [{"role": "user", "content": "hello"}] and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True} and body["max_tokens"] == 8
    assert "ignore_eos" not in body and "SECRET" not in repr(e) and "SECRET" not in json.dumps(body)
