"""What an inference server says about itself during a load test, from its Prometheus ``/metrics``: KV-cache usage,
running / waiting requests, preemptions, KV capacity and prefix-cache hits.

    snapshot(text, t)               one scrape -> ServerSnapshot (engine detected from the metric names)
    summarise(snaps)                one load point -> {engine, scrapes, kv_usage_mean, ...} (keys: SUMMARY_KEYS)

The text is parsed by :mod:`profiler.endpoint.prometheus` and fetched by :mod:`profiler.endpoint.scrape`.

Names read, per engine (first name present wins; a pair of counters is taken from one generation only):

=========  ===================  =====================================================================================
engine     quantity             metric (source)
=========  ===================  =====================================================================================
vllm       running              ``vllm:num_requests_running`` gauge
           waiting              ``vllm:num_requests_waiting`` gauge
           kv_usage             ``vllm:kv_cache_usage_perc`` gauge, fraction 0-1 (V1, since 0.9); older
                                ``vllm:gpu_cache_usage_perc`` (deprecated in 0.9, "1 means 100 percent usage")
           preemptions          ``vllm:num_preemptions_total`` (counter ``vllm:num_preemptions``; prometheus_client
                                appends ``_total``; V0 and early V1 named it ``..._total`` directly); bare
                                ``vllm:num_preemptions`` accepted too
           prefix hits/queries  ``vllm:prefix_cache_hits_total`` / ``vllm:prefix_cache_queries_total`` (tokens);
                                older ``vllm:gpu_prefix_cache_hits_total`` / ``..._queries_total``
           kv capacity          ``vllm:cache_config_info`` info gauge: label ``kv_cache_size_tokens`` where present
                                (vLLM PR #42206: num_gpu_blocks x block_size is wrong for hybrid-KV models), else
                                labels ``num_gpu_blocks`` x ``block_size``
                                Source: vllm-project/vllm ``vllm/v1/metrics/loggers.py`` (PrometheusStatLogger),
                                https://docs.vllm.ai/en/stable/usage/metrics/
sglang     running              ``sglang:num_running_reqs`` gauge
           waiting              ``sglang:num_queue_reqs`` gauge
           kv_usage             ``sglang:token_usage`` gauge (used / max_total_num_tokens of the KV pool, 0-1)
           preemptions          ``sglang:num_retracted_requests_total`` counter (SGLang "retracts" a request when
                                the KV pool runs out: its preemption). The older gauge ``sglang:num_retracted_reqs``
                                counts per log interval only and is not read.
           prefix hits/queries  ``sglang:cached_tokens_total`` / ``sglang:prompt_tokens_total`` counters (tokenizer
                                collector: cached prompt tokens / prompt tokens)
           kv capacity          ``sglang:max_total_num_tokens`` gauge ("Maximum total number of tokens in the KV cache
                                pool"; 0, i.e. unset, reads as None)
                                Source: sgl-project/sglang ``python/sglang/srt/metrics/collector.py``
                                (SchedulerMetricsCollector, TokenizerMetricsCollector) and
                                ``python/sglang/srt/managers/scheduler_metrics_mixin.py``; served only with
                                ``--enable-metrics``
tgi        running              ``tgi_batch_current_size`` gauge
           waiting              ``tgi_queue_size`` gauge
           kv_usage             derived: ``tgi_batch_current_max_tokens`` / ``tgi_batch_max_total_tokens``, the share
                                of the router's token budget the running batch has reserved (prompt + max new tokens
                                per request: the budget TGI admits against), not a measured block occupancy
           preemptions          none (TGI does not preempt; None)
           kv capacity          ``tgi_batch_max_total_tokens`` gauge (max batch total tokens found at warmup)
                                Source: huggingface/text-generation-inference ``router/src/server.rs`` (describe_gauge),
                                ``backends/v3/src/backend.rs``, ``backends/v3/src/queue.rs``, ``backends/v3/src/lib.rs``
trtllm     running              ``trtllm_num_requests_running`` gauge
           waiting              ``trtllm_num_requests_waiting`` gauge
           kv_usage             ``trtllm_kv_cache_utilization`` gauge (usedNumBlocks / maxNumBlocks)
           prefix hits/queries  ``trtllm_prompt_cached_tokens_total`` / ``trtllm_prompt_tokens_total`` counters
           kv capacity          ``trtllm_kv_cache_max_blocks`` x ``trtllm_kv_cache_tokens_per_block`` gauges
                                Source: NVIDIA/TensorRT-LLM ``tensorrt_llm/metrics/collector.py`` (MetricsCollector)
                                and ``tensorrt_llm/serve/openai_server.py``. trtllm-serve's ``/metrics`` is JSON
                                (iteration stats), not Prometheus; its Prometheus text is ``/prometheus/metrics``,
                                mounted only with ``return_perf_metrics: true`` in the LLM API options, and only
                                recent releases put the gauges above there (older ones: request histograms only).
                                scrape_until tries ``/prometheus/metrics`` once when ``/metrics`` answers JSON.
=========  ===================  =====================================================================================

Several series of one name (labels per model, per data-parallel engine ``engine="0"``, ``dp_rank``): running,
waiting, preemptions, prefix counters and KV capacity are summed (each series is one engine's own queue / cache);
kv_usage is the unweighted mean over series (engines of one server have equal caches). Non-finite values (NaN,
Inf) are left out of a sum or mean; no finite value -> None. SGLang exports the same scheduler from every TP rank
under ``--enable-metrics-for-all-schedulers`` (label ``tp_rank``): among series equal but for ``tp_rank``, only the
lowest rank's counts, so a TP group is not counted tp times.

Scraping runs on the load test's event loop, so ``snapshot`` parses only the lines of the names it reads (others
are matched by name and passed over): ~3.5 ms for a 340 KB exposition of 8 vLLM engines (15 histograms each), against
~50 ms for parsing every line (measured on the development CPU).
"""


from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from profiler.endpoint.prometheus import MAX_EXPOSITION_BYTES, Sample, parse_exposition

ENGINES = ("vllm", "sglang", "tgi", "trtllm")
_ENGINE_PREFIX = {"vllm": "vllm:", "sglang": "sglang:", "tgi": "tgi_", "trtllm": "trtllm_"}
_ENGINE_LINE_RE = re.compile(r"^[ \t]*(vllm:|sglang:|tgi_|trtllm_)", re.MULTILINE)

SUMMARY_KEYS = ("engine", "scrapes", "kv_usage_mean", "kv_usage_max", "running_mean", "running_max", "waiting_mean",
                "waiting_max", "preemptions", "kv_capacity_tokens", "prefix_hit_rate")

@dataclass(frozen=True)
class _EngineNames:
    """The metric names of one engine, each quantity's candidates in order of preference (see module docstring)."""

    running: tuple[str, ...]
    waiting: tuple[str, ...]
    kv_usage: tuple[str, ...]
    preemptions: tuple[str, ...]
    prefix: tuple[tuple[str, str], ...]  # (hits, queries) pairs, one generation each
    capacity: tuple[str, ...]  # names the engine's capacity rule reads

    def all(self) -> frozenset[str]:
        pairs = (n for pair in self.prefix for n in pair)
        return frozenset((*self.running, *self.waiting, *self.kv_usage, *self.preemptions, *pairs, *self.capacity))


_NAMES = {
    "vllm": _EngineNames(
        running=("vllm:num_requests_running",),
        waiting=("vllm:num_requests_waiting",),
        kv_usage=("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
        preemptions=("vllm:num_preemptions_total", "vllm:num_preemptions"),
        prefix=(("vllm:prefix_cache_hits_total", "vllm:prefix_cache_queries_total"),
                ("vllm:gpu_prefix_cache_hits_total", "vllm:gpu_prefix_cache_queries_total")),
        capacity=("vllm:cache_config_info",),
    ),
    "sglang": _EngineNames(
        running=("sglang:num_running_reqs",),
        waiting=("sglang:num_queue_reqs",),
        kv_usage=("sglang:token_usage",),
        preemptions=("sglang:num_retracted_requests_total",),
        prefix=(("sglang:cached_tokens_total", "sglang:prompt_tokens_total"),),
        capacity=("sglang:max_total_num_tokens",),
    ),
    "tgi": _EngineNames(
        running=("tgi_batch_current_size",),
        waiting=("tgi_queue_size",),
        kv_usage=(),  # derived from the two budget gauges, see _tgi_usage
        preemptions=(),
        prefix=(),
        capacity=("tgi_batch_max_total_tokens", "tgi_batch_current_max_tokens"),  # [0]: capacity; both: usage
    ),
    "trtllm": _EngineNames(
        running=("trtllm_num_requests_running",),
        waiting=("trtllm_num_requests_waiting",),
        kv_usage=("trtllm_kv_cache_utilization",),
        preemptions=(),
        prefix=(("trtllm_prompt_cached_tokens_total", "trtllm_prompt_tokens_total"),),
        capacity=("trtllm_kv_cache_max_blocks", "trtllm_kv_cache_tokens_per_block"),
    ),
}


@dataclass(frozen=True)
class ServerSnapshot:
    """One scrape. t [s]: the client's clock (time.perf_counter by default) midway through the GET; engine: "vllm",
    "sglang", "tgi", "trtllm" or None (no metric of a known engine); running / waiting [requests]; kv_usage: fraction
    0-1; preemptions, prefix_hits, prefix_queries: cumulative counters since the server started (prefix: tokens);
    kv_capacity_tokens: the KV cache's size [tokens]. None wherever the server does not say."""

    t: float
    engine: str | None
    running: float | None = None
    waiting: float | None = None
    kv_usage: float | None = None
    preemptions: float | None = None
    kv_capacity_tokens: int | None = None
    prefix_hits: float | None = None
    prefix_queries: float | None = None


def detect_engine(text: str) -> str | None:
    """The engine whose metric prefix begins the first sample line that has one (vllm:, sglang:, tgi_, trtllm_)."""
    m = _ENGINE_LINE_RE.search(text[:MAX_EXPOSITION_BYTES])
    if m is None:
        return None
    prefix = m.group(1)
    return next(e for e, p in _ENGINE_PREFIX.items() if p == prefix)


def _int_label(sample: Sample, key: str) -> int | None:
    raw = sample.label(key)
    try:
        value = int(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and value > 0 else None


def _tp_rank(sample: Sample) -> tuple[int, str]:
    raw = sample.label("tp_rank", "") or ""
    return (int(raw), raw) if raw.isdigit() else (1 << 30, raw)


def _series(by_name: dict[str, list[Sample]], name: str, engine: str) -> list[Sample]:
    """The samples of `name`, with SGLang's per-TP-rank copies of one scheduler reduced to the lowest rank."""
    samples = by_name.get(name, [])
    if engine != "sglang" or not any(s.label("tp_rank") is not None for s in samples):
        return samples
    lowest: dict[tuple, Sample] = {}
    for s in samples:
        key = tuple(kv for kv in s.labels if kv[0] != "tp_rank")
        if key not in lowest or _tp_rank(s) < _tp_rank(lowest[key]):
            lowest[key] = s
    return list(lowest.values())


def _finite(samples: Iterable[Sample]) -> list[float]:
    return [s.value for s in samples if math.isfinite(s.value)]


def _first_present(by_name: dict[str, list[Sample]], names: Sequence[str], engine: str) -> list[Sample] | None:
    for name in names:
        if name in by_name:
            return _series(by_name, name, engine)
    return None


def _sum(by_name: dict[str, list[Sample]], names: Sequence[str], engine: str) -> float | None:
    samples = _first_present(by_name, names, engine)
    values = _finite(samples) if samples is not None else []
    return math.fsum(values) if values else None


def _mean(by_name: dict[str, list[Sample]], names: Sequence[str], engine: str) -> float | None:
    samples = _first_present(by_name, names, engine)
    values = _finite(samples) if samples is not None else []
    return math.fsum(values) / len(values) if values else None


def _vllm_capacity(by_name: dict[str, list[Sample]]) -> int | None:
    total = 0
    for s in by_name.get("vllm:cache_config_info", []):
        tokens = _int_label(s, "kv_cache_size_tokens")
        if tokens is None:
            blocks, block_size = _int_label(s, "num_gpu_blocks"), _int_label(s, "block_size")
            tokens = blocks * block_size if blocks is not None and block_size is not None else None
        if tokens is not None:
            total += tokens
    return total or None


def _positive_int(value: float | None) -> int | None:
    return int(round(value)) if value is not None and value >= 0.5 else None


def _trtllm_capacity(by_name: dict[str, list[Sample]]) -> int | None:
    per_block = {s.labels: s.value for s in by_name.get("trtllm_kv_cache_tokens_per_block", [])
                 if math.isfinite(s.value)}
    total = 0.0
    for s in by_name.get("trtllm_kv_cache_max_blocks", []):
        tokens = per_block.get(s.labels)
        if tokens is not None and math.isfinite(s.value):
            total += s.value * tokens
    return _positive_int(total)


def _tgi_usage(by_name: dict[str, list[Sample]]) -> float | None:
    reserved = _sum(by_name, ("tgi_batch_current_max_tokens",), "tgi")
    budget = _sum(by_name, ("tgi_batch_max_total_tokens",), "tgi")
    if reserved is None or budget is None or budget <= 0:
        return None
    return reserved / budget


def snapshot(text: str, t: float) -> ServerSnapshot:
    """One scrape's ServerSnapshot at client time `t` [s]. Engine from the metric names (detect_engine); the
    quantities per the module docstring's table; never raises (unreadable text -> engine None, all None)."""
    engine = detect_engine(text) if isinstance(text, str) else None
    if engine is None:
        return ServerSnapshot(t=t, engine=None)
    names = _NAMES[engine]
    by_name: dict[str, list[Sample]] = {}
    for s in parse_exposition(text, names.all()).samples:
        by_name.setdefault(s.name, []).append(s)

    hits = queries = None
    for hit_name, query_name in names.prefix:
        if hit_name in by_name and query_name in by_name:
            hits, queries = _sum(by_name, (hit_name,), engine), _sum(by_name, (query_name,), engine)
            break

    if engine == "vllm":
        capacity = _vllm_capacity(by_name)
    elif engine == "trtllm":
        capacity = _trtllm_capacity(by_name)
    else:
        capacity = _positive_int(_sum(by_name, names.capacity[:1], engine))
    return ServerSnapshot(
        t=t,
        engine=engine,
        running=_sum(by_name, names.running, engine),
        waiting=_sum(by_name, names.waiting, engine),
        kv_usage=_tgi_usage(by_name) if engine == "tgi" else _mean(by_name, names.kv_usage, engine),
        preemptions=_sum(by_name, names.preemptions, engine),
        kv_capacity_tokens=capacity,
        prefix_hits=hits,
        prefix_queries=queries,
    )


# ------------------------------------------------------------------------------------------------------- summarise


def counter_increase(values: Sequence[float]) -> float | None:
    """The increase of a cumulative counter over successive readings, as Prometheus' ``increase()`` counts it: a
    reading below the previous one is a reset (the server restarted), after which the counter counted up from 0, so
    the new reading itself is the increase across the reset. Unlike ``increase()``, no extrapolation to the ends of
    a window: the increase from the first to the last reading. None with fewer than two readings."""
    if len(values) < 2:
        return None
    total = 0.0
    for before, after in zip(values, values[1:], strict=False):
        total += after - before if after >= before else after
    return total


def summarise(snaps: Sequence[ServerSnapshot]) -> dict[str, float | int | str | None]:
    """One load point's server view from its snapshots (taken in any order; sorted by t). Keys (SUMMARY_KEYS):

        engine              str | None   the engine most scrapes named
        scrapes             int          number of snapshots
        kv_usage_mean, kv_usage_max      fraction 0-1 of the KV cache in use, over scrapes that said
        running_mean, running_max        requests in the running batch
        waiting_mean, waiting_max        requests queued
        preemptions         int | None   preemptions (SGLang: retractions) from first to last scrape; a counter
                                         reset handled as Prometheus' increase() does (counter_increase)
        kv_capacity_tokens  int | None   KV cache size [tokens], the last scrape that said
        prefix_hit_rate     float | None prefix-cache hit tokens / queried prompt tokens, from the counters' increase
                                         over the point; None when nothing was queried

    Each value is None where no scrape (or, for counters, fewer than two) said."""
    ordered = sorted(snaps, key=lambda s: s.t)
    engines = Counter(s.engine for s in ordered if s.engine is not None)
    engine = engines.most_common(1)[0][0] if engines else None  # a tie: the engine scraped first

    def present(attr: str) -> list[float]:
        return [v for v in (getattr(s, attr) for s in ordered) if v is not None]

    def mean(values: list[float]) -> float | None:
        return math.fsum(values) / len(values) if values else None

    usage, running, waiting = present("kv_usage"), present("running"), present("waiting")
    preempted = counter_increase(present("preemptions"))
    capacities = present("kv_capacity_tokens")
    pairs = [(s.prefix_hits, s.prefix_queries) for s in ordered
             if s.prefix_hits is not None and s.prefix_queries is not None]
    hit_rate = None
    if len(pairs) >= 2:
        hits = counter_increase([h for h, _ in pairs])
        queries = counter_increase([q for _, q in pairs])
        if hits is not None and queries:
            hit_rate = hits / queries
    return {
        "engine": engine,
        "scrapes": len(ordered),
        "kv_usage_mean": mean(usage),
        "kv_usage_max": max(usage) if usage else None,
        "running_mean": mean(running),
        "running_max": max(running) if running else None,
        "waiting_mean": mean(waiting),
        "waiting_max": max(waiting) if waiting else None,
        "preemptions": int(round(preempted)) if preempted is not None else None,
        "kv_capacity_tokens": int(capacities[-1]) if capacities else None,
        "prefix_hit_rate": hit_rate,
    }
