"""Spares at scale (issue 11): the seed's 50% standby stops at 2 replicas; above, the availability target's N+k."""

from tests.helpers import cli_json

ARGS = ("plan", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "fp8", "--tp", "1", "--tokens-per-day-in", "5B",
        "--tokens-per-day-out", "1B")


def _line(doc, name):
    return next(r for r in doc["redundancy"] if r["line"] == name)


def test_above_two_replicas_the_availability_target_sets_the_spares_and_says_so():
    d = cli_json(*ARGS)
    n = d["replicas"]
    assert n > 2
    avail, standby = _line(d, "availability 99.9%"), _line(d, "hot standby 50%")
    assert d["spare_replicas"] == avail["replicas"] and avail["used"]
    assert standby["replicas"] == 0 and not standby["used"] and f"at N = {n}" in standby["basis"]


def test_a_hot_standby_the_user_gives_applies_at_every_scale():
    d = cli_json(*ARGS, "--hot-standby", "0.5")
    assert d["spare_replicas"] == -(-d["replicas"] // 2)  # ceil(0.5 x N)
    assert _line(d, "hot standby 50%")["used"]
