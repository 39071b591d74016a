"""Trace replay from CSV: parsing, errors with file and line, and a replay through the engine."""

from __future__ import annotations

import numpy as np
import pytest

from planner.simulate import (
    EngineConfig,
    FixedStepTime,
    LogNormal,
    TraceError,
    at_rate,
    read_trace,
    simulate_workload,
    with_lengths,
)


def _write(tmp_path, text, name="trace.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_seconds_trace_is_read_relative_and_sorted(tmp_path):
    path = _write(tmp_path, "Timestamp, input_tokens ,output_tokens,extra\n"
                            "100.5,10,3,x\n100.0,20,1,y\n\n102.0,5,2,z\n")
    req = read_trace(path)
    np.testing.assert_allclose(req.arrival_s, [0.0, 0.5, 2.0])
    assert req.input_tokens.tolist() == [20, 10, 5] and req.output_tokens.tolist() == [1, 3, 2]


def test_iso_trace(tmp_path):
    path = _write(tmp_path, "timestamp,input_tokens,output_tokens\n"
                            "2025-03-01T12:00:00Z,10,3\n2025-03-01T12:00:01.250Z,20,1\n")
    np.testing.assert_allclose(read_trace(path).arrival_s, [0.0, 1.25])


@pytest.mark.parametrize(("text", "line", "match"), [
    ("", None, "empty"),
    ("time,input_tokens,output_tokens\n1,2,3\n", 1, "missing column"),
    ("timestamp,input_tokens,output_tokens\n0,5,5\n1,abc,5\n", 3, "input_tokens"),
    ("timestamp,input_tokens,output_tokens\n0,5,0\n", 2, "output_tokens"),
    ("timestamp,input_tokens,output_tokens\nyesterday,5,5\n", 2, "ISO 8601"),
    ("timestamp,input_tokens,output_tokens\n0,5,5\n2025-01-01T00:00:00,5,5\n", 3, "mixes"),
    ("timestamp,input_tokens,output_tokens\n0,5\n", 2, "fields"),
    ("timestamp,input_tokens,output_tokens\n", None, "no requests"),
])
def test_bad_traces_name_file_and_line(tmp_path, text, line, match):
    path = _write(tmp_path, text)
    with pytest.raises(TraceError, match=match) as err:
        read_trace(path)
    assert str(path) in str(err.value)
    assert err.value.line == line
    if line:
        assert f"{path}:{line}" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(TraceError, match="cannot read"):
        read_trace(tmp_path / "nope.csv")


def test_trace_replay_through_the_engine(tmp_path):
    path = _write(tmp_path, "timestamp,input_tokens,output_tokens\n0,100,5\n0.05,100,5\n1.0,50,1\n")
    step = FixedStepTime(prefill_s_per_token=1e-4, decode_s=0.01)
    run, m = simulate_workload(read_trace(path), EngineConfig(kv_blocks=100, max_num_seqs=1,
                                                              max_num_batched_tokens=256), step, warmup_s=0.0)
    # batch of one: request 2 waits for request 1 (0.01 s prefill + 4 decode steps)
    np.testing.assert_allclose(run.first_token_s, [0.01, 0.06, 1.005])
    np.testing.assert_allclose(run.finish_s, [0.05, 0.10, 1.005])
    assert m.requests_measured == 3 and m.tpot.count == 2


def test_at_rate_and_with_lengths(tmp_path):
    path = _write(tmp_path, "timestamp,input_tokens,output_tokens\n0,10,1\n1,10,1\n2,10,1\n4,10,1\n")
    req = read_trace(path)
    fast = at_rate(req, 3.0)  # 3 gaps in 4 s = 0.75/s → 3/s: four times faster
    np.testing.assert_allclose(fast.arrival_s, req.arrival_s / 4)
    redrawn = with_lengths(req, output_tokens=LogNormal(100, 0.5), seed=1)
    np.testing.assert_array_equal(redrawn.arrival_s, req.arrival_s)
    np.testing.assert_array_equal(redrawn.input_tokens, req.input_tokens)
    assert not np.array_equal(redrawn.output_tokens, req.output_tokens)
