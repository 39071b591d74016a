"""The main job end to end, and the planner's invariants (hypothesis)."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from planner.api import PlanRequest, plan, policy_for
from planner.errors import InfeasibleError
from planner.plan import load_catalogues
from planner.search import SearchSpace, search
from planner.workload import Workload
from profiler import catalogue
from profiler.analytic import memory
from profiler.specs import KvDtype

CAT = load_catalogues()
L8 = catalogue.get_model("llama-3.1-8b")


@pytest.fixture(scope="module")
def default_plan():
    return plan(PlanRequest())


def test_default_plan_is_the_seed_scenario_and_adds_up(default_plan):
    p = default_plan
    assert p.model == "llama-3.3-70b" and p.workload.tokens_in_per_day == 5e6
    d = p.deployment
    assert d["replicas"] >= 1 and d["spare_replicas"] >= 1  # 50% hot standby and 99.9% both need a spare
    assert p.line_items["monthly_usd"].sum() == pytest.approx(p.monthly_total_cost)
    assert p.tco_multiplier == pytest.approx(p.monthly_total_cost / p.monthly_gpu_cost)
    assert p.verdict.decision in ("use-api", "self-host", "dedicated-api-first", "hybrid") and p.verdict.reasons
    args = " ".join(p.vllm_args)
    for flag in ("--tensor-parallel-size", "--max-num-seqs", "--max-model-len", "--gpu-memory-utilization"):
        assert flag in args
    daily = {(r.provider, r.model): r.daily_cost for r in p.api.itertuples()}
    assert daily[("openai", "gpt-4o")] == pytest.approx(22.50)
    assert daily[("anthropic", "claude-3-5-sonnet-20241022")] == pytest.approx(30.00)


def test_chosen_deployment_fits_memory(default_plan):
    d = default_plan.deployment
    m, g, q = catalogue.get_model("llama-3.3-70b"), CAT.gpus[d["gpu"]], CAT.quants[d["quant"]]
    w = default_plan.workload
    ctx = int(w.mean_input_tokens + w.mean_output_tokens)
    need = memory.weight_bytes(m, q, int(d["tp"])) + d["batch"] * memory.kv_bytes_per_sequence(
        m, KvDtype(d["kv_dtype"]), int(d["tp"]), ctx)
    assert need <= 0.9 * g.hbm_bytes


def test_impossible_slo_says_what_would_be_feasible():
    with pytest.raises(InfeasibleError, match="Relax the SLOs|TPOT"):
        plan(PlanRequest(workload=Workload(tpot_p99_s=0.0005), gpus=("h100-sxm",)))


def _sized(tokens_per_day: float):
    w = Workload().scaled_to(tokens_per_day)
    space = SearchSpace(gpus=("h100-sxm",), quants=("bf16",), tps=(1,), redundancy=policy_for(PlanRequest()))
    row = search(L8, w, space, CAT.gpus, CAT.quants, CAT.gpu_prices, CAT.tco_defaults).iloc[0]
    return w, row


@settings(max_examples=12, deadline=None)
@given(st.floats(min_value=1e5, max_value=5e9), st.floats(min_value=1.01, max_value=4.0))
def test_replicas_and_cost_never_fall_as_volume_rises(volume, factor):
    _, lo = _sized(volume)
    _, hi = _sized(volume * factor)
    assert hi["replicas"] >= lo["replicas"]
    assert hi["monthly_total_cost"] >= lo["monthly_total_cost"] - 1e-6


@settings(max_examples=10, deadline=None)
@given(st.floats(min_value=1e5, max_value=5e9))
def test_every_sized_plan_fits_the_gpu(volume):
    w, row = _sized(volume)
    ctx = int(w.mean_input_tokens + w.mean_output_tokens)
    q, g = CAT.quants["bf16"], CAT.gpus["h100-sxm"]
    kv = row["batch"] * memory.kv_bytes_per_sequence(L8, KvDtype.BF16, 1, ctx)
    assert memory.weight_bytes(L8, q, 1) + kv <= 0.9 * g.hbm_bytes


def test_cli_plan_json_has_the_documented_keys():
    r = CliRunner().invoke(__import__("planner.cli").cli.app, ["plan", "--format", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    for key in ("model", "gpu", "quant", "tp", "replicas", "spare_replicas", "gpus_total", "monthly_gpu_cost",
                "monthly_total_cost", "tco_multiplier", "line_items", "api", "crossover_tokens_per_day", "verdict"):
        assert key in d
    assert {"name", "monthly_cost"} <= set(d["line_items"][0])
    assert {"provider", "model", "daily_cost", "monthly_cost"} <= set(d["api"][0])


def test_cli_plan_bad_input_is_one_line_without_traceback(tmp_path):
    from planner.cli import app

    runner = CliRunner()
    for args, needle in ((["plan", "llama-3.3-7b"], "llama-3.3-70b"),
                         (["plan", "--tokens-per-day-in", "lots"], "lots"),
                         (["plan", "--availability", "100"], "availability"),
                         (["plan", "--gpu", "h100"], "h100-sxm")):
        r = runner.invoke(app, args)
        assert r.exit_code == 1 and needle in r.output and "Traceback" not in r.output, (args, r.output)
    bad = tmp_path / "w.yaml"
    bad.write_text("tokens_in_per_day: 5M\n  ttft_p99: [2s\n")
    r = runner.invoke(app, ["plan", "--workload", str(bad)])
    assert r.exit_code == 1 and "w.yaml:2" in r.output, r.output  # file:line


def test_plan_outputs_and_plot(tmp_path):
    from planner.cli import app

    runner = CliRunner()
    for name in ("plan.json", "plan.md", "plan.xlsx", "plan.csv"):
        r = runner.invoke(app, ["plan", "llama-3.1-8b", "--gpu", "h100-sxm", "-o", str(tmp_path / name)])
        assert r.exit_code == 0, r.output
        assert (tmp_path / name).stat().st_size > 0
    r = runner.invoke(app, ["plan", "llama-3.1-8b", "--gpu", "h100-sxm", "--plot", str(tmp_path / "c.png")])
    assert r.exit_code == 0 and (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_compare_crossover_and_simulate_commands(tmp_path):
    from planner.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["compare", "--format", "json"])
    assert r.exit_code == 0 and any(x["model"] == "gpt-4o" for x in json.loads(r.stdout))
    r = runner.invoke(app, ["crossover", "llama-3.1-8b", "--gpu", "h100-sxm", "--format", "json"])
    assert r.exit_code == 0 and "crossover_tokens_per_day" in json.loads(r.stdout)[0]
    r = runner.invoke(app, ["simulate", "llama-3.1-8b", "--rate", "2/s", "--duration", "2m", "--format", "json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)["metrics"]
    assert m["ttft"]["p99"] > 0 and m["requests_measured"] > 100
    trace = tmp_path / "t.csv"
    trace.write_text("timestamp,input_tokens,output_tokens\n" + "".join(f"{i * 0.5},{200 + i},{50}\n"
                                                                        for i in range(200)))
    r = runner.invoke(app, ["simulate", "llama-3.1-8b", "--trace", str(trace), "--plot", str(tmp_path / "l.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "l.png").exists()
    r = runner.invoke(app, ["simulate", "llama-3.1-8b"])
    assert r.exit_code == 1 and "--rate" in r.output


def test_plan_simulate_reports_simulated_p99s():
    p = plan(PlanRequest(model="llama-3.1-8b", gpus=("h100-sxm",), quants=("bf16",), tps=(1,), simulate=True))
    s = p.simulated
    assert s and s["rate_per_replica_rps"] > 0
    assert s["tpot_p99_s"] <= p.workload.tpot_p99_s and s["ttft_p99_s"] <= p.workload.ttft_p99_s
