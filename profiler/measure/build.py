"""ModelSpec -> a transformers model on the target device, random weights, no downloads; quantisation.

The model is instantiated from its config directly on the device in the target dtype (no full-precision
CPU copy), put in eval mode with gradients off, with a fixed seed so MoE routing is reproducible.
``--weights DIR`` loads real safetensors from a local folder instead (local_files_only). Quantisation
goes through torchao; a level the installed stack cannot run raises UnsupportedQuantError with the
reason, which the sweep records as ``status="unsupported"`` rows.
"""

from __future__ import annotations

import os
from pathlib import Path

from profiler.errors import UnsupportedQuantError
from profiler.measure.hf_config import to_transformers_config
from profiler.specs import ModelSpec, QuantScheme

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a hub from the measured path
DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def torch_dtype(name: str):
    import torch

    return getattr(torch, DTYPES[name])


def build_model(spec: ModelSpec, device: str = "cuda", dtype: str = "bf16", seed: int = 0,
                weights: Path | None = None):
    """A causal LM for `spec` on `device`, every parameter in `dtype`, ready for inference."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    dt = torch_dtype(dtype)
    if weights is not None:
        model = AutoModelForCausalLM.from_pretrained(str(weights), dtype=dt, local_files_only=True,
                                                     attn_implementation="sdpa").to(device)
    else:
        cfg = to_transformers_config(spec)
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(cfg, dtype=dt, attn_implementation="sdpa")
    model.eval().requires_grad_(False)
    wrong = {str(p.dtype) for p in model.parameters() if p.is_floating_point() and p.dtype != dt}
    if wrong:
        raise RuntimeError(f"build produced parameters in {wrong}, expected {dt}")
    return model


def _quantisable(module_name: str, quant: QuantScheme) -> bool:
    """Linear layers the scheme quantises (the analytic model keeps the same kinds in bf16)."""
    if "lm_head" in module_name:
        return "lm_head" not in quant.keep
    if "embed" in module_name:
        return False
    if module_name.endswith(("gate", "router")):
        return "router" not in quant.keep
    return True


TORCHAO_CONFIGS = {
    "fp8": ("Float8WeightOnlyConfig", {}),
    "int8": ("Int8WeightOnlyConfig", {}),
    "int4": ("Int4WeightOnlyConfig", {"group_size": 128}),
}


def quantize(model, quant: QuantScheme, device: str) -> None:
    """Quantise in place with torchao; raise UnsupportedQuantError saying why when it cannot."""
    if quant.weight_bits >= 16:
        return
    if quant.id not in TORCHAO_CONFIGS:
        raise UnsupportedQuantError(f"{quant.id}: no torchao path in the measured profiler")
    try:
        import torchao.quantization as tq
    except ImportError as exc:
        raise UnsupportedQuantError(f"{quant.id} needs torchao, which is not installed "
                                    "(pip install torchao; on an offline GPU host carry its wheel)") from exc
    import torch

    if quant.id == "fp8" and device.startswith("cuda") and torch.cuda.get_device_capability() < (8, 9):
        raise UnsupportedQuantError("fp8 needs compute capability 8.9+ (Ada/Hopper)")
    name, kwargs = TORCHAO_CONFIGS[quant.id]
    config = getattr(tq, name)(**kwargs)

    def keep(module, fqn: str) -> bool:
        return isinstance(module, torch.nn.Linear) and _quantisable(fqn, quant)

    try:
        tq.quantize_(model, config, filter_fn=keep)
    except (RuntimeError, NotImplementedError, ValueError, ImportError) as exc:
        raise UnsupportedQuantError(f"{quant.id} failed on {device} with the installed torchao: {exc}") from exc
