"""Resident weight bytes per GPU, per tensor kind, under a quantisation scheme and TP.

    weights = sum over tensors of bits(quant, kind, layer, rows x cols on this rank) / 8

A quantised matrix stores ``weight_bits`` per value plus its scales (QuantScheme.tensor_bits: per row-group, or per
2-D block); tensors whose kind is in ``quant.keep``, every linear tensor of the decoder layers in
``quant.keep_layers``, and norms, biases and sinks stay in ``unquantised_bits``. Byte counts are exact integers;
fractional bits (int4 with group scales) are summed as fractions and rounded up once per tensor group.
"""

from __future__ import annotations

import math
from fractions import Fraction

from profiler.analytic.params import TensorGroup, tensor_inventory
from profiler.analytic.sharding import kv_heads_per_rank
from profiler.errors import CatalogueError
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


def kept_layers(model: ModelSpec, quant: QuantScheme) -> frozenset[int]:
    """The decoder-layer indices ``quant.keep_layers`` names in `model` (-1 = the last), checked against its layers.

    Raises CatalogueError naming the quant, the field and the model when an index is outside the model."""
    n = model.num_layers
    bad = [i for i in quant.keep_layers if not -n <= i < n]
    if bad:
        raise CatalogueError(f"layer {bad[0]} is outside {model.name}, which has {n} decoder layers "
                             f"(0..{n - 1}, or -1..-{n} from the end)", entry=quant.id, field="keep_layers")
    return frozenset(i % n for i in quant.keep_layers)


def _kept_count(group: TensorGroup, kept: frozenset[int]) -> int:
    """How many of the group's `count` tensors sit in kept decoder layers (spread evenly over group.layers)."""
    first, stop = group.layers
    if not kept or not group.per_layer or stop <= first:
        return 0
    per_layer = group.count // (stop - first)  # tensors of this group in one layer (experts x ...)
    return per_layer * sum(first <= layer < stop for layer in kept)


def _plain_kind(group: TensorGroup, quant: QuantScheme) -> bool:
    """The group stays in unquantised_bits whatever the layer: not a GEMM weight, or a kind the scheme keeps."""
    return not group.linear or group.kind in NON_QUANTISABLE or group.kind in quant.keep


def _bits(group: TensorGroup, quant: QuantScheme, cols: int) -> Fraction:
    """Bits per value of the group's tensors outside `keep_layers` (row-group average; see group_bytes)."""
    return Fraction(quant.unquantised_bits) if _plain_kind(group, quant) else quant.bits_per_weight(cols)


def _split_bits(group: TensorGroup, model: ModelSpec, quant: QuantScheme, tp: int,
                kept: frozenset[int]) -> tuple[Fraction, Fraction]:
    """(bits in the quant's format, bits left in unquantised_bits) of every tensor of the group on one rank."""
    numel, cols = _rank_shape(group, model, tp)
    plain = Fraction(quant.unquantised_bits) * numel  # one tensor left in bf16
    if _plain_kind(group, quant):
        return Fraction(0), plain * group.count
    n_kept = _kept_count(group, kept)
    if quant.block_rows:  # 2-D block scales: whole blocks over this rank's rows x cols
        quantised = quant.tensor_bits(-(-numel // cols), cols)
    else:  # per-row groups: the same bits per value in every row (+ a per-tensor scale, NVFP4)
        quantised = numel * quant.bits_per_weight(cols) + quant.tensor_scale_bits
    return quantised * (group.count - n_kept), plain * n_kept


def _group_bits(group: TensorGroup, model: ModelSpec, quant: QuantScheme, tp: int, kept: frozenset[int]) -> Fraction:
    """Stored bits of every tensor of the group on one rank (both parts of :func:`group_bytes`, unrounded)."""
    return sum(_split_bits(group, model, quant, tp, kept), Fraction(0))


def group_bytes(group: TensorGroup, model: ModelSpec, quant: QuantScheme, tp: int = 1,
                kept: frozenset[int] | None = None) -> tuple[int, int]:
    """(bytes stored in the quant's format, bytes left in unquantised_bits) of every tensor of the group on one
    rank: kinds in ``keep`` and the tensors of decoder layers in ``keep_layers`` are plain; 2-D block and
    per-tensor scales are counted. `kept` defaults to :func:`kept_layers` (pass it to skip the check in a loop)."""
    kept = kept_layers(model, quant) if kept is None else kept
    fmt, plain = _split_bits(group, model, quant, tp, kept)
    return math.ceil(fmt / 8), math.ceil(plain / 8)


def weight_bytes_by_kind(model: ModelSpec, quant: QuantScheme, tp: int = 1) -> dict[str, int]:
    """Resident weight bytes per GPU, per tensor kind (embedding, lm_head, attention, expert, ...)."""
    kept = kept_layers(model, quant)
    out: dict[str, int] = {}
    for group in tensor_inventory(model):  # one rounding per group, as before keep_layers existed
        out[group.kind] = out.get(group.kind, 0) + math.ceil(_group_bits(group, model, quant, tp, kept) / 8)
    return out


def weight_bytes(model: ModelSpec, quant: QuantScheme, tp: int = 1) -> int:
    """Resident weight bytes on one GPU, quantisation scales and zero points included."""
    return sum(weight_bytes_by_kind(model, quant, tp).values())
