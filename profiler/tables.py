"""Catalogue summaries as DataFrames (what `inferplan models` and `inferplan gpus` list).

models_table columns: name, model_type, attention (gqa | mla | +sliding), moe (experts/top-k or ""),
layers, hidden, params_total, params_active (experts at top-k, embeddings included), params_active_excl_embedding
(the same without the input embedding gather: vendors' "active", e.g. gpt-oss-120b 5.1B, DeepSeek-V3 37B),
kv_bytes_per_token (bf16 KV, all layers, one token inside every window, TP=1, as vLLM pages it), max_context, source.
gpus_table columns: id, name, memory_bytes, hbm_tb_s, bf16_tflops, fp8_tflops, int8_tflops, fp4_tflops (dense
datasheet TFLOP/s; empty where the GPU has no such path), interconnect, interconnect_gb_s, tdp_w, class
(datacenter | consumer: GeForce cards a plan considers only when named), source.
gpus_terminal_view(df): the gpus table as the terminal shows it (memory_gib in GiB instead of memory_bytes).
quants_table columns: id, bits_per_weight (at 4,096 inputs, scales included), group_size, block_rows, keep,
keep_layers, compute_dtype, requires, vllm_quantization, source.
unstable_timings(df): the measured ok rows of a profile whose latency spread exceeds UNSTABLE_REL_SPREAD of it.
environment_summary(env): one line naming what a measured profile ran on (ProfileMeta.environment).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from profiler.analytic.memory import kv_bytes_per_token
from profiler.analytic.params import param_counts
from profiler.specs import GpuSpec, KvDtype, ModelSpec, QuantScheme

TFLOPS_COLUMNS = ("bf16", "fp8", "int8", "fp4")  # GpuSpec.tflops keys listed by `inferplan gpus`


def _attention_kind(m: ModelSpec) -> str:
    kind = "mla" if m.attention.is_mla else ("mha" if m.attention.num_kv_heads == m.attention.num_heads else "gqa")
    if m.attention.sliding_window and m.attention.layer_types:
        kind += f"+sliding({m.attention.sliding_window})"
    return kind


def models_table(models: Mapping[str, ModelSpec]) -> pd.DataFrame:
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
    return pd.DataFrame(rows)


def gpus_table(gpus: Mapping[str, GpuSpec]) -> pd.DataFrame:
    rows = [{
        "id": g.id, "name": g.name, "memory_bytes": g.hbm_bytes, "hbm_tb_s": g.hbm_bandwidth_bytes_per_s / 1e12,
        **{f"{dtype}_tflops": g.tflops.get(dtype) for dtype in TFLOPS_COLUMNS}, "interconnect": g.interconnect,
        "interconnect_gb_s": g.interconnect_bytes_per_s / 1e9, "tdp_w": g.tdp_w, "class": g.gpu_class,
        "source": g.source,
    } for g in gpus.values()]
    return pd.DataFrame(rows)


def quants_table(quants: Mapping[str, QuantScheme]) -> pd.DataFrame:
    rows = [{
        "id": q.id, "bits_per_weight": round(float(q.bits_per_weight(4096)), 4), "group_size": q.group_size,
        "block_rows": q.block_rows, "keep": ",".join(sorted(q.keep)), "keep_layers": ",".join(map(str, q.keep_layers)),
        "compute_dtype": q.compute_dtype, "requires": q.requires, "vllm_quantization": q.vllm_quantization,
        "source": q.source,
    } for q in quants.values()]
    return pd.DataFrame(rows)


GIB = 2**30


def gpus_terminal_view(df: pd.DataFrame) -> pd.DataFrame:
    """`gpus_table` for the terminal: the header names the unit the cell shows (memory_gib, GiB = 2^30 B).
    json/csv keep ``memory_bytes`` in bytes, the documented key. The interconnect cell shows its family (the text
    before any parenthesis); the detail stays in json/csv and in the row's source, so the table fits 200 columns."""
    view = df.assign(memory_bytes=df["memory_bytes"] / GIB, interconnect=df["interconnect"].str.split(" (", regex=False)
                     .str[0]).rename(columns={"memory_bytes": "memory_gib"})
    return view.assign(memory_gib=view["memory_gib"].round(2))


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
