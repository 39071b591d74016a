"""ModelSpec -> a transformers causal LM on the target device in bf16, without downloading anything.

measurement.md §2: the model is instantiated from its config directly on the device
(``with torch.device(dev): AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)``), never as a
full-precision CPU copy, with ``attn_implementation="sdpa"`` and, for MoE models, transformers'
``experts_implementation="grouped_mm"`` (reads each active expert once, like a serving engine; falls back
to the default where the model or torch lacks it). Weight initialisation is skipped
(``transformers.initialization.no_init_weights``) and every parameter is then filled from a fixed-seed
random pool (std 0.02, norms 1, biases 0): cheap on any device, never NaN, reproducible MoE routing.
The model is put in eval mode with gradients off and every parameter's dtype is asserted.

``weights_path``: a local folder holding real ``*.safetensors`` is loaded with ``from_pretrained``
(``local_files_only=True``) once its config.json is checked to describe the spec's architecture
(:func:`check_weights_folder`). The hub is never contacted (HF_HUB_OFFLINE=1, :func:`device.prepare_process`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path

from profiler.errors import ProfilerError
from profiler.measure import interrupt
from profiler.measure.device import is_cuda, prepare_process
from profiler.measure.memory import Census, census
from profiler.specs import ModelSpec

RANDOM_POOL = 1_048_573  # prime-sized pool of random values tiled into every weight (no two rows alike)
INIT_STD = 0.02  # transformers' default initializer_range


@dataclass
class Built:
    """A model on its device and what building it cost. ``allocator_bytes``: CUDA Δmemory_allocated over the
    build (None on CPU, where ``census`` is the exact count)."""

    model: object
    source: str
    build_s: float
    census: Census
    allocator_bytes: int | None
    experts_implementation: str | None


def _allocated(dev) -> int | None:
    if not is_cuda(dev):
        return None
    import torch

    torch.cuda.synchronize(dev)
    return torch.cuda.memory_allocated(dev)


def fill_random_(model, seed: int) -> None:
    """Fill every parameter from a seeded random pool: matrices ~ N(0, 0.02) tiled, norm weights 1, other
    vectors (biases, sinks) 0. The pool lives on the parameters' device, so nothing crosses PCIe."""
    import torch

    with torch.no_grad():
        pools: dict = {}
        offset = seed
        for name, p in model.named_parameters():
            interrupt.check()  # a safe point: building a large model stops between tensors on Ctrl-C
            if p.ndim < 2:
                p.fill_(1.0 if "norm" in name else 0.0)
                continue
            key = (p.device, p.dtype)
            if key not in pools:
                g = torch.Generator(device=p.device).manual_seed(seed)
                pools[key] = (torch.randn(RANDOM_POOL, generator=g, device=p.device) * INIT_STD).to(p.dtype)
            pool, flat = pools[key], p.view(-1)
            offset = (offset * 7919 + 104729) % RANDOM_POOL  # a different phase per tensor
            for start in range(0, flat.numel(), RANDOM_POOL):
                n = min(RANDOM_POOL, flat.numel() - start)
                first = min(n, RANDOM_POOL - offset)
                flat[start:start + first].copy_(pool[offset:offset + first])
                if n > first:
                    flat[start + first:start + n].copy_(pool[:n - first])


def check_dtypes(model, dtype) -> None:
    """Every floating parameter in `dtype` (measurement.md §7 item 8: fp32 from a config without dtype)."""
    wrong = sorted({f"{n}: {p.dtype}" for n, p in model.named_parameters()
                    if p.is_floating_point() and p.dtype != dtype})
    if wrong:
        raise ProfilerError(f"the built model has {len(wrong)} parameter(s) not in {dtype}, e.g. {wrong[0]}; "
                            "the measured numbers would not describe a bf16 model")


def _check_tied(model, spec: ModelSpec) -> None:
    """A tied head must share the embedding's storage, or the model holds (and reads) a second copy."""
    head, emb = model.get_output_embeddings(), model.get_input_embeddings()
    if head is None or emb is None:
        return
    shared = head.weight.data_ptr() == emb.weight.data_ptr()
    if shared != spec.tie_word_embeddings:
        raise ProfilerError(f"{spec.name}: tie_word_embeddings is {spec.tie_word_embeddings} but the built model's "
                            f"head {'shares' if shared else 'does not share'} the embedding")


def _check_buffers(model) -> None:
    import torch

    bad = [n for n, b in model.named_buffers() if b.is_floating_point() and not torch.isfinite(b).all()]
    if bad:
        raise ProfilerError(f"buffers {bad[:3]} are not finite after the build (uninitialised memory)")


def _from_config(spec: ModelSpec, dev, dtype) -> tuple[object, str | None]:
    import torch
    from transformers import AutoModelForCausalLM

    from profiler.measure.hf_config import to_transformers_config

    try:  # transformers 5 (measurement.md §2.4); the weights are filled by fill_random_ either way
        from transformers.initialization import no_init_weights
    except ImportError:
        from contextlib import nullcontext as no_init_weights

    cfg = to_transformers_config(spec)

    def make(**kw):
        with torch.device(dev), no_init_weights():
            return AutoModelForCausalLM.from_config(cfg, dtype=dtype, attn_implementation="sdpa", **kw)

    if spec.is_moe:
        try:  # grouped_mm reads each routed expert once per step, as an engine does (measurement.md §2.2)
            model = make(experts_implementation="grouped_mm")
            return model, getattr(model.config, "_experts_implementation", "grouped_mm")
        except (ValueError, ImportError, NotImplementedError):
            model = make()
            return model, getattr(model.config, "_experts_implementation", "default")
    return make(), None


# ModelSpec fields that do not describe the weights (labels, provenance, the longest allowed context).
NOT_ARCHITECTURE = ("name", "source", "hf_config", "max_context")


def _differences(want, have, prefix: str = "") -> list[str]:
    """'field: spec X, config.json Y' for every architecture field (nested attention / moe) that differs."""
    if is_dataclass(want) and is_dataclass(have) and type(want) is type(have):
        return [d for f in fields(want) if f.name not in NOT_ARCHITECTURE
                for d in _differences(getattr(want, f.name), getattr(have, f.name), f"{prefix}{f.name}.")]
    if want != have:
        return [f"{prefix.rstrip('.')}: spec {want!r}, config.json {have!r}"]
    return []


def _weights_folder(path: str | Path) -> Path:
    folder = Path(path).expanduser()
    if not folder.is_dir() or not any(folder.glob("*.safetensors")):
        raise ProfilerError(f"{folder}: --weights needs a local folder holding *.safetensors and config.json; "
                            "omit --weights to measure with random weights")
    if not (folder / "config.json").is_file():
        raise ProfilerError(f"{folder}: --weights needs the model's config.json beside its *.safetensors")
    return folder


def check_weights_folder(spec: ModelSpec, path: str | Path) -> None:
    """Refuse a weights folder whose config.json describes another architecture than `spec`: its rows would be
    labelled with the spec's name and compared with the spec's analytic bytes (pure Python, no torch)."""
    from profiler import catalogue

    folder = _weights_folder(path)
    found = catalogue.model_from_config(folder / "config.json", spec.name)
    diffs = _differences(spec, found)
    if diffs:
        shown = "; ".join(diffs[:5]) + (f"; and {len(diffs) - 5} more" if len(diffs) > 5 else "")
        raise ProfilerError(f"--weights {folder}: its config.json is not {spec.name} ({shown}). Name the model "
                            f"the folder holds, or profile the folder itself with --config {folder}")


def _from_pretrained(path: Path, dev, dtype) -> object:
    from transformers import AutoModelForCausalLM

    folder = _weights_folder(path)
    kw = {"local_files_only": True, "dtype": dtype, "attn_implementation": "sdpa"}
    if is_cuda(dev):
        try:
            return AutoModelForCausalLM.from_pretrained(str(folder), device_map=str(dev), **kw)
        except ValueError as exc:
            if "accelerate" not in str(exc):
                raise
    return AutoModelForCausalLM.from_pretrained(str(folder), **kw).to(dev)  # CPU, or via CPU without accelerate


def build_model(spec: ModelSpec, dev, seed: int = 0, weights_path: str | Path | None = None) -> Built:
    """The model `spec` describes, on `dev`, in bf16, eval mode, no gradients (random weights unless
    `weights_path`)."""
    prepare_process()
    import torch

    dtype = torch.bfloat16
    torch.manual_seed(seed)
    before = _allocated(dev)
    t0 = time.perf_counter()
    if weights_path is not None:
        check_weights_folder(spec, weights_path)
        model, experts = _from_pretrained(Path(weights_path), dev, dtype), None
        source = f"safetensors from {weights_path}"
    else:
        model, experts = _from_config(spec, dev, dtype)
        model.tie_weights()  # no_init_weights also skips transformers' init_weights, which ties the head
        _check_tied(model, spec)
        fill_random_(model, seed)
        source = f"random weights (seed {seed})"
    model.eval().requires_grad_(False)
    check_dtypes(model, dtype)
    _check_buffers(model)
    after = _allocated(dev)
    built_s = time.perf_counter() - t0
    delta = None if before is None else after - before
    return Built(model, source, built_s, census(model), delta, experts)
