"""Issue 12's root causes, one reproducer each: every bad input ends in one line naming what would work (exit 1).

The files are the fuzzing report's (tests/data/bad_inputs.jsonl), rebuilt by tests/fuzz/files.py where they were
too large to list. The whole report is replayed by tests/test_fuzz_cli.py; these pin the message of each cause.
"""

from __future__ import annotations

import json

import pytest

from tests.fuzz import files
from tests.helpers import cli, cli_error

PLAN = ("plan", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "bf16")


@pytest.mark.parametrize("flag, value", [
    ("--availability", "5MM"), ("--tokens-per-day-in", "e5"), ("--cached-input", "1/0"), ("--availability", "1..2"),
    ("--cached-input", "0x10"), ("--availability", "5\u00b5s"), ("--tokens-per-day-in", "\u0663M"),
    ("--tokens-per-day-in", "\uff15M"), ("--availability", "5M\x00"), ("--ttft-p99", "e5"), ("--cached-input", "[1,2]"),
])
def test_malformed_numbers_say_what_forms_are_accepted(flag, value):
    out = cli_error(*PLAN, flag, value)
    assert "cannot read" in out and "use " in out


def test_non_ascii_digits_are_refused_not_read_as_numbers():
    # "٣M" (Arabic-Indic three) and "５M" (fullwidth five) would be 3M / 5M to float(); the parser takes ASCII only
    assert "cannot read '\u0663M'" in cli_error("compare", "--cached-input", "\u0663M")
    assert "cannot read '\uff15M'" in cli_error("compare", "--tokens-per-day-in", "\uff15M")


@pytest.mark.parametrize("option", ["--workload", "--gpu-prices", "--api-prices", "--tco"])
@pytest.mark.parametrize("name, raw, says", [
    ("latin1.yaml", b"name: caf\xe9\ntokens_in_per_day: 5M\n", "latin1.yaml:1: not UTF-8 text (byte 0xe9"),
    ("binary.bin", files.random_bytes(), "not UTF-8 text"),
])
def test_files_that_are_not_utf8_name_the_file_and_the_byte(tmp_path, option, name, raw, says):
    (tmp_path / name).write_bytes(raw)
    out = cli_error(*PLAN, option, tmp_path / name)
    assert says in out and "save the file as UTF-8" in out


def test_a_utf16_workload_with_a_byte_order_mark_is_read(tmp_path):
    # what Windows PowerShell 5's `>` writes: UTF-16 LE with a BOM
    (tmp_path / "w.yaml").write_bytes("tokens_in_per_day: 7M\n".encode("utf-16"))
    r = cli("compare", "--workload", tmp_path / "w.yaml", "--format", "json")
    assert r.exit_code == 0, r.output
    same = cli("compare", "--tokens-per-day-in", "7M", "--format", "json")
    assert [row["daily_cost"] for row in json.loads(r.stdout)] == [row["daily_cost"] for row in json.loads(same.stdout)]
    assert json.loads(r.stdout) != json.loads(cli("compare", "--format", "json").stdout)  # not the default 5M


@pytest.mark.parametrize("make", [files.deep_seq, files.deep_map], ids=["sequences", "mappings"])
@pytest.mark.parametrize("args", [
    ("compare", "--workload"), ("compare", "--api-prices"), (*PLAN, "--tco"), (*PLAN, "--gpu-prices"),
    ("profile", "llama-3.1-8b", "--calibration"), ("profile", "--config"), ("models", "--models"),
], ids=lambda a: a[-1])
def test_deeply_nested_files_end_in_one_line(tmp_path, make, args):
    (tmp_path / "deep.yaml").write_text(make())
    out = cli_error(*args, tmp_path / "deep.yaml")
    assert "deep.yaml" in out and ("nest" in out or "not valid" in out)


@pytest.mark.parametrize("make", [files.laughs_seq, files.laughs_map], ids=["lists", "mappings"])
@pytest.mark.parametrize("args", [("compare", "--api-prices"), (*PLAN, "--models"), (*PLAN, "--tco"),
                                  (*PLAN, "--gpu-prices")], ids=lambda a: a[-1])
def test_billion_laughs_files_are_refused_quickly(tmp_path, make, args):
    (tmp_path / "laughs.yaml").write_text(make())
    out = cli_error(*args, tmp_path / "laughs.yaml")
    assert "expands to more than 1,000,000 values once its aliases (*name) are repeated" in out


def test_a_yaml_file_too_large_to_be_a_catalogue_is_refused_before_parsing(tmp_path):
    (tmp_path / "huge.yaml").write_text("- {id: m1, hidden_size: 4096}\n" * 40_000)  # 1.2 MB
    out = cli_error("models", "--models", tmp_path / "huge.yaml")
    assert "is larger than 1 MiB, the most inferplan reads for a YAML file" in out


@pytest.mark.parametrize("name, text, says", [
    ("ws.csv", "   \n\n  \t\n", "the file is empty"),
    ("empty.csv", "", "the file is empty"),
    ("list.json", "[1,2,3]", "a JSON profile is an object whose 'rows' is a list"),
    ("rows.json", '{"rows": 5}', "a JSON profile is an object whose 'rows' is a list"),
    ("p.csv", files.profile_csv("measured", "batch", "inf"), "row 0: column 'batch' is inf, not a finite number"),
    ("p.csv", files.profile_csv("analytic", "peak_bytes", "inf"), "column 'peak_bytes' is inf"),
    ("p.csv", files.profile_csv("analytic", "latency_ms", "-5"), "row 0: latency_ms is -5.0; it cannot be negative"),
])
@pytest.mark.parametrize("command", ["plan", "calibrate", "simulate"])
def test_broken_profiles_are_refused_with_the_reason(tmp_path, name, text, says, command):
    (tmp_path / name).write_text(text)
    args = {"plan": (*PLAN, "--profile"), "calibrate": ("calibrate",),
            "simulate": ("simulate", "smollm2-135m", "--rate", "1/s", "--duration", "10s", "--profile")}[command]
    out = cli_error(*args, tmp_path / name)
    assert f"{name}: " in out and says in out


def test_a_tco_file_with_globals_of_the_wrong_type_names_the_field(write_file):
    out = cli_error("crossover", "llama-3.1-8b", "--tco", write_file("t.yaml", "schema_version: 1\nglobals: 5\n"))
    assert "t.yaml:2" in out and "'globals' is a mapping" in out


@pytest.mark.parametrize("text, says", [
    ("items:\n  - {id: monitoring, existing_infra_factor: 2}\n", "expected a number from 0 to 1, got 2"),
    ("items:\n  - {id: monitoring, unit_usd: 1e308}\n", "expected a number >= 0 (at most 1e+12), got 1e+308"),
    ("items:\n  - {id: monitoring, unit_usd: 5e3}\n", None),  # 5e3 (YAML 1.1: a string) is read as 5,000
])
def test_tco_factors_are_range_checked(write_file, text, says):
    if says is None:
        assert cli(*PLAN, "--existing-infra", "--tco", write_file("t.yaml", text)).exit_code == 0
        return
    out = cli_error(*PLAN, "--existing-infra", "--tco", write_file("t.yaml", text))
    assert "t.yaml:2" in out and says in out


@pytest.mark.parametrize("flag, value, says", [
    ("--tokens-per-day-in", "1e15", "more than the 1e+12 tokens/day inferplan plans for"),
    ("--tokens-per-day-out", "1e30", "more than the 1e+12 tokens/day inferplan plans for"),
    ("--peak-to-average", "1e308", "peak_to_average 1e+308 is more than 100"),
    ("--zones", "99999999999999999999999", "zones must be an integer from 1 to 64"),
    ("--spares", "1000000", "spares (N+k) must be at most 100,000"),
])
def test_work_beyond_the_stated_limits_is_refused(flag, value, says):
    assert says in cli_error(*PLAN, flag, value)


def test_a_mean_request_longer_than_any_context_window_is_refused(write_file):
    wl = write_file("w.yaml", "tokens_in_per_day: 5M\ntokens_out_per_day: 1M\nmean_input_tokens: 1e30\n")
    assert "more than 1e+08, ten times the longest context window" in cli_error(*PLAN, "--workload", wl)


def test_a_candidate_needing_more_replicas_than_the_limit_is_infeasible_and_says_so():
    out = cli_error("plan", "llama-3.1-405b", "--gpu", "l4", "--quant", "bf16", "--tp", "8", "--tokens-per-day-in",
                    "900B", "--tokens-per-day-out", "100B", "--sizing", "mean-value")
    assert "replicas at peak, more than the 100,000 inferplan sizes" in out or "does not fit" in out


def test_a_config_with_a_billion_layers_is_refused_at_once(write_file):
    cfg = write_file("config.json", json.dumps({
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 1_000_000_000, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000,
        "max_position_embeddings": 2048, "rms_norm_eps": 1e-05, "hidden_act": "silu"}))
    assert "field 'num_hidden_layers': must be at most 1,024" in cli_error("profile", "--config", cfg)


@pytest.mark.parametrize("text", ["", "schema_version: 1\n", "other: 1\n", "calibrations: {}\n"])
def test_a_calibration_file_without_calibrations_is_refused_not_used_silently(write_file, text):
    out = cli_error("profile", "llama-3.1-8b", "--calibration", write_file("cal.yaml", text))
    assert "cal.yaml" in out and ("not a calibration file" in out or "holds no calibrations" in out)


def test_a_missing_calibration_file_is_refused(tmp_path):
    assert "does not exist" in cli_error("profile", "llama-3.1-8b", "--calibration", tmp_path / "nope.yaml")


def test_a_deep_capacity_cache_in_the_home_folder_is_ignored_not_fatal(tmp_path, monkeypatch):
    monkeypatch.setenv("INFERPLAN_HOME", str(tmp_path))
    (tmp_path / "sim_capacity.json").write_text(files.deep_seq())
    r = cli("simulate", "smollm2-135m", "--rate", "1/s", "--duration", "10s", "--format", "json")
    assert r.exit_code == 0 and "Traceback" not in r.output


def test_user_text_with_newlines_stays_on_one_line():
    out = cli_error("plan", "no\nsuch", "--gpu", "h100-sxm")
    assert "no\\nsuch" in out


def test_an_unexpected_exception_is_one_line_asking_for_a_report(monkeypatch):
    import planner.api

    def boom(*a, **k):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(planner.api, "plan", boom)
    r = cli("plan", "llama-3.1-8b")
    assert r.exit_code == 70 and r.output.count("\n") == 1, r.output
    assert r.output.startswith("error: internal error (ZeroDivisionError: float division by zero); this is a bug")
    assert "INFERPLAN_DEBUG=1 shows the traceback" in r.output
    monkeypatch.setenv("INFERPLAN_DEBUG", "1")
    assert isinstance(cli("plan", "llama-3.1-8b").exception, ZeroDivisionError)


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch):
    import planner.api

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(planner.api, "plan", interrupted)
    r = cli("plan", "llama-3.1-8b")
    assert r.exit_code == 130 and r.output == "error: interrupted (Ctrl-C)\n"


def test_profile_metadata_beside_the_csv_is_not_replaced_when_it_is_someone_elses(tmp_path):
    (tmp_path / "p.meta.json").write_text('{"my": "notes"}')
    out = cli_error("profile", "llama-3.1-8b", "--batch", "1", "--context", "1k", "-o", tmp_path / "p.csv")
    assert "p.meta.json, which exists and is not a profile's metadata" in out
    assert json.loads((tmp_path / "p.meta.json").read_text()) == {"my": "notes"}
    # a previous profile's metadata is replaced with its CSV
    (tmp_path / "p.meta.json").unlink()
    for _ in range(2):
        r = cli("profile", "llama-3.1-8b", "--batch", "1", "--context", "1k", "-o", tmp_path / "p.csv")
        assert r.exit_code == 0, r.output


@pytest.mark.parametrize("flag", ["--gpu", "--quant", "--kv-dtype", "--pricing", "--tp"])
@pytest.mark.parametrize("command", ["plan", "crossover"])
def test_a_list_option_given_without_a_value_is_refused_not_read_as_all(command, flag):
    # `--gpu ,` used to search every GPU, as if the flag were absent
    out = cli_error(command, "llama-3.1-8b", flag, ",")
    assert f"{flag}: give at least one value (comma-separated), got ','" in out


def test_integer_lists_take_ascii_digits_only():
    assert "--tp: expected comma-separated integers" in cli_error(*PLAN, "--tp", "\u0663")


@pytest.mark.parametrize("args", [("compare", "--api-prices"), ("compare", "--workload"), (*PLAN, "--tco"),
                                  (*PLAN, "--gpu-prices"), ("models", "--models"), ("gpus", "--gpus")],
                         ids=lambda a: a[-1])
@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_an_empty_override_file_is_refused_not_read_as_no_changes(write_file, args, text):
    out = cli_error(*args, write_file("x.yaml", text))
    assert "x.yaml: holds no" in out
