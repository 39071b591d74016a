"""Catalogue summaries as plain rows, lists of dicts (what `inferplan models`, `gpus` and `quants` list; printed by
planner.render_rows without pandas, as a DataFrame of them would print).

models_rows columns: name, model_type, attention (gqa | mla | +sliding), moe (experts/top-k or ""),
layers, hidden, params_total, params_active (experts at top-k, embeddings included), params_active_excl_embedding
(the same without the input embedding gather: vendors' "active", e.g. gpt-oss-120b 5.1B, DeepSeek-V3 37B),
kv_bytes_per_token (bf16 KV, all layers, one token inside every window, TP=1, as vLLM pages it), max_context, source.
gpus_rows columns: id, name, memory_bytes, hbm_tb_s, bf16_tflops, fp8_tflops, int8_tflops, fp4_tflops (dense
datasheet TFLOP/s; empty where the GPU has no such path), interconnect, interconnect_gb_s, tdp_w, class
(datacenter | consumer: GeForce cards | local: Apple silicon laptops/desktops; a plan considers consumer and local
GPUs only when named), source.
gpus_terminal_rows(rows): the gpus rows as the terminal shows them (memory_gib in GiB instead of memory_bytes).
quants_rows columns: id, bits_per_weight (at 4,096 inputs, scales included; the base format's), group_size,
block_rows, keep, keep_layers, compute_dtype, requires, vllm_quantization, tensor_formats (how many per-tensor
override rules the scheme has, llama.cpp's _M mixes: `profile` counts each tensor in its own format), source.
unstable_timings(df): the measured ok rows of a profile whose latency spread exceeds UNSTABLE_REL_SPREAD of it.
environment_summary(env): one line naming what a measured profile ran on (ProfileMeta.environment).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from profiler.analytic.memory import kv_bytes_per_token
from profiler.analytic.params import param_counts
from profiler.specs import GpuSpec, KvDtype, ModelSpec, QuantScheme

if TYPE_CHECKING:
    import pandas as pd

TFLOPS_COLUMNS = ("bf16", "fp8", "int8", "fp4")  # GpuSpec.tflops keys listed by `inferplan gpus`


def _attention_kind(m: ModelSpec) -> str:
    kind = "mla" if m.attention.is_mla else ("mha" if m.attention.num_kv_heads == m.attention.num_heads else "gqa")
    if m.attention.sliding_window and m.attention.layer_types:
        kind += f"+sliding({m.attention.sliding_window})"
    return kind


def models_rows(models: Mapping[str, ModelSpec]) -> list[dict[str, Any]]:
    rows = []
    for name, m in models.items():
        counts = param_counts(m)
        rows.append({
            "name": name, "model_type": m.model_type, "attention": _attention_kind(m),
            "moe": f"{m.moe.num_experts}x top-{m.moe.top_k}" if m.moe else "",
            "layers": m.num_layers, "hidden": m.hidden_size,
            "params_total": counts.total, "params_active": counts.active,
            "params_active_excl_embedding": counts.active_excl_embedding,
            "kv_bytes_per_token": kv_bytes_per_token(m, KvDtype.BF16, 1),
            "max_context": m.max_context, "source": m.source,
        })
    return rows


def gpus_rows(gpus: Mapping[str, GpuSpec]) -> list[dict[str, Any]]:
    return [{
        "id": g.id, "name": g.name, "memory_bytes": g.hbm_bytes, "hbm_tb_s": g.hbm_bandwidth_bytes_per_s / 1e12,
        **{f"{dtype}_tflops": g.tflops.get(dtype) for dtype in TFLOPS_COLUMNS}, "interconnect": g.interconnect,
        "interconnect_gb_s": g.interconnect_bytes_per_s / 1e9, "tdp_w": g.tdp_w, "class": g.gpu_class,
        "source": g.source,
    } for g in gpus.values()]


def quants_rows(quants: Mapping[str, QuantScheme]) -> list[dict[str, Any]]:
    return [{
        "id": q.id, "bits_per_weight": round(float(q.bits_per_weight(4096)), 4), "group_size": q.group_size,
        "block_rows": q.block_rows, "keep": ",".join(sorted(q.keep)), "keep_layers": ",".join(map(str, q.keep_layers)),
        "compute_dtype": q.compute_dtype, "requires": q.requires, "vllm_quantization": q.vllm_quantization,
        "tensor_formats": len(q.tensor_formats), "source": q.source,
    } for q in quants.values()]


GIB = 2**30


def gpus_terminal_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`gpus_rows` for the terminal: the header names the unit the cell shows (memory_gib, GiB = 2^30 B, to 2
    decimals). json/csv keep ``memory_bytes`` in bytes, the documented key. The interconnect cell shows its family
    (the text before any parenthesis); the detail stays in json/csv and in the row's source, so the table fits 200
    columns."""
    def view(row: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for key, value in row.items():
            if key == "memory_bytes":  # round half to even at 2 decimals, as the table always rounded (numpy)
                out["memory_gib"] = None if value is None else round(value / GIB * 100) / 100
            elif key == "interconnect":
                out[key] = value.split(" (")[0] if isinstance(value, str) else value
            else:
                out[key] = value
        return out

    return [view(row) for row in rows]


def unstable_timings(df: pd.DataFrame) -> pd.DataFrame:
    """Measured ok rows whose latency_ms_spread (IQR of the repeats) exceeds UNSTABLE_REL_SPREAD of latency_ms,
    with their spread as spread_pct. Analytic rows are never listed: their spread is a model error band."""
    from profiler.measure.timers import UNSTABLE_REL_SPREAD  # numpy only; no torch

    rows = df[(df["source"] == "measured") & (df["status"] == "ok")]
    rel = rows["latency_ms_spread"].astype(float) / rows["latency_ms"].astype(float)
    return rows[rel > UNSTABLE_REL_SPREAD].assign(spread_pct=100 * rel[rel > UNSTABLE_REL_SPREAD])


def environment_summary(env: Mapping[str, Any]) -> str:
    """'measured on <device>; torch X, transformers Y, torchao Z' from a measured profile's environment."""
    if env.get("gpu_name"):
        nvml = env.get("nvml") if isinstance(env.get("nvml"), Mapping) else {}
        device = (f"{env['gpu_name']} (rows labelled {env.get('gpu')}), driver {nvml.get('driver', 'unknown')}, "
                  f"CUDA {env.get('cuda_runtime') or 'unknown'}")
    else:
        device = f"CPU {env.get('cpu') or 'unknown'} ({env.get('cpu_threads', '?')} threads, rows labelled " \
                 f"{env.get('gpu', 'cpu')})"
    versions = ", ".join(f"{pkg} {env.get(pkg, 'unknown')}" for pkg in ("torch", "transformers", "torchao"))
    warning = f"; warning: {env['gpu_id_warning']}" if env.get("gpu_id_warning") else ""
    return f"measured on {device}; {versions}{warning}"
