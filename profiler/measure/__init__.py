"""The measured profiler: the only code in inferplan that imports torch, transformers, torchao or pynvml.

Every heavy import is inside a function, so ``import profiler.measure`` (and any module below) is cheap.

Entry point: :func:`profiler.measure.sweep.run_measured_profile` (``inferplan profile MODEL --measure
[--device cpu|cuda|mps]``); with ``--tp N``, :func:`profiler.measure.tp_launch.measure_tp`. Modules, in the order a
sweep uses them:

    device       which device, offline hub, OOM detection, freeing memory
    apple        Apple silicon (--device mps): the chip's catalogue row, MPS availability, unified-memory limits
    environment  versions, driver, clocks -> ProfileMeta.environment; the CPU's measured "datasheet"
    hf_config    ModelSpec -> transformers config (helper H1)
    build        config -> model on the device in bf16, random weights, no downloads; or local safetensors
    quantise     torchao weight quantisation per catalogue scheme; unsupported levels say why
    steps        static KV cache: KV bytes per token, prefill, decode step (CUDA graph on GPU), fit probe
    timers       warm-ups, repeats until a minimum time and count, CUDA events, median and IQR
    memory       byte census of tensors, allocator peaks, non-torch (context) memory, live-tensor census on CPU
    power        NVML sampler thread: mean watts, joules (energy counter), clocks, throttle reasons
    maxbatch     largest batch that fits: analytic bracket, then binary search over real OOMs
    journal      one JSON line per finished point + the profile CSV rewritten atomically; resume by key
    runner       one (quant, KV dtype) level at a time: build, bytes, max batch, each point -> a Profile row
    sweep        run_measured_profile: the grid, environment, what cannot run here (one line), progress bar,
                 output (source="measured")
    tp_shard     tensor parallelism: one rank's shapes, vocab-parallel embedding, all-reduces, logits all-gather
    tp_run       one rank of a TP sweep under torchrun (a Runner whose ranks agree on every step; NCCL or gloo)
    tp_launch    starts torchrun from `profile --measure --tp N`, follows rank 0's journal, names a failed rank
"""

# An HF StaticCache attends over its whole allocated length (transformers StaticLayer.get_mask_sizes returns
# max_cache_len). Decode points use max_cache_len = context + STATIC_CACHE_EXTRA_SLOTS and replay the step at
# position `context`, so each measured decode step attends context + 1 tokens; the analytic twin (and
# calibration) is called with attended = context + STATIC_CACHE_EXTRA_SLOTS (measurement.md §2.5, §7 item 5).
STATIC_CACHE_EXTRA_SLOTS = 1

# GPU id of rows measured on the CPU (smoke path): not a catalogue GPU; its "datasheet" is measured
# (environment.cpu_spec) and stored in ProfileMeta.environment["machine_spec"].
CPU_GPU_ID = "cpu"
