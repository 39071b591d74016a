"""Per-route split (planner.routes, planner.route_costs): each route at its cheapest allowed destination.

The split is computed once for a five-route file (search kept small: h100-sxm, fp8); every destination is checked
against independent planner.api.plan and planner.api_costs calls on the route's workload, built here from the
file's literal values with planner.workload.build_workload.
"""

from __future__ import annotations

import math

import pytest

from planner.prices import TIERS
from planner.workload import build_workload

ROUTES_YAML = """\
gpu: h100-sxm
quant: fp8
availability: 99.9%
routes:
  - name: classify
    requests_per_day: 1M
    mean_input_tokens: 300
    mean_output_tokens: 5
    models: [llama-3.2-1b, llama-3.1-8b]
    tier: tiny
  - name: answer
    requests_per_day: 40k
    mean_input_tokens: 2000
    mean_output_tokens: 400
    models: [llama-3.3-70b]
    tier: large
  - name: private
    requests_per_day: 40k
    models: [llama-3.1-8b]
    data_residency: true
  - name: private-chat
    requests_per_day: 20k
    mean_input_tokens: 3000
    ttft_p99: 1s
    models: [llama-3.1-8b]
    data_residency: true
  - name: named
    requests_per_day: 100k
    models: [llama-3.1-8b]
    apis: [groq / llama-3.1-8b-instant]
"""
# the routes' workloads, from the literal values above (the top-level availability is the default)
WORKLOADS = {
    "classify": {"requests_per_day": "1M", "mean_input_tokens": 300, "mean_output_tokens": 5},
    "answer": {"requests_per_day": "40k", "mean_input_tokens": 2000, "mean_output_tokens": 400},
    "private": {"requests_per_day": "40k", "data_residency": True},
    "private-chat": {"requests_per_day": "20k", "mean_input_tokens": 3000, "ttft_p99": "1s", "data_residency": True},
    "named": {"requests_per_day": "100k"},
}
MODELS = {"classify": ["llama-3.2-1b", "llama-3.1-8b"], "answer": ["llama-3.3-70b"], "private": ["llama-3.1-8b"],
          "private-chat": ["llama-3.1-8b"], "named": ["llama-3.1-8b"]}


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """(path, View) of the file above, planned under its own INFERPLAN_HOME."""
    from planner.routes import route_split

    path = tmp_path_factory.mktemp("routes") / "routes.yaml"
    path.write_text(ROUTES_YAML)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INFERPLAN_HOME", str(tmp_path_factory.mktemp("home-routes")))
        return path, route_split(path)


def _workload(name: str):
    return build_workload({"availability": "99.9%", **WORKLOADS[name], "name": name})


def _self_host_costs(name: str) -> dict[str, float]:
    from planner.api import PlanRequest, plan

    return {m: plan(PlanRequest(model=m, workload=_workload(name), gpus=("h100-sxm",), quants=("fp8",),
                                framework=False)).monthly_total_cost for m in MODELS[name]}


def _current_apis(name: str):
    from planner.api_costs import api_costs, current_rows
    from planner.prices import load_api_prices

    return current_rows(api_costs(_workload(name), load_api_prices())).sort_values("monthly_cost")


def _row(view, name: str):
    main = view.tables["routes"]
    return main[main["route"] == name].iloc[0]


def test_route_workloads_are_the_file_values_over_the_top_level_defaults(tmp_path):
    from planner.routes import load_routes

    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES_YAML)
    routes = {r.name: r for r in load_routes(path)}
    assert list(routes) == list(WORKLOADS)
    for name, route in routes.items():
        assert route.workload == _workload(name)
        assert route.models == tuple(MODELS[name])
        assert (route.gpus, route.quants) == (("h100-sxm",), ("fp8",))
    assert routes["private"].tier == "small"  # no tier given: the tier of its model (llama-3.1-8b: small)
    assert routes["named"].apis == ("groq / llama-3.1-8b-instant",) and routes["named"].tier == ""


@pytest.mark.parametrize("name", ["classify", "answer"])
def test_each_route_goes_to_its_cheapest_allowed_destination(split, name):
    _, view = split
    tier = {"classify": "tiny", "answer": "large"}[name]
    apis = _current_apis(name)
    in_tier = apis[apis["tier"].isin(TIERS[TIERS.index(tier):])]
    cheapest_api = in_tier.iloc[0]
    hosted = _self_host_costs(name)
    options = [(float(cheapest_api["monthly_cost"]), cheapest_api["label"])] + [(v, m) for m, v in hosted.items()]
    cost, destination = min(options)
    row = _row(view, name)
    assert row["destination"] == destination
    assert row["monthly_usd"] == pytest.approx(cost, rel=1e-9)
    assert row["cheapest_api_usd"] == pytest.approx(float(cheapest_api["monthly_cost"]), rel=1e-9)
    assert row["cheapest_self_host_usd"] == pytest.approx(min(hosted.values()), rel=1e-9)


def test_a_tier_excludes_cheaper_lower_tier_apis(split):
    _, view = split
    row = _row(view, "answer")
    apis = _current_apis("answer")
    chosen = apis[apis["label"] == row["cheapest_api"]].iloc[0]
    assert chosen["tier"] in ("large", "frontier")
    lower = apis[apis["tier"].isin(("tiny", "small", "medium"))]
    assert float(lower["monthly_cost"].min()) < float(chosen["monthly_cost"])  # cheaper, and left out
    options = view.tables["options"]
    excluded = options[(options["route"] == "answer") & ~options["allowed"]]
    assert len(excluded) == 1  # the cheapest API of all, shown with the tier that leaves it out
    assert excluded.iloc[0]["option"] == apis.iloc[0]["label"]
    assert excluded.iloc[0]["note"] == f"tier {apis.iloc[0]['tier']} (route: large or above)"


@pytest.mark.parametrize("name", ["private", "private-chat"])
def test_a_residency_route_is_never_on_an_api(split, name):
    _, view = split
    row = _row(view, name)
    assert row["kind"] == "self-host" and row["destination"] == "llama-3.1-8b"
    assert math.isnan(row["cheapest_api_usd"])
    assert row["monthly_usd"] == pytest.approx(_self_host_costs(name)["llama-3.1-8b"], rel=1e-9)
    options = view.tables["options"]
    api = options[(options["route"] == name) & (options["kind"] == "API")]
    assert len(api) and not api["allowed"].any()
    assert (api["monthly_usd"] < row["monthly_usd"]).all()  # a far cheaper shared API exists, and is refused


def test_named_apis_are_the_only_apis_allowed(split):
    _, view = split
    row = _row(view, "named")
    apis = _current_apis("named")
    groq = float(apis[apis["label"] == "groq / llama-3.1-8b-instant"]["monthly_cost"].iloc[0])
    assert float(apis["monthly_cost"].iloc[0]) < groq  # a cheaper row exists, not named
    assert row["cheapest_api"] == "groq / llama-3.1-8b-instant"
    assert row["cheapest_api_usd"] == pytest.approx(groq, rel=1e-9)
    assert row["monthly_usd"] == pytest.approx(min(groq, row["cheapest_self_host_usd"]), rel=1e-9)


def test_totals_and_comparisons_add_up(split):
    _, view = split
    main, rec = view.tables["routes"], view.record
    assert rec["total_monthly_usd"] == pytest.approx(main["monthly_usd"].sum(), rel=1e-12)
    assert rec["all_self_hosted_monthly_usd"] == pytest.approx(main["cheapest_self_host_usd"].sum(), rel=1e-12)
    assert rec["all_api_monthly_usd"] is None and rec["one_api"] is None  # residency routes take no API
    assert rec["self_hosted_routes"] == int((main["kind"] == "self-host").sum())
    assert any(line.startswith("Each self-hosted route is billed as its own deployment") for line in view.lines)
    assert set(view.columns["routes"]) <= set(main.columns)


def test_routes_self_hosting_one_model_are_priced_as_one_deployment(split):
    from planner.api import PlanRequest, plan
    from planner.route_costs import merged_workload

    _, view = split
    (shared,) = view.record["shared_deployments"]
    assert shared["model"] == "llama-3.1-8b" and shared["routes"] == ["private", "private-chat"]
    main = view.tables["routes"]
    separate = main[main["route"].isin(shared["routes"])]["monthly_usd"].sum()
    assert shared["separate_monthly_usd"] == pytest.approx(separate, rel=1e-12)
    merged = merged_workload([_workload("private"), _workload("private-chat")], "private + private-chat")
    expected = plan(PlanRequest(model="llama-3.1-8b", workload=merged, gpus=("h100-sxm",), quants=("fp8",),
                                framework=False)).monthly_total_cost
    assert shared["shared_monthly_usd"] == pytest.approx(expected, rel=1e-9)
    assert shared["shared_monthly_usd"] < separate  # the people and tooling lines are paid once, not twice


def test_merged_workload_sums_volumes_and_keeps_the_strictest_targets():
    from planner.route_costs import merged_workload

    a = build_workload({"requests_per_day": "40k", "mean_input_tokens": 500, "ttft_p99": "2s", "peak_to_average": 2})
    b = build_workload({"requests_per_day": "10k", "mean_input_tokens": 8000, "ttft_p99": "5s", "tpot_p99": "30ms",
                        "peak_to_average": 3, "availability": "99.95%", "cached_input_fraction": "50%"})
    m = merged_workload([a, b], "a + b")
    assert m.requests_per_day == 50_000
    assert m.tokens_in_per_day == pytest.approx(a.tokens_in_per_day + b.tokens_in_per_day)
    assert m.tokens_out_per_day == pytest.approx(a.tokens_out_per_day + b.tokens_out_per_day)
    assert (m.ttft_p99_s, m.tpot_p99_s, m.availability) == (2.0, 0.030, 0.9995)
    assert m.peak_to_average == pytest.approx((40_000 * 2 + 10_000 * 3) / 50_000)  # peaks coinciding
    assert m.cached_input_fraction == pytest.approx(0.5 * b.tokens_in_per_day / m.tokens_in_per_day)
    # the fitted length spread keeps the mixture's mean and the longer route's p99 (an upper bound on the mixture's)
    assert m.input_tokens_p99 == pytest.approx(max(a.input_tokens_p99, b.input_tokens_p99), rel=1e-9)


def test_a_route_nothing_can_serve_is_left_out_of_the_total(tmp_path):
    from planner.routes import route_split

    path = tmp_path / "routes.yaml"
    path.write_text("gpu: h100-sxm\nquant: fp8\nroutes:\n  - name: impossible\n    tpot_p99: 1ms\n"
                    "    data_residency: true\n    models: [llama-3.1-8b]\n")
    view = route_split(path)
    row = _row(view, "impossible")
    assert row["kind"] == "none" and math.isnan(row["monthly_usd"])
    assert "llama-3.1-8b" in row["why"]
    assert view.record["unserved_routes"] == ["impossible"] and view.record["total_monthly_usd"] == 0


def test_has_routes(tmp_path):
    from planner.routes import has_routes

    plain, routes = tmp_path / "plain.yaml", tmp_path / "routes.yaml"
    plain.write_text("tokens_in_per_day: 5M\n")
    routes.write_text(ROUTES_YAML)
    assert has_routes(routes) and not has_routes(plain)


@pytest.mark.parametrize(("text", "line", "words"), [
    ("tokens_in_per_day: 5M\n", 1, "no 'routes:' list"),
    ("routes:\n  - tokens_in_per_day: 5M\n", 2, "a route needs a name"),
    ("routes:\n  - name: a\n    tokens_in_per_dya: 5M\n", 3, "did you mean 'tokens_in_per_day'"),
    ("routes:\n  - name: a\n    models: [llama-3.1-8b, lama-3.1-8b]\n", 3, "Unknown model 'lama-3.1-8b'"),
    ("routes:\n  - name: a\n    models:\n      - llama-3.1-8b\n      - lama-3.1-8b\n", 5, "Unknown model"),
    ("modles: [x]\nroutes:\n  - name: a\n", 1, "did you mean 'models'"),
    ("routes:\n  - name: a\n    tier: lage\n", 3, "did you mean 'large'"),
    ("routes:\n  - name: a\n    models: [llama-3.1-8b]\n    tier: large\n", 3, "below the route's tier large"),
    ("routes:\n  - name: a\n    apis: [groq / llama-3.3-70b-versatle]\n", 3, "unknown API"),
    ("routes:\n  - name: a\n    apis: [together / Llama-3.3-70B-Instruct-Turbo@seed]\n", 3, "not a current price"),
    ("routes:\n  - name: a\n  - name: a\n", 3, "given twice"),
    ("routes:\n  - name: a\n    gpu: h100-sm\n", 3, "Unknown GPU"),
    ("routes:\n  - name: a\n    pricing: reserved\n", 3, "unknown pricing model"),
])
def test_bad_route_files_are_refused_at_their_line(tmp_path, text, line, words):
    from planner.routes import load_routes
    from profiler.errors import CatalogueError

    path = tmp_path / "routes.yaml"
    path.write_text(text)
    with pytest.raises(CatalogueError) as err:
        load_routes(path)
    message = str(err.value)
    assert f"{path}:{line}" in message and words in message and "\n" not in message
