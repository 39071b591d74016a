"""Latency as a driver (issue 19 item 3): published API latencies against a co-located requirement, by mechanism —
an API's p99 is at least any lower published percentile, so a median over the limit rules it out, and only a
published p99 can show it meets the limit."""

import datetime as dt
import textwrap

import pandas as pd
import pytest

from planner.errors import PlannerError
from planner.latency import (
    DRIVER_TTFT_P99_S,
    LATENCY_COLUMNS,
    RTT_COLUMNS,
    TABLE_COLUMNS,
    latency_check,
    load_api_latency,
)
from profiler.errors import CatalogueError


@pytest.fixture(scope="module")
def catalogue():
    return load_api_latency()


def _rows(*figures) -> pd.DataFrame:
    """Hand-made ApiLatency rows: (provider, metric, percentile, value_s[, server_side[, upper_bound]])."""
    out = []
    for f in figures:
        provider, metric, percentile, value = f[:4]
        server, upper = (list(f[4:]) + [False, False])[:2]
        out.append({"provider": provider, "model": "m", "serves": "", "metric": metric, "percentile": percentile,
                    "value_s": value, "measured_from": "test", "server_side": server, "upper_bound": upper,
                    "as_of": "2026-01", "source": "hand-made"})
    return pd.DataFrame(out, columns=list(LATENCY_COLUMNS))


RTT = pd.DataFrame([
    {"name": "zone", "scope": "same-zone", "between": "a", "statistic": "average", "value_s": 0.001,
     "role": "co-located", "as_of": "2026-01", "source": "hand-made"},
    {"name": "region", "scope": "cross-zone", "between": "b", "statistic": "upper-bound", "value_s": 0.030,
     "role": "client-default", "as_of": "2026-01", "source": "hand-made"},
], columns=list(RTT_COLUMNS))


def test_packaged_rows_are_dated_and_sourced(catalogue):
    rows, rtt = catalogue
    assert len(rows) >= 8 and rows["provider"].nunique() >= 6 and len(rtt) >= 3
    for df in (rows, rtt):
        assert (df["source"].str.strip() != "").all()
        for a in df["as_of"]:
            assert a == "undated" or dt.date.fromisoformat(a if len(a) == 10 else a + "-01")
    assert set(rtt["role"]) >= {"client-default", "co-located"}


def test_packaged_numbers_are_the_published_ones(catalogue):
    rows, rtt = catalogue
    t = rows.set_index(["provider", "model", "metric", "percentile"])["value_s"]
    assert t[("groq", "llama2-70b-4096", "ttft", "p99")] == 0.35  # llmperf-leaderboard README, TTFT 70B table
    assert t[("fireworks", "llama-v2-70b-chat", "ttft", "p50")] == 0.51
    assert t[("openai", "gpt-4o-2024-05-13", "ttft", "median")] == 0.39  # Artificial Analysis median
    r = rtt.set_index("name")["value_s"]
    assert r["azure-eastus-eastus2"] == 0.011 and r["azure-westus-eastus"] == 0.072  # Azure P95, 2026-07-30
    assert r["azure-cross-zone"] == 0.002  # Azure: availability zones "less than 2 ms" round trip


def test_sub_100ms_with_the_packaged_catalogue_no_api_meets(catalogue):
    rows, rtt = catalogue
    check = latency_check(0.08, 0.05, True, rows, rtt)
    assert check.required and check.any_api_meets is False
    assert rows.loc[rows["metric"] == "ttft", "value_s"].min() > 0.08  # the mechanism: every TTFT figure is over
    assert (check.table.loc[check.table["metric"] == "ttft", "meets"] != "yes").all()
    assert list(check.table.columns) == list(TABLE_COLUMNS)
    assert "No API meets it" in " ".join(check.sentences)


def test_medians_plus_rtt_over_the_limit_rule_every_api_out():
    rows = _rows(("a", "ttft", "p50", 0.075, True), ("b", "ttft", "median", 0.12))
    check = latency_check(0.1, 0.05, False, rows, RTT)
    t = check.table.set_index("provider")
    assert t.loc["a", "rtt_s"] == 0.030 and t.loc["a", "api_plus_rtt_s"] == pytest.approx(0.105)  # server-side + RTT
    assert t.loc["b", "rtt_s"] == 0.0  # timed by a client across the network: its round trip is already inside
    assert list(t["meets"]) == ["no", "no"] and check.any_api_meets is False
    # the same server-side median alone is under the limit: the RTT is what rules it out
    assert latency_check(0.1, 0.05, False, rows, RTT, client_rtt_s=0.001).table.iloc[0]["meets"] == "unknown"


def test_a_published_p99_under_the_limit_is_yes_and_a_median_is_unknown():
    rows = _rows(("fast", "ttft", "p99", 0.06), ("fast", "itl", "p99", 0.02),
                 ("quick", "ttft", "median", 0.03), ("quick", "itl", "p50", 0.01))
    check = latency_check(0.08, 0.05, True, rows, RTT)
    meets = check.table.set_index(["provider", "metric"])["meets"]
    assert meets[("fast", "ttft")] == "yes" and meets[("fast", "itl")] == "yes"
    assert meets[("quick", "ttft")] == "unknown" and meets[("quick", "itl")] == "unknown"
    assert check.any_api_meets is True
    only_medians = latency_check(0.08, 0.05, True, rows, RTT, providers=["quick"])
    assert only_medians.any_api_meets is None
    assert "Cannot be confirmed" in " ".join(only_medians.sentences)


def test_ttft_alone_does_not_meet_without_itl_and_itl_over_the_limit_fails():
    no_itl = latency_check(0.08, 0.05, True, _rows(("x", "ttft", "p99", 0.05)), RTT)
    assert no_itl.any_api_meets is None
    slow_tokens = latency_check(0.08, 0.05, True, _rows(("x", "ttft", "p99", 0.05), ("x", "itl", "p50", 0.06)), RTT)
    assert slow_tokens.any_api_meets is False


def test_an_upper_bound_figure_proves_yes_but_never_no():
    rows = _rows(("x", "itl", "p99", 0.04, False, True), ("y", "itl", "p99", 0.06, False, True))
    meets = latency_check(2.0, 0.05, False, rows, RTT).table.set_index("provider")["meets"]
    assert meets["x"] == "yes" and meets["y"] == "unknown"


def test_a_loose_requirement_is_not_a_driver(catalogue):
    rows, rtt = catalogue
    loose = latency_check(2.0, 0.05, False, rows, rtt)
    assert not loose.required and "does not drive" in loose.sentences[0]
    assert latency_check(2.0, 0.05, True, rows, rtt).required  # co-location asked for: a driver at any limit
    assert latency_check(DRIVER_TTFT_P99_S * 0.9, 0.05, False, rows, rtt).required


def test_no_figures_for_the_providers_cannot_be_confirmed(catalogue):
    rows, rtt = catalogue
    check = latency_check(0.08, 0.05, True, rows, rtt, providers=["nobody"])
    assert check.any_api_meets is None and check.table.empty


def test_bad_limits_and_missing_rtt_roles_are_refused():
    with pytest.raises(PlannerError, match="ttft_p99_s"):
        latency_check(0.0, 0.05, True, _rows(), RTT)
    with pytest.raises(PlannerError, match="client-default"):
        latency_check(0.1, 0.05, True, _rows(), RTT[RTT["role"] != "client-default"])


GOOD_RTT = """
rtt:
  - {name: z, scope: same-zone, between: a, statistic: average, value_s: 0.001, role: co-located,
     as_of: 2026-01, source: s}
  - {name: r, scope: cross-zone, between: b, statistic: p95, value_s: 0.002, role: client-default,
     as_of: 2026-01, source: s}
"""


def _latency_file(write_file, name: str, latency: str):
    """A file with the given (indented) latency section and GOOD_RTT."""
    return write_file(name, textwrap.dedent(latency).lstrip("\n") + GOOD_RTT)


def test_a_user_file_of_the_same_layout_is_read(write_file):
    path = _latency_file(write_file, "lat.yaml", """
        latency:
          - {provider: groq, model: m, metric: ttft, percentile: p99, value_s: 0.05, measured_from: here,
             as_of: 2026-02, source: my benchmark}
        """)
    rows, rtt = load_api_latency(path)
    assert len(rows) == 1 and rows.iloc[0]["value_s"] == 0.05 and len(rtt) == 2


def test_bad_yaml_names_file_line_and_field(write_file):
    path = _latency_file(write_file, "bad.yaml", """
        latency:
          - {provider: groq, model: m, metric: ttft, percentile: p99, value_s: 0.05, measured_from: here,
             as_of: 2026-02, source: ok}
          - {provider: groq, model: m, metric: ttft, percentile: p999, value_s: 0.05, measured_from: here,
             as_of: 2026-02, source: ok}
        """)
    with pytest.raises(CatalogueError) as err:
        load_api_latency(path)
    msg = str(err.value)
    assert f"{path}:4" in msg and "field 'percentile'" in msg and "p99" in msg
    bad_value = _latency_file(write_file, "ms.yaml", """
        latency:
          - {provider: groq, model: m, metric: ttft, percentile: p50, value_s: 250ms, measured_from: here,
             as_of: 2026-02, source: ok}
        """)
    with pytest.raises(CatalogueError, match=r"ms\.yaml:2.*value_s.*seconds > 0"):
        load_api_latency(bad_value)
    broken = write_file("broken.yaml", "latency:\n  - {provider: groq\n")
    with pytest.raises(CatalogueError, match=r"broken\.yaml:\d+.*not valid YAML"):
        load_api_latency(broken)


def test_rtt_roles_must_each_appear_once(write_file):
    path = write_file("roles.yaml", "latency: []\n" + GOOD_RTT.replace("role: co-located", "role: client-default"))
    with pytest.raises(CatalogueError, match=r"roles\.yaml:\d+.*role: client-default \(found 2\)"):
        load_api_latency(path)
