"""Hand-checked values and physical monotonicity of profiler.analytic.kernel_efficiency."""

import math

import pytest

from profiler.analytic import kernel_efficiency as ke

MiB = 2**20


def test_gemm_bandwidth_hand_values():
    # H100: b_half = 3.73e-6 x 3.35e12 x 0.879 = 10.98 MB
    b = 64 * MiB
    assert ke.gemm_bandwidth_efficiency(b, "h100-sxm") == pytest.approx(0.879 * b / (b + 3.73e-6 * 3.35e12 * 0.879))
    assert ke.gemm_bandwidth_efficiency(b, "h100-sxm") == pytest.approx(0.755, abs=0.002)
    # A100, 8 MiB: 0.751 x 8.39 / (8.39 + 8.52) = 0.373 (data median at ~8 MB: 0.377)
    assert ke.gemm_bandwidth_efficiency(8 * MiB, "a100-80gb") == pytest.approx(0.373, abs=0.002)
    # unknown GPU -> H100 fit, with its own BW when given
    assert ke.gemm_bandwidth_efficiency(b, "mi300x") == ke.gemm_bandwidth_efficiency(b, "h100-sxm")
    assert ke.gemm_bandwidth_efficiency(b, "mi300x", 5.3e12) < ke.gemm_bandwidth_efficiency(b, "h100-sxm")


@pytest.mark.parametrize("gpu", ["a100-80gb", "h100-sxm", "h200", "b200", "l40s", "rtx-5090", "mi300x"])
def test_gemm_bandwidth_monotone_and_bounded(gpu):
    sizes = [1e5, 1e6, 4e6, 16e6, 64e6, 256e6, 1e9]
    etas = [ke.gemm_bandwidth_efficiency(s, gpu) for s in sizes]
    assert all(0 < e <= 1 for e in etas)
    assert etas == sorted(etas)
    assert ke.gemm_bandwidth_efficiency(0, gpu) == 0.0


def test_gemm_compute_hand_values():
    assert ke.gemm_compute_efficiency(4096, 4096, 4096, "bf16", "h100-sxm") == pytest.approx(
        0.829 * 4096 / 4102 * 4096 / 4140 * 4096 / 4308)
    assert ke.gemm_compute_efficiency(4096, 4096, 4096, "bf16", "h100-sxm") == pytest.approx(0.779, abs=0.002)
    assert ke.gemm_compute_efficiency(8192, 8192, 8192, "fp8", "b200") == pytest.approx(
        0.840 * 8192 / 8428 * 8192 / 12501 * 8192 / 9011)
    # Ampere has no fp8 fit: falls back to its bf16 curve
    assert ke.gemm_compute_efficiency(2048, 4096, 4096, "fp8", "a100-80gb") == ke.gemm_compute_efficiency(
        2048, 4096, 4096, "bf16", "a100-80gb")


@pytest.mark.parametrize("gpu,dtype", [("h100-sxm", "bf16"), ("h100-sxm", "fp8"), ("b200", "fp8"), ("l40s", "bf16"),
                                       ("a100-80gb", "bf16")])
def test_gemm_compute_monotone_and_bounded(gpu, dtype):
    for shape in [(64, 4096, 4096), (512, 4096, 4096), (8192, 4096, 4096), (8192, 16384, 4096), (8192, 16384, 16384)]:
        assert 0 < ke.gemm_compute_efficiency(*shape, dtype, gpu) <= 1
    ms = [ke.gemm_compute_efficiency(m, 8192, 8192, dtype, gpu) for m in (64, 256, 1024, 4096, 16384)]
    assert ms == sorted(ms)


def test_grouped_gemm():
    g = ke.grouped_gemm_efficiency(64, "h100-sxm")
    assert g.compute == pytest.approx(0.613 * 64 / (64 + 179))
    assert g.compute == pytest.approx(0.161, abs=0.001)
    assert g.bandwidth == 0.961
    assert ke.grouped_gemm_efficiency(64, "a100-80gb") == g  # no Ampere data -> H100
    for gpu in ("h100-sxm", "h200", "b200", "gb200"):
        c = [ke.grouped_gemm_efficiency(t, gpu).compute for t in (1, 4, 16, 64, 256, 1024, 8192)]
        assert c == sorted(c) and all(0 < x <= 1 for x in c)
        assert 0 < ke.grouped_gemm_efficiency(1, gpu).bandwidth <= 1


def test_allreduce_hand_values():
    # NVLink: the measured vLLM table, 256 B x 2^i; NVLink 4 at 8 KiB (i = 5): TP2 4.376, TP4 4.81, TP8 5.108 us;
    # NVLink 3 TP2 5.222 us
    assert ke.allreduce_time_s(8192, 8, "NVLink 4") == pytest.approx(5.108e-6, rel=1e-12)
    assert ke.allreduce_time_s(8192, 2, "NVLink 3") == pytest.approx(5.222e-6, rel=1e-12)
    # 64 MiB (i = 18) at TP8: 344 us, a bus bandwidth of 2 x 7/8 x 67,108,864 / 344e-6 = 341 GB/s
    assert ke.allreduce_time_s(2**26, 8, "NVLink 4") == pytest.approx(344e-6, rel=1e-12)
    # between sizes: log-log; 12,288 B is i = log2(48) = 5.585 between 4.376 (8 KiB) and 4.436 us (16 KiB) at TP2
    f = math.log2(48) - 5
    assert ke.allreduce_time_s(12_288, 2, "NVLink 4") == pytest.approx(
        math.exp((1 - f) * math.log(4.376) + f * math.log(4.436)) * 1e-6, rel=1e-12)
    # below 256 B: the first entry; above 1 GiB (i = 22): linear in bytes from the last entry (TP8 4,009 us)
    assert ke.allreduce_time_s(10, 2, "NVLink 4") == pytest.approx(4.183e-6, rel=1e-12)
    assert ke.allreduce_time_s(2**31, 8, "NVLink 4") == pytest.approx(2 * 4009e-6, rel=1e-12)
    # line fits elsewhere: lat + 2 (tp - 1) / tp x bytes / busbw
    assert ke.allreduce_time_s(8192, 8, "PCIe Gen4 x16") == pytest.approx(27.05e-6 + 2 * 7 / 8 * 8192 / 10e9)
    assert ke.allreduce_time_s(1e6, 1, "NVLink 4") == 0.0
    # tp 6 uses the tp 4 row; unknown strings and suffixes
    assert ke.allreduce_time_s(8192, 6, "NVLink 4") == pytest.approx(4.81e-6, rel=1e-12)
    assert ke.allreduce_time_s(8192, 2, "Ethernet") == ke.allreduce_time_s(8192, 2, "PCIe Gen4 x16")
    assert ke.allreduce_time_s(8192, 2, "PCIe Gen4 x16 (no NVLink)") == ke.allreduce_time_s(8192, 2, "PCIe Gen4 x16")
    assert ke.allreduce_time_s(8192, 2, "NVLink") == ke.allreduce_time_s(8192, 2, "NVLink 3")
    assert ke.allreduce_time_s(8192, 8, "Infinity Fabric (7 links, 8 GPUs fully connected)") == pytest.approx(
        10e-6 + 2 * 7 / 8 * 8192 / 358e9)


@pytest.mark.parametrize("ic", [*ke.ALLREDUCE_TABLE, *ke.ALLREDUCE])
@pytest.mark.parametrize("tp", [2, 4, 8])
def test_allreduce_monotone_in_size(ic, tp):
    times = [ke.allreduce_time_s(s, tp, ic) for s in (0, 1024, 8192, 12_000, 2**20, 2**24, 2**28, 2**30, 2**32)]
    assert all(t > 0 for t in times) and times == sorted(times)


@pytest.mark.parametrize("ic", list(ke.ALLREDUCE_TABLE))
def test_allreduce_tables_are_whole_and_non_decreasing(ic):
    rows, source = ke.ALLREDUCE_TABLE[ic]
    assert sorted(rows) == [2, 4, 8] and "custom_allreduce_perf.parquet" in source
    for row in rows.values():
        assert len(row) == 23 and list(row) == sorted(row)  # 256 B .. 1 GiB


def test_attention_decode():
    b = 8192 * 8 * 128 * 4  # 8k tokens x 8 KV heads x d128 x (K+V) x bf16 = 33.5 MB
    assert ke.attention_decode_bandwidth_efficiency(b, 1, "h100-sxm") == pytest.approx(0.92 * b / (b + 27e6))
    assert ke.attention_decode_bandwidth_efficiency(b, 1, "h100-sxm") == pytest.approx(0.51, abs=0.01)
    e = [ke.attention_decode_bandwidth_efficiency(b, n, "h100-sxm") for n in (1, 4, 16, 64)]
    assert e == sorted(e) and all(0 < x <= 1 for x in e)


def test_sources_named():
    # the aiconfigurator tables; the Apple family is fitted to published llama.cpp rows (benchmarks/llamacpp_check.py)
    assert all("095f58a5" in row[-1] for fam, row in ke.GEMM_BW_FIT.items() if fam != "apple")
    assert "llamacpp_check.py --fit" in ke.GEMM_BW_FIT["apple"][-1]
    assert any("095f58a51c4ca8e61b66ec108d86f223f8d559ce" in k for k in ke.SOURCES)
