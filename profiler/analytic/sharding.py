"""Tensor-parallel sharding rules: which TP degrees a model admits and what one rank holds.

Reference: vLLM ``vllm/model_executor/layers/linear.py`` (column/row-parallel linears) and
``vllm/config`` (TP must divide the attention heads; KV heads are replicated when fewer than ranks).
"""

from __future__ import annotations

from profiler.errors import InvalidValueError
from profiler.specs import ModelSpec


def check_tp(model: ModelSpec, tp: int) -> None:
    """vLLM's rule: TP must divide the query heads, and divide or be a multiple of the KV heads."""
    att = model.attention
    if tp < 1:
        raise InvalidValueError(f"tensor-parallel degree must be >= 1, got {tp}")
    if att.num_heads % tp:
        raise InvalidValueError(f"{model.name}: TP={tp} does not divide its {att.num_heads} attention heads; "
                                f"use one of {[t for t in (1, 2, 4, 8, 16) if att.num_heads % t == 0]}")
    kv = att.num_kv_heads
    if not att.is_mla and kv % tp and tp % kv:
        raise InvalidValueError(f"{model.name}: TP={tp} neither divides nor is a multiple of its {kv} KV heads")


def kv_heads_per_rank(model: ModelSpec, tp: int) -> int:
    """KV heads each rank stores: split over TP, replicated when there are fewer heads than ranks."""
    return max(1, model.attention.num_kv_heads // tp)
