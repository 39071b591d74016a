"""Read a guidellm benchmarks report (``guidellm benchmark ... --output-path benchmarks.json``, or
``guidellm run --output kind=json``) as serving points, one per benchmark (a strategy: a rate or a concurrency).

The format is ``GenerativeBenchmarksReport.model_dump(mode="json")`` of vllm-project/guidellm (read at
v0.3.0, v0.5.4 and main ee7a7745, 2026: ``src/guidellm/benchmark/schemas/report.py``, ``benchmark.py``,
``metrics.py``; v0.3.0 ``src/guidellm/benchmark/benchmark.py``): an object whose ``benchmarks`` is a list, each
holding

- the strategy that set the load: ``config.strategy`` (v0.4 and later) or ``args.strategy`` (v0.3), with
  ``type_`` ``synchronous`` (one request at a time), ``concurrent`` (``streams`` in flight), ``throughput``
  (as fast as possible, optional ``max_concurrency``), ``constant`` / ``poisson`` (``rate`` req/s, optional
  ``max_concurrency``);
- the model: ``config.backend.model`` (v0.4 and later) or ``worker.backend_model`` (v0.3);
- ``duration`` [s] and the request counts ``metrics.request_totals`` (v0.4 and later) or ``request_totals``
  (v0.3), each with ``successful``, ``errored``, ``incomplete``, ``total``;
- ``metrics``: per measure a status breakdown (``successful``, ``errored``, ``incomplete``, ``total``) of
  distribution summaries (``mean``, ``median``, ``mode``, ``variance``, ``std_dev``, ``min``, ``max``,
  ``count``, ``total_sum``, ``percentiles``: ``p001`` (0.1th) ``p01 p05 p10 p25 p50 p75 p90 p95 p99 p999``).
  Read here, successful requests only: ``requests_per_second`` (its mean = completed requests / measured time),
  ``request_latency`` [s], ``prompt_token_count``, ``output_token_count``, ``time_to_first_token_ms``,
  ``inter_token_latency_ms`` (per request (last token - first token) / (output tokens - 1): vLLM's TPOT),
  ``time_per_output_token_ms`` (per request, the first token included), ``output_tokens_per_second``,
  ``request_concurrency``.

guidellm's YAML output holds the same document; convert it to JSON to read it here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from profiler.interop.serving import GUIDELLM_SOURCE, Report, ReportError, ServingPoint, checked_points, count, number

TOOL = "guidellm"
# guidellm's percentile keys -> the percentile they hold (statistics.Percentiles)
_PERCENTILES = {"p001": "p0.1", "p01": "p1", "p05": "p5", "p10": "p10", "p25": "p25", "p50": "p50", "p75": "p75",
                "p90": "p90", "p95": "p95", "p99": "p99", "p999": "p99.9"}
# The latency and throughput measures kept in the profile's metadata, under guidellm's own names.
_KEPT = ("time_to_first_token_ms", "inter_token_latency_ms", "time_per_output_token_ms", "request_latency",
         "requests_per_second", "output_tokens_per_second", "tokens_per_second", "request_concurrency")


def is_report(doc: Any) -> bool:
    return isinstance(doc, Mapping) and "rows" not in doc and isinstance(doc.get("benchmarks"), list)


def _mapping(data: Any, key: str, file: str, where: str) -> Mapping[str, Any]:
    value = data.get(key) if isinstance(data, Mapping) else None
    if not isinstance(value, Mapping):
        raise ReportError(f"{file}: {where}: field '{key}' is missing or not an object; is this guidellm's unedited "
                          "JSON report?")
    return value


def _successful(metrics: Mapping[str, Any], name: str, file: str, where: str) -> Mapping[str, Any]:
    """The distribution summary of successful requests for the measure `name`."""
    return _mapping(_mapping(metrics, name, file, where), "successful", file, f"{where}: metrics.{name}")


def _summary(dist: Mapping[str, Any]) -> dict[str, float]:
    out = {k: float(dist[k]) for k in ("mean", "median", "std_dev", "min", "max")
           if isinstance(dist.get(k), (int, float)) and not isinstance(dist.get(k), bool)}
    pct = dist.get("percentiles") if isinstance(dist.get("percentiles"), Mapping) else {}
    out.update({name: float(pct[k]) for k, name in _PERCENTILES.items()
                if isinstance(pct.get(k), (int, float)) and not isinstance(pct.get(k), bool)})
    return out


def _strategy(bench: Mapping[str, Any], file: str, where: str) -> tuple[str, float | None, int | None]:
    """(label, configured rate, concurrency cap) of one benchmark's strategy."""
    cfg = bench.get("config") if isinstance(bench.get("config"), Mapping) else bench.get("args")
    strategy = _mapping(cfg, "strategy", file, f"{where}: config")
    kind = str(strategy.get("type_", "unknown"))
    cap = strategy.get("streams") if kind == "concurrent" else strategy.get("max_concurrency")
    cap = 1 if kind == "synchronous" else cap
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise ReportError(f"{file}: {where}: the {kind} strategy's concurrency is {cap!r}, not a whole number >= 1")
    rate = number(strategy, "rate", file, where, required=False)
    rate = None if rate != rate else rate  # NaN: no rate configured
    label = {"concurrent": f"concurrent {cap}", "constant": f"constant {rate:g}/s" if rate else "constant",
             "poisson": f"poisson {rate:g}/s" if rate else "poisson"}.get(kind, kind)
    return label, rate, cap


def _model(doc: Mapping[str, Any], bench: Mapping[str, Any]) -> str | None:
    for holder, key in ((bench.get("config"), "backend"), (doc.get("config"), "backend"), (doc.get("args"), "backend")):
        backend = holder.get(key) if isinstance(holder, Mapping) else None
        if isinstance(backend, Mapping) and backend.get("model"):
            return str(backend["model"])
    worker = bench.get("worker")
    return str(worker["backend_model"]) if isinstance(worker, Mapping) and worker.get("backend_model") else None


def _point(bench: Mapping[str, Any], file: str, where: str) -> ServingPoint | str:
    label, rate, cap = _strategy(bench, file, where)
    where = f"{where} ({label})"
    metrics = _mapping(bench, "metrics", file, where)
    totals = metrics.get("request_totals") if isinstance(metrics.get("request_totals"), Mapping) \
        else _mapping(bench, "request_totals", file, where)
    completed = number(totals, "successful", file, f"{where}: request_totals")
    if completed < 1:
        return label
    dist = {name: _successful(metrics, name, file, where) for name in (
        "requests_per_second", "request_latency", "prompt_token_count", "output_token_count",
        "time_to_first_token_ms", "inter_token_latency_ms")}

    def value(name: str, stat: str = "mean", positive: bool = False) -> float:
        return number(dist[name], stat, file, f"{where}: metrics.{name}.successful", positive=positive)

    ttft_mean = value("time_to_first_token_ms")
    out_tps = metrics.get("output_tokens_per_second")
    stats = {name: _summary(metrics[name]["successful"]) for name in _KEPT
             if isinstance(metrics.get(name), Mapping) and isinstance(metrics[name].get("successful"), Mapping)}
    return ServingPoint(
        label=label, request_rate=rate, max_concurrency=cap, completed=int(completed),
        failed=count(totals, "errored", file, f"{where}: request_totals"),
        input_tokens=value("prompt_token_count"), output_tokens=value("output_token_count"),
        request_throughput=value("requests_per_second", positive=True),
        ttft_mean_ms=ttft_mean, ttft_median_ms=value("time_to_first_token_ms", "median"),
        step_ms=value("inter_token_latency_ms", "median"), step_from="median inter_token_latency_ms",
        decode_mean_s=max(value("request_latency") - ttft_mean / 1e3, 0.0),
        decode_from="mean request_latency - mean TTFT",
        output_throughput=number(out_tps.get("successful", {}), "mean", file, where, required=False)
        if isinstance(out_tps, Mapping) else float("nan"),
        duration_s=number(bench, "duration", file, where, required=False), stats=stats)


def read(doc: Mapping[str, Any], file: str) -> Report:
    """The report's benchmarks as a Report (benchmarks that completed no request are listed as skipped)."""
    benches = doc["benchmarks"]
    if not benches:
        raise ReportError(f"{file}: the guidellm report holds no benchmarks (its 'benchmarks' list is empty)")
    points, skipped, models = [], [], {}
    for i, bench in enumerate(benches):
        where = f"benchmarks[{i}]"
        if not isinstance(bench, Mapping):
            raise ReportError(f"{file}: {where} is not an object; is this guidellm's unedited JSON report?")
        p = _point(bench, file, where)
        (skipped if isinstance(p, str) else points).append(p)
        name = _model(doc, bench)
        if name:
            models.setdefault(name, i)
    if len(models) > 1:
        raise ReportError(f"{file}: the benchmarks name different models ({', '.join(list(models)[:3])}); a profile "
                          "describes one deployment")
    points_t, skipped_t = checked_points(points, skipped, file, TOOL)
    metadata = doc.get("metadata") if isinstance(doc.get("metadata"), Mapping) else {}
    info = {k: metadata[k] for k in ("guidellm_version", "version") if k in metadata}
    return Report(source=GUIDELLM_SOURCE, tool=TOOL, points=points_t, model=next(iter(models), None), info=info,
                  skipped=skipped_t)
