"""planner.engines for --engine sglang: SGLang's default limits, worked by hand, and the engine a run gets."""

from __future__ import annotations

import pytest

from planner.engines import EngineKnobs, check_knobs, preemption_warning, sglang_default_limits

GIB = 1024**3


@pytest.mark.parametrize(("hbm_gib", "kv_tokens", "context", "expected"), [
    # H100 80 GiB, llama-3.1-8b: 452,400 / 131,072 x 512 = 1,767 slots -> raised to 2,048; chunk 8,192
    (80, 452_400, 131_072, (2048, 8192)),
    # a large cache and a short context: 2,000,000 / 8,192 x 512 = 125,000 slots -> capped at 4,096
    (141, 2_000_000, 8_192, (4096, 8192)),
    # a small cache: max_total_num_tokens // 2 = 1,500 binds
    (80, 3_000, 8_192, (1500, 8192)),
    # A100 40 GB class (< 60 GiB): chunk 4,096, which also caps the running limit in this simulator
    (40, 2_000_000, 8_192, (4096, 4096)),
    # L4 24 GB (< 35 GiB): chunk 2,048
    (24, 31_024, 131_072, (2048, 2048)),
    # B200 / MI300X (>= 160 GiB): chunk 16,384; 1,000,000 / 131,072 x 512 = 3,906 slots
    (192, 1_000_000, 131_072, (3906, 16384)),
])
def test_sglang_default_limits(hbm_gib, kv_tokens, context, expected):
    assert sglang_default_limits(hbm_gib * GIB, kv_tokens, context) == expected


def test_sglang_knobs():
    knobs = check_knobs(EngineKnobs(engine="sglang"))
    assert knobs.policy == "sglang"
    from profiler.errors import InvalidValueError

    with pytest.raises(InvalidValueError, match="SGLang has one policy"):
        check_knobs(EngineKnobs(engine="sglang", capacity_policy="max-utilization"))
    assert "SGLang retracts" in preemption_warning(knobs, 3)
