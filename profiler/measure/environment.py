"""What a measured profile ran on: device, driver, CUDA, library versions (ProfileMeta.environment)."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any


def _ver(pkg: str) -> str:
    try:
        return version(pkg)
    except PackageNotFoundError:
        return "not installed"


def environment(device: str) -> dict[str, Any]:
    import torch

    env: dict[str, Any] = {
        "device": device, "python": platform.python_version(), "platform": platform.platform(),
        "torch": torch.__version__, "transformers": _ver("transformers"), "torchao": _ver("torchao"),
        "nvidia-ml-py": _ver("nvidia-ml-py"), "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
    }
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(0)
        env.update(gpu_name=props.name, gpu_memory_bytes=props.total_memory, cuda=torch.version.cuda,
                   compute_capability=f"{props.major}.{props.minor}")
        env.update(_nvml())
    return env


def _nvml() -> dict[str, Any]:
    try:
        import pynvml

        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        out = {"driver": pynvml.nvmlSystemGetDriverVersion()}
        for name, clock in (("sm_clock_max_mhz", pynvml.NVML_CLOCK_SM), ("mem_clock_max_mhz", pynvml.NVML_CLOCK_MEM)):
            try:
                out[name] = pynvml.nvmlDeviceGetMaxClockInfo(h, clock)
            except pynvml.NVMLError:
                out[name] = "unsupported"
        return out
    except Exception as exc:  # NVML absent or not permitted in this container: say so, do not guess
        return {"driver": f"unavailable ({type(exc).__name__})"}
