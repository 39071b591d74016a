"""Apple silicon and GeForce GPUs from the command line: the laptop case profiled, plans on them marked not for
production, and plans that name no GPU never choosing one."""

from planner.search import NAMED_ONLY_CLASSES, offered_gpus
from profiler import catalogue
from tests.helpers import cli, cli_error, cli_json


def test_the_laptop_case_profiles_on_an_m3_pro_in_q4_k_m():
    rows = cli_json("profile", "llama-3.1-8b", "--gpu", "m3-pro", "--quant", "q4_k_m", "--batch", "1",
                    "--context", "128")
    decode = [r for r in rows if r["phase"] == "decode"]
    assert decode and decode[0]["status"] == "ok" and decode[0]["tokens_per_s"] > 0


def test_a_plan_on_a_named_geforce_card_is_marked_not_for_production():
    d = cli_json("plan", "llama-3.1-8b", "--pricing", "on-demand", "--gpu", "rtx-4090")
    assert d["gpu"] == "rtx-4090" and "GeForce driver licence" in d["not_for_production"]
    r = cli("plan", "llama-3.1-8b", "--pricing", "on-demand", "--gpu", "rtx-4090")
    assert r.exit_code == 0 and "Not for production: rtx-4090: a GeForce card" in r.output


def test_a_plan_on_a_named_apple_gpu_keeps_the_marking_in_its_error():
    out = cli_error("plan", "llama-3.1-8b", "--gpu", "m3-pro")
    assert "Not for production: m3-pro: Apple silicon, a laptop/desktop part" in out


def test_a_datacenter_plan_carries_no_marking():
    d = cli_json("plan", "llama-3.1-8b", "--pricing", "on-demand")
    assert d["not_for_production"] is None


def test_plans_that_name_no_gpu_never_consider_consumer_or_local_gpus():
    gpus = catalogue.load_gpus()
    offered = offered_gpus(gpus, ())
    assert offered and not any(g.gpu_class in NAMED_ONLY_CLASSES for g in offered.values())
    assert set(offered_gpus(gpus, ("m3-pro", "h100-sxm"))) == {"m3-pro", "h100-sxm"}
