"""The main job end to end on the seed scenario: the plan adds up, fits its GPU and says use an API; an
impossible SLO says what would be feasible."""

import pytest

from planner.api import PlanRequest, plan
from planner.errors import InfeasibleError
from planner.workload import Workload
from profiler import catalogue
from profiler.analytic import memory
from profiler.specs import KvDtype


def test_the_default_plan_is_the_seed_scenario(seed_plan):
    p = seed_plan
    assert p.model == "llama-3.3-70b" and (p.workload.tokens_in_per_day, p.workload.tokens_out_per_day) == (5e6, 1e6)
    d = p.deployment
    # the seed policy's 50% hot standby: ceil(0.5 x replicas) spares, at least one
    assert d["replicas"] >= 1 and d["spare_replicas"] >= max(1, -(-d["replicas"] // 2))
    daily = {(r.provider, r.model): r.daily_cost for r in p.api.itertuples()}
    assert daily[("openai", "gpt-4o")] == pytest.approx(5 * 2.50 + 1 * 10)  # $22.50
    assert daily[("anthropic", "claude-3-5-sonnet-20241022")] == pytest.approx(5 * 3 + 1 * 15)  # $30.00


def test_the_seed_scenario_says_use_an_api(seed_plan):
    # the reference API (DeepInfra's Llama 3.3 70B at $0.13 in / $0.39 out) costs 6 x (5/6 x 0.13 + 1/6 x 0.39)
    # = $1.04/day x 30.42 (the 730-hour month) = $31.63/month, far below any self-hosted bill (the items that are
    # not GPUs alone are > $5,000)
    assert seed_plan.reference_api == "deepinfra / Llama-3.3-70B-Instruct-Turbo"
    assert seed_plan.monthly_total_cost > 5_000
    assert seed_plan.verdict.decision == "use-api"
    assert any("$31.63/month" in r for r in seed_plan.verdict.reasons)


def test_the_vllm_flags_launch_the_chosen_deployment(seed_plan):
    d = seed_plan.deployment
    args = " ".join(seed_plan.launch_args)
    # --max-num-seqs is the engine the p99 model ran (the KV cache's mean-length sequences); the batch is its mean
    seqs = seed_plan.p99["max_num_seqs"]
    assert f"--tensor-parallel-size {int(d['tp'])}" in args and f"--max-num-seqs {seqs}" in args
    assert 1 <= d["batch"] <= seqs
    assert "--max-model-len" in args and "--gpu-memory-utilization" in args


def test_the_chosen_deployment_fits_memory(seed_plan, catalogues):
    d = seed_plan.deployment
    m, g, q = catalogue.get_model("llama-3.3-70b"), catalogues.gpus[d["gpu"]], catalogues.quants[d["quant"]]
    w = seed_plan.workload
    ctx = int(w.mean_input_tokens + w.mean_output_tokens)
    need = memory.weight_bytes(m, q, int(d["tp"])) + d["batch"] * memory.kv_bytes_per_sequence(
        m, KvDtype(d["kv_dtype"]), int(d["tp"]), ctx)
    assert need <= 0.9 * g.hbm_bytes


def test_an_impossible_slo_says_what_would_be_feasible():
    with pytest.raises(InfeasibleError, match="Relax the SLOs") as exc:
        plan(PlanRequest(workload=Workload(tpot_p99_s=0.0005), gpus=("h100-sxm",)))
    assert "TPOT p99 0.5 ms" in str(exc.value) and "would be feasible" in str(exc.value)
