"""`inferplan profile --engine-log`: the startup lines vLLM would print, checked against numbers derived by hand.

Llama-3.1-8B (catalogue llama-3.1-8b) in bf16 on one H100 SXM (catalogue h100-sxm: 81,559 MiB = 85,520,809,984 B)
at the default --gpu-memory-utilization 0.9, vLLM v0.21+ accounting, every figure per GPU:
    requested   int(0.9 x 85,520,809,984)                                                    = 76,968,728,985
    weights     8,030,261,248 parameters x 2 B (tests/profiler/test_params.py)               = 16,060,522,496
    torch peak  the profile run's forward at 8,192 batched tokens: 8,192 x (hidden 4,096 + MLP input 4,096
                + q 4,096 + k,v 2 x 1,024 + gate/up/down 3 x 14,336 = 57,344) x 2 B          =    939,524,096
                (above the sampler run: 8,192 x 4,096 x 2 B + 256 seqs x 128,256 logits x 16 B = 592,445,440)
    non-torch 128 MiB + CUDA graphs 512 MiB, charged inside the share since v0.21            =    671,088,640
    KV budget   76,968,728,985 - 16,060,522,496 - 939,524,096 - 671,088,640                  = 59,297,593,753
KV bytes per token: 32 layers x 8 KV heads x 128 dims x 2 (K, V) x 2 B = 131,072, one layer's 16-token block
4,096 x 16 = 65,536 B; vLLM: num_blocks = budget // 65,536 // 32 layers = 28,275 -> 28,275 x 16 = 452,400 tokens.
"""

import pytest

from profiler import api
from profiler.analytic.memory import EngineVersion, engine_version
from profiler.errors import InvalidValueError
from tests.helpers import cli, cli_error, cli_json

GIB = 2**30
REQUESTED = 76_968_728_985
WEIGHTS = 16_060_522_496
TORCH_PEAK = 939_524_096
INSIDE = 134_217_728 + 536_870_912  # non-torch increase + CUDA graph estimate
KV_BUDGET = REQUESTED - WEIGHTS - TORCH_PEAK - INSIDE
KV_PER_TOKEN = 32 * 8 * 128 * 2 * 2
PAGE = 16 * KV_PER_TOKEN // 32  # one layer's block of 16 tokens
GRAPHS = 536_870_912
ONE_POINT = ("--batch", "1", "--context", "1024")


def blocks(budget: int) -> int:
    """vLLM's num_blocks for a 32-layer uniform model: whole pages, shared by every layer."""
    return budget // PAGE // 32


def block_of(output: str, title_start: str = "vLLM ") -> list[str]:
    """The engine-log block (title and its lines) that starts with `title_start`, stripped."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title_start))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")), len(lines))
    return [line.strip() for line in lines[start:end]]


def test_hand_derivation_of_the_budget():
    assert KV_BUDGET == 59_297_593_753 and KV_PER_TOKEN == 131_072 and PAGE == 65_536
    assert blocks(KV_BUDGET) == 28_275 and blocks(KV_BUDGET) * 16 == 452_400


def test_llama8b_on_h100_prints_vllms_four_lines_with_hand_computed_numbers():
    r = cli("profile", "llama-3.1-8b", "--gpu", "h100-sxm", *ONE_POINT, "--engine-log", "--max-model-len", "32768")
    assert r.exit_code == 0, r.output
    tokens = blocks(KV_BUDGET) * 16
    # a 32,768-token request takes cdiv(32,768, 16) = 2,048 blocks: 28,275 / 2,048 = 13.806 -> 13.81x
    concurrency = blocks(KV_BUDGET) / -(-32768 // 16)
    assert block_of(r.stdout) == [
        "vLLM v0.21+ startup, predicted (llama-3.1-8b, h100-sxm, bf16, TP1):",
        f"Model loading took {round(WEIGHTS / GIB, 2)} GiB memory",
        f"Available KV cache memory: {round(KV_BUDGET / GIB, 2)} GiB",
        f"GPU KV cache size: {tokens:,} tokens",
        f"Maximum concurrency for 32,768 tokens per request: {concurrency:.2f}x",
    ]
    # the same lines as literals, in case the derivation above and the code share a mistake
    assert "Model loading took 14.96 GiB memory" in r.stdout and "Available KV cache memory: 55.23 GiB" in r.stdout
    assert "GPU KV cache size: 452,400 tokens" in r.stdout
    assert "Maximum concurrency for 32,768 tokens per request: 13.81x" in r.stdout
    assert "llama-3.1-8b on h100-sxm (analytic)" in r.stdout  # the profile table is still printed above it


def test_json_adds_an_engine_log_list_beside_the_rows():
    doc = cli_json("profile", "llama-3.1-8b", *ONE_POINT, "--engine-log")
    assert doc["rows"] == cli_json("profile", "llama-3.1-8b", *ONE_POINT)  # the profile rows are unchanged
    (log,) = doc["engine_log"]
    # defaults: max_model_len = the model's 131,072-token context, vLLM's 8,192 batched tokens and 256 sequences
    assert {k: log[k] for k in ("model", "gpu", "quant", "kv_dtype", "tp", "vllm_version", "engine", "max_model_len",
                                "max_num_batched_tokens", "max_num_seqs", "gpu_memory_utilization",
                                "enforce_eager")} == {
        "model": "llama-3.1-8b", "gpu": "h100-sxm", "quant": "bf16", "kv_dtype": "bf16", "tp": 1,
        "vllm_version": "latest", "engine": "v0.21+", "max_model_len": 131_072, "max_num_batched_tokens": 8192,
        "max_num_seqs": 256, "gpu_memory_utilization": 0.9, "enforce_eager": False}
    assert log["weights_gib"] == 14.96 and log["kv_cache_gib"] == 55.23
    assert log["kv_cache_tokens"] == 452_400
    # a 131,072-token request takes 8,192 blocks: 28,275 / 8,192 = 3.4515...
    assert log["max_concurrency"] == pytest.approx(28_275 / 8192, abs=1e-12)
    assert log["starts"] is True and log["error"] == "" and log["error_kind"] == ""
    assert log["lines"][-1] == "Maximum concurrency for 131,072 tokens per request: 3.45x"


def test_without_the_flag_the_json_stays_a_list_of_rows():
    rows = cli_json("profile", "llama-3.1-8b", *ONE_POINT)
    assert isinstance(rows, list) and "engine_log" not in rows[0]
    assert "startup, predicted" not in cli("profile", "llama-3.1-8b", *ONE_POINT).stdout


def test_one_block_per_quant_kv_dtype_and_tp_in_the_profile_order():
    doc = cli_json("profile", "llama-3.1-8b", *ONE_POINT, "--engine-log", "--quant", "bf16,fp8",
                   "--kv-dtype", "bf16,fp8", "--tp", "1,2")
    keys = [(e["quant"], e["kv_dtype"], e["tp"]) for e in doc["engine_log"]]
    assert keys == [(q, kv, tp) for q in ("bf16", "fp8") for kv in ("bf16", "fp8") for tp in (1, 2)]
    by = {(e["quant"], e["kv_dtype"], e["tp"]): e for e in doc["engine_log"]}
    # fp8 KV halves the bytes per token on the same budget: exactly twice the blocks' tokens (page 32,768 B)
    assert by[("bf16", "fp8", 1)]["kv_cache_tokens"] == KV_BUDGET // (PAGE // 2) // 32 * 16
    # TP2, bf16: tests/profiler/analytic/test_memory_engine.py derives the per-rank budget on an 80 GiB card; here
    # on 85,520,809,984 B: requested 76,968,728,985 - weights 8,030,527,488 - torch peak 592,445,440 - 671,088,640
    tp2 = 76_968_728_985 - 8_030_527_488 - 592_445_440 - 671_088_640
    assert by[("bf16", "bf16", 2)]["kv_cache_tokens"] == tp2 // (16 * 4 * 128 * 2 * 2) // 32 * 16


def test_table_titles_name_the_kv_dtype_when_it_is_fp8():
    r = cli("profile", "llama-3.1-8b", *ONE_POINT, "--engine-log", "--kv-dtype", "fp8", "--vllm-version", "0.19.0")
    assert r.exit_code == 0, r.output
    assert "vLLM v0.19.0 startup, predicted (llama-3.1-8b, h100-sxm, bf16, KV fp8, TP1):" in r.stdout


@pytest.mark.parametrize("version, extra_kv", [
    ("0.19.0", GRAPHS),  # v0.10-v0.20 captured the graphs in the headroom: 512 MiB more KV
    ("v0.10.1.1", GRAPHS),
    ("0.9.2", GRAPHS),  # v0.9.2: NCCL inside the share, but at TP 1 there is none
    ("0.8.5", 0),  # v1 <= 0.9.1: the 512 MiB CUDA context charged instead of the 512 MiB graphs
    ("0.21.0", 0),
    ("latest", 0),
])
def test_the_vllm_version_picks_the_accounting(version, extra_kv):
    (log,) = cli_json("profile", "llama-3.1-8b", *ONE_POINT, "--engine-log", "--vllm-version", version)["engine_log"]
    assert log["kv_cache_tokens"] == blocks(KV_BUDGET + extra_kv) * 16
    assert log["kv_cache_gib"] == round((KV_BUDGET + extra_kv) / GIB, 2)
    assert log["engine"] == engine_version(version).value


def test_enforce_eager_drops_the_graph_estimate_and_the_chunk_sets_the_profile_run():
    (eager,) = cli_json("profile", "llama-3.1-8b", *ONE_POINT, "--engine-log", "--enforce-eager")["engine_log"]
    assert eager["enforce_eager"] is True and eager["kv_cache_tokens"] == blocks(KV_BUDGET + GRAPHS) * 16 == 456_496
    (small,) = cli_json("profile", "llama-3.1-8b", *ONE_POINT, "--engine-log", "--max-num-batched-tokens", "2048",
                        "--max-num-seqs", "256")["engine_log"]
    # 2,048 tokens: forward 2,048 x 57,344 x 2 B = 234,881,024 is now below the sampler run,
    # 2,048 x 4,096 x 2 B + 256 x 128,256 x 16 B = 542,113,792
    budget = REQUESTED - WEIGHTS - 542_113_792 - INSIDE
    assert small["max_num_batched_tokens"] == 2048 and small["kv_cache_tokens"] == blocks(budget) * 16 == 455_424


def test_a_max_model_len_the_cache_cannot_hold_ends_in_vllms_error_paraphrased():
    # l4: 22.5 GiB; llama-3.1-8b's default max_model_len 131,072 needs 32 x 8,192 blocks x 65,536 B = 16.00 GiB
    r = cli("profile", "llama-3.1-8b", "--gpu", "l4", *ONE_POINT, "--engine-log")
    assert r.exit_code == 0, r.output
    (log,) = cli_json("profile", "llama-3.1-8b", "--gpu", "l4", *ONE_POINT, "--engine-log")["engine_log"]
    assert log["starts"] is False and log["error_kind"] == "max-model-len"
    assert len(log["lines"]) == 2 and log["lines"][0] == "Model loading took 14.96 GiB memory"  # vLLM stops there
    assert log["error"].startswith("To serve at least one request with the model's max seq len (131072), 16.00 GiB "
                                   "KV cache is needed, which is larger than the available KV cache memory "
                                   f"({log['kv_cache_gib']:.2f} GiB).")
    # a uniform model: the longest length that fits is exactly the cache's whole blocks, the KV cache size
    assert f"the estimated maximum model length is {log['kv_cache_tokens']}." in log["error"]
    assert "its error, paraphrased" in r.stdout and "GPU KV cache size" not in r.stdout


def test_weights_past_the_share_print_vllms_no_cache_memory_error():
    # llama-3.1-8b bf16 at utilisation 0.2 of an H100: requested int(0.2 x 85,520,809,984) = 17,104,161,996,
    # minus the weights 16,060,522,496, torch peak 939,524,096 and 671,088,640 inside = -566,973,236 B
    log = api.engine_log("llama-3.1-8b", "h100-sxm", "bf16", gpu_memory_utilization=0.2, max_model_len=4096)
    assert (log.starts, log.error_kind, log.kv_cache_tokens) == (False, "no-cache-memory", 0)
    assert log.lines == ["Model loading took 14.96 GiB memory", "Available KV cache memory: -0.53 GiB"]
    assert log.error.startswith("No available memory for the cache blocks.")


@pytest.mark.parametrize("text, expected", [
    ("0.8.0", EngineVersion.V1_LEGACY),
    ("0.8.5", EngineVersion.V1_LEGACY),
    ("v0.9.1", EngineVersion.V1_LEGACY),
    ("0.9.2", EngineVersion.V1_BASELINE),
    ("v0.9.2", EngineVersion.V1_BASELINE),
    ("0.9.2rc1", EngineVersion.V1_BASELINE),
    ("0.10.0", EngineVersion.V1_NCCL_IN_BASELINE),
    ("0.10.1.1", EngineVersion.V1_NCCL_IN_BASELINE),
    ("0.19.0", EngineVersion.V1_NCCL_IN_BASELINE),
    ("0.20.2+cu128", EngineVersion.V1_NCCL_IN_BASELINE),
    ("0.21.0", EngineVersion.V1_GRAPHS_PROFILED),
    ("0.27.1", EngineVersion.V1_GRAPHS_PROFILED),
    ("1.0.0", EngineVersion.V1_GRAPHS_PROFILED),
    ("latest", EngineVersion.V1_GRAPHS_PROFILED),
    ("", EngineVersion.V1_GRAPHS_PROFILED),
    (" LATEST ", EngineVersion.V1_GRAPHS_PROFILED),
])
def test_engine_version_maps_releases_to_their_accounting(text, expected):
    assert engine_version(text) is expected


@pytest.mark.parametrize("text, says", [
    ("0.6.3", "vLLM 0.6.3 ran the V0 engine, whose accounting is not modelled; give 0.8 or later"),
    ("v0.7.3", "vLLM 0.7.3 ran the V0 engine"),
    ("banana", "vLLM version 'banana' is not a release number"),
    ("0.x", "is not a release number"),
    ("10", "is not a release number"),
])
def test_engine_version_refuses_junk_and_v0(text, says):
    with pytest.raises(InvalidValueError) as exc:
        engine_version(text)
    assert says in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("args, says", [
    (("--engine-log", "--vllm-version", "nightly"), "vLLM version 'nightly' is not a release number"),
    (("--engine-log", "--vllm-version", "0.6.3"), "ran the V0 engine, whose accounting is not modelled"),
    (("--engine-log", "--max-model-len", "200k"), "--max-model-len 204,800 is longer than llama-3.1-8b's 131,072"),
    (("--engine-log", "--max-model-len", "abc"), "--max-model-len: cannot read 'abc' as a whole number of tokens"),
    (("--engine-log", "--max-num-seqs", "0"), "--max-num-seqs must be a positive whole number, got 0"),
    (("--engine-log", "--max-num-batched-tokens", "128"), "--max-num-batched-tokens (128) must be at least "
                                                          "--max-num-seqs (256)"),
    (("--engine-log", "--format", "csv"), "use --format table or json, or drop --engine-log"),
    (("--engine-log", "--breakdown"), "pick one"),
    (("--engine-log", "--measure"), "drop --measure"),
    (("--max-model-len", "4096"), "--max-model-len sets up the predicted vLLM startup lines; add --engine-log"),
    (("--vllm-version", "0.10.1"), "--vllm-version sets up the predicted vLLM startup lines"),
    (("--enforce-eager",), "--enforce-eager sets up the predicted vLLM startup lines"),
])
def test_bad_engine_log_input_is_one_line(args, says):
    out = cli_error("profile", "llama-3.1-8b", *ONE_POINT, *args)
    assert out.startswith("error: ") and says in out


def test_lines_stay_whole_at_100_columns(monkeypatch):
    from rich.console import Console

    from planner import render

    monkeypatch.setattr(render, "console", lambda stderr=False: Console(width=100, soft_wrap=False))
    r = cli("profile", "llama-3.1-8b", "--gpu", "l4", *ONE_POINT, "--engine-log")
    assert r.exit_code == 0, r.output
    block = r.stdout[r.stdout.index("vLLM v0.21+ startup"):].splitlines()
    assert all(len(line) <= 100 and line == line.rstrip() for line in block)
    # the paraphrased error wraps at spaces only: rejoined, it is the message, every number whole
    (log,) = cli_json("profile", "llama-3.1-8b", "--gpu", "l4", *ONE_POINT, "--engine-log")["engine_log"]
    wrapped = [line.strip() for line in block if line.startswith("    ")]
    assert len(wrapped) > 1 and " ".join(wrapped) == log["error"]


def test_the_readme_example_is_the_real_output():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    command = "inferplan profile llama-3.1-8b --gpu l40s --engine-log --max-model-len 32768"
    shown = readme.split(f"$ {command}\n")[1].split("```")[0].rstrip("\n").splitlines()
    r = cli(*command.split()[1:])
    assert r.exit_code == 0, r.output
    assert r.stdout.rstrip("\n").splitlines()[-len(shown):] == shown
