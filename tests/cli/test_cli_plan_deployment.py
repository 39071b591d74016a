"""`inferplan plan` prints launch lines an engine accepts (issue 11 item 10): gpt-oss in its own MXFP4 format with
no --quantization flag, --max-model-len at the sized request with a note on longer ones, and no GeForce card
unless named."""

from tests.helpers import cli, cli_error, cli_json

GEFORCE = ("rtx-3090", "rtx-4090", "rtx-5090")


def _flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_gpt_oss_is_planned_and_launched_in_its_mxfp4_checkpoint_format():
    d = cli_json("plan", "gpt-oss-120b", "--gpu", "h200")
    assert d["quant"] == "mxfp4" and {a["quant"] for a in d["alternatives"]} == {"mxfp4"}  # before: bf16 chosen
    args = d["vllm_args"]
    assert args[:3] == ["vllm", "serve", "openai/gpt-oss-120b"] and "--quantization" not in args  # before: fp8 rows
    # the seed workload's p99 request, 3,389 tokens, rounded up to 4 x 1,024 (before: the model's 131,072)
    assert _flag(args, "--max-model-len") == "5120"
    assert any("refuses a longer prompt with an HTTP 400 error" in n for n in d["launch_notes"])
    assert any("own mxfp4 format" in n for n in d["launch_notes"])


def test_the_table_launch_line_has_no_quantisation_flag():
    r = cli("plan", "gpt-oss-120b", "--gpu", "h200")
    assert r.exit_code == 0, r.output
    (line,) = [x for x in r.output.splitlines() if x.startswith("vLLM: vllm serve")]
    assert "--quantization" not in line and "--max-model-len 5120" in line


def test_asking_for_another_format_of_a_quantised_checkpoint_is_one_error_line():
    out = cli_error("plan", "gpt-oss-120b", "--gpu", "h200", "--quant", "fp8")
    assert "openai/gpt-oss-120b ships mxfp4 weights" in out and "--quant native" in out


def test_the_default_seed_plan_launches_at_the_sized_request_length():
    d = cli_json("plan")  # Llama 3.3 70B: before, --max-model-len was whatever the KV cache held
    assert _flag(d["vllm_args"], "--max-model-len") == "5120"


def test_geforce_is_planned_only_when_named():
    d = cli_json("plan", "llama-3.1-8b", "--pricing", "on-demand")
    assert d["gpu"] not in GEFORCE and not {a["gpu"] for a in d["alternatives"]} & set(GEFORCE)  # before: rtx-4090
    named = cli_json("plan", "llama-3.1-8b", "--pricing", "on-demand", "--gpu", "rtx-4090,l4")
    assert named["gpu"] == "rtx-4090"
