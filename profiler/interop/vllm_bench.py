"""Read a ``vllm bench serve --save-result`` JSON file (one load point, or several appended) as serving points.

The format is the ``result_json`` dict of vLLM's ``vllm/benchmarks/serve.py`` (``main_async``, read at
vllm-project/vllm commit 009e6d4a1cd6, 2026; the same keys since ``benchmarks/benchmark_serving.py`` of v0.6):

- setup: ``date``, ``backend``, ``label``, ``model_id`` (the ``--model`` given, a Hugging Face repo id or a
  path), ``tokenizer_id``, ``num_prompts``, ``request_rate`` (a number, or the string ``"inf"``: all requests at
  once), ``burstiness``, ``max_concurrency`` (null: no cap); each ``--metadata KEY=VALUE`` as a top-level string.
- results (``benchmark()``): ``duration`` [s], ``completed``, ``failed``, ``total_input_tokens``,
  ``total_output_tokens``, ``request_throughput`` [req/s] = completed / duration, ``output_throughput`` and
  ``total_token_throughput`` [tokens/s].
- latency summaries [ms] for each metric of ``--percentile-metrics`` (default ``ttft,tpot,itl``; ``e2el`` when
  asked): ``mean_<m>_ms``, ``median_<m>_ms``, ``std_<m>_ms`` and ``p<q>_<m>_ms`` for each ``--metric-percentiles``
  q (default 99). TTFT is per request, TPOT per request = (E2E - TTFT) / (output tokens - 1), ITL every gap
  between streamed tokens, E2EL per request.
- per-request lists (``input_lens``, ``ttfts``, ``itls``...) only with ``--save-detailed``; not needed here.

``--append-result`` appends each run to the same file as one more JSON object after a newline; several saved
files concatenated (``cat a.json b.json > all.json``) read the same way. Each object is one load point.
Deployment fields may come from ``--metadata``: ``gpu`` (catalogue id), ``tp`` (or ``tensor_parallel_size``),
``quant`` (or ``quantization``), ``kv_cache_dtype`` (or ``kv_dtype``; ``auto`` = not said).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from profiler.interop.serving import VLLM_SOURCE, Report, ReportError, ServingPoint, checked_points, count, number

TOOL = "vllm bench serve"
# Keys whose presence marks a vllm bench serve result (written by every version that saves results).
MARKERS = ("request_throughput", "mean_ttft_ms")
_SUMMARY = re.compile(r"^(mean|median|std|p\d+(?:\.\d+)?)_(ttft|tpot|itl|e2el)_ms$")
_METADATA = {"gpu": ("gpu",), "tp": ("tp", "tensor_parallel_size", "tensor-parallel-size"),
             "quant": ("quant", "quantization"), "kv_dtype": ("kv_cache_dtype", "kv-cache-dtype", "kv_dtype")}
_KV = {"auto": None, "bf16": "bf16", "bfloat16": "bf16", "fp8": "fp8", "fp8_e4m3": "fp8", "fp8_e5m2": "fp8"}
# Run settings copied into the profile's metadata as they are.
_INFO = ("date", "backend", "label", "tokenizer_id", "num_prompts", "burstiness")


def is_result(doc: Any) -> bool:
    return isinstance(doc, Mapping) and "rows" not in doc and any(k in doc for k in MARKERS)


def _rate(value: Any, file: str, where: str) -> float | None:
    if value is None or value == "inf" or value == math.inf:
        return None
    return number({"request_rate": value}, "request_rate", file, where, positive=True)


def _cap(value: Any, file: str, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ReportError(f"{file}: {where}: field 'max_concurrency' is {value!r}, not a whole number >= 1 or null")
    return value


def _point(doc: Mapping[str, Any], file: str, where: str) -> ServingPoint | str:
    """The load point of one result object; its label (a string) when no request completed."""
    rate, cap = _rate(doc.get("request_rate"), file, where), _cap(doc.get("max_concurrency"), file, where)
    label = f"rate {rate:g}/s" if rate is not None else "rate inf"
    label += f", max concurrency {cap}" if cap is not None else ""
    where = f"{where} ({label})"
    completed = number(doc, "completed", file, where)
    if completed < 1:
        return label
    num = {k: number(doc, k, file, where) for k in ("total_input_tokens", "total_output_tokens",
                                                       "mean_ttft_ms", "median_ttft_ms")}
    throughput = number(doc, "request_throughput", file, where, positive=True)
    step_key = next((k for k in ("median_itl_ms", "median_tpot_ms") if doc.get(k) is not None), None)
    if step_key is None:
        raise ReportError(f"{file}: {where}: fields 'median_itl_ms' and 'median_tpot_ms' are missing; run with "
                          "--percentile-metrics including itl (the default ttft,tpot,itl does)")
    osl = num["total_output_tokens"] / completed
    if doc.get("mean_e2el_ms") is not None:
        decode_s = max(number(doc, "mean_e2el_ms", file, where) - num["mean_ttft_ms"], 0.0) / 1e3
        decode_from = "mean E2EL - mean TTFT"
    else:
        decode_s = number(doc, "mean_tpot_ms", file, where) * max(osl - 1, 0.0) / 1e3
        decode_from = "mean TPOT x (OSL - 1)"
    stats: dict[str, dict[str, float]] = {}
    for key, value in doc.items():
        m = _SUMMARY.match(str(key))
        if m and value is not None:
            stats.setdefault(f"{m.group(2)}_ms", {})[m.group(1)] = number(doc, key, file, where)
    return ServingPoint(
        label=label, request_rate=rate, max_concurrency=cap, completed=int(completed),
        failed=count(doc, "failed", file, where),
        input_tokens=num["total_input_tokens"] / completed, output_tokens=osl, request_throughput=throughput,
        ttft_mean_ms=num["mean_ttft_ms"], ttft_median_ms=num["median_ttft_ms"],
        step_ms=number(doc, step_key, file, where), step_from=step_key, decode_mean_s=decode_s,
        decode_from=decode_from, output_throughput=number(doc, "output_throughput", file, where, required=False),
        duration_s=number(doc, "duration", file, where, required=False), stats=stats)


def _same(docs: list[Mapping[str, Any]], keys: tuple[str, ...], file: str) -> Any:
    """The one value the results give for a field (first of `keys` present); None when none says; an error when
    they disagree (a profile describes one deployment)."""
    seen: dict[str, int] = {}
    for i, doc in enumerate(docs):
        value = next((doc[k] for k in keys if doc.get(k) not in (None, "")), None)
        if value is not None:
            seen.setdefault(str(value).strip(), i + 1)
    if len(seen) > 1:
        listed = ", ".join(f"'{v}' (result {i})" for v, i in list(seen.items())[:3])
        raise ReportError(f"{file}: the results disagree on {keys[0]}: {listed}; a profile describes one deployment, "
                          "so give each deployment its own file")
    return next(iter(seen), None)


def _tp(value: str | None, file: str) -> int | None:
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or int(value) < 1:
        raise ReportError(f"{file}: metadata tp is '{value}', not a whole number of GPUs")
    return int(value)


def _kv(value: str | None, file: str) -> str | None:
    if value is None:
        return None
    if value.lower() not in _KV:
        raise ReportError(f"{file}: metadata kv_cache_dtype is '{value}'; inferplan models bf16 and fp8 KV caches")
    return _KV[value.lower()]


def read(doc: Mapping[str, Any] | list[Mapping[str, Any]], file: str) -> Report:
    """One result object, or a list of them (appended runs), as a Report."""
    docs = list(doc) if isinstance(doc, list) else [doc]
    points, skipped = [], []
    for i, d in enumerate(docs):
        p = _point(d, file, f"result {i + 1}" if len(docs) > 1 else "the result")
        (skipped if isinstance(p, str) else points).append(p)
    points_t, skipped_t = checked_points(points, skipped, file, TOOL)
    meta = {k: _same(docs, keys, file) for k, keys in _METADATA.items()}
    info = {k: _same(docs, (k,), file) if k in ("backend", "tokenizer_id") else docs[0].get(k) for k in _INFO}
    return Report(source=VLLM_SOURCE, tool=TOOL, points=points_t, model=_same(docs, ("model_id",), file),
                  gpu=meta["gpu"], quant=meta["quant"], kv_dtype=_kv(meta["kv_dtype"], file),
                  tp=_tp(meta["tp"], file), info={k: v for k, v in info.items() if v is not None},
                  skipped=skipped_t)
