"""Replica capacities kept between runs (planner.capacity_store): a later run reads them back and plans the same."""

from __future__ import annotations

import importlib
import json
from collections import OrderedDict
from dataclasses import replace

import pytest

from planner import capacity_store
from planner.api import PlanRequest, plan
from planner.render import plan_dict

SMALL = PlanRequest(model="llama-3.1-8b", gpus=("h100-sxm", "l40s"), quants=("bf16", "fp8"), framework=False)


SEARCH, P99 = importlib.import_module("planner.search"), importlib.import_module("planner.p99_plan")
CURVE = importlib.import_module("planner.cost_curve")


def _new_process(monkeypatch) -> None:
    """Forget what this process memoised, as a new run would: only $INFERPLAN_HOME remains."""
    monkeypatch.setattr(SEARCH, "_CAPACITIES", OrderedDict())
    monkeypatch.setattr(P99, "_MEMO", OrderedDict())
    monkeypatch.setattr(capacity_store, "_STORE", capacity_store._Store())
    monkeypatch.setattr(CURVE, "_SHARED", OrderedDict())


def _no_sizing(monkeypatch) -> None:
    """Any capacity computed rather than read back fails the test."""
    def boom(*a, **k):
        raise AssertionError("a capacity was computed, not read back")

    monkeypatch.setattr(SEARCH, "replica_capacity", boom)
    monkeypatch.setattr(P99, "p99_capacity", boom)


def _json(p) -> str:
    return json.dumps(plan_dict(p), sort_keys=True, default=str)


def test_a_later_run_reads_the_capacities_back_and_plans_the_same(monkeypatch, tmp_path):
    monkeypatch.setenv("INFERPLAN_HOME", str(tmp_path))
    _new_process(monkeypatch)
    first = plan(SMALL)
    doc = json.loads((tmp_path / "cache" / capacity_store.FILE).read_text())
    assert doc["fingerprint"] == capacity_store.code_fingerprint() and len(doc["entries"]) >= 4
    _new_process(monkeypatch)
    _no_sizing(monkeypatch)
    again = plan(SMALL)  # the p99 summary's tail model is rebuilt for the chosen deployment only
    assert _json(again) == _json(first)


def test_another_volume_or_price_reuses_them_a_new_shape_does_not(monkeypatch, tmp_path):
    monkeypatch.setenv("INFERPLAN_HOME", str(tmp_path))
    _new_process(monkeypatch)
    plan(SMALL)
    _new_process(monkeypatch)
    with monkeypatch.context() as m:
        _no_sizing(m)
        plan(replace(SMALL, workload=SMALL.workload.scaled_to(4e9), margin=3.0))
    _new_process(monkeypatch)
    slower = replace(SMALL.workload, tpot_p99_s=0.08)  # another SLO: another capacity
    _no_sizing(monkeypatch)
    with pytest.raises(AssertionError, match="computed"):
        plan(replace(SMALL, workload=slower))


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]", '{"fingerprint": "another", "entries": {}}',
                                     '{"fingerprint": "x", "entries": 5}'])
def test_a_file_this_code_cannot_use_is_ignored_and_rewritten(monkeypatch, tmp_path, content):
    monkeypatch.setenv("INFERPLAN_HOME", str(tmp_path))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / capacity_store.FILE).write_text(content)
    _new_process(monkeypatch)
    first = plan(SMALL)
    doc = json.loads((tmp_path / "cache" / capacity_store.FILE).read_text())
    assert doc["fingerprint"] == capacity_store.code_fingerprint() and doc["entries"]
    _new_process(monkeypatch)
    assert _json(plan(SMALL)) == _json(first)


def test_a_stored_record_from_other_code_is_never_read(monkeypatch, tmp_path):
    monkeypatch.setenv("INFERPLAN_HOME", str(tmp_path))
    _new_process(monkeypatch)
    plan(SMALL)
    path = tmp_path / "cache" / capacity_store.FILE
    doc = json.loads(path.read_text())
    doc["fingerprint"] = "0" * 64  # as written by another version of the code
    for rec in doc["entries"].values():
        rec.update(requests_per_s=1e-3) if "requests_per_s" in rec else rec["capacity"].update(requests_per_s=1e-3)
    path.write_text(json.dumps(doc))
    _new_process(monkeypatch)
    _no_sizing(monkeypatch)
    with pytest.raises(AssertionError, match="computed"):
        plan(SMALL)


def test_no_cache_and_an_unwritable_home_still_plan(monkeypatch, tmp_path):
    monkeypatch.setenv("INFERPLAN_HOME", str(tmp_path))
    monkeypatch.setenv("INFERPLAN_NO_CACHE", "1")
    _new_process(monkeypatch)
    reference = plan(SMALL)
    assert not (tmp_path / "cache" / capacity_store.FILE).exists()
    monkeypatch.delenv("INFERPLAN_NO_CACHE")
    home = tmp_path / "a-file"
    home.write_text("not a folder")
    monkeypatch.setenv("INFERPLAN_HOME", str(home))
    _new_process(monkeypatch)
    assert _json(plan(SMALL)) == _json(reference)


def test_the_file_is_bounded(monkeypatch, tmp_path):
    monkeypatch.setenv("INFERPLAN_HOME", str(tmp_path))
    monkeypatch.setattr(capacity_store, "MAX_ENTRIES", 3)
    _new_process(monkeypatch)
    plan(SMALL)
    doc = json.loads((tmp_path / "cache" / capacity_store.FILE).read_text())
    assert len(doc["entries"]) == 3


KEY_SCRIPT = """
from planner.api import PlanRequest
from planner.capacity import capacity_shape
from planner.plan import load_catalogues
from planner.step_model import Deployment
from profiler.catalogue import get_model
from profiler.specs import KvDtype
from planner import capacity_store
cat = load_catalogues()
dep = Deployment(get_model("llama-3.3-70b"), cat.gpus["h100-sxm"], cat.quants["fp8"], KvDtype.BF16, 2,
                 cat.efficiency("h100-sxm", "fp8"))
print(capacity_store.key("p99", "vllm", dep, capacity_shape(PlanRequest().workload)))
"""


def test_the_key_is_the_same_in_every_process(tmp_path):
    """repr is not: a frozenset's order follows the string-hash seed, which differs per process."""
    import os
    import subprocess
    import sys

    keys = {subprocess.run([sys.executable, "-c", KEY_SCRIPT], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed, "INFERPLAN_HOME": str(tmp_path)}).stdout
            for seed in ("1", "2", "3")}
    assert len(keys) == 1 and len(keys.pop().strip()) == 64


def test_a_field_without_a_stable_form_is_not_stored():
    assert capacity_store.key("p99", "vllm", object(), ()) is None
    assert capacity_store.get(None) is None
    capacity_store.put(None, {"x": 1})  # nothing kept, nothing raised


def test_a_sweep_over_volumes_shares_one_capacity_shape():
    """Workload.scaled_to moves the mean lengths (tokens / requests) in the last bit at about half of all volumes;
    the memo keys must not, or a sweep re-sizes every candidate."""
    import numpy as np

    from planner.capacity import capacity_shape

    base = SMALL.workload
    assert len({capacity_shape(base.scaled_to(float(v))) for v in np.geomspace(1e5, 1e11, 60)}) == 1
