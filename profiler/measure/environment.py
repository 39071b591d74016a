"""What a measured profile ran on (ProfileMeta.environment), and the machine record its MBU/MFU divide by.

    environment(dev, machine, nvml)  versions (python, torch, transformers, torchao, nvidia-ml-py), device
                                     name, memory, capability, SMs, L2, driver, CUDA, clocks, power limit,
                                     allocator settings, offline flags, and the machine record used
    machine_spec(dev, gpu_id)        CUDA: the catalogue GpuSpec (detected from the device name when no id is
                                     given); CPU: cpu_spec()
    cpu_spec()                       the CPU as a GpuSpec whose bandwidth and bf16 FLOP/s are MEASURED here
                                     (a 64 MiB copy, a 512^3 bf16 matmul), since a CPU has no datasheet row
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from profiler.errors import ProfilerError
from profiler.measure import CPU_GPU_ID
from profiler.specs import GpuSpec

# torch device names -> catalogue ids (first match wins; the PCIe H100 reports "H100 PCIe").
GPU_NAME_PATTERNS = (("H100 PCIe", "h100-pcie"), ("H100", "h100-sxm"), ("H200", "h200"), ("B200", "b200"),
                     ("A100-SXM4-40GB", "a100-40gb"), ("A100-PCIE-40GB", "a100-40gb"), ("A100", "a100-80gb"),
                     ("L40S", "l40s"), ("L4", "l4"), ("A10G", "a10g"), ("RTX 4090", "rtx-4090"), ("MI300X", "mi300x"))
CPU_COPY_BYTES = 64 * 2**20  # larger than any desktop L3, so the copy streams DRAM
CPU_MATMUL_N = 512  # bf16 n^3 matmul; small enough to take well under a second on 2 cores


def _ver(pkg: str) -> str:
    try:
        return version(pkg)
    except PackageNotFoundError:
        return "not installed"


def cpu_spec() -> GpuSpec:
    """The CPU as a GpuSpec with its copy bandwidth (bytes read + written per second) and bf16 matmul rate
    measured now, so CPU MBU/MFU are fractions of what this machine was just seen to do."""
    import torch

    from profiler.measure.timers import TimerPolicy, time_call

    policy = TimerPolicy(warmup=1, min_count=3, min_time_s=0.05, max_count=20)
    src = torch.ones(CPU_COPY_BYTES, dtype=torch.uint8)
    dst = torch.empty_like(src)
    copy = time_call(lambda: dst.copy_(src), "cpu", policy)
    a = torch.randn(CPU_MATMUL_N, CPU_MATMUL_N).to(torch.bfloat16)
    mm = time_call(lambda: a @ a, "cpu", policy)
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return GpuSpec(
        id=CPU_GPU_ID, name=platform.processor() or platform.machine() or "cpu", hbm_bytes=int(ram),
        hbm_bandwidth_bytes_per_s=2 * CPU_COPY_BYTES / copy.median_s,
        tflops={"bf16": 2 * CPU_MATMUL_N**3 / mm.median_s / 1e12}, interconnect_bytes_per_s=0.0,
        interconnect="none (one CPU)", tdp_w=float("nan"), gpus_per_node=1, vendor="cpu",
        source=(f"measured by profiler.measure.environment.cpu_spec on {torch.get_num_threads()} threads: "
                f"{CPU_COPY_BYTES >> 20} MiB copy median {copy.median_s * 1e3:.2f} ms, "
                f"{CPU_MATMUL_N}^3 bf16 matmul median {mm.median_s * 1e3:.2f} ms; memory = physical RAM"),
    )


def detect_gpu_id(name: str) -> str | None:
    return next((gid for pattern, gid in GPU_NAME_PATTERNS if pattern in name), None)


def machine_spec(dev, gpu_id: str | None) -> GpuSpec:
    """The record MBU/MFU divide by: the catalogue GPU on CUDA, the measured CPU otherwise."""
    from profiler import catalogue
    from profiler.measure.device import is_cuda

    if not is_cuda(dev):
        return cpu_spec()
    import torch

    name = torch.cuda.get_device_name(dev)
    gid = gpu_id or detect_gpu_id(name)
    if gid is None:
        raise ProfilerError(f"cannot tell which catalogue GPU '{name}' is; pass --gpu with its id "
                            "(see `inferplan gpus`)")
    return catalogue.get_gpu(gid)


def _cuda(dev) -> dict[str, Any]:
    import torch

    props = torch.cuda.get_device_properties(dev)
    out = {"gpu_name": props.name, "gpu_memory_bytes": props.total_memory, "cuda_runtime": torch.version.cuda,
           "compute_capability": f"{props.major}.{props.minor}", "sm_count": props.multi_processor_count,
           "l2_cache_bytes": getattr(props, "L2_cache_size", None), "cudnn": torch.backends.cudnn.version()}
    try:  # the allocator settings that actually took (torch #183387: the new env name was once ignored)
        out["allocator_settings"] = torch.cuda.memory._snapshot().get("allocator_settings", "unreported")
    except Exception as exc:  # noqa: BLE001 - private API; record that it could not be read
        out["allocator_settings"] = f"unreadable ({type(exc).__name__})"
    return out


def environment(dev, machine: GpuSpec, nvml=None) -> dict[str, Any]:
    """Everything a reader needs to reproduce or discount the numbers."""
    import torch

    from profiler.measure.device import is_cuda

    env: dict[str, Any] = {
        "device": str(dev), "python": platform.python_version(), "platform": platform.platform(),
        "torch": torch.__version__, "transformers": _ver("transformers"), "torchao": _ver("torchao"),
        "nvidia-ml-py": _ver("nvidia-ml-py"), "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(), "hf_hub_offline": os.environ.get("HF_HUB_OFFLINE", ""),
        "alloc_conf_env": {k: os.environ.get(k, "") for k in ("PYTORCH_ALLOC_CONF", "PYTORCH_CUDA_ALLOC_CONF")},
        "gpu": machine.id, "machine_spec": {**asdict(machine), "tdp_w": None if machine.tdp_w != machine.tdp_w
                                            else machine.tdp_w},
    }
    if is_cuda(dev):
        env.update(_cuda(dev))
        env["nvml"] = nvml.static_info() if nvml is not None else "unavailable"
        detected = detect_gpu_id(env["gpu_name"])
        if detected and detected != machine.id:
            env["gpu_id_warning"] = f"device reports '{env['gpu_name']}' ({detected}), profile labelled {machine.id}"
    return env
