"""Read an ``inferplan endpoint --format json`` document (:mod:`profiler.endpoint.run`) as serving points.

The document's ``points`` are the rows of :func:`profiler.endpoint.stats.summary` (times in ms); its
``deployment`` (written when ``endpoint`` was given ``--gpu``/``--tp``/``--quant``/``--kv-dtype``/
``--catalogue-model``) names what served it, else ``plan``/``calibrate``/``simulate`` take those options as for a
``vllm bench serve`` file. The served model is matched to the catalogue by the server's ``root`` (vLLM's
/v1/models: the checkpoint's repo id or path), then by the served name.

Decode step = the median ITL (``itl_p50``, as vLLM's ``median_itl_ms``); decode time per request = mean E2E - mean
TTFT; concurrency cap = the point's fixed concurrency, or its cap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from profiler.interop.serving import Report, ReportError, ServingPoint, checked_points, number

SOURCE, TOOL = "endpoint", "inferplan endpoint"
MARKER = "inferplan_endpoint"  # the key that marks the document profiler.endpoint.run writes (value: its version)
_STATS = ("ttft", "itl", "tpot", "e2e")


def is_document(doc: Any) -> bool:
    return isinstance(doc, Mapping) and MARKER in doc and "rows" not in doc


def _point(row: Any, file: str, where: str) -> ServingPoint | str:
    if not isinstance(row, Mapping):
        raise ReportError(f"{file}: {where} is not an object")
    label = str(row.get("point") or where)
    where = f"{where} ({label})"
    completed = number(row, "completed", file, where)
    if completed < 1:
        return label
    cap = row.get("concurrency")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise ReportError(f"{file}: {where}: field 'concurrency' is {cap!r}, not a whole number >= 1 or null")
    rate = row.get("offered_rate")
    rate = number(row, "offered_rate", file, where, positive=True) if isinstance(rate, (int, float)) and \
        rate == rate and not isinstance(rate, bool) else None
    stats = {f"{m}_ms": {k.split("_", 1)[1]: number(row, k, file, where) for k in row
                         if k.startswith(f"{m}_") and row[k] is not None} for m in _STATS}
    ttft_mean, e2e_mean = number(row, "ttft_mean", file, where), number(row, "e2e_mean", file, where)
    return ServingPoint(
        label=label, request_rate=rate, max_concurrency=cap, completed=int(completed),
        failed=int(number(row, "failed", file, where, required=False) or 0),
        input_tokens=number(row, "input_tokens", file, where), output_tokens=number(row, "output_tokens", file, where),
        request_throughput=number(row, "request_throughput", file, where, positive=True),
        ttft_mean_ms=ttft_mean, ttft_median_ms=number(row, "ttft_p50", file, where),
        step_ms=number(row, "itl_p50", file, where), step_from="median ITL (itl_p50)",
        decode_mean_s=max(e2e_mean - ttft_mean, 0.0) / 1e3, decode_from="mean E2E - mean TTFT",
        output_throughput=number(row, "output_throughput", file, where, required=False),
        duration_s=number(row, "duration_s", file, where, required=False), stats=stats)


def read(doc: Mapping[str, Any], file: str) -> Report:
    rows = doc.get("points")
    if not isinstance(rows, list):
        raise ReportError(f"{file}: field 'points' must be the list of load points `inferplan endpoint` wrote")
    points, skipped = [], []
    for i, row in enumerate(rows):
        p = _point(row, file, f"point {i + 1}")
        (skipped if isinstance(p, str) else points).append(p)
    points_t, skipped_t = checked_points(points, skipped, file, TOOL)
    server = doc.get("server") if isinstance(doc.get("server"), Mapping) else {}
    deployment = doc.get("deployment") if isinstance(doc.get("deployment"), Mapping) else {}
    model = deployment.get("model") or server.get("root") or server.get("model")
    tp = deployment.get("tp")
    info = {"url": doc.get("url"), "date": doc.get("date"), "served_model": server.get("model"),
            "server_version": server.get("version"), "failures": doc.get("failures"),
            "saturation": doc.get("saturation"), "interrupted": doc.get("interrupted"), "notes": doc.get("notes"),
            "settings": doc.get("settings"), "point_rows": rows}  # every summary column, server metrics included
    return Report(source=SOURCE, tool=TOOL, points=points_t, model=str(model) if model else None,
                  gpu=deployment.get("gpu"), quant=deployment.get("quant"), kv_dtype=deployment.get("kv_dtype"),
                  tp=tp if isinstance(tp, int) and not isinstance(tp, bool) else None,
                  info={k: v for k, v in info.items() if v is not None}, skipped=skipped_t)
