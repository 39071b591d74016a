"""MBU and MFU of a measured step, and the notes that say when a ratio is not a utilisation.

    utilisation(bytes_moved, flops, seconds, machine, dtype)  (MBU, MFU): the analytic twin's bytes and FLOPs of
                                                              the step / its measured time / the machine record
    over_one_notes(mbu, mfu, machine, dtype)                  a note per ratio above 1, saying why it cannot be a
                                                              fraction of a peak
    label_note(machine, environment)                          CUDA rows labelled with a card the device is not
    faster_record(a, b, source)                               the CPU record with the faster of two measurements

A GPU's record is its datasheet, so a ratio above 1 means the rows are labelled with another card, or the bytes
sat in L2 (runner flags that separately). A CPU has no datasheet: its record is what
:func:`environment.cpu_spec` measured (fastest 64 MiB copy, fastest 512^3 bf16 matmul) at one moment. On a
shared machine that moment can be a busy one: with two other processes spinning on a 2-core machine the
matmul ran at 13.5 GFLOP/s and the copy at 5.5 GB/s, against 415 GFLOP/s and 15.5 GB/s a second later once they
stopped; every step measured after the load left then divided by a record 30x too low (MFU 1.5-4.5 was
reported). So a CPU step that outruns the record makes the runner measure the CPU again and keep the faster
of the two (:func:`faster_record`); what still exceeds 1 after that is flagged, never clipped.
"""

from __future__ import annotations

from dataclasses import replace

from profiler.specs import GpuSpec


def utilisation(bytes_moved: float, flops: float, seconds: float, machine: GpuSpec, dtype: str) -> tuple[float, float]:
    """(MBU, MFU): achieved bytes/s over the record's bandwidth, achieved FLOP/s over its dense peak in `dtype`."""
    return (bytes_moved / seconds / machine.hbm_bandwidth_bytes_per_s,
            flops / seconds / machine.peak_flops(dtype))


def _is_cpu(machine: GpuSpec) -> bool:
    return machine.vendor == "cpu"


def over_one_notes(mbu: float, mfu: float, machine: GpuSpec, dtype: str) -> list[str]:
    """One note per ratio above 1 (none at or below 1): the ratio, the rate it exceeded, and what that means."""
    notes = []
    if _is_cpu(machine):
        if mbu > 1:
            notes.append(f"mbu {mbu:.2f} > 1, not a utilisation: the step moved its bytes faster than this CPU's "
                         f"measured 64 MiB copy ({machine.hbm_bandwidth_bytes_per_s / 1e9:,.1f} GB/s), so they sat "
                         "in its caches")
        if mfu > 1:
            notes.append(f"mfu {mfu:.2f} > 1, not a utilisation: the step outran this CPU's fastest measured "
                         f"512^3 {dtype} matmul ({machine.peak_flops(dtype) / 1e9:,.1f} GFLOP/s) even after it was "
                         "measured again, so that matmul is no peak for this CPU")
        return notes
    if mbu > 1:
        notes.append(f"mbu {mbu:.2f} > 1, not a utilisation: more bytes/s than {machine.id}'s datasheet "
                     f"{machine.hbm_bandwidth_bytes_per_s / 1e12:,.2f} TB/s (bytes served from L2, or not this card)")
    if mfu > 1:
        notes.append(f"mfu {mfu:.2f} > 1, not a utilisation: more FLOP/s than {machine.id}'s datasheet "
                     f"{machine.peak_flops(dtype) / 1e12:,.0f} TFLOP/s {dtype} (the rows are labelled with a card "
                     "this device is not)")
    return notes


def label_note(machine: GpuSpec, environment: dict) -> str | None:
    """CUDA rows whose label is not the device (--force-gpu, or a card the catalogue does not hold): their MBU/MFU
    divide by the label's datasheet, which is not this device's peak."""
    warning = environment.get("gpu_id_warning")
    if not warning:
        return None
    return f"MBU/MFU divide by {machine.id}'s datasheet, not this device's ({warning})"


def faster_record(a: GpuSpec, b: GpuSpec, source: str) -> GpuSpec:
    """The CPU record holding the faster bandwidth and the faster FLOP/s of `a` and `b` (each a measurement of the
    same machine; the faster one is nearer its peak), with `source` saying how it was obtained."""
    tflops = {k: max(a.tflops.get(k, 0.0), b.tflops.get(k, 0.0)) for k in {*a.tflops, *b.tflops}}
    return replace(a, hbm_bandwidth_bytes_per_s=max(a.hbm_bandwidth_bytes_per_s, b.hbm_bandwidth_bytes_per_s),
                   tflops=tflops, source=source)
