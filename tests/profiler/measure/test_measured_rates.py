"""Measured MBU and MFU against hand-counted bytes and FLOPs, with the time and the machine record fixed; and the
CPU's measured "datasheet" (cpu_spec): its arithmetic, and that it is measured once per process."""

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

import profiler.measure.environment as environment  # noqa: E402
import profiler.measure.timers as timers  # noqa: E402
from profiler.measure.sweep import run_measured_profile  # noqa: E402
from profiler.specs import GpuSpec  # noqa: E402
from tests.profiler.measure.fakes import fixed_timing  # noqa: E402
from tests.profiler.measure.tiny import TINY_BF16_BYTES, decode_by_hand, prefill_by_hand  # noqa: E402

BANDWIDTH = 1e9  # B/s of the fake machine record
FLOPS = 1e10  # bf16 FLOP/s
T = 0.001  # s: every point's median latency


def fake_machine() -> GpuSpec:
    return GpuSpec(id="cpu", name="fake", hbm_bytes=2**34, hbm_bandwidth_bytes_per_s=BANDWIDTH,
                   tflops={"bf16": FLOPS / 1e12}, interconnect_bytes_per_s=0.0, interconnect="none", tdp_w=float("nan"),
                   gpus_per_node=1, vendor="cpu", source="test")


def test_the_hand_counts_start_from_the_right_model(tiny):
    from profiler import catalogue
    from profiler.analytic import memory as amem

    assert amem.weight_bytes(tiny, catalogue.get_quant("bf16"), 1) == TINY_BF16_BYTES == 213_632
    assert decode_by_hand(1, 16) == (185_600, 188_928)  # 180,864 + 128 + 2 x 17 x 128 + 256; 180,224 + 34 x 256


@pytest.fixture(scope="module")
def rows(tiny):
    """A sweep on the fake machine record whose every point takes exactly T (median)."""
    import profiler.measure.runner as runner

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(environment, "cpu_spec", fake_machine)
        mp.setattr(runner, "time_call", lambda fn, dev, policy=None: fixed_timing(T, 0.0))
        df, meta = run_measured_profile(tiny, None, ["bf16"], ["bf16"], [1, 2], [16, 32], device="cpu",
                                        progress=False, max_batch_cap=2)
    assert meta.environment["machine_spec"]["hbm_bandwidth_bytes_per_s"] == BANDWIDTH
    return df.set_index(["phase", "batch", "context"])


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("context", [16, 32])
def test_decode_mbu_and_mfu_are_hand_counted_bytes_and_flops_over_time_and_the_machine_rates(rows, batch, context):
    row = rows.loc[("decode", batch, context)]
    nbytes, flops = decode_by_hand(batch, context)
    tokens_per_s = batch / T  # one new token per sequence per step
    assert row["latency_ms"] == pytest.approx(T * 1e3) and row["tokens_per_s"] == pytest.approx(tokens_per_s)
    # bytes streamed per token x tokens/s / bandwidth
    assert row["mbu"] == pytest.approx(nbytes / batch * tokens_per_s / BANDWIDTH, rel=1e-12)
    assert row["mfu"] == pytest.approx(flops / batch * tokens_per_s / FLOPS, rel=1e-12)


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("context", [16, 32])
def test_prefill_mbu_and_mfu_are_hand_counted_bytes_and_flops_over_time_and_the_machine_rates(rows, batch, context):
    row = rows.loc[("prefill", batch, context)]
    nbytes, flops = prefill_by_hand(batch, context)
    assert row["tokens_per_s"] == pytest.approx(batch * context / T)
    assert row["mbu"] == pytest.approx(nbytes / T / BANDWIDTH, rel=1e-12)
    assert row["mfu"] == pytest.approx(flops / T / FLOPS, rel=1e-12)


# ---- the CPU's measured record ------------------------------------------------------------------------------


def test_cpu_spec_divides_the_fastest_copy_and_matmul(monkeypatch):
    """Bandwidth = bytes read + written by the fastest 64 MiB copy / its time; FLOP/s = 2 n^3 / the fastest
    512^3 matmul. Times faked: copy fastest 4 ms (median 5), matmul fastest 2 ms (median 3)."""
    got = [replace(fixed_timing(0.005, 0.002), min_s=0.004), replace(fixed_timing(0.003, 0.002), min_s=0.002)]
    monkeypatch.setattr(timers, "time_call", lambda fn, dev, policy=None: got.pop(0))
    spec = environment.cpu_spec.__wrapped__()  # the measuring function itself, not the per-process cache
    assert not got  # one copy and one matmul were timed
    assert spec.hbm_bandwidth_bytes_per_s == 2 * 64 * 2**20 / 0.004  # 33.6 GB/s
    assert spec.tflops == {"bf16": 2 * 512**3 / 0.002 / 1e12}  # 0.134 TFLOP/s
    assert spec.id == "cpu" and "fastest of 9 4.00 ms (median 5.00)" in spec.source


def test_the_cpu_is_measured_once_per_process(monkeypatch):
    first = environment.cpu_spec()
    monkeypatch.setattr(timers, "time_call", lambda *a, **k: pytest.fail("the CPU was measured again"))
    assert environment.cpu_spec() is first
    assert environment.machine_spec(torch.device("cpu"), None) is first
