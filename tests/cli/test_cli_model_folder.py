"""A local model folder or config.json path wherever a model name goes (issue 13): `plan`, `crossover`, `simulate`,
`throughput`, `profile` and the planner's Python API read it, label it with the folder's name, and give the
catalogue's numbers for a folder holding a catalogue model's config.

catalogue.get_model's rules (labels, a catalogue id first, the refusals): tests/profiler/test_model_folder.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import cli_error, cli_json

TINY = "smollm2-135m"  # a small catalogue llama (134,515,008 parameters, `inferplan models`): fast to plan
VOLUME = ("--tokens-per-day-in", "5M", "--tokens-per-day-out", "1M")
DEPLOYMENT = ("gpu", "quant", "kv_dtype", "tp", "replicas", "spare_replicas", "gpus_total", "pricing", "provider",
              "usd_per_gpu_hour", "monthly_gpu_cost", "monthly_total_cost", "tco_multiplier", "usd_per_mtok_self_host")


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    """tmp_path/mymodel/config.json: the Hugging Face fields of the catalogue's smollm2-135m; cwd is tmp_path."""
    from profiler import catalogue

    path = tmp_path / "mymodel"
    path.mkdir()
    (path / "config.json").write_text(json.dumps(catalogue.load_models()[TINY].hf_config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return path


def _without_model(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "model"} for r in rows]


def test_plan_of_a_folder_is_the_catalogue_models_plan(folder):
    mine = cli_json("plan", "./mymodel", *VOLUME, "--gpu", "l4")
    theirs = cli_json("plan", TINY, *VOLUME, "--gpu", "l4")
    assert mine["model"] == "mymodel" and theirs["model"] == TINY
    assert {k: mine[k] for k in DEPLOYMENT} == {k: theirs[k] for k in DEPLOYMENT}
    assert (mine["gpu"], mine["replicas"], mine["gpus_total"]) == ("l4", 1, 2)  # one replica and its standby
    assert mine["line_items"] == theirs["line_items"]  # the whole bill, line by line


def test_plan_takes_the_config_json_path_and_an_absolute_folder(folder):
    by_json = cli_json("plan", "mymodel/config.json", *VOLUME, "--gpu", "l4")
    by_abs = cli_json("plan", str(folder), *VOLUME, "--gpu", "l4")
    assert by_json["model"] == by_abs["model"] == "mymodel"
    assert by_json["monthly_total_cost"] == by_abs["monthly_total_cost"]


def test_crossover_of_a_folder_matches_the_catalogue(folder):
    mine = cli_json("crossover", "./mymodel", *VOLUME, "--gpu", "l4")
    theirs = cli_json("crossover", TINY, *VOLUME, "--gpu", "l4")
    assert len(mine) == len(theirs) > 0
    assert [r["crossover_tokens_per_day"] for r in mine] == [r["crossover_tokens_per_day"] for r in theirs]


def test_simulate_a_config_json_path(folder):
    args = ("--gpu", "l4", "--rate", "2/s", "--duration", "60")
    mine = cli_json("simulate", "./mymodel/config.json", *args)
    theirs = cli_json("simulate", TINY, *args)
    assert mine["request"]["model"] == "mymodel"
    assert mine["metrics"] == theirs["metrics"]  # same seed, same step model: the same run
    assert mine["metrics"]["requests_measured"] > 50  # 2/s for 60 s, less the warm-up window


def test_throughput_of_a_bare_folder_name(folder):
    args = ("--gpu", "l4", "--input-tokens", "128", "--output-tokens", "128", "--requests", "50")
    mine = cli_json("throughput", "mymodel", *args)
    theirs = cli_json("throughput", TINY, *args)
    assert [c["model"] for c in mine["cases"]] == ["mymodel"]
    assert _without_model(mine["cases"]) == _without_model(theirs["cases"])
    assert mine["engine"]["kv_tokens"] == theirs["engine"]["kv_tokens"] > 0


def test_profile_a_folder_without_config_option(folder):
    mine = cli_json("profile", "./mymodel", "--gpu", "l4")
    theirs = cli_json("profile", TINY, "--gpu", "l4")
    assert {r["model"] for r in mine} == {"mymodel"}
    assert _without_model(mine) == _without_model(theirs)
    assert mine[0]["weights_bytes"] == 2 * 134_515_008  # bf16: 2 bytes a parameter


@pytest.mark.parametrize("command", ["plan", "simulate", "throughput", "profile"])
def test_a_folder_without_config_json_is_one_line(command, tmp_path, monkeypatch):
    (tmp_path / "weights").mkdir()
    monkeypatch.chdir(tmp_path)
    extra = {"simulate": ("--rate", "1/s"), "throughput": ("--grid",)}.get(command, ())
    out = cli_error(command, "weights", *extra)
    assert "the folder weights holds no config.json" in out


def test_an_unknown_name_says_a_folder_works_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = cli_error("plan", "llama-3.1-8", *VOLUME)
    assert "Unknown model 'llama-3.1-8'. Did you mean: llama-3.1-8b" in out
    assert "A local model folder holding config.json, or a config.json path, works too." in out


def test_a_yaml_file_as_the_model_points_at_models(folder, write_file):
    write_file("extra.yaml", "models: {}\n")
    assert "--models FILE" in cli_error("plan", "extra.yaml", *VOLUME)


def test_planner_apis_take_the_folder(folder):
    from planner import PlanRequest, plan
    from planner.simulate_api import SimRequest, run_simulation
    from planner.throughput_api import ThroughputRequest, offline_throughput
    from planner.workload import DEFAULT_WORKLOAD

    mine = plan(PlanRequest(model=str(folder), workload=DEFAULT_WORKLOAD, gpus=("l4",)))
    theirs = plan(PlanRequest(model=TINY, workload=DEFAULT_WORKLOAD, gpus=("l4",)))
    assert mine.model == "mymodel"
    assert mine.monthly_total_cost == theirs.monthly_total_cost > 0
    assert mine.deployment["replicas"] == theirs.deployment["replicas"]

    sim = run_simulation(SimRequest(model=str(folder / "config.json"), gpu="l4", rate_per_s=2, duration_s=60))
    assert sim.request.model == "mymodel"
    assert sim.metrics == run_simulation(SimRequest(model=TINY, gpu="l4", rate_per_s=2, duration_s=60)).metrics

    def throughput(model: str):
        return offline_throughput(ThroughputRequest(model=model, gpu="l4", cases=((128, 128),), requests=50)).table()

    mine, theirs = throughput("mymodel"), throughput(TINY)
    assert list(mine["model"]) == ["mymodel"]
    assert mine.drop(columns="model").equals(theirs.drop(columns="model"))
    assert mine["output_tokens_per_s"].iloc[0] > 0


def test_a_plan_for_a_model_folder_serves_that_folder(tmp_path, monkeypatch):
    """The launch line loads the folder the user gave (its weights sit beside config.json), not a hub repository."""
    import json

    from profiler import catalogue
    from tests.helpers import cli_json

    monkeypatch.chdir(tmp_path)
    (tmp_path / "mymodel").mkdir()
    (tmp_path / "mymodel" / "config.json").write_text(json.dumps(dict(catalogue.get_model("smollm2-135m").hf_config)))
    plan = cli_json("plan", "./mymodel", "--gpu", "l4")
    assert plan["launch_args"][:3] == ["vllm", "serve", "./mymodel"]
    assert cli_json("plan", "smollm2-135m", "--gpu", "l4")["launch_args"][2] != "./mymodel"
