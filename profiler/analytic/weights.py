"""Resident weight bytes per GPU, per tensor kind, under a quantisation scheme and TP.

    weights = sum over tensors of numel_per_rank x bits(quant, kind, in_features) / 8

Byte counts are exact integers; fractional bits (int4 with group scales) are summed as fractions and
rounded up once per tensor group.
"""

from __future__ import annotations

import math
from fractions import Fraction

from profiler.analytic.params import TensorGroup, tensor_inventory
from profiler.analytic.sharding import kv_heads_per_rank
from profiler.specs import ModelSpec, QuantScheme

NON_QUANTISABLE = frozenset({"norm", "bias", "sink"})


def _rank_shape(group: TensorGroup, model: ModelSpec, tp: int) -> tuple[int, int]:
    """(numel of one tensor on one rank, in_features on one rank) under TP."""
    numel = math.prod(group.shape)
    cols = group.shape[-1]
    split = group.tp_split
    if tp == 1 or split == "replicate":
        return numel, cols
    if split in ("col", "vocab"):
        return -(-numel // tp), cols
    if split == "row":
        return -(-numel // tp), -(-cols // tp)
    if split == "kv":
        kv = model.attention.num_kv_heads
        return numel * kv_heads_per_rank(model, tp) // kv, cols
    raise ValueError(f"unknown tp_split {split!r} on {group.name}")


def _bits(group: TensorGroup, quant: QuantScheme, cols: int) -> Fraction:
    if not group.linear or group.kind in NON_QUANTISABLE or group.kind in quant.keep:
        return Fraction(quant.unquantised_bits)
    return quant.bits_per_weight(cols)


def weight_bytes_by_kind(model: ModelSpec, quant: QuantScheme, tp: int = 1) -> dict[str, int]:
    """Resident weight bytes per GPU, per tensor kind (embedding, lm_head, attention, expert, ...)."""
    out: dict[str, int] = {}
    for group in tensor_inventory(model):
        numel, cols = _rank_shape(group, model, tp)
        nbytes = math.ceil(numel * group.count * _bits(group, quant, cols) / 8)
        out[group.kind] = out.get(group.kind, 0) + nbytes
    return out


def weight_bytes(model: ModelSpec, quant: QuantScheme, tp: int = 1) -> int:
    """Resident weight bytes on one GPU, quantisation scales and zero points included."""
    return sum(weight_bytes_by_kind(model, quant, tp).values())
