"""The measured profile: quant x KV dtype x phase x context x batch on this machine -> Profile rows.

    run_measured_profile(model, gpu_id, quants, kv_dtypes, batches, contexts, device="cuda", out=None,
                         resume=True, memory_limit_bytes=None, weights_path=None, progress=True, ...)
        -> (Profile DataFrame with source="measured", ProfileMeta)

Before the first point, the quantisations and KV dtypes this device and install cannot run (CUDA-only kernels on
a CPU, torchao missing, no fp8 KV path) are found without building a model: with ``progress`` one line on stderr
names them and why (:func:`unavailable_line`), and ``ProfileMeta.environment["unavailable"]`` keeps them (level ->
the note its rows carry), so a terminal table can leave those rows out. The progress bar (stderr, terminals only)
counts points done of the total and estimates the time left.

What each row holds and how it is measured: :mod:`profiler.measure.runner`. Output and resumption:
:mod:`profiler.measure.journal` (``out`` = ``.csv`` or ``.json``; the journal sits beside it). On a CPU
the same code path runs eagerly on small models (``device="cpu"``): memory is a tensor census, the OOM
search runs against an emulated budget, power is unsupported, and MBU/MFU divide by the CPU's measured
copy bandwidth and matmul rate (stated in ``ProfileMeta.environment["machine_spec"]``). On a Mac (``device="mps"``,
torch's Metal backend) rows are labelled with the chip's catalogue row (m3-pro...; profiler.measure.apple), steps
run eagerly with torch.mps.synchronize() around each timed repetition, weights and KV are a tensor census, the peak
and the OOM boundary come from torch.mps (memory.py; the budget is macOS's recommended GPU working set), and
power is empty with the reason in ``ProfileMeta.environment["power"]``.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from profiler import catalogue
from profiler.errors import InvalidValueError
from profiler.measure import interrupt
from profiler.schema import PHASES, ProfileMeta, check_profile_path, write_profile
from profiler.specs import KvDtype, ModelSpec

IDLE_POWER_WINDOW_S = 1.0  # measurement.md §5.3: record idle power before the sweep


def _check_grid(batches: Sequence[int], contexts: Sequence[int], quants: Sequence[str], phases: Sequence[str]) -> None:
    for name, values in (("batches", batches), ("contexts", contexts)):
        if not values or any(int(v) < 1 for v in values):
            raise InvalidValueError(f"{name} must be a non-empty list of positive integers, got {list(values)}")
    if not quants:
        raise InvalidValueError("name at least one quantisation scheme (e.g. bf16)")
    bad = [p for p in phases if p not in PHASES]
    if bad or not phases:
        raise InvalidValueError(f"phases must be among {PHASES}, got {list(phases)}")


def _kv(value: KvDtype | str) -> KvDtype:
    try:
        return KvDtype(value)
    except ValueError:
        raise InvalidValueError(f"KV dtype must be one of {[k.value for k in KvDtype]}, not '{value}'") from None


def plan_points(quants, kvs, phases, batches, prefill_batches, contexts) -> list:
    """Every point of the grid in measuring order: quant, KV dtype, phase, context, batch."""
    from profiler.measure.runner import Point

    return [Point(q, kv, phase, int(b), int(c)) for q, kv, phase in itertools.product(quants, kvs, phases)
            for c in contexts for b in (prefill_batches if phase == "prefill" else batches)]


def _idle_power(nvml) -> float | str:
    import time

    from profiler.measure.power import PowerSampler

    with PowerSampler(nvml) as s:
        time.sleep(IDLE_POWER_WINDOW_S)
    return s.reading.mean_w if s.reading.mean_w is not None else s.reading.energy_source


def _bare_context_bytes(dev) -> int:
    """CUDA context + driver reservations before any model (measurement.md §1.2 (a)): (total - free) - reserved
    after one tiny allocation. Later snapshots (after the build, at every point) are in the journal."""
    import torch

    from profiler.measure.memory import device_memory

    probe = torch.ones(1, device=dev)
    bytes_ = device_memory(dev).non_torch
    del probe
    return bytes_


def _meta(model: ModelSpec, dev, machine, nvml, command: str) -> ProfileMeta:
    from profiler.api import tool_version
    from profiler.measure.environment import environment

    env = environment(dev, machine, nvml)
    if dev.type == "cuda":
        env["non_torch_bytes_at_start"] = _bare_context_bytes(dev)
    if nvml is not None:
        env["idle_power_w"] = _idle_power(nvml)
    return ProfileMeta(
        tool_version=tool_version(), catalogues=catalogue.catalogue_hashes(), environment=env,
        efficiency={"measured": "no efficiency factors: mbu/mfu = analytic bytes/FLOPs of the same step / "
                                "measured latency / environment.machine_spec"},
        command=command or f"measure {model.name} on {dev}")


def _progress(total: int, done: int, enabled: bool):
    """A bar on stderr (stdout may be the table, JSON or CSV), only when stderr is a terminal: points done / total,
    time spent and the time left (rich's estimate from the recent points' pace)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("points,"),
                   TimeElapsedColumn(), TextColumn("spent,"), TimeRemainingColumn(), TextColumn("left"),
                   console=Console(stderr=True), disable=not (enabled and sys.stderr.isatty()), transient=True)
    task = bar.add_task("measuring", total=total, completed=done)
    return bar, lambda desc: bar.update(task, advance=1, description=desc)


def run_measured_profile(model: ModelSpec, gpu_id: str | None, quants: list[str], kv_dtypes: list[KvDtype | str],
                         batches: list[int], contexts: list[int], device: str = "cuda", out: Path | None = None,
                         resume: bool = True, memory_limit_bytes: int | None = None,
                         weights_path: Path | None = None, progress: bool = True, *,
                         prefill_batches: list[int] | None = None, phases: Sequence[str] = PHASES,
                         timer=None, max_batch_cap: int | None = None, graphs: bool = True, seed: int = 0,
                         on_point: Callable[[dict[str, Any]], None] | None = None,
                         command: str = "", force_gpu: bool = False) -> tuple[pd.DataFrame, ProfileMeta]:
    """Measure `model` over the grid on `device`; write each point to `out` at once; resume from it.

    `gpu_id`: catalogue GPU the rows are labelled with and MBU/MFU divide by (CUDA and MPS; detected from the device
    or chip name when None; one that differs from the detected card, or a non-Apple row on MPS, is refused unless
    `force_gpu`; ignored on CPU). `device`: "cuda", "cuda:N", "mps" or "cpu".
    `weights_path`: a local folder of real weights, whose config.json must describe `model` (refused otherwise).
    `memory_limit_bytes`: a byte budget the OOM search and every point are held to (emulates a smaller card; on
    CPU the default is the resident bytes + maxbatch.CPU_EMULATED_HEADROOM_BYTES).
    `prefill_batches`: batches for the prefill phase (default: `batches`). `timer`: a TimerPolicy for every
    point (default: per device and phase). `on_point(row)` runs after each row is durably written.
    Ctrl-C (or a KeyboardInterrupt from `on_point`) stops at the next safe point and raises
    :class:`interrupt.SweepInterrupted` (a KeyboardInterrupt) saying how many points are kept; rerun to resume.
    """
    from profiler.measure.build import check_weights_folder

    _check_grid(batches, contexts, quants, phases)
    quant_specs = [catalogue.get_quant(q) for q in quants]
    kvs = [_kv(k) for k in kv_dtypes]
    if out is not None:
        check_profile_path(out)  # before the sweep: an unwritable -o fails now, not after an hour of measuring
    if weights_path is not None:
        check_weights_folder(model, weights_path)  # before anything is built: a mismatch would mislabel every row
    out = Path(out) if out is not None else None
    points = plan_points(quant_specs, kvs, phases, batches, prefill_batches or batches, contexts)
    options = {"memory_limit_bytes": memory_limit_bytes, "weights_path": weights_path, "seed": seed,
               "timer": timer, "max_batch_cap": max_batch_cap, "graphs": graphs, "on_point": on_point}
    runner = None
    try:
        with interrupt.stop_on_sigint():  # Ctrl-C: stop at the next safe point (interrupt.py)
            runner = _start(model, gpu_id, device, force_gpu, command, out, resume, options, points, progress)
            with runner.bar:
                for (quant, kv), level_points in itertools.groupby(points, key=lambda p: (p.quant, p.kv)):
                    runner.run_level(quant, kv, list(level_points))
    except KeyboardInterrupt:  # a safe-point stop, a second Ctrl-C, or one raised by on_point
        kept = 0 if runner is None else sum(runner.journal.done(k) for k in runner.order)
        raise interrupt.SweepInterrupted(kept, len(points), out) from None
    df = runner.table()
    if out is not None and len(df):
        write_profile(df, out, runner.meta)
    return df, runner.meta


def _start(model: ModelSpec, gpu_id: str | None, device: str, force_gpu: bool, command: str, out: Path | None,
           resume: bool, options: dict[str, Any], points: list, progress: bool):
    """The device, its machine record, the environment, the journal and a Runner over `points` (with a progress
    bar as ``runner.bar``)."""
    from profiler.measure.device import prepare_process, resolve_device
    from profiler.measure.environment import machine_spec
    from profiler.measure.journal import Journal, journal_path
    from profiler.measure.power import NvmlDevice
    from profiler.measure.runner import Runner

    prepare_process()
    dev = resolve_device(device)
    machine = machine_spec(dev, gpu_id, force=force_gpu)
    nvml = NvmlDevice.open(dev) if dev.type == "cuda" else None
    meta = _meta(model, dev, machine, nvml, command)
    header = {"model": model.name, "gpu": machine.id, "device": dev.type}
    journal = Journal(journal_path(out) if out else None, header, resume=resume)
    options = {**options, "nvml": nvml, "nvml_error": NvmlDevice.last_error or "NVML unavailable"}
    runner = Runner(model, dev, machine, journal, meta, out, options)
    runner.order = [runner.key(p) for p in points]
    unavailable = unavailable_levels(runner, points)
    if unavailable:  # in the file's environment too, so the table can leave out the rows the line accounts for
        runner.meta = replace(runner.meta, environment={**runner.meta.environment, "unavailable": unavailable})
        if progress:
            print(unavailable_line(unavailable, dev.type), file=sys.stderr, flush=True)
    runner.bar, runner.advance = _progress(len(points), sum(journal.done(k) for k in runner.order), progress)
    return runner


def unavailable_levels(runner, points: list) -> dict[str, str]:
    """What of the grid cannot be measured here, known before any model is built: quant id or "<kv> KV cache" ->
    the reason (the note its rows carry)."""
    from profiler.measure.quantise import kv_unsupported_reason

    kvs = {f"{kv.value} KV cache": kv_unsupported_reason(kv) for kv in dict.fromkeys(p.kv for p in points)}
    quants = {q.id: runner.quant_reason(q) for q in dict.fromkeys(p.quant for p in points)}
    return {label: reason for label, reason in {**quants, **kvs}.items() if reason}


def unavailable_line(unavailable: dict[str, str], device: str) -> str:
    """One line naming what will not be measured and why, levels whose reasons differ only in their name together:
    ``not measurable on cpu, so not measured (their rows say unsupported): int4, fp8 (torchao's int4/fp8 kernels
    run on CUDA only, not on cpu); fp8 KV cache (transformers' StaticCache ...)``. A reason's leading "<level>: "
    is dropped: the level is named before it."""
    slot = "\x00"  # where a level's own name stood in its reason
    groups: dict[str, list[str]] = {}
    for label, reason in unavailable.items():
        groups.setdefault(reason.removeprefix(f"{label}: ").replace(label, slot), []).append(label)
    parts = [f"{', '.join(labels)} ({why.replace(slot, '/'.join(labels))})" for why, labels in groups.items()]
    return f"not measurable on {device}, so not measured (their rows say unsupported): {'; '.join(parts)}"
