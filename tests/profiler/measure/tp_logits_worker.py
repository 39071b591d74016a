"""Run by torchrun from test_tp_gloo.py (not a test module): each rank builds its shard of the tiny models
(tp_shard.rank_spec), copies its slice of the full model's weights into it (the split vLLM's column/row/vocab-parallel
layers make), joins the ranks (tp_shard.install) and prints the largest difference between the sharded model's
logits and the full model's on the same tokens, one line per model: "MODEL max_abs_diff max_abs_logit"."""

import sys

import torch
import torch.distributed as dist

from profiler.measure.build import build_model
from profiler.measure.tp_shard import install, rank_spec
from tests.profiler.measure.tiny import TINY, TINY_MOE, TINY_TIED, spec


def _slice(name: str, full, rank: int, tp: int, s) -> torch.Tensor:
    """This rank's part of one full-model tensor, by the role its name gives it."""
    att = s.attention
    hd, heads, kv = att.head_dim, att.num_heads // tp, max(1, att.num_kv_heads // tp)
    first_kv = rank * kv if att.num_kv_heads >= tp else rank * heads // (att.num_heads // att.num_kv_heads)

    def rows(t, i, n):
        return t.narrow(0, i * n, n)

    if "q_proj" in name or "sinks" in name:
        return rows(full, rank, heads * hd) if full.ndim else full
    if "k_proj" in name or "v_proj" in name:
        return full.narrow(0, first_kv * hd, kv * hd)
    if "o_proj" in name:
        return full.narrow(-1, rank * heads * hd, heads * hd)
    if any(k in name for k in ("gate_proj", "up_proj", "down_proj")):  # not the MoE router (mlp.gate.weight)
        return _mlp_slice(name, full, rank, tp)
    if "embed_tokens" in name or "lm_head" in name:
        return rows(full, rank, full.shape[0] // tp)
    return full


def _mlp_slice(name, full, rank, tp):
    """Dense (out, in) and stacked expert (E, out, in) / (E, 2*I, H) MLP weights: split the intermediate dim."""
    if "down_proj" in name:
        n = full.shape[-1] // tp
        return full.narrow(-1, rank * n, n)
    if "gate_up_proj" in name:  # fused gate and up: each half split alike
        dim = full.ndim - 2
        gate, up = full.chunk(2, dim=dim)
        n = gate.shape[dim] // tp
        return torch.cat([gate.narrow(dim, rank * n, n), up.narrow(dim, rank * n, n)], dim=dim)
    dim = full.ndim - 2
    n = full.shape[dim] // tp
    return full.narrow(dim, rank * n, n)


def main() -> int:
    dist.init_process_group("gloo")
    rank, tp = dist.get_rank(), dist.get_world_size()
    cpu = torch.device("cpu")
    for name, fields in (("tiny-llama", TINY), ("tiny-llama-tied", TINY_TIED), ("tiny-moe", TINY_MOE)):
        s = spec(name, fields)
        full = build_model(s, cpu, seed=0).model
        shard = build_model(rank_spec(s, tp), cpu, seed=1).model
        params = dict(full.named_parameters())
        with torch.no_grad():
            for pname, p in shard.named_parameters():
                p.copy_(_slice(pname, params[pname], rank, tp, s))
        install(shard, s, tp, rank)
        ids = torch.randint(0, s.vocab_size, (2, 7), generator=torch.Generator().manual_seed(3))
        with torch.inference_mode():
            want, got = full(input_ids=ids).logits.float(), shard(input_ids=ids).logits.float()
        if rank == 0:
            print(name, float((want - got).abs().max()), float(want.abs().max()), flush=True)
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
