"""The server metrics (profiler.endpoint.prometheus, server_metrics, scrape): the exposition parser, per-engine
snapshots, per-point summaries, the scraper (against a tiny aiohttp server on 127.0.0.1) and metrics_url. Fixtures use
the metric names of the engines' sources cited in the module docstring, laid out as their exporters render them."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import time

import aiohttp
import pytest
from aiohttp import web

from profiler.endpoint.prometheus import MAX_EXPOSITION_BYTES, Sample, looks_like_prometheus, parse_exposition
from profiler.endpoint.scrape import MAX_CONSECUTIVE_FAILURES, metrics_url, scrape_until
from profiler.endpoint.server_metrics import (
    SUMMARY_KEYS,
    ServerSnapshot,
    counter_increase,
    detect_engine,
    snapshot,
    summarise,
)

M = 'model_name="meta-llama/Llama-3.1-8B-Instruct"'

# vLLM V1 (vllm/v1/metrics/loggers.py, PrometheusStatLogger), one engine, as prometheus_client renders it.
VLLM_V1 = f"""# HELP python_gc_objects_collected_total Objects collected during gc
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{{generation="0"}} 9071.0
python_gc_objects_collected_total{{generation="1"}} 3113.0
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{engine="0",{M}}} 24.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{{engine="0",{M}}} 6.0
# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.DEPRECATED: Use \
vllm:kv_cache_usage_perc instead.
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{{engine="0",{M}}} 0.8125
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{{engine="0",{M}}} 0.8125
# HELP vllm:prefix_cache_queries Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries counter
vllm:prefix_cache_queries_total{{engine="0",{M}}} 184320.0
vllm:prefix_cache_queries_created{{engine="0",{M}}} 1.7349012e+09
# HELP vllm:prefix_cache_hits Prefix cache hits, in terms of number of cached tokens.
# TYPE vllm:prefix_cache_hits counter
vllm:prefix_cache_hits_total{{engine="0",{M}}} 46080.0
vllm:prefix_cache_hits_created{{engine="0",{M}}} 1.7349012e+09
# HELP vllm:num_preemptions Cumulative number of preemption from the engine.
# TYPE vllm:num_preemptions counter
vllm:num_preemptions_total{{engine="0",{M}}} 3.0
vllm:num_preemptions_created{{engine="0",{M}}} 1.7349012e+09
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{{engine="0",le="0.001",{M}}} 0.0
vllm:time_to_first_token_seconds_bucket{{engine="0",le="0.04",{M}}} 12.0
vllm:time_to_first_token_seconds_bucket{{engine="0",le="0.1",{M}}} 41.0
vllm:time_to_first_token_seconds_bucket{{engine="0",le="2560.0",{M}}} 96.0
vllm:time_to_first_token_seconds_bucket{{engine="0",le="+Inf",{M}}} 96.0
vllm:time_to_first_token_seconds_count{{engine="0",{M}}} 96.0
vllm:time_to_first_token_seconds_sum{{engine="0",{M}}} 7.25
vllm:time_to_first_token_seconds_created{{engine="0",{M}}} 1.7349012e+09
# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{{block_size="16",cache_dtype="auto",calculate_kv_scales="False",cpu_offload_gb="0",\
enable_prefix_caching="True",engine="0",gpu_memory_utilization="0.9",is_attention_free="False",num_cpu_blocks="None",\
num_gpu_blocks="27648",num_gpu_blocks_override="None",prefix_caching_hash_algo="builtin",sliding_window="None",\
swap_space="4",swap_space_bytes="4294967296"}} 1.0
"""

# vLLM with two data-parallel engines and the kv_cache_size_tokens label (vLLM PR #42206, a hybrid-KV model whose
# num_gpu_blocks x block_size = 619,840 is not the capacity).
VLLM_DP2 = f"""# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{engine="0",{M}}} 5.0
vllm:num_requests_running{{engine="1",{M}}} 7.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{{engine="0",{M}}} 0.0
vllm:num_requests_waiting{{engine="1",{M}}} 2.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{{engine="0",{M}}} 0.25
vllm:kv_cache_usage_perc{{engine="1",{M}}} 0.75
# TYPE vllm:num_preemptions counter
vllm:num_preemptions_total{{engine="0",{M}}} 3.0
vllm:num_preemptions_total{{engine="1",{M}}} 4.0
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{{block_size="832",engine="0",kv_cache_size_tokens="619479",num_gpu_blocks="745"}} 1.0
vllm:cache_config_info{{block_size="832",engine="1",kv_cache_size_tokens="619479",num_gpu_blocks="745"}} 1.0
"""

# vLLM 0.8 (V0 names: no engine label, gpu_* prefix counters, num_preemptions_total named directly).
VLLM_OLD = f"""# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{{block_size="16",cache_dtype="auto",num_gpu_blocks="81767",num_gpu_blocks_override="None"}} 1.0
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{{M}}} 3.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{{{M}}} 0.0
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{{{M}}} 0.3
# TYPE vllm:gpu_prefix_cache_queries_total counter
vllm:gpu_prefix_cache_queries_total{{{M}}} 40.0
# TYPE vllm:gpu_prefix_cache_hits_total counter
vllm:gpu_prefix_cache_hits_total{{{M}}} 10.0
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{{{M}}} 1.0
"""

S = 'engine_type="unified",model_name="Qwen/Qwen2.5-7B-Instruct",pp_rank="0",tp_rank="0"'
SM = 'model_name="Qwen/Qwen2.5-7B-Instruct"'
# SGLang (python/sglang/srt/metrics/collector.py: SchedulerMetricsCollector with the mixin's labels, and
# TokenizerMetricsCollector), served with --enable-metrics.
SGLANG = f"""# HELP sglang:num_running_reqs The number of running requests.
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{{{S}}} 24.0
# HELP sglang:num_used_tokens The number of used tokens.
# TYPE sglang:num_used_tokens gauge
sglang:num_used_tokens{{{S}}} 120000.0
# HELP sglang:token_usage The token usage.
# TYPE sglang:token_usage gauge
sglang:token_usage{{{S}}} 0.61
# HELP sglang:num_queue_reqs The number of requests in the waiting queue.
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{{{S}}} 5.0
# HELP sglang:cache_hit_rate The prefix cache hit rate.
# TYPE sglang:cache_hit_rate gauge
sglang:cache_hit_rate{{{S}}} 0.25
# HELP sglang:max_total_num_tokens Maximum total number of tokens in the KV cache pool.
# TYPE sglang:max_total_num_tokens gauge
sglang:max_total_num_tokens{{{S}}} 196721.0
# HELP sglang:num_retracted_reqs The number of retracted requests.
# TYPE sglang:num_retracted_reqs gauge
sglang:num_retracted_reqs{{{S}}} 0.0
# HELP sglang:num_retracted_requests_total Total number of retracted requests.
# TYPE sglang:num_retracted_requests_total counter
sglang:num_retracted_requests_total{{{S}}} 2.0
sglang:num_retracted_requests_created{{{S}}} 1.7349e+09
# HELP sglang:prompt_tokens_total Number of prefill tokens processed.
# TYPE sglang:prompt_tokens_total counter
sglang:prompt_tokens_total{{{SM}}} 51200.0
# HELP sglang:cached_tokens_total Number of cached prompt tokens.
# TYPE sglang:cached_tokens_total counter
sglang:cached_tokens_total{{{SM}}} 12800.0
# HELP sglang:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE sglang:time_to_first_token_seconds histogram
sglang:time_to_first_token_seconds_bucket{{le="0.1",{SM}}} 3.0
sglang:time_to_first_token_seconds_bucket{{le="+Inf",{SM}}} 40.0
sglang:time_to_first_token_seconds_count{{{SM}}} 40.0
sglang:time_to_first_token_seconds_sum{{{SM}}} 11.5
"""

# TGI's router (metrics-exporter-prometheus): unlabelled gauges, integer renderings, histograms and summaries.
TGI = """# HELP tgi_request_count Total number of requests
# TYPE tgi_request_count counter
tgi_request_count 1500
# HELP tgi_queue_size Current queue size
# TYPE tgi_queue_size gauge
tgi_queue_size 4
# HELP tgi_batch_current_size Current batch size
# TYPE tgi_batch_current_size gauge
tgi_batch_current_size 32
# HELP tgi_batch_current_max_tokens Maximum tokens for the current batch
# TYPE tgi_batch_current_max_tokens gauge
tgi_batch_current_max_tokens 65536
# TYPE tgi_batch_max_total_tokens gauge
tgi_batch_max_total_tokens 262144
# HELP tgi_request_duration Request duration
# TYPE tgi_request_duration histogram
tgi_request_duration_bucket{le="0.00015"} 0
tgi_request_duration_bucket{le="+Inf"} 1500
tgi_request_duration_sum 2712.5
tgi_request_duration_count 1500
# TYPE tgi_request_inference_duration summary
tgi_request_inference_duration{quantile="0.5"} 1.2
tgi_request_inference_duration{quantile="0.99"} 3.4
tgi_request_inference_duration_sum 1800.5
tgi_request_inference_duration_count 1500
# TYPE tgi_batch_inference_count counter
tgi_batch_inference_count{method="prefill"} 420
tgi_batch_inference_count{method="decode"} 61234
"""

T = 'engine_type="undefined",model_name="undefined"'
# trtllm-serve's /prometheus/metrics (tensorrt_llm/metrics/collector.py).
TRTLLM = f"""# TYPE trtllm_num_requests_running gauge
trtllm_num_requests_running{{{T}}} 8.0
# TYPE trtllm_num_requests_waiting gauge
trtllm_num_requests_waiting{{{T}}} 2.0
# TYPE trtllm_kv_cache_utilization gauge
trtllm_kv_cache_utilization{{{T}}} 0.4
# TYPE trtllm_kv_cache_max_blocks gauge
trtllm_kv_cache_max_blocks{{{T}}} 4096.0
# TYPE trtllm_kv_cache_tokens_per_block gauge
trtllm_kv_cache_tokens_per_block{{{T}}} 32.0
# TYPE trtllm_prompt_tokens_total counter
trtllm_prompt_tokens_total{{{T}}} 10000.0
# TYPE trtllm_prompt_cached_tokens_total counter
trtllm_prompt_cached_tokens_total{{{T}}} 2500.0
"""


# ---------------------------------------------------------------------------------------------------------- parser


def test_parse_vllm_exposition_every_line():
    exp = parse_exposition(VLLM_V1)
    assert exp.skipped == 0 and not exp.truncated
    assert len(exp.samples) == 21
    by = {(s.name, s.labels): s for s in exp.samples}
    gc = [s for s in exp.samples if s.name == "python_gc_objects_collected_total"]
    assert [(s.label("generation"), s.value) for s in gc] == [("0", 9071.0), ("1", 3113.0)]
    inf_bucket = [s for s in exp.samples if s.name == "vllm:time_to_first_token_seconds_bucket"][-1]
    assert inf_bucket.label("le") == "+Inf" and inf_bucket.value == 96.0
    assert inf_bucket.labels == (("engine", "0"), ("le", "+Inf"), ("model_name", "meta-llama/Llama-3.1-8B-Instruct"))
    created = by[("vllm:num_preemptions_created", inf_bucket.labels[:1] + inf_bucket.labels[2:])]
    assert created.value == 1.7349012e9
    info = next(s for s in exp.samples if s.name == "vllm:cache_config_info")
    assert info.label("num_gpu_blocks") == "27648" and info.label("block_size") == "16"
    assert info.label("num_cpu_blocks") == "None" and info.value == 1.0
    assert len(info.labels) == 15


def test_parse_escapes_special_values_and_timestamps():
    text = "\n".join([
        r'm{path="C:\\dir",quote="say \"hi\"",nl="a\nb",brace="}{",odd="\x",empty=""} 1',
        "nan_value NaN",
        "pos_inf +Inf",
        "neg_inf -Inf",
        "bare_inf Inf",
        "sci 1e3",
        "small -0.5e-2",
        "leading_dot .5",
        "with_ts 2 1700000000000",
        "neg_ts 3 -5",
        'spaced { a = "1" , } 4',
        "colon:name:x{} 5",
        "trailing_ws 6 \t",
    ]) + "\n"
    exp = parse_exposition(text)
    assert exp.skipped == 0
    m = exp.samples[0]
    assert dict(m.labels) == {"path": "C:\\dir", "quote": 'say "hi"', "nl": "a\nb", "brace": "}{", "odd": "\\x",
                              "empty": ""}
    values = {s.name: s.value for s in exp.samples[1:]}
    assert math.isnan(values["nan_value"])
    assert values["pos_inf"] == math.inf and values["neg_inf"] == -math.inf and values["bare_inf"] == math.inf
    assert values["sci"] == 1000.0 and values["small"] == -0.005 and values["leading_dot"] == 0.5
    assert values["spaced"] == 4.0 and values["colon:name:x"] == 5.0 and values["trailing_ws"] == 6.0
    ts = {s.name: s.timestamp_ms for s in exp.samples}
    assert ts["with_ts"] == 1_700_000_000_000 and ts["neg_ts"] == -5 and ts["sci"] is None
    assert next(s for s in exp.samples if s.name == "spaced").labels == (("a", "1"),)


def test_malformed_lines_are_skipped_and_counted():
    text = "\r\n".join([
        "# a comment that is not HELP or TYPE",
        "good_one 1",
        "no_value",
        'unclosed{a="1" 2',
        "unquoted{a=1} 3",
        "word_value abc",
        "underscored 1_000",
        "hex 0x1p3",
        "bad_ts 1 12:00",
        "9starts_with_digit 1",
        'dup{a="1",a="2"} 1',
        'nocomma{a="1" b="2"} 1',
        "three 1 2 3",
        "",
        "   ",
        "good_two 2",
        "{only=\"labels\"} 1",
    ])
    exp = parse_exposition(text)
    assert [(s.name, s.value) for s in exp.samples] == [("good_one", 1.0), ("good_two", 2.0)]
    assert exp.skipped == 12
    assert parse_exposition(None) == parse_exposition("")  # type: ignore[arg-type]
    assert parse_exposition("").samples == () and parse_exposition("").skipped == 0


def test_names_filter_parses_only_those_names():
    exp = parse_exposition(VLLM_V1 + "broken line here\nvllm:num_requests_running{bad\n",
                           names={"vllm:num_requests_running"})
    assert [s.value for s in exp.samples] == [24.0]
    assert exp.skipped == 1  # the malformed line of a wanted name; "broken" is another name, passed over


def test_oversize_text_is_cut_to_the_last_whole_line():
    head = "kept 1\n"
    filler = "# " + "x" * 1000 + "\n"
    text = head + filler * ((MAX_EXPOSITION_BYTES - len(head)) // len(filler))
    room = MAX_EXPOSITION_BYTES - len(text)
    text += "#" * (room - 8) + "\n" + "cut_me 123456\n" + "after 2\n"  # the boundary falls inside "cut_me"
    assert len(text) > MAX_EXPOSITION_BYTES
    exp = parse_exposition(text)
    assert exp.truncated
    assert [(s.name, s.value) for s in exp.samples] == [("kept", 1.0)]
    assert exp.skipped == 0
    assert not parse_exposition(head).truncated


def test_looks_like_prometheus():
    assert looks_like_prometheus(VLLM_V1) and looks_like_prometheus(TGI)
    assert looks_like_prometheus("") and looks_like_prometheus("# HELP x y\n# TYPE x gauge\n")
    assert not looks_like_prometheus('[{"gpuMemUsage": 1}]')
    assert not looks_like_prometheus("OK")
    assert not looks_like_prometheus("<html><body>404</body></html>")


# -------------------------------------------------------------------------------------------------------- snapshot


def test_snapshot_vllm_v1():
    snap = snapshot(VLLM_V1, t=12.5)
    assert snap == ServerSnapshot(t=12.5, engine="vllm", running=24.0, waiting=6.0, kv_usage=0.8125, preemptions=3.0,
                                  kv_capacity_tokens=27648 * 16, prefix_hits=46080.0, prefix_queries=184320.0)


def test_snapshot_vllm_data_parallel_sums_and_averages():
    snap = snapshot(VLLM_DP2, t=0.0)
    assert (snap.running, snap.waiting, snap.preemptions) == (12.0, 2.0, 7.0)
    assert snap.kv_usage == 0.5
    assert snap.kv_capacity_tokens == 2 * 619479  # the label, not 745 x 832
    assert snap.prefix_hits is None and snap.prefix_queries is None


def test_snapshot_vllm_older_names():
    snap = snapshot(VLLM_OLD, t=1.0)
    assert snap == ServerSnapshot(t=1.0, engine="vllm", running=3.0, waiting=0.0, kv_usage=0.3, preemptions=1.0,
                                  kv_capacity_tokens=81767 * 16, prefix_hits=10.0, prefix_queries=40.0)


def test_snapshot_sglang():
    snap = snapshot(SGLANG, t=2.0)
    assert snap == ServerSnapshot(t=2.0, engine="sglang", running=24.0, waiting=5.0, kv_usage=0.61, preemptions=2.0,
                                  kv_capacity_tokens=196721, prefix_hits=12800.0, prefix_queries=51200.0)


def test_snapshot_sglang_counts_a_tp_group_once():
    lines = ["# TYPE sglang:num_running_reqs gauge"]
    for dp, tp, n in (("0", "0", 10), ("0", "1", 10), ("1", "2", 7), ("1", "3", 7)):
        lines.append(f'sglang:num_running_reqs{{dp_rank="{dp}",engine_type="unified",tp_rank="{tp}"}} {n}.0')
        lines.append(f'sglang:token_usage{{dp_rank="{dp}",engine_type="unified",tp_rank="{tp}"}} 0.{n}')
        lines.append(f'sglang:max_total_num_tokens{{dp_rank="{dp}",engine_type="unified",tp_rank="{tp}"}} 1000.0')
    snap = snapshot("\n".join(lines) + "\n", t=0.0)
    assert snap.running == 17.0  # dp 0 (tp 0) + dp 1 (tp 2), not 34
    assert snap.kv_usage == pytest.approx((0.10 + 0.7) / 2)
    assert snap.kv_capacity_tokens == 2000
    unset = snapshot('sglang:max_total_num_tokens{tp_rank="0"} 0.0\n', t=0.0)
    assert unset.engine == "sglang" and unset.kv_capacity_tokens is None


def test_snapshot_tgi():
    snap = snapshot(TGI, t=3.0)
    assert snap == ServerSnapshot(t=3.0, engine="tgi", running=32.0, waiting=4.0, kv_usage=65536 / 262144,
                                  preemptions=None, kv_capacity_tokens=262144, prefix_hits=None, prefix_queries=None)


def test_snapshot_trtllm():
    snap = snapshot(TRTLLM, t=4.0)
    assert snap == ServerSnapshot(t=4.0, engine="trtllm", running=8.0, waiting=2.0, kv_usage=0.4, preemptions=None,
                                  kv_capacity_tokens=4096 * 32, prefix_hits=2500.0, prefix_queries=10000.0)


def test_snapshot_of_unknown_or_odd_text():
    assert snapshot("process_cpu_seconds_total 12.5\n", t=1.0) == ServerSnapshot(t=1.0, engine=None)
    assert snapshot("", t=1.0) == ServerSnapshot(t=1.0, engine=None)
    assert snapshot(None, t=1.0) == ServerSnapshot(t=1.0, engine=None)  # type: ignore[arg-type]
    odd = "vllm:num_requests_running{engine=\"0\"} NaN\nvllm:num_requests_running{engine=\"1\"} 4\n"
    assert snapshot(odd, t=0.0).running == 4.0  # NaN left out of the sum
    assert snapshot("vllm:num_requests_running NaN\n", t=0.0).running is None
    assert detect_engine("# HELP vllm:x y\nprocess_x 1\nsglang:num_queue_reqs 2\n") == "sglang"


# ------------------------------------------------------------------------------------------------------- summarise


def _snap(t, running, waiting, kv, preempt, hits, queries, engine="vllm", capacity=1000):
    return ServerSnapshot(t=t, engine=engine, running=running, waiting=waiting, kv_usage=kv, preemptions=preempt,
                          kv_capacity_tokens=capacity, prefix_hits=hits, prefix_queries=queries)


def test_summarise_means_maxima_counter_reset_and_hit_rate():
    snaps = [
        _snap(2.0, 30.0, 2.0, None, 2.0, 350.0, 2200.0),  # preemption counter reset between t=1 and t=2
        _snap(0.0, 10.0, 0.0, 0.2, 5.0, 100.0, 1000.0),
        _snap(3.0, 40.0, None, 0.4, 4.0, 400.0, 2600.0, capacity=2000),
        _snap(1.0, 20.0, 4.0, 0.6, 8.0, 300.0, 2000.0),
    ]
    out = summarise(snaps)
    assert tuple(out) == SUMMARY_KEYS
    assert out == {
        "engine": "vllm",
        "scrapes": 4,
        "kv_usage_mean": pytest.approx(0.4),
        "kv_usage_max": 0.6,
        "running_mean": 25.0,
        "running_max": 40.0,
        "waiting_mean": 2.0,
        "waiting_max": 4.0,
        "preemptions": 7,  # (8-5) + 2 (counted up from 0 after the reset) + (4-2)
        "kv_capacity_tokens": 2000,  # the last scrape that said
        "prefix_hit_rate": 300.0 / 1600.0,
    }


def test_summarise_none_where_nothing_said():
    empty = summarise([])
    assert empty["scrapes"] == 0 and all(empty[k] is None for k in SUMMARY_KEYS if k != "scrapes")
    one = summarise([_snap(0.0, 5.0, 1.0, 0.5, 3.0, 10.0, 20.0)])
    assert one["running_mean"] == 5.0 and one["kv_usage_max"] == 0.5
    assert one["preemptions"] is None and one["prefix_hit_rate"] is None  # a counter needs two readings
    tgi = summarise([_snap(0.0, 1.0, 0.0, 0.1, None, None, None, engine="tgi", capacity=None)] * 3)
    assert tgi["engine"] == "tgi" and tgi["preemptions"] is None and tgi["prefix_hit_rate"] is None
    assert tgi["kv_capacity_tokens"] is None
    idle = summarise([_snap(0.0, 0.0, 0.0, 0.0, 1.0, 10.0, 20.0), _snap(1.0, 0.0, 0.0, 0.0, 1.0, 10.0, 20.0)])
    assert idle["preemptions"] == 0 and idle["prefix_hit_rate"] is None  # no prompt tokens queried
    unknown = summarise([ServerSnapshot(t=0.0, engine=None)])
    assert unknown["engine"] is None and unknown["scrapes"] == 1 and unknown["running_mean"] is None


def test_counter_increase():
    assert counter_increase([]) is None and counter_increase([3.0]) is None
    assert counter_increase([1.0, 1.0]) == 0.0
    assert counter_increase([10.0, 2.0]) == 2.0
    assert counter_increase([0.0, 5.0, 1.0, 1.0, 4.0]) == 5.0 + 1.0 + 0.0 + 3.0


# -------------------------------------------------------------------------------------------------------- scraping

PROM_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _prom(text: str) -> web.Response:
    return web.Response(body=text.encode(), headers={"Content-Type": PROM_TYPE})


def _vllm_text(n: int) -> str:
    return (f"# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{{engine=\"0\"}} {n}.0\n"
            f"vllm:num_preemptions_total{{engine=\"0\"}} {2 * n}.0\n")


async def _serve(routes: dict):
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def _scrape(routes: dict, path: str = "/metrics", *, interval: float = 0.05, stop_after: float | None = 0.3,
                  **kwargs):
    """Serve `routes`, scrape `path`; stop after `stop_after` s (None: never). (reason, out, s from stop to return)."""
    runner, base = await _serve(routes)
    try:
        out: list[ServerSnapshot] = []
        stop = asyncio.Event()
        async with aiohttp.ClientSession() as session:
            task = asyncio.create_task(scrape_until(session, base + path, stop, interval, out, **kwargs))
            if stop_after is None:
                reason = await asyncio.wait_for(task, timeout=10)
                return reason, out, None, base
            done, _ = await asyncio.wait({task}, timeout=stop_after)
            if done:
                return task.result(), out, None, base
            stop.set()
            t0 = time.perf_counter()
            reason = await asyncio.wait_for(task, timeout=5)
            return reason, out, time.perf_counter() - t0, base
    finally:
        await runner.cleanup()


def test_scrape_collects_snapshots_and_honours_stop():
    calls = {"n": 0}

    async def metrics(request):
        calls["n"] += 1
        return _prom(_vllm_text(calls["n"]))

    reason, out, stop_latency, _ = asyncio.run(_scrape({"/metrics": metrics}, interval=0.05, stop_after=0.32))
    assert reason is None
    assert 4 <= len(out) <= 9  # at once, then every 50 ms for 0.32 s
    assert [s.running for s in out] == [float(i) for i in range(1, len(out) + 1)]
    assert [s.preemptions for s in out] == [2.0 * i for i in range(1, len(out) + 1)]
    assert all(s.engine == "vllm" for s in out)
    assert all(a.t < b.t for a, b in zip(out, out[1:], strict=False))
    assert stop_latency < 0.05 + 0.1
    assert summarise(out)["preemptions"] == 2 * (len(out) - 1)


def test_scrape_abandons_a_slow_get_when_stopped():
    async def slow(request):
        await asyncio.sleep(0.8)  # within the 2 s timeout: only abandoning it returns before 0.8 s
        return _prom(_vllm_text(1))

    reason, out, stop_latency, _ = asyncio.run(_scrape({"/metrics": slow}, interval=0.5, stop_after=0.2))
    assert reason is None and out == []
    assert stop_latency < 0.2


def test_scrape_clock_is_midway_through_the_get():
    ticks = iter(range(100))

    async def metrics(request):
        return _prom(_vllm_text(1))

    reason, out, _, _ = asyncio.run(_scrape({"/metrics": metrics}, interval=0.05, stop_after=0.2,
                                            clock=lambda: float(next(ticks))))
    assert reason is None
    assert [s.t for s in out[:2]] == [0.5, 2.5]


def test_scrape_gives_up_on_404():
    async def other(request):
        return web.Response(text="hello")

    reason, out, _, base = asyncio.run(_scrape({"/other": other}, stop_after=None))
    assert reason == (f"{base}/metrics answered HTTP 404 (SGLang serves /metrics only with --enable-metrics); "
                      "server metrics left out")
    assert out == []


def test_scrape_gives_up_when_the_first_get_times_out():
    async def slow(request):
        await asyncio.sleep(0.3)
        return _prom(_vllm_text(1))

    reason, out, _, base = asyncio.run(_scrape({"/metrics": slow}, stop_after=None, timeout_s=0.1))
    assert reason == f"{base}/metrics did not answer within 0.1 s; server metrics left out"
    assert out == []


def test_scrape_gives_up_on_connection_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/metrics"

    async def main():
        out: list[ServerSnapshot] = []
        async with aiohttp.ClientSession() as session:
            reason = await asyncio.wait_for(scrape_until(session, url, asyncio.Event(), 0.05, out), timeout=5)
        return reason, out

    reason, out = asyncio.run(main())
    assert reason.startswith(f"{url} could not be reached (") and reason.endswith("; server metrics left out")
    assert "\n" not in reason and out == []


def test_scrape_gives_up_on_text_that_is_not_prometheus():
    async def ok(request):
        return web.Response(text="OK")

    async def page(request):
        return web.Response(text="<html>login</html>", content_type="text/html")

    reason, out, _, base = asyncio.run(_scrape({"/metrics": ok}, stop_after=None))
    assert reason == f"{base}/metrics answered something that is not Prometheus text; server metrics left out"
    reason, _, _, base = asyncio.run(_scrape({"/metrics": page}, stop_after=None))
    assert reason == f"{base}/metrics answered HTML, not Prometheus text; server metrics left out"


def test_scrape_skips_transient_failures_then_gives_up_after_five_in_a_row():
    calls = {"n": 0}

    async def flaky(request):
        calls["n"] += 1
        return web.Response(status=503) if calls["n"] in (2, 3) else _prom(_vllm_text(calls["n"]))

    reason, out, _, _ = asyncio.run(_scrape({"/metrics": flaky}, interval=0.03, stop_after=0.3))
    assert reason is None
    assert [s.running for s in out[:3]] == [1.0, 4.0, 5.0]  # scrapes 2 and 3 skipped

    calls["n"] = 0

    async def dying(request):
        calls["n"] += 1
        return _prom(_vllm_text(1)) if calls["n"] == 1 else web.Response(status=500)

    reason, out, _, base = asyncio.run(_scrape({"/metrics": dying}, interval=0.02, stop_after=None))
    assert reason == (f"{base}/metrics failed {MAX_CONSECUTIVE_FAILURES} scrapes in a row (last: answered HTTP 500); "
                      f"server metrics after that left out")
    assert len(out) == 1 and calls["n"] == 1 + MAX_CONSECUTIVE_FAILURES


def test_scrape_follows_trtllm_json_metrics_to_prometheus_metrics():
    async def iteration_stats(request):
        return web.json_response([{"gpuMemUsage": 1, "numActiveRequests": 8}])

    async def prometheus(request):
        return _prom(TRTLLM)

    reason, out, _, _ = asyncio.run(_scrape({"/metrics": iteration_stats, "/prometheus/metrics": prometheus},
                                            stop_after=0.2))
    assert reason is None and len(out) >= 2
    assert out[0].engine == "trtllm" and out[0].running == 8.0 and out[0].kv_capacity_tokens == 4096 * 32

    reason, out, _, base = asyncio.run(_scrape({"/metrics": iteration_stats}, stop_after=None))
    assert reason == (f"{base}/metrics answered JSON, not Prometheus text (trtllm-serve's JSON iteration stats?), "
                      f"and {base}/prometheus/metrics answered HTTP 404; server metrics left out")
    assert out == []


def test_scrape_reads_at_most_the_bound():
    padding = ("# " + "p" * 1022 + "\n") * (MAX_EXPOSITION_BYTES // 1024 + 16)
    body = _vllm_text(3) + padding + 'vllm:num_requests_waiting{engine="0"} 99.0\n'

    async def huge(request):
        return _prom(body)

    reason, out, _, _ = asyncio.run(_scrape({"/metrics": huge}, interval=0.2, stop_after=0.1))
    assert reason is None and len(out) == 1
    assert out[0].running == 3.0 and out[0].waiting is None  # the line past 4 MiB is not read


def test_scrape_rejects_a_bad_interval():
    async def metrics(request):
        return _prom(_vllm_text(1))

    for interval in (0, -1.0, math.nan):
        reason, out, _, _ = asyncio.run(_scrape({"/metrics": metrics}, interval=interval, stop_after=None))
        assert reason == f"scrape interval {interval!r} s is not a positive number; server metrics left out"
        assert out == []


# ------------------------------------------------------------------------------------------------------ metrics_url


@pytest.mark.parametrize("base, expected", [
    ("http://localhost:8000/v1", "http://localhost:8000/metrics"),
    ("http://localhost:8000/v1/", "http://localhost:8000/metrics"),
    ("http://h:8000/v1/completions", "http://h:8000/metrics"),
    ("https://h/v1/chat/completions", "https://h/metrics"),
    ("http://h:8000", "http://h:8000/metrics"),
    ("http://h:8000/", "http://h:8000/metrics"),
    ("  http://h:8000/v1  ", "http://h:8000/metrics"),
    ("http://gw.example.com/models/llama/v1/chat/completions?x=1#f", "http://gw.example.com/models/llama/metrics"),
    ("http://[::1]:30000/v1", "http://[::1]:30000/metrics"),
    ("http://h:8080/generate", "http://h:8080/generate/metrics"),
])
def test_metrics_url(base, expected):
    assert metrics_url(base) == expected


@pytest.mark.parametrize("bad", ["localhost:8000", "ftp://h/v1", "", "http:///v1", None])
def test_metrics_url_rejects_what_is_not_an_http_url(bad):
    with pytest.raises(ValueError, match="is not an http\\(s\\) URL with a host"):
        metrics_url(bad)


def test_sample_is_frozen_and_hashable():
    s = Sample("a", (("k", "v"),), 1.0)
    assert s.label("k") == "v" and s.label("x", "d") == "d"
    assert {s: 1}[Sample("a", (("k", "v"),), 1.0)] == 1
    with pytest.raises(AttributeError):
        s.value = 2.0  # type: ignore[misc]
    assert json.dumps(summarise([])) is not None
