"""`inferplan simulate` tells the user what the table alone would hide: requests the model cannot take are
refused up front (one-line errors), and rejections, instability and small samples are warned about
(under the table, or on stderr beside JSON). The rules themselves: tests/planner/simulate/test_sim_checks.py."""

from __future__ import annotations

import json
import math

from planner.simulate import LogNormal
from planner.simulate.checks import overflow
from tests.helpers import cli, cli_error, write_trace

SIM = ("simulate", "llama-3.1-8b")
MAX_CONTEXT = 131_072  # llama-3.1-8b's max_position_embeddings (models.yaml)


def _warnings(r) -> list[str]:
    return [ln for ln in r.output.splitlines() if ln.startswith("warning:")]


# --- refused before simulating -----------------------------------------------------------------


def test_a_mean_length_beyond_the_max_context_is_refused():
    out = cli_error(*SIM, "--rate", "5/s", "--input-tokens", "200k")  # + the default 250 output tokens
    assert "200,250 tokens per request on average" in out and f"max context of {MAX_CONTEXT:,} tokens" in out


def test_a_p99_length_beyond_the_max_context_is_refused():
    """Mean 60k + 250 fits, but with sigma 0.6 about 5.5 % of prompts are longer than 131,072 − 250 tokens
    (checked against the lognormal in test_sim_checks.py); the message gives the share the check found."""
    share, _ = overflow(LogNormal(60_000, 0.6), LogNormal(250, 0.6), MAX_CONTEXT)
    out = cli_error(*SIM, "--rate", "5/s", "--input-tokens", "60k")
    assert f"{share:.1%} of requests" in out and "p99 prompt + output" in out and "--sigma" in out
    cli_error(*SIM, "--rate", "5/s", "--input-tokens", "131k", "--sigma", "0")  # fixed lengths: the p99 is the length


def test_a_trace_row_beyond_the_max_context_is_refused(tmp_path):
    trace = write_trace(tmp_path / "t.csv", [(0, 1000, 100), (1, 131_000, 100), (2, 500, 50)])
    out = cli_error(*SIM, "--trace", trace)
    assert "1 of 3 requests" in out and "131,100 tokens" in out and "max context" in out


# --- warnings under the table ------------------------------------------------------------------


def test_rejections_beyond_max_model_len_are_explained():
    """Mean 30k tokens, sigma 0.6: P(prompt > 131,072 − 250) = Q((ln(130,822 / 30,000) + 0.18) / 0.6)
    = Q(2.75) ≈ 0.3 %, under the 1 % refused up front, so the run goes ahead and reports them."""
    z = (math.log(130_822 / 30_000) + 0.6**2 / 2) / 0.6
    assert 0.002 < 0.5 * math.erfc(z / math.sqrt(2)) < 0.004
    r = cli(*SIM, "--rate", "1/s", "--duration", "20m", "--input-tokens", "30k")
    assert r.exit_code == 0, r.output
    rejected = next(w for w in _warnings(r) if "were rejected" in w)
    assert f"longer than max_model_len {MAX_CONTEXT:,}" in rejected and "KV cache" not in rejected
    assert r.output.index("warning:") > r.output.index("stable")  # under the tables


def test_rejections_by_a_small_kv_cache_are_explained(tmp_path):
    """An L4 holds ~31,000 KV tokens of llama-3.1-8b: a 40k-token request fits the context, not the cache.

    300 requests every 0.5 s, every 50th from the 7th (7, 57, ..., 257) of 40,000 tokens. Window: span
    149.5 s, warm-up 14.95 s: arrivals from 15.0 s = requests 30 .. 299 (270), of which 57 .. 257 (5) refused.
    """
    rows = [(i * 0.5, 40_000 if i % 50 == 7 else 500, 50) for i in range(300)]
    r = cli(*SIM, "--gpu", "l4", "--trace", write_trace(tmp_path / "t.csv", rows), "--format", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)  # stdout stays one JSON document
    kv_tokens = d["engine"]["kv_tokens"]
    assert 549 <= kv_tokens < 40_049  # 500 + 50 − 1 tokens fit, 40,000 + 50 − 1 do not
    rejected = next(w for w in d["warnings"] if "were rejected" in w)  # the warnings are in the JSON, and on stderr
    assert rejected.startswith("5 of 270 requests (1.9%) were rejected")
    assert f"larger than the whole {kv_tokens:,}-token KV cache" in rejected
    assert "KV cache is too small" in rejected and "max_model_len" not in rejected
    assert "were rejected" in r.stderr


def test_an_unstable_run_says_the_load_exceeds_capacity():
    r = cli(*SIM, "--rate", "100/s", "--duration", "1m")
    assert r.exit_code == 0, r.output
    assert any("the offered load exceeds this replica's capacity" in w and "lower --rate" in w for w in _warnings(r))


def test_a_short_run_warns_that_its_p99_is_an_order_statistic(tmp_path):
    """21 requests, one a second (0 .. 20 s): span 20 s, warm-up 10 % = 2 s, so requests 2 .. 20 = 19 are
    measured, under the 100 a p99 needs. 111 requests (0 .. 110 s): warm-up 11 s, requests 11 .. 110 = 100
    measured: no warning, and a light, stable run says nothing else either."""
    short = cli(*SIM, "--trace", write_trace(tmp_path / "short.csv", [(i, 500, 50) for i in range(21)]))
    assert short.exit_code == 0, short.output
    small = [w for w in _warnings(short) if "order statistics" in w]
    assert len(small) == 1 and "only 19 requests measured" in small[0] and "--duration" in small[0]
    enough = cli(*SIM, "--trace", write_trace(tmp_path / "enough.csv", [(i, 500, 50) for i in range(111)]))
    assert enough.exit_code == 0 and not _warnings(enough), enough.output
