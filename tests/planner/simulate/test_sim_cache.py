"""The capacity cache: its file under INFERPLAN_HOME, versions, write failures, and cache keys."""

from __future__ import annotations

import json

import pytest

import planner.simulate.capacity_cache as cc
from planner.simulate import (
    CapacityCache,
    CapacitySearch,
    EngineConfig,
    Fixed,
    FixedStepTime,
    Poisson,
    SloTargets,
    WorkloadShape,
    capacity_cache_path,
    capacity_key,
    find_slo_capacity,
    shared_cache,
    simulate_point,
)

STEP = FixedStepTime(prefill_s_per_token=1e-5, decode_s=0.005)
CFG = EngineConfig(kv_blocks=2000, max_num_seqs=32, max_num_batched_tokens=2048)
SHAPE = WorkloadShape(Poisson(1.0), Fixed(200), Fixed(20))
SLO = SloTargets(ttft_p99_s=0.5, tpot_p99_s=0.02)
FAST = CapacitySearch(n_requests=500)


def test_path_follows_inferplan_home(home, monkeypatch, tmp_path):
    assert capacity_cache_path() == home / "sim_capacity.json"
    assert capacity_cache_path(tmp_path / "x.json") == tmp_path / "x.json"
    monkeypatch.delenv("INFERPLAN_HOME")
    assert capacity_cache_path() == cc.Path.home() / ".config" / "inferplan" / "sim_capacity.json"


def test_shared_cache_is_one_per_file(home, monkeypatch, tmp_path):
    assert shared_cache() is shared_cache()
    monkeypatch.setenv("INFERPLAN_HOME", str(tmp_path / "other"))
    assert shared_cache().path == tmp_path / "other" / "sim_capacity.json"
    assert len(cc._SHARED) == 2


def test_points_and_capacities_share_the_file(home, monkeypatch, forbid_simulation):
    first = find_slo_capacity(SHAPE, CFG, STEP, SLO, search=FAST, cache=shared_cache(), labels={"model": "m"})
    point = simulate_point(SHAPE, first.rate_per_s / 2, CFG, STEP, SLO, search=FAST, cache=shared_cache(),
                           labels={"model": "m"})
    doc = json.loads((home / "sim_capacity.json").read_text())
    kinds = sorted(e["kind"] for e in doc["entries"].values())
    assert doc["version"] == cc.CACHE_VERSION and kinds == ["SimPoint", "SloCapacity"]
    monkeypatch.setattr(cc, "_SHARED", {})  # a new process: only the file remains
    forbid_simulation()
    assert find_slo_capacity(SHAPE, CFG, STEP, SLO, search=FAST, cache=shared_cache(), labels={"model": "m"}) == first
    assert simulate_point(SHAPE, first.rate_per_s / 2, CFG, STEP, SLO, search=FAST, cache=shared_cache(),
                          labels={"model": "m"}) == point


def test_another_version_is_ignored_and_replaced(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"version": 1, "entries": {"k": {"rate_per_s": 1.0}}}))
    cache = CapacityCache(path)
    assert cache.get("k") is None
    find_slo_capacity(SHAPE, CFG, STEP, SLO, search=FAST, cache=cache)
    assert json.loads(path.read_text())["version"] == cc.CACHE_VERSION


def test_an_unwritable_file_leaves_a_working_memory_cache(tmp_path, monkeypatch, forbid_simulation):
    def read_only(path, text, **kw):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cc, "atomic_write_text", read_only)
    cache = CapacityCache(tmp_path / "c.json")
    first = find_slo_capacity(SHAPE, CFG, STEP, SLO, search=FAST, cache=cache)
    assert cache.disk_error == f"{tmp_path / 'c.json'}: Permission denied"
    forbid_simulation()
    assert find_slo_capacity(SHAPE, CFG, STEP, SLO, search=FAST, cache=cache) == first


def test_keys_change_with_everything_that_changes_the_answer():
    base = capacity_key(SHAPE, CFG, STEP, SLO, FAST, {"model": "m"})
    assert base == capacity_key(WorkloadShape(Poisson(1.0), Fixed(200), Fixed(20)), EngineConfig(2000, 32, 2048),
                                FixedStepTime(1e-5, 0.005), SloTargets(0.5, 0.02), CapacitySearch(n_requests=500),
                                {"model": "m"})  # equal values, new objects: same key
    changed = [
        (WorkloadShape(Poisson(1.0), Fixed(200), Fixed(21)), CFG, STEP, SLO, FAST, {"model": "m"}),
        (SHAPE, EngineConfig(2000, 64, 2048), STEP, SLO, FAST, {"model": "m"}),
        (SHAPE, CFG, FixedStepTime(1e-5, 0.006), SLO, FAST, {"model": "m"}),
        (SHAPE, CFG, STEP, SloTargets(0.5, 0.03), FAST, {"model": "m"}),
        (SHAPE, CFG, STEP, SLO, CapacitySearch(n_requests=500, seed=1), {"model": "m"}),
        (SHAPE, CFG, STEP, SLO, FAST, {"model": "n"}),
    ]
    keys = {capacity_key(*args) for args in changed}
    assert base not in keys and len(keys) == len(changed)


def test_cache_identity_wins_over_repr():
    class Step:
        def __init__(self, identity):
            self.cache_identity = identity

        def __call__(self, p, d, c):
            return 0.01

    assert capacity_key(SHAPE, CFG, Step("a"), SLO, FAST, {}) == capacity_key(SHAPE, CFG, Step("a"), SLO, FAST, {})
    assert capacity_key(SHAPE, CFG, Step("a"), SLO, FAST, {}) != capacity_key(SHAPE, CFG, Step("b"), SLO, FAST, {})


@pytest.mark.parametrize("text", ["{not json", "[1, 2]",
                                  json.dumps({"version": cc.CACHE_VERSION, "entries": {"k": {"kind": "Nope"}}}),
                                  json.dumps({"version": cc.CACHE_VERSION, "entries": {"k": {"rate_per_s": 1.0}}})])
def test_a_corrupt_file_warns_once_and_is_rebuilt(tmp_path, capsys, text):
    path = tmp_path / "c.json"
    path.write_text(text)
    cache = CapacityCache(path)
    first = find_slo_capacity(SHAPE, CFG, STEP, SLO, search=FAST, cache=cache)  # a miss: get, then put
    simulate_point(SHAPE, first.rate_per_s / 2, CFG, STEP, SLO, search=FAST, cache=cache)  # another put
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and str(path) in err and "rebuilding it" in err, err
    doc = json.loads(path.read_text())  # rewritten as a valid cache holding both records
    assert doc["version"] == cc.CACHE_VERSION and len(doc["entries"]) == 2
    assert CapacityCache(path).get(first.key) == first and capsys.readouterr().err == ""


def test_an_unwritable_home_is_said_once_on_stderr(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home-is-a-file"
    home.write_text("")
    monkeypatch.setenv("INFERPLAN_HOME", str(home))
    monkeypatch.setattr(cc, "_SHARED", {})
    cache = shared_cache()
    first = find_slo_capacity(SHAPE, CFG, STEP, SLO, search=FAST, cache=cache)
    simulate_point(SHAPE, first.rate_per_s / 2, CFG, STEP, SLO, search=FAST, cache=cache)
    assert cache.disk_error and str(home / "sim_capacity.json") in cache.disk_error
    assert cache.disk_error.count(str(home / "sim_capacity.json")) == 1  # named once, not "path: cannot write path"
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "capacity cache not saved" in err and "INFERPLAN_HOME" in err, err
    assert find_slo_capacity(SHAPE, CFG, STEP, SLO, search=FAST, cache=cache) == first  # still served from memory
