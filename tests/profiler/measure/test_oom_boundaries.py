"""Out of memory is a boundary row, never a crash and never "unsupported": what counts as an OOM, an OOM while
quantising, an OOM inside a measured step, and a measured peak above the memory budget. Anything else that
fails propagates (a bug is not a memory boundary)."""

import re

import pandas as pd
import pytest

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

from profiler import catalogue  # noqa: E402
from profiler.errors import UnsupportedQuantError  # noqa: E402
from profiler.measure import STATIC_CACHE_EXTRA_SLOTS, build, maxbatch, steps  # noqa: E402
from profiler.measure.device import MeasuredOOM, is_oom  # noqa: E402
from profiler.measure.quantise import quantise  # noqa: E402
from profiler.measure.sweep import run_measured_profile  # noqa: E402
from tests.profiler.measure.fakes import fake_torchao  # noqa: E402
from tests.profiler.measure.tiny import TINY_KV_BYTES_PER_TOKEN, TINY_RESIDENT_BYTES  # noqa: E402

MIB = 2**20
CUDA_OOM = "CUDA out of memory. Tried to allocate 2.00 GiB"
CPU_BUDGET = TINY_RESIDENT_BYTES + maxbatch.CPU_EMULATED_HEADROOM_BYTES  # a CPU run's emulated card: 16,990,912 B


@pytest.mark.parametrize("exc, oom", [
    (MemoryError(), True), (RuntimeError("CUDA error: out of memory"), True),
    (RuntimeError("CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate"), True),
    (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1099511627776 bytes"), True),
    (torch.OutOfMemoryError(CUDA_OOM), True), (MeasuredOOM("over budget"), True),
    (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), False), (ValueError("out of memory"), False),
    (KeyError("memory"), False)])
def test_what_counts_as_out_of_memory(exc, oom):
    assert is_oom(exc) is oom


# ---- while quantising: the level's rows are OOM rows ------------------------------------------------------


@pytest.mark.parametrize("error", [torch.OutOfMemoryError(CUDA_OOM), RuntimeError("CUDA error: out of memory")])
def test_an_oom_while_quantising_propagates_as_itself(tiny, cpu, monkeypatch, error):
    fake_torchao(monkeypatch, error)
    with pytest.raises(type(error)) as raised:
        quantise(build.build_model(tiny, cpu).model, tiny, catalogue.get_quant("int8"), cpu)
    assert raised.value is error and not isinstance(raised.value, UnsupportedQuantError)


def test_a_genuine_quantisation_failure_is_still_unsupported(tiny, cpu, monkeypatch):
    fake_torchao(monkeypatch, NotImplementedError("no int8 kernel for this layout"))
    with pytest.raises(UnsupportedQuantError, match="failed on the linear layers: NotImplementedError"):
        quantise(build.build_model(tiny, cpu).model, tiny, catalogue.get_quant("int8"), cpu)


def test_a_sweep_records_an_oom_while_quantising_as_oom_rows(tiny, monkeypatch, fixed_timer):
    fake_torchao(monkeypatch, torch.OutOfMemoryError(CUDA_OOM))
    df, _ = run_measured_profile(tiny, None, ["int8", "bf16"], ["bf16"], [1, 2], [16], device="cpu", progress=False,
                                 phases=["decode"], max_batch_cap=4)
    int8, bf16 = df[df["quant"] == "int8"], df[df["quant"] == "bf16"]
    assert list(int8["status"]) == ["oom", "oom"] and int8["latency_ms"].isna().all()
    assert int8["note"].str.startswith("out of memory building or quantising the weights: they do not fit "
                                       f"(OutOfMemoryError: {CUDA_OOM})").all()
    assert list(bf16["status"]) == ["ok", "ok"]  # the next level is measured as usual


# ---- inside a measured step: that point is an OOM row, the sweep goes on ----------------------------------


def step_failing_at(monkeypatch, batch: int, make_fn):
    """decode_step as usual, but the step at `batch` runs make_fn(step) instead (and so every call of it)."""
    real = steps.decode_step

    def decode_step(model, dev, b, context, graphs=True):
        step = real(model, dev, b, context, graphs=graphs)
        if b == batch:
            step.fn = make_fn(step)
        return step

    monkeypatch.setattr(steps, "decode_step", decode_step)


def raising(error):
    def make(step):
        def fn():
            raise error
        return fn
    return make


@pytest.mark.parametrize("error", [torch.OutOfMemoryError(CUDA_OOM), RuntimeError("CUDA error: out of memory"),
                                   MemoryError("host allocation failed")])
def test_an_oom_inside_a_measured_step_is_an_oom_row_and_the_sweep_goes_on(tiny, monkeypatch, fixed_timer, error):
    step_failing_at(monkeypatch, 2, raising(error))
    df, _ = run_measured_profile(tiny, None, ["bf16"], ["bf16"], [1, 2, 3], [16], device="cpu", progress=False,
                                 phases=["decode"], max_batch_cap=4)
    assert list(df["status"]) == ["ok", "oom", "ok"]
    row = df.iloc[1]
    assert row["note"].startswith(f"out of memory while measuring ({type(error).__name__}: {error}); "
                                  "largest batch that fits at context 16: 4 or more (search cap)")
    assert pd.isna(row["latency_ms"]) and pd.isna(row["mbu"])  # no number stands in for a measurement
    # the boundary columns still say what fits: 4 sequences (the cap) of 16 + 1 slots
    assert (row["max_batch"], row["kv_capacity_tokens"]) == (4, 4 * (16 + STATIC_CACHE_EXTRA_SLOTS))
    assert len(fixed_timer) == 2  # only the two points that ran were timed


def test_an_error_inside_a_measured_step_that_is_not_an_oom_propagates(tiny, monkeypatch, fixed_timer):
    step_failing_at(monkeypatch, 2, raising(RuntimeError("mat1 and mat2 shapes cannot be multiplied")))
    seen = []
    with pytest.raises(RuntimeError, match="mat1 and mat2"):
        run_measured_profile(tiny, None, ["bf16"], ["bf16"], [1, 2, 3], [16], device="cpu", progress=False,
                             phases=["decode"], max_batch_cap=4, on_point=seen.append)
    assert [r["batch"] for r in seen] == [1]  # the bug stops the sweep instead of becoming a row


def test_a_measured_peak_above_the_budget_is_an_oom_row_naming_both(tiny, monkeypatch, fixed_timer):
    """The CPU's emulated card (resident bytes + 16 MiB) is checked against the peak the step was measured to
    reach, as a CUDA OOM would: at batch 2 the step also allocates 17 MiB, which the live-tensor census sees."""
    extra = maxbatch.CPU_EMULATED_HEADROOM_BYTES + MIB

    def allocating(step):
        real = step.fn
        return lambda: (real(), torch.empty(extra, dtype=torch.uint8))

    step_failing_at(monkeypatch, 2, allocating)
    df, _ = run_measured_profile(tiny, None, ["bf16"], ["bf16"], [1, 2, 3], [16], device="cpu", progress=False,
                                 phases=["decode"], max_batch_cap=4)
    assert list(df["status"]) == ["ok", "oom", "ok"]
    note = df.iloc[1]["note"]
    assert note.startswith("out of memory while measuring (MeasuredOOM: measured peak ")
    assert f"exceeds the memory budget of {CPU_BUDGET:,} B (CPU run: the memory boundary is an emulated card" in note
    peak = int(re.search(r"measured peak ([\d,]+) B", note).group(1).replace(",", ""))
    cache = 2 * (16 + STATIC_CACHE_EXTRA_SLOTS) * TINY_KV_BYTES_PER_TOKEN  # batch 2 x 17 slots x 256 B
    floor = TINY_RESIDENT_BYTES + cache + extra
    assert floor <= peak < floor + MIB  # + the step's own activations
    ok = df[df["status"] == "ok"]
    assert (ok["peak_bytes"] < CPU_BUDGET).all()  # the points either side stayed under it
