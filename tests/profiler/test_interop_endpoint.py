"""An `inferplan endpoint --format json` document read back as serving points and profile rows
(profiler.interop.endpoint_doc): the numbers carried over, the deployment taken from the document or the command,
and a damaged document refused in one line naming the field."""

from __future__ import annotations

import json

import pytest

from profiler import interop
from profiler.interop import ServingContext
from profiler.schema import SchemaError, read_profile


def _row(**over):
    row = {"point": "concurrent 8", "kind": "concurrency", "offered_rate": None, "concurrency": 8, "completed": 80,
           "failed": 2, "duration_s": 20.0, "request_throughput": 4.0, "output_throughput": 800.0,
           "input_tokens": 1000.0, "output_tokens": 200.0, "ttft_mean": 150.0, "ttft_p50": 120.0, "ttft_p99": 400.0,
           "itl_p50": 9.5, "itl_p99": 30.0, "tpot_p50": 10.0, "e2e_mean": 2150.0, "e2e_p50": 2100.0}
    row.update(over)
    return row


def _doc(rows, **over):
    doc = {"inferplan_endpoint": 1, "url": "http://gpu-host:8000", "date": "2026-12-03T00:00:00+00:00",
           "server": {"model": "llama", "root": "meta-llama/Llama-3.1-8B-Instruct", "version": "0.11.0"},
           "settings": {}, "points": rows, "failures": [], "saturation": [], "interrupted": False}
    doc.update(over)
    return doc


def test_points_become_rows_by_littles_law():
    doc = _doc([_row()], deployment={"gpu": "h100-sxm", "tp": 1})
    assert interop.is_report(doc)
    df, meta = interop.from_report(doc, "run.json")
    decode = df[df["phase"] == "decode"].iloc[0]
    # 4 req/s x (2.15 - 0.15) s decoding = 8 sequences; context = 1000 + 200/2
    assert (decode["batch"], decode["context"], decode["latency_ms"]) == (8, 1100, 9.5)
    prefill = df[df["phase"] == "prefill"].iloc[0]
    assert (prefill["context"], prefill["latency_ms"]) == (1000, 120.0)
    assert set(df["source"]) == {"endpoint"} and set(df["model"]) == {"llama-3.1-8b"}
    assert meta.environment["report"]["server_version"] == "0.11.0"
    assert meta.environment["report"]["point_rows"][0]["ttft_p99"] == 400.0


def test_the_command_names_what_the_document_does_not(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(_doc([_row()])))
    with pytest.raises(Exception, match="--gpu ID"):
        read_profile(path)
    df, _ = read_profile(path, ServingContext(gpu="a100-80gb", tp=2))
    assert set(df["gpu"]) == {"a100-80gb"} and set(df["tp"]) == {2}


@pytest.mark.parametrize(("doc", "words"), [
    (_doc("nope"), "'points' must be the list"),
    (_doc([_row(itl_p50="fast")]), "field 'itl_p50' is 'fast'"),
    (_doc([_row(concurrency=0)]), "field 'concurrency' is 0"),
    (_doc([_row(completed=0)]), "no load point of this inferplan endpoint report completed a request"),
    (_doc([_row(output_tokens=1.0)]), "a decode step needs outputs of 2 tokens"),
])
def test_a_damaged_document_is_one_line(tmp_path, doc, words):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(SchemaError) as err:
        read_profile(path, ServingContext(gpu="h100-sxm", tp=1))
    assert words in str(err.value) and "\n" not in str(err.value)
