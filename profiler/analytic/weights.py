"""Resident weight bytes per GPU, per tensor kind, under a quantisation scheme and TP.

    weights = sum over tensors of bits(quant, kind, layer, rows x cols on this rank) / 8

A quantised matrix stores ``weight_bits`` per value plus its scales (QuantScheme.tensor_bits: per row-group, or per
2-D block); tensors whose kind is in ``quant.keep``, every linear tensor of the decoder layers in
``quant.keep_layers``, and norms, biases and sinks stay in ``unquantised_bits``. Byte counts are exact integers;
fractional bits (int4 with group scales) are summed as fractions and rounded up once per tensor group.

A llama.cpp mix (``quant.tensor_formats``, quants.yaml) stores named tensors of selected layers in another block
format, as ggml-org/llama.cpp@007dbbf3 src/llama-quant.cpp llama_tensor_get_type_impl picks a type per tensor
(Q4_K_M: output.weight and, in the use_more_bits layers, attn_v / ffn_down in Q6_K). A row that does not fill
whole blocks takes the format's ``fallback`` (QuantScheme.stored_as; tensor_type_fallback there), judged on the
in_features one rank holds under TP.
"""

from __future__ import annotations

import math
from fractions import Fraction

from profiler.analytic.params import TensorGroup, tensor_inventory
from profiler.analytic.sharding import kv_heads_per_rank
from profiler.errors import CatalogueError
from profiler.specs import ModelSpec, QuantScheme, TensorFormat

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


def use_more_bits(layer: int, n_layers: int) -> bool:
    """llama.cpp's use_more_bits(i_layer, n_layers) (src/llama-quant.cpp llama_tensor_get_type_impl, integer
    division as in C++): the first and last eighth of the layers and every third layer between them."""
    return layer < n_layers // 8 or layer >= 7 * n_layers // 8 or (layer - n_layers // 8) % 3 == 2


def _when_value(model: ModelSpec, field: str) -> object:
    if field == "num_experts":
        return model.moe.num_experts if model.moe is not None else 0
    return getattr(model, field)  # model_type, num_layers, tie_word_embeddings (specs.WHEN_FIELDS)


def format_applies(rule: TensorFormat, model: ModelSpec) -> bool:
    """Whether `model` meets every `when` condition of a tensor_formats entry."""
    return all(_when_value(model, field) in allowed for field, allowed in rule.when)


def selected_layers(rule: TensorFormat, model: ModelSpec) -> frozenset[int]:
    """The decoder layers a tensor_formats entry selects in `model` (explicit indices outside it select nothing)."""
    n = model.num_layers
    if rule.layers == "all":
        return frozenset(range(n))
    if rule.layers == "llama.cpp-use-more-bits":
        return frozenset(i for i in range(n) if use_more_bits(i, n))
    if rule.layers == "llama.cpp-first-eighth":  # i_layer < n_layer/8 (Q4_K_S ffn_down)
        return frozenset(range(n // 8))
    return frozenset(i % n for i in rule.layers if -n <= i < n)


def tensor_formats(group: TensorGroup, model: ModelSpec, quant: QuantScheme,
                   kept: frozenset[int]) -> dict[QuantScheme | None, int]:
    """How many of the group's tensors each format stores (None: left in unquantised_bits by keep_layers): the
    scheme's own format unless a matching tensor_formats entry (the last one) selects the tensor's layer."""
    rules = [r for r in quant.tensor_formats if group.name in r.tensors and format_applies(r, model)]
    first, stop = group.layers
    if not group.per_layer or stop <= first:  # embedding, lm_head: only layers "all" reaches them
        whole = [r for r in rules if r.layers == "all"]
        return {whole[-1].format if whole else quant: group.count}
    per_layer = group.count // (stop - first)  # tensors of this group in one layer (experts x ...)
    chosen = [(r.format, selected_layers(r, model)) for r in rules]
    out: dict[QuantScheme | None, int] = {quant: group.count - per_layer * (stop - first)}
    for layer in range(first, stop):
        fmt: QuantScheme | None = None if layer in kept else quant
        for rule_format, layers in chosen:
            if fmt is not None and layer in layers:
                fmt = rule_format
        out[fmt] = out.get(fmt, 0) + per_layer
    return {fmt: n for fmt, n in out.items() if n}


def _matrix_bits(fmt: QuantScheme, numel: int, cols: int) -> Fraction:
    """Stored bits of one quantised tensor of `numel` values in rows of `cols` (this rank's share)."""
    fmt = fmt.stored_as(cols)
    if fmt.block_rows:  # 2-D block scales: whole blocks over this rank's rows x cols
        return fmt.tensor_bits(-(-numel // cols), cols)
    # per-row groups: the same bits per value in every row (+ a per-tensor scale, NVFP4)
    return numel * fmt.bits_per_weight(cols) + fmt.tensor_scale_bits


def _split_bits(group: TensorGroup, model: ModelSpec, quant: QuantScheme, tp: int,
                kept: frozenset[int]) -> tuple[Fraction, Fraction]:
    """(bits in the quant's formats, bits left in unquantised_bits) of every tensor of the group on one rank."""
    numel, cols = _rank_shape(group, model, tp)
    plain = Fraction(quant.unquantised_bits) * numel  # one tensor left in bf16 (GGUF: F32)
    if _plain_kind(group, quant):
        return Fraction(0), plain * group.count
    if not quant.tensor_formats:  # one format: the scheme's own, outside the kept layers
        n_kept = _kept_count(group, kept)
        return _matrix_bits(quant, numel, cols) * (group.count - n_kept), plain * n_kept
    quantised, n_plain = Fraction(0), 0
    for fmt, n in tensor_formats(group, model, quant, kept).items():
        if fmt is None:
            n_plain += n
        else:
            quantised += _matrix_bits(fmt, numel, cols) * n
    return quantised, plain * n_plain


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
