"""Weight quantisation of a built model through torchao, per catalogue scheme (measurement.md §4.1).

    quantise(model, spec, quant, dev) -> QuantOutcome    in place; UnsupportedQuantError saying why not; an
                                                         out-of-memory error propagates as itself (an OOM row)
    unavailable_reason(quant, dev)                       why `quant` cannot run here, known before any model is
                                                         built (no recipe, CUDA-only kernels, torchao missing)
    kv_unsupported_reason(kv)                            why a KV dtype cannot be measured here (or None)

Recipes (torchao >= 0.15 names; older signatures are tried next):

    fp8   Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())   torch._scaled_mm; CUDA sm_89+
    int8  Int8WeightOnlyConfig()                                            per-row scale; dequantise + mm
    int4  Int4WeightOnlyConfig(group_size=128, int4_packing_format="tile_packed_to_4d")
          tinygemm (aten._weight_int4pack_mm, in PyTorch core; the default "plain" format needs mslk); CUDA

Only linear layers of the tensor kinds the catalogue scheme quantises are touched (``QuantScheme.keep``
names the kinds left in bf16: embedding, lm_head, router), so the analytic twin counts the same bytes.
transformers 5 stores MoE experts as fused 3-D parameters that ``quantize_`` does not reach; they are
targeted by name (``FqnToConfig``) and a forward probe checks the quantised model still runs: when it
does not, the level is unsupported, not silently measured with bf16 experts. torchao is imported lazily;
when it is missing every non-bf16 level is an unsupported row with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from profiler.errors import UnsupportedQuantError
from profiler.measure import interrupt
from profiler.measure.device import is_cuda, is_oom, quiet_imports
from profiler.specs import KvDtype, ModelSpec, QuantScheme

EXPERT_PARAM = re.compile(r"(^|\.)experts\.(gate_up_proj|down_proj|gate_proj|up_proj)$")
RECIPES = ("fp8", "int8", "int4")
NEEDS_CAPABILITY = {"fp8": (8, 9), "int4": (8, 0)}  # _scaled_mm fp8 on Ada/Hopper; tinygemm on Ampere+


@dataclass(frozen=True)
class QuantOutcome:
    """What quantisation did: ``recipe`` (config repr), modules and expert tensors quantised."""

    recipe: str
    linears: int
    expert_tensors: int


def tensor_kind(fqn: str) -> str:
    """The catalogue tensor kind (specs.TENSOR_KINDS) of a module or parameter name in a transformers model."""
    name = fqn.lower()
    rules = (("lm_head", "lm_head"), ("embed", "embedding"), ("shared_expert_gate", "router"),
             ("shared_expert", "shared_expert"), ("experts", "expert"), ("router", "router"))
    for needle, kind in rules:
        if needle in name:
            return kind
    if re.search(r"mlp\.gate$", name):
        return "router"
    return "attention" if "attn" in name else "mlp"


def kv_unsupported_reason(kv: KvDtype) -> str | None:
    if kv is KvDtype.BF16:
        return None
    return ("fp8 KV cache: transformers' StaticCache stores K/V in the activation dtype, bf16, which SDPA reads: "
            "this stack has no fp8 KV path (serving engines use their own fp8 attention kernels)")


def _torchao():
    try:
        with quiet_imports():
            import torchao  # noqa: F401 - imported for its version and to register its ops
            import torchao.quantization as tq
    except ImportError as exc:
        raise UnsupportedQuantError(
            f"torchao is not installed ({exc}); install the [gpu] extra (pip install torchao), or on an offline "
            "GPU host carry its wheel") from None
    return tq


def _config(quant: QuantScheme, tq):
    group = quant.group_size or 128
    if quant.id == "fp8":
        return tq.Float8DynamicActivationFloat8WeightConfig(granularity=tq.PerRow())
    if quant.id == "int8":
        return tq.Int8WeightOnlyConfig()
    try:
        return tq.Int4WeightOnlyConfig(group_size=group, int4_packing_format="tile_packed_to_4d")
    except TypeError:  # torchao < 0.15: the default layout was the tinygemm tensor-core tiled one
        return tq.Int4WeightOnlyConfig(group_size=group)


def _check_capability(quant: QuantScheme, dev) -> None:
    need = NEEDS_CAPABILITY.get(quant.id)
    if need is None:
        return
    if not is_cuda(dev):
        raise UnsupportedQuantError(f"{quant.id}: torchao's {quant.id} kernels run on CUDA only, not on {dev}")
    import torch

    have = torch.cuda.get_device_capability(dev)
    if have < need:
        raise UnsupportedQuantError(f"{quant.id} needs compute capability {need[0]}.{need[1]}+; "
                                    f"{torch.cuda.get_device_name(dev)} is {have[0]}.{have[1]}")


def _probe(model, dev) -> None:
    import torch

    with torch.inference_mode():
        model(input_ids=torch.zeros((1, 4), dtype=torch.long, device=dev), use_cache=False, logits_to_keep=1)


def _check_runnable(quant: QuantScheme, dev):
    """torchao's quantization module, once `quant` has a recipe, `dev` has its kernels and torchao imports; else
    UnsupportedQuantError saying which is missing."""
    if quant.vllm_quantization == "gguf":  # llama.cpp block formats (quants.yaml q4_k_m, q8_0, ...)
        raise UnsupportedQuantError(f"{quant.id} is a llama.cpp GGUF format: its kernels are ggml's (CUDA, Metal, "
                                    "CPU), not torch's, so the measured profiler cannot run it; measure it with "
                                    "llama.cpp's llama-bench, or profile it analytically (drop --measure)")
    if quant.id not in RECIPES:
        raise UnsupportedQuantError(f"{quant.id}: the measured profiler has torchao recipes for "
                                    f"{', '.join(RECIPES)} only; profile it analytically (drop --measure)")
    _check_capability(quant, dev)
    return _torchao()


def unavailable_reason(quant: QuantScheme, dev) -> str | None:
    """Why `quant` cannot be measured on `dev` with the packages installed, from what is known before a model is
    built (the sweep says it once, up front); None when it may run. :func:`quantise` can still refuse a model
    (fused MoE experts torchao cannot run): that is found when the level is built."""
    if quant.weight_bits >= 16:
        return None
    try:
        _check_runnable(quant, dev)
    except UnsupportedQuantError as exc:
        return str(exc)
    return None


def quantise(model, spec: ModelSpec, quant: QuantScheme, dev) -> QuantOutcome:
    """Quantise `model` in place to `quant`; raise UnsupportedQuantError with the reason when it cannot."""
    if quant.weight_bits >= 16:
        return QuantOutcome("none (bf16)", 0, 0)
    tq = _check_runnable(quant, dev)
    import torch

    config = _config(quant, tq)
    skip = set(quant.keep) | {"embedding"}

    def linear(module, fqn: str) -> bool:
        interrupt.check()  # a safe point: torchao asks per module, so Ctrl-C stops between layers
        return isinstance(module, torch.nn.Linear) and tensor_kind(fqn) not in skip

    linears = sum(1 for n, m in model.named_modules() if linear(m, n))
    experts = [n for n, p in model.named_parameters() if EXPERT_PARAM.search(n) and p.ndim == 3]
    try:
        tq.quantize_(model, config, filter_fn=linear)
        if experts and "expert" not in skip:
            tq.quantize_(model, tq.FqnToConfig({r"re:.*experts\.(gate_up_proj|down_proj|gate_proj|up_proj)": config}),
                         filter_fn=None)
        _probe(model, dev)
    except Exception as exc:  # noqa: BLE001 - an OOM is a memory boundary; any other failure: cannot run here
        if is_oom(exc):
            raise  # the caller records the level as "oom" (not "unsupported") and frees memory outside the except
        where = "fused MoE expert weights" if experts else "linear layers"
        raise UnsupportedQuantError(f"{quant.id} via torchao on {dev} failed on the {where}: "
                                    f"{type(exc).__name__}: {str(exc)[:240]}") from None
    if linears == 0 and not experts:
        raise UnsupportedQuantError(f"{quant.id}: no linear layer of a quantisable kind in {spec.name}")
    return QuantOutcome(repr(config).split("(")[0], linears, len(experts))
