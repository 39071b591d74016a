"""Tensor parallelism on a transformers model: one rank's model and the collectives that join the ranks.

    rank_spec(spec, tp)             the architecture one rank holds, as a ModelSpec transformers can build
    check_shardable(spec, tp)       refuse (one line) what this harness cannot split the way the analytic model does
    install(model, spec, tp, rank)  vocab-parallel embedding, an all-reduce after attention and after the MLP,
                                    an all-gather of the logits

The split is vLLM's (``vllm/model_executor/layers/linear.py`` and ``vocab_parallel_embedding.py``) and the analytic
model's (:mod:`profiler.analytic.params` ``tp_split``, :mod:`profiler.analytic.sharding`):

- column-parallel q/k/v (and fused qkv), gate/up: each rank holds ``heads / tp`` query heads, ``kv_heads / tp`` KV
  heads (one replicated head per rank when there are fewer KV heads than ranks), ``intermediate / tp`` MLP columns
  (each routed and shared expert too);
- row-parallel o_proj and down_proj: the same shards along their input, whose partial sums one all-reduce per
  block adds (after attention, after the MLP: 2 per layer, vLLM ``RowParallelLinear(reduce_results=True)``);
- vocab-parallel embedding and lm_head: ``vocab / tp`` rows per rank; a token outside a rank's rows looks up zeros
  and one all-reduce joins them; the last position's logits are all-gathered (vLLM gathers them for sampling);
- replicated: norms, the MoE router, row-parallel biases.

A rank's model is built directly at its shard shapes (:func:`rank_spec`), never as a full model sliced afterwards,
so a model that fits only across ranks can be measured; the weights are random as in every measured run. The
all-reduces are forward hooks, so the step the timers run is the HF forward with the collectives in the graph.
"""

from __future__ import annotations

from dataclasses import replace

from profiler.analytic.sharding import check_tp, kv_heads_per_rank
from profiler.errors import InvalidValueError
from profiler.specs import ModelSpec


def check_shardable(spec: ModelSpec, tp: int) -> None:
    """Refuse a model this harness cannot split exactly as the analytic per-rank figures assume."""
    check_tp(spec, tp)
    if spec.attention.is_mla:
        raise InvalidValueError(f"{spec.name}: measured TP of multi-head latent attention (MLA) is not implemented "
                                "(transformers' DeepSeek attention has no per-rank head split here); profile it "
                                "analytically, or measure at --tp 1")
    widths = {"intermediate_size": spec.intermediate_size, "vocab_size": spec.vocab_size}
    if spec.moe is not None:
        widths["expert intermediate size"] = spec.moe.expert_intermediate
        if spec.moe.num_shared_experts:
            widths["shared expert width"] = spec.moe.num_shared_experts * spec.moe.shared_intermediate
    if spec.moe is not None and not spec.moe.first_dense_layers:
        widths.pop("intermediate_size")  # every layer is MoE: the dense width is unused
    bad = {name: width for name, width in widths.items() if width % tp}
    if bad:
        name, width = next(iter(bad.items()))
        raise InvalidValueError(f"{spec.name}: its {name} {width:,} does not split into {tp} equal shards; measured "
                                f"TP needs every sharded width divisible by the TP degree (vLLM pads the vocab, "
                                f"which the analytic model does not count); try --tp "
                                f"{max(t for t in (1, 2, 4, 8) if not any(w % t for w in widths.values()))}")


def rank_spec(spec: ModelSpec, tp: int) -> ModelSpec:
    """The architecture one of `tp` ranks holds (see the module docstring); tp 1 is `spec` itself."""
    check_shardable(spec, tp)
    if tp == 1:
        return spec
    att = spec.attention
    attention = replace(att, num_heads=att.num_heads // tp, num_kv_heads=kv_heads_per_rank(spec, tp))
    moe = spec.moe
    if moe is not None:
        moe = replace(moe, expert_intermediate=moe.expert_intermediate // tp,
                      shared_intermediate=moe.shared_intermediate // tp)
    dense = spec.intermediate_size // tp if spec.intermediate_size % tp == 0 else spec.intermediate_size
    return replace(spec, name=f"{spec.name} (TP rank of {tp})", attention=attention, moe=moe,
                   intermediate_size=dense, vocab_size=spec.vocab_size // tp)


def _decoder_layers(model):
    layers = getattr(getattr(model, "model", None), "layers", None)
    if layers is None:
        raise InvalidValueError(f"{type(model).__name__}: no decoder layers at model.model.layers; measured TP "
                                "supports transformers' decoder-only causal LMs")
    return layers


def _attention_output(layer):
    attn = layer.self_attn
    for name in ("o_proj", "dense", "out_proj"):
        if hasattr(attn, name):
            return getattr(attn, name)
    raise InvalidValueError(f"{type(attn).__name__} has no output projection (o_proj) to all-reduce after")


def install(model, spec: ModelSpec, tp: int, rank: int, group=None) -> int:
    """Join this rank's model to the others: hooks on embedding, attention, MLP and lm_head. Returns the number of
    all-reduces one forward runs (2 per layer + 1 for the embedding); the logits' all-gather is one more
    collective."""
    import torch
    import torch.distributed as dist

    def reduce(_module, _args, out):
        hidden = out[0] if isinstance(out, tuple) else out
        dist.all_reduce(hidden, group=group)
        return out

    layers = _decoder_layers(model)
    for layer in layers:
        _attention_output(layer).register_forward_hook(reduce)
        layer.mlp.register_forward_hook(reduce)

    rows = spec.vocab_size // tp
    start = rank * rows
    emb = model.get_input_embeddings()

    def local_ids(module, args):
        ids = args[0] - start
        module._tp_outside = (ids < 0) | (ids >= rows)
        return (ids.masked_fill(module._tp_outside, 0), *args[1:])

    def join(module, _args, out):
        out = out.masked_fill(module._tp_outside.unsqueeze(-1), 0)
        dist.all_reduce(out, group=group)
        return out

    emb.register_forward_pre_hook(local_ids)
    emb.register_forward_hook(join)

    def gather(_module, _args, out):
        parts = [torch.empty_like(out) for _ in range(tp)]
        dist.all_gather(parts, out.contiguous(), group=group)
        return torch.cat(parts, dim=-1)

    model.get_output_embeddings().register_forward_hook(gather)
    model.config.vocab_size = spec.vocab_size  # inputs draw token ids over the whole vocabulary (steps.Inputs)
    text = model.config.get_text_config()
    if text is not model.config:
        text.vocab_size = spec.vocab_size
    return 2 * len(layers) + 1
