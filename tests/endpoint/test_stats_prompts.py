"""Summaries, saturation, failure lines and prompt sizing (profiler.endpoint.stats / prompts / load / run)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from profiler.endpoint import load, prompts, run, stats
from profiler.endpoint.client import RequestRecord
from profiler.errors import InvalidValueError


def _ok(i, sent, ttft, itl, n, prompt=100):
    gaps = tuple([itl] * (n - 1))
    return RequestRecord(index=i, sent_s=sent, ok=True, ttft_s=ttft, e2e_s=ttft + sum(gaps), itl_s=gaps,
                         output_tokens=n, prompt_tokens=prompt)


def _run(records, point=None, duration=None, unfinished=0):
    point = point or load.LoadPoint("concurrency", concurrency=1)
    dur = duration if duration is not None else max(r.sent_s + r.e2e_s for r in records if r.ok)
    return load.PointRun(point, tuple(records), dur, unfinished, False)


def test_summary_matches_hand_computed_numbers():
    recs = [_ok(i, sent=i * 1.0, ttft=0.08 + 0.01 * i, itl=0.02, n=11) for i in range(5)]
    recs.append(RequestRecord(index=5, sent_s=5.0, ok=False, error_class="timeout", error="x"))
    row = stats.summary(_run(recs, duration=5.0), stats.Slo(ttft_ms=100.0, tpot_ms=25.0), 100, 11)
    assert (row["completed"], row["failed"]) == (5, 1)
    assert row["request_throughput"] == pytest.approx(1.0) and row["output_throughput"] == pytest.approx(11.0)
    ttfts = [80, 90, 100, 110, 120]
    assert row["ttft_p50"] == pytest.approx(100) and row["ttft_p99"] == pytest.approx(np.percentile(ttfts, 99))
    assert row["ttft_mean"] == pytest.approx(100)
    assert row["itl_p50"] == pytest.approx(20) and row["tpot_p99"] == pytest.approx(20)
    assert row["e2e_p50"] == pytest.approx(300)
    assert row["goodput"] == pytest.approx(3 / 5.0)  # TTFT <= 100 ms: three of five
    assert row["slo_met"] is False  # p99 TTFT 119.6 ms > 100
    assert row["in_flight"] == pytest.approx(1.0 * 0.3)
    assert row["input_tokens"] == 100 and row["output_tokens"] == 11


def test_no_slo_leaves_goodput_empty():
    row = stats.summary(_run([_ok(0, 0, 0.1, 0.02, 3)]), stats.Slo(), 10, 3)
    assert math.isnan(row["goodput"]) and row["slo_met"] is None


def test_keeps_up_compares_completion_and_arrival_rates():
    point = load.LoadPoint("rate", rate=10.0)
    steady = [_ok(i, i * 0.1, 0.05, 0.01, 5) for i in range(50)]
    assert stats.keeps_up(_run(steady, point)) is True
    queueing = [_ok(i, i * 0.1, 0.05 + 0.1 * i, 0.01, 5) for i in range(50)]  # each waits 0.1 s longer: 5/s out
    assert stats.keeps_up(_run(queueing, point)) is False
    assert stats.keeps_up(_run(steady[:5], point)) is None
    rows = [stats.summary(_run(steady, point), stats.Slo(), 1, 5),
            stats.summary(_run(queueing, load.LoadPoint("rate", rate=20.0)), stats.Slo(), 1, 5)]
    line = stats.saturation(rows, stats.Slo())[0]
    assert line.startswith("saturation: at 20 req/s") and "highest rate it kept up with: 10/s" in line


def test_concurrency_knee():
    def row(c, tput):
        return {"kind": "concurrency", "point": f"concurrent {c}", "output_throughput": tput, "in_flight": c,
                "keeps_up": None, "slo_met": None, "request_throughput": tput / 100}
    lines = stats.saturation([row(1, 100), row(8, 700), row(32, 960), row(64, 1000)], stats.Slo())
    assert lines == ["throughput knee: concurrent 32 reaches 960 output tokens/s, 90% or more of the best measured "
                     "(1,000); more concurrency mostly adds latency"]
    assert "not reached" in stats.saturation([row(1, 100), row(8, 700)], stats.Slo())[0]


def test_failure_lines_one_per_class_with_counts():
    recs = [RequestRecord(i, 0.0, False, error_class="HTTP error", error=f"HTTP 500: boom {i}") for i in range(3)]
    recs += [RequestRecord(9, 0.0, False, error_class="stream cut", error="cut"), _ok(10, 0, 0.1, 0.01, 3)]
    assert stats.failure_lines(recs) == ["HTTP error: 3 requests (first: HTTP 500: boom 0)",
                                         "stream cut: 1 request (first: cut)"]


def test_poisson_arrivals_are_seeded_and_have_the_rate():
    point = load.LoadPoint("rate", rate=4.0)
    a, b = load.arrival_times(point, 4000, seed=3), load.arrival_times(point, 4000, seed=3)
    assert a == b and a[0] == 0.0
    assert (len(a) - 1) / a[-1] == pytest.approx(4.0, rel=0.05)
    const = load.arrival_times(load.LoadPoint("rate", rate=4.0, arrivals="constant"), 5, 0)
    assert const == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])


def test_length_fit_from_probes_and_prompts_differ_from_the_first_word():
    fit = prompts.fit_from_probes([(64, 64 + 7), (256, 256 + 7)])  # a chat template's 7 tokens
    assert (fit.per_word, fit.overhead) == (1.0, 7.0) and fit.words_for(1000) == 993
    assert prompts.fit_from_probes([(64, None), (256, None)]) is prompts.APPROXIMATION
    texts = prompts.make_prompts(20, 50, fit, seed=1)
    assert len(texts) == 20 and all(len(t.split()) == 43 for t in texts) and texts[3] == texts[3]
    heads = {" ".join(t.split()[:prompts.HEAD_WORDS]) for t in texts}
    assert len(heads) == 20  # every prompt's first block is its own: no prefix to cache
    assert texts[-1] == texts[19] and len(texts[2:5]) == 3
    with pytest.raises(IndexError):
        texts[20]


def test_exact_length_with_a_tokenizer_count():
    def count(text):  # a tokenizer that splits long words in two
        return sum(2 if len(w) > 5 else 1 for w in text.split())
    texts = prompts.make_prompts(5, 40, prompts.LengthFit(1.0, 0.0, "tokenizer"), 0, count)
    assert count(texts[0]) in (39, 40)
    assert all(abs(count(t) - 40) <= prompts.HEAD_WORDS for t in texts)


def test_a_huge_run_builds_no_prompt_up_front():
    many = prompts.make_prompts(100_000, 8000, prompts.APPROXIMATION, 0)
    assert len(many) == 100_000 and len(many[99_999].split()) == 8000


def test_sweep_rates_span_synchronous_to_throughput():
    assert run.sweep_rates(1.0, 7.0, 3) == pytest.approx([3.0, 5.0, 7.0])
    assert run.sweep_rates(0.0, 7.0, 3) == []


@pytest.mark.parametrize(("url", "api", "expect"), [
    ("http://127.0.0.1:8000", "completions", ("http://127.0.0.1:8000/v1/completions", "completions",
                                              "http://127.0.0.1:8000")),
    ("https://h.example/v1/", "chat", ("https://h.example/v1/chat/completions", "chat", "https://h.example")),
    ("http://h:1/proxy/v1/chat/completions", "completions", ("http://h:1/proxy/v1/chat/completions", "chat",
                                                             "http://h:1/proxy")),
])
def test_request_url(url, api, expect):
    assert run.request_url(url, api) == expect


def test_public_url_drops_credentials_and_query():
    assert run.public_url("https://user:pw@h.example:8443/v1?api_key=SECRET") == "https://h.example:8443/v1"
    with pytest.raises(InvalidValueError, match="not an http"):
        run.request_url("ftp://h/v1", "completions")


@pytest.mark.parametrize(("change", "match"), [
    ({"requests": 0}, "--requests"), ({"duration_s": float("inf")}, "--duration"),
    ({"points": (load.LoadPoint("rate", rate=-1.0),)}, "rate"), ({"points": ()}, "give the load"),
    ({"output_tokens": 1}, "two tokens"), ({"slo": stats.Slo(ttft_ms=-5.0)}, "--ttft-p99"),
])
def test_check_request_refuses_impossible_numbers(change, match):
    base = run.EndpointRequest(url="http://h:1", points=(load.LoadPoint("concurrency", concurrency=1),))
    from dataclasses import replace
    with pytest.raises(InvalidValueError, match=match):
        run.check_request(replace(base, **change))


def test_words_are_seeded():
    assert prompts.words(5, random.Random(1)) == prompts.words(5, random.Random(1))
