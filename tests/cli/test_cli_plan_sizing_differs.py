"""`plan --simulate` says when the analytic (p99) sizing and the simulated one differ by more than one replica."""

from tests.helpers import cli, cli_json

# Llama-3.1-8B on L40S, 3,000-token prompts under a 30 ms TPOT: the simulator's TPOT tail is above the p99 model's
# there, so it needs more replicas (one of benchmarks/p99_sizing.py's "short" cases)
ARGS = ("plan", "llama-3.1-8b", "--gpu", "l40s", "--quant", "fp8", "--tokens-per-day-in", "3B",
        "--tokens-per-day-out", "500M", "--requests-per-day", "1M", "--ttft-p99", "1s", "--tpot-p99", "30ms",
        "--simulate")


def test_a_gap_of_more_than_one_replica_is_printed_and_in_the_json():
    doc = cli_json(*ARGS)
    s, d = doc["simulated"], doc
    assert s["replicas_differ"] and s["analytic_replicas"] < d["replicas"] - 1
    r = cli(*ARGS)
    assert r.exit_code == 0, r.output
    line = next(x for x in r.stdout.splitlines() if x.startswith("Sizing differs:"))
    assert f"would run {s['analytic_replicas']} replica(s) of this deployment, the simulator {d['replicas']}" in line
