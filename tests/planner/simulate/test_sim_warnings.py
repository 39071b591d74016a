"""`inferplan simulate` tells the user what the table alone would hide: requests the model cannot take are
refused up front, rejections / instability / small samples are warned about, bad options get messages
in the command's own terms, and a spinner (stderr, terminals only) never touches stdout."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import planner.cmd_simulate as cmd
from planner.cli import app
from planner.simulate import EngineConfig, Fixed, LogNormal, Requests, SloTargets, simulate, summarize
from planner.simulate.checks import SMALL_SAMPLE, overflow, rejection_counts, run_warnings
from planner.simulate_api import SimRequest, run_simulation
from profiler.errors import InvalidValueError

MAX_CONTEXT = 131_072  # llama-3.1-8b's max_position_embeddings (models.yaml)


def _run(*args: str):
    return CliRunner().invoke(app, ["simulate", "llama-3.1-8b", *args])


def _error(*args: str) -> str:
    r = _run(*args)
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert r.output.strip().count("\n") == 0, r.output  # one line
    return r.output


def _trace(tmp_path, rows) -> str:
    path = tmp_path / "t.csv"
    path.write_text("timestamp,input_tokens,output_tokens\n" + "".join(f"{t},{i},{o}\n" for t, i, o in rows))
    return str(path)


# --- refused before simulating -----------------------------------------------------------------


def test_a_mean_length_beyond_the_max_context_is_refused():
    out = _error("--rate", "5/s", "--input-tokens", "200k")
    assert "200,250 tokens per request on average" in out and f"max context of {MAX_CONTEXT:,} tokens" in out


def test_a_p99_length_beyond_the_max_context_is_refused():
    """Mean 60k + 250 fits, but with sigma 0.6 about 5 % of prompts are longer than 131,072 tokens."""
    share, p99 = overflow(LogNormal(60_000, 0.6), LogNormal(250, 0.6), MAX_CONTEXT)
    assert 0.03 < share < 0.08 and p99 > MAX_CONTEXT
    out = _error("--rate", "5/s", "--input-tokens", "60k")
    assert f"{share:.1%} of requests" in out and "p99 prompt + output" in out and "--sigma" in out
    _error("--rate", "5/s", "--input-tokens", "131k", "--sigma", "0")  # fixed lengths: the p99 is the length


def test_a_trace_row_beyond_the_max_context_is_refused(tmp_path):
    trace = _trace(tmp_path, [(0, 1000, 100), (1, 131_000, 100), (2, 500, 50)])
    out = _error("--trace", trace)
    assert "1 of 3 requests" in out and "131,100 tokens" in out and "max context" in out


def test_the_check_uses_the_lengths_the_simulator_draws():
    assert overflow(Fixed(1000), Fixed(250), 1250) == (0.0, 1250.0)
    assert overflow(Fixed(1000), Fixed(251), 1250)[0] == 1.0


# --- warnings under the table ------------------------------------------------------------------


def _warnings(r) -> list[str]:
    return [ln for ln in r.output.splitlines() if ln.startswith("warning:")]


def test_rejections_beyond_max_model_len_are_explained():
    """Mean 30k tokens, sigma 0.6: ~0.3 % of prompts are too long, under the 1 % that is refused up front."""
    r = _run("--rate", "1/s", "--duration", "20m", "--input-tokens", "30k")
    assert r.exit_code == 0, r.output
    lines = _warnings(r)
    rejected = next(w for w in lines if "were rejected" in w)
    assert f"longer than max_model_len {MAX_CONTEXT:,}" in rejected and "KV cache" not in rejected
    assert r.output.index("warning:") > r.output.index("stable")  # under the tables


def test_rejections_by_a_small_kv_cache_are_explained(tmp_path):
    """An L4 holds ~25,700 KV tokens of llama-3.1-8b: a 30k-token request fits the context, not the cache."""
    rows = [(i * 0.5, 30_000 if i % 50 == 7 else 500, 50) for i in range(300)]
    r = CliRunner().invoke(app, ["simulate", "llama-3.1-8b", "--gpu", "l4", "--trace", _trace(tmp_path, rows),
                                 "--format", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)  # the warnings are in the JSON, and on stderr: stdout stays one JSON document
    rejected = next(w for w in d["warnings"] if "were rejected" in w)
    assert f"larger than the whole {d['engine']['kv_tokens']:,}-token KV cache" in rejected
    assert "KV cache is too small" in rejected and "max_model_len" not in rejected
    assert "were rejected" in r.stderr


def test_an_unstable_run_says_the_load_exceeds_capacity():
    r = _run("--rate", "100/s", "--duration", "1m")
    assert r.exit_code == 0, r.output
    assert any("the offered load exceeds this replica's capacity" in w and "lower --rate" in w for w in _warnings(r))


def test_a_short_run_warns_that_its_p99_is_an_order_statistic():
    r = _run("--rate", "5/s", "--duration", "5s")
    assert r.exit_code == 0, r.output
    small = [w for w in _warnings(r) if "order statistics" in w]
    assert len(small) == 1 and "only 18 requests measured" in small[0] and "--duration" in small[0]
    long = _run("--rate", "5/s", "--duration", "2m")
    assert long.exit_code == 0 and not _warnings(long)  # a clean run says nothing extra


def test_run_warnings_split_the_rejections_by_reason():
    cfg = EngineConfig(kv_blocks=100, max_num_seqs=8, max_num_batched_tokens=2048, max_model_len=1000)  # 1,600 KV
    n = 200
    ins = np.full(n, 100)
    ins[::20] = 1200  # 10 beyond max_model_len (and within the KV cache)
    req = Requests(np.arange(n) * 0.5, ins, np.full(n, 20))
    assert rejection_counts(req, cfg) == {"max_model_len": 10, "kv_cache": 0}
    assert rejection_counts(req, EngineConfig(kv_blocks=70, max_num_seqs=8)) == {"max_model_len": 0, "kv_cache": 10}
    m = summarize(simulate(req, cfg, _step), SloTargets(ttft_p99_s=1.0), warmup_s=0.0)
    (w,) = run_warnings(m, req, cfg)
    assert w.startswith(f"10 of {n} requests (5.0%) were rejected") and "max_model_len 1,000" in w
    few = Requests(req.arrival_s[: SMALL_SAMPLE // 2], np.full(SMALL_SAMPLE // 2, 100), np.full(SMALL_SAMPLE // 2, 20))
    (w,) = run_warnings(summarize(simulate(few, cfg, _step), warmup_s=0.0), few, cfg)
    assert "only 50 requests measured" in w


def _step(prefill_tokens: int, decode_seqs: int, context_tokens: int) -> float:
    return 1e-5 * prefill_tokens + 0.005 * (decode_seqs > 0)


# --- option messages ---------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (("--rate", "abc"), "use a rate such as 5/s, 300/min or 1000/h"),
    (("--rate", "0/s"), "--rate: must be > 0"),
    (("--rate", "5/s", "--cv", "0"), "--cv must be > 0"),
    (("--rate", "5/s", "--cv", "-2"), "--cv must be > 0"),
    (("--rate", "5/s", "--sigma", "-1"), "--sigma must be >= 0"),
    (("--rate", "5/s", "--sigma", "nan"), "--sigma must be >= 0"),
    (("--rate", "5/s", "--input-tokens", "0"), "--input-tokens must be at least 1 token"),
    (("--rate", "5/s", "--seed", "-1"), "--seed must be an integer >= 0"),
    (("--rate", "5/s", "--tp", "0"), "--tp must be an integer >= 1"),
    (("--rate", "5/s", "--duration", "0.1s"), "no request arrives in the first 0.1 s"),
])
def test_bad_options_are_named_in_the_commands_terms(args, message):
    out = _error(*args)
    assert message in out
    assert "Gamma" not in out and "LogNormal" not in out and "suffixes k, M" not in out


def test_a_trace_refuses_the_options_it_would_ignore(tmp_path):
    trace = _trace(tmp_path, [(i, 100, 10) for i in range(50)])
    out = _error("--trace", trace, "--input-tokens", "5k", "--output-tokens", "100")
    assert "--input-tokens and --output-tokens would be ignored" in out
    assert "--cv would be ignored" in _error("--trace", trace, "--cv", "2")
    with pytest.raises(InvalidValueError, match="--sigma would be ignored"):
        run_simulation(SimRequest("llama-3.1-8b", trace=tmp_path / "t.csv", sigma=0.0))


def test_the_json_request_shows_the_defaults_used():
    r = _run("--rate", "2/s", "--duration", "1m", "--format", "json")
    req = json.loads(r.stdout)["request"]
    assert (req["input_tokens"], req["output_tokens"], req["sigma"], req["cv"]) == (1000, 250, 0.6, 1.0)


# --- progress ------------------------------------------------------------------------------------


def test_a_spinner_goes_to_a_terminal_stderr_only(monkeypatch):
    monkeypatch.setattr(cmd, "_stderr_is_terminal", lambda: True)
    r = _run("--rate", "5/s", "--duration", "1m", "--format", "json")
    assert r.exit_code == 0, r.output
    json.loads(r.stdout)  # stdout is exactly the JSON document
    assert "simulating llama-3.1-8b on 1x h100-sxm" in r.stderr
    monkeypatch.setattr(cmd, "_stderr_is_terminal", lambda: False)
    quiet = _run("--rate", "5/s", "--duration", "1m", "--format", "csv")
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout.startswith("metric,stat,value,unit")
