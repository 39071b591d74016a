"""The sweep's journal: one line per finished point, read back on resume; what it refuses and what it forgets."""

import json

import pytest

from profiler.errors import ProfilerError
from profiler.measure.journal import Journal, journal_path

HEADER = {"model": "m", "gpu": "cpu", "device": "cpu"}


def row(batch: int = 1) -> dict:
    return {"model": "m", "gpu": "cpu", "quant": "bf16", "kv_dtype": "bf16", "tp": 1, "phase": "decode",
            "batch": batch, "context": 8, "status": "oom"}


def test_the_journal_sits_beside_the_profile():
    assert journal_path("out/p.csv").as_posix() == "out/p.journal.jsonl"


def test_rows_and_searches_are_read_back_and_a_point_is_never_written_twice(tmp_path):
    path = tmp_path / "p.journal.jsonl"
    j = Journal(path, HEADER)
    j.add_row(row(), {"timing": {"count": 3}})
    with pytest.raises(ProfilerError, match="measured twice"):
        j.add_row(row())
    j.set_aux("max_batch/x", {"max_batch": 3})
    again = Journal(path, HEADER)
    key = ("m", "cpu", "bf16", "bf16", 1, "decode", 1, 8)
    assert list(again.rows) == [key] and again.rows[key] == row() and again.done(key)
    assert again.details[key] == {"timing": {"count": 3}} and again.aux == {"max_batch/x": {"max_batch": 3}}


def test_a_journal_with_a_corrupt_middle_line_is_refused(tmp_path):
    path = tmp_path / "p.journal.jsonl"
    j = Journal(path, HEADER)
    j.add_row(row(1))
    j.add_row(row(2))
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "{not json", *lines[1:]]) + "\n")
    with pytest.raises(ProfilerError, match=r"p.journal.jsonl:2: journal line is not JSON"):
        Journal(path, HEADER)


def test_a_last_line_cut_by_a_kill_is_dropped_and_that_point_measured_again(tmp_path):
    path = tmp_path / "p.journal.jsonl"
    Journal(path, HEADER).add_row(row(1))
    with path.open("a") as fh:
        fh.write('{"type": "row", "row": {"model": "m')
    j = Journal(path, HEADER)
    assert [k[6] for k in j.rows] == [1]
    assert [json.loads(x)["type"] for x in path.read_text().splitlines()] == ["header", "row"]  # rewritten clean
    j.add_row(row(2))
    assert [k[6] for k in Journal(path, HEADER).rows] == [1, 2]


def test_an_empty_or_headless_journal_starts_afresh(tmp_path):
    path = tmp_path / "e.journal.jsonl"
    for text in ("", '{"type": "hea'):
        path.write_text(text)
        j = Journal(path, HEADER)
        assert j.rows == {} and json.loads(path.read_text().splitlines()[0]) == {"type": "header", "version": 1,
                                                                                **HEADER}


def test_without_resume_the_journal_starts_afresh(tmp_path):
    path = tmp_path / "p.journal.jsonl"
    Journal(path, HEADER).add_row(row(1))
    assert Journal(path, HEADER, resume=False).rows == {}
    assert Journal(path, HEADER).rows == {}  # the old rows are gone from the file too


@pytest.mark.parametrize("field", ["model", "gpu", "device"])
def test_a_journal_of_another_sweep_is_refused(tmp_path, field):
    path = tmp_path / "p.journal.jsonl"
    Journal(path, HEADER)
    with pytest.raises(ProfilerError, match=f"belongs to a sweep of {field} '{HEADER[field]}', not 'other'"):
        Journal(path, {**HEADER, field: "other"})
