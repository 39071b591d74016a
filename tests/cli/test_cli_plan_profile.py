"""`plan --profile FILE`: a measured profile sets the batch at the SLO and the rate per replica."""

import math

import pandas as pd
import pytest

from tests.helpers import cli_json

CONFIG = {"model": "llama-3.1-8b", "gpu": "h100-sxm", "quant": "bf16", "kv_dtype": "bf16", "tp": 1}


def _row(phase: str, batch: int, context: int, latency_ms: float) -> dict:
    tokens = batch * context if phase == "prefill" else batch
    return {**CONFIG, "phase": phase, "batch": batch, "context": context, "latency_ms": latency_ms,
            "tokens_per_s": tokens / latency_ms * 1e3, "weights_bytes": 16_060_000_000, "kv_bytes_per_token": 131_072,
            "peak_bytes": 70_000_000_000, "kv_capacity_tokens": 400_000, "max_batch": 400, "mbu": 0.5, "mfu": 0.1,
            "source": "measured", "status": "ok"}


def test_plan_sizes_replicas_from_the_measured_step_times(tmp_path):
    # decode 10 ms at batch 1 and 90 ms at batch 256 at every context: 10 + 10 log2(B) ms, interpolated on a log
    # axis; prefill 10 ms per 1,000 tokens. Seed workload (1,000 in, 200 out): TPOT(B) = 10 + 10 log2(B) + 5B x 0.01
    # ms: B = 15 gives 49.82 ms, B = 16 gives 50.8 ms > 50 ms.
    rows = [_row("decode", b, c, ms) for b, ms in ((1, 10.0), (256, 90.0)) for c in (512, 8192)]
    path = tmp_path / "measured.csv"
    pd.DataFrame(rows + [_row("prefill", 1, 1000, 10.0)]).to_csv(path, index=False)
    d = cli_json("plan", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "bf16", "--tp", "1", "--profile", path,
                 "--sizing", "mean-value")
    r = d["per_replica"]
    tpot_ms = 10 + 10 * math.log2(15) + 0.75
    assert (r["batch"], r["limited_by"]) == (15, "tpot")
    assert r["tpot_ms"] == pytest.approx(tpot_ms, rel=1e-12)
    # Little's law: 15 sequences, 200 decode steps + 1 prefill step per request, at the 80% load cap
    assert r["requests_per_s"] == pytest.approx(15 / (201 * tpot_ms / 1e3) * 0.8, rel=1e-12)  # 1.198 req/s
    assert "--max-num-seqs 15" in " ".join(d["vllm_args"])


def test_plan_sizes_replicas_on_p99s_by_default_with_the_measured_step_times(tmp_path):
    # the same measured profile as above, sized on p99s (the default): a Poisson stream's batch moves, so the p99
    # TPOT at the SLO edge sits on a smaller mean batch and a lower rate than the mean-value model's
    rows = [_row("decode", b, c, ms) for b, ms in ((1, 10.0), (256, 90.0)) for c in (512, 8192)]
    path = tmp_path / "measured.csv"
    pd.DataFrame(rows + [_row("prefill", 1, 1000, 10.0)]).to_csv(path, index=False)
    d = cli_json("plan", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "bf16", "--tp", "1", "--profile", path)
    r, q = d["per_replica"], d["p99"]
    assert r["limited_by"].startswith("p99 ") and r["tpot_ms"] <= 50.0
    assert r["requests_per_s"] == q["rate_per_replica_rps"] < 15 / (201 * (10 + 10 * math.log2(15) + 0.75) / 1e3)
    assert r["batch"] < 15 and q["tpot_p99_s"] <= 0.050 and q["ttft_p99_s"] <= 2.0
    assert q["at_peak"]["tpot_p99_s"] <= q["tpot_p99_s"]  # the plan's peak load is within the capacity edge
    assert f"--max-num-seqs {q['max_num_seqs']}" in " ".join(d["vllm_args"])
