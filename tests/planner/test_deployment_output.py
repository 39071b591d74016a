"""Issue 11 item 10, "deployment output that would not work": launch lines an engine accepts for the plan made.

- a checkpoint released quantised (gpt-oss MXFP4, DeepSeek-V3 block FP8) is planned in its own format, launched
  with no contradicting --quantization, and no other format is offered for it;
- --max-model-len (--max_seq_len, --context-length) is the request the replicas were sized for, not the KV cache,
  and a note says how longer requests are handled;
- the launch lines serve the chat (Instruct / -it) checkpoints;
- GeForce cards (driver licence) are not planned unless named; spot only when asked for.
"""

import math
from pathlib import Path

import pytest

from planner.capacity import Capacity, launch_max_model_len
from planner.launch import ENGINES, LENGTH_FLAG, checkpoint_conflict, launch_args, launch_notes, vllm_args
from planner.search import DEFAULT_QUANTS, SearchSpace, best, default_quants, offered_gpus, search
from planner.step_model import Deployment
from planner.workload import DEFAULT_WORKLOAD
from profiler import catalogue
from profiler.analytic.efficiency import default_efficiency
from profiler.errors import CatalogueError
from profiler.specs import KvDtype

GEFORCE = {"rtx-3090", "rtx-4090", "rtx-5090"}


def _dep(model: str, gpu: str, quant: str, tp: int = 1) -> Deployment:
    return Deployment(catalogue.get_model(model), catalogue.get_gpu(gpu), catalogue.get_quant(quant), KvDtype.BF16,
                      tp, default_efficiency(gpu, quant))


def _flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def _search(cat, model: str, space: SearchSpace):
    return search(catalogue.get_model(model), DEFAULT_WORKLOAD, space, cat.gpus, cat.quants, cat.gpu_prices,
                  cat.tco_defaults)


# ---- 1. a checkpoint released quantised: its own format, no contradicting flag ----


def test_a_checkpoint_released_quantised_is_searched_in_its_own_format(catalogues):
    assert default_quants(catalogue.get_model("gpt-oss-120b")) == ("mxfp4",)
    assert default_quants(catalogue.get_model("deepseek-v3")) == ("fp8-block",)
    assert default_quants(catalogue.get_model("llama-3.1-8b")) == DEFAULT_QUANTS  # bf16 checkpoints: unchanged
    df = _search(catalogues, "gpt-oss-120b", SearchSpace(gpus=("h200",)))
    assert set(df["quant"]) == {"mxfp4"} and df["feasible"].all()  # before: bf16, fp8, int8, int4 (bf16 chosen)


def test_no_other_format_is_offered_for_a_quantised_checkpoint_and_each_row_says_why(catalogues):
    df = _search(catalogues, "gpt-oss-120b", SearchSpace(gpus=("h200",), quants=("bf16", "fp8", "mxfp4")))
    assert set(df.loc[df["feasible"], "quant"]) == {"mxfp4"}
    other = df[df["quant"] != "mxfp4"]
    assert len(other) == 2 and not other["feasible"].any()
    assert other["reason"].str.startswith("openai/gpt-oss-120b ships mxfp4 weights").all()
    assert "refuse --quantization fp8 for it" in other.loc[other["quant"] == "fp8", "reason"].iloc[0]
    ds = catalogue.get_model("deepseek-v3")
    assert "deepseek-ai/DeepSeek-V3 ships fp8-block" in checkpoint_conflict(ds, catalogue.get_quant("int4"))
    assert checkpoint_conflict(ds, catalogue.get_quant("fp8-block")) == ""
    assert checkpoint_conflict(catalogue.get_model("llama-3.1-8b"), catalogue.get_quant("int4")) == ""


def test_the_own_format_launches_without_a_quantisation_flag():
    d = _dep("gpt-oss-120b", "h200", "mxfp4", 2)
    cap = Capacity(True, batch=64, kv_capacity_tokens=500_000)
    for engine in ("vllm", "sglang"):
        args = launch_args(engine, d, cap, 3389)
        assert "openai/gpt-oss-120b" in args and "--quantization" not in args  # the engine reads config.json
    assert any("own mxfp4 format" in n for n in launch_notes("vllm", d))
    assert not any("quantised offline" in n for n in launch_notes("trtllm", d))  # its repository serves as is
    # a bf16 checkpoint quantised on load keeps its flag
    assert _flag(vllm_args(_dep("llama-3.1-8b", "h100-sxm", "fp8"), Capacity(True, batch=1), 3000),
                 "--quantization") == "fp8"


# ---- 2. the length limit is the sized request ----


def test_the_length_limit_is_the_sized_request_not_the_kv_cache():
    # the case: Llama 3.3 70B int4 on one H100 holds 100,352 KV tokens; the seed workload's p99 request is
    # 1,200 x exp(0.5 x 2.3263 - 0.125) = 3,388.9 tokens (lognormal lengths, sigma 0.5), sized as 4 x 1,024
    d = _dep("llama-3.3-70b", "h100-sxm", "int4")
    longest = DEFAULT_WORKLOAD.input_tokens_p99 + DEFAULT_WORKLOAD.output_tokens_p99
    assert longest == pytest.approx(1200 * math.exp(0.5 * 2.3263478740408408 - 0.125))
    cap = Capacity(True, batch=50, kv_capacity_tokens=100_352)
    for engine in ENGINES:
        assert _flag(launch_args(engine, d, cap, longest), LENGTH_FLAG[engine]) == "4096"  # was 100,352
    # the simulator launches the same engine (planner.simulated passes the KV capacity too)
    assert launch_max_model_len(longest, 131_072, 100_352) == 4096


def test_each_launch_line_says_how_longer_requests_are_handled():
    d = _dep("llama-3.3-70b", "h100-sxm", "int4")
    for engine in ENGINES:
        (note,) = [n for n in launch_notes(engine, d) if n.startswith(LENGTH_FLAG[engine] + " is the workload")]
        assert f"raise {LENGTH_FLAG[engine]} (up to the model's 131,072)" in note
    (vllm,) = [n for n in launch_notes("vllm", d) if n.startswith("--max-model-len")]
    assert "refuses a longer prompt with an HTTP 400 error" in vllm


# ---- 3. chat checkpoints ----

INSTRUCT = {
    "llama-3.1-8b": "meta-llama/Llama-3.1-8B-Instruct",
    "llama-3.1-405b": "meta-llama/Llama-3.1-405B-Instruct",
    "mistral-7b-v0.3": "mistralai/Mistral-7B-Instruct-v0.3",
    "mixtral-8x7b": "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "qwen2.5-7b": "Qwen/Qwen2.5-7B-Instruct",
    "gemma-2-9b": "google/gemma-2-9b-it",
    "gemma-2-27b": "google/gemma-2-27b-it",
    "smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct",
}


@pytest.mark.parametrize("model, repo", sorted(INSTRUCT.items()))
def test_launch_lines_serve_the_chat_checkpoint(model, repo):
    m = catalogue.get_model(model)
    d = Deployment(m, catalogue.get_gpu("h200"), catalogue.get_quant("bf16"), KvDtype.BF16, 8,
                   default_efficiency("h200", "bf16"))
    assert vllm_args(d, Capacity(True, batch=1), 1000)[2] == repo


def test_the_top_level_models_file_is_the_catalogue_loaded():
    root = Path(__file__).resolve().parents[2]
    assert (root / "models.yaml").read_text() == (root / "profiler" / "catalogues" / "models.yaml").read_text()


# ---- 4. GeForce and spot: only when asked ----


def test_geforce_cards_are_tagged_consumer_and_offered_only_when_named(catalogues):
    assert {k for k, g in catalogues.gpus.items() if g.gpu_class == "consumer"} == GEFORCE
    assert not GEFORCE & set(offered_gpus(catalogues.gpus, ()))
    assert set(offered_gpus(catalogues.gpus, ("rtx-4090", "l4"))) == {"rtx-4090", "l4"}


def test_an_unknown_gpu_class_is_a_catalogue_error(write_file):
    path = write_file("gpus.yaml", "schema_version: 1\ngpus:\n  x1:\n    name: X1\n    class: gaming\n"
                      "    memory_gb: 24\n    hbm_bandwidth_tb_s: 1\n    tflops: {bf16: 100}\n    interconnect: PCIe\n"
                      "    interconnect_gb_s: 32\n    tdp_w: 300\n    source: test\n")
    with pytest.raises(CatalogueError, match="'gaming' is not a GPU class; give one of datacenter, consumer"):
        catalogue.load_gpus(path)


def test_a_production_plan_does_not_rank_a_geforce_card_first(catalogues):
    # Llama 3.1 8B on demand: before, an RTX 4090 (runpod-community $0.34/h) ranked first at $6,016/month
    df = _search(catalogues, "llama-3.1-8b", SearchSpace(pricing=("on-demand",)))
    assert not df["gpu"].isin(GEFORCE).any() and best(df)["gpu"] not in GEFORCE
    named = _search(catalogues, "llama-3.1-8b", SearchSpace(gpus=("rtx-4090", "l4"), pricing=("on-demand",)))
    assert best(named)["gpu"] == "rtx-4090"  # named with --gpu: the user asked for it


def test_spot_is_searched_only_when_asked_for():
    assert SearchSpace().pricing == ("reserved-1y",)  # --pricing spot is the only way in
