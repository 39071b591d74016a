"""The profile contract: round trips with metadata, and rejection of rows that break it."""

import json
import math

import pandas as pd
import pytest

from profiler import schema
from profiler.schema import ProfileMeta, SchemaError


def row(**kw):
    base = dict(model="m", gpu="h100-sxm", quant="bf16", kv_dtype="bf16", tp=1, phase="decode", batch=1,
                context=1024, latency_ms=5.6, tokens_per_s=178.6, weights_bytes=16_060_522_496,
                kv_bytes_per_token=131_072, peak_bytes=17_000_000_000, kv_capacity_tokens=450_000,
                max_batch=439, mbu=0.8, mfu=0.01, source="analytic", status="ok")
    base.update(kw)
    return base


def test_csv_round_trip_keeps_values_dtypes_and_metadata(tmp_path):
    df = schema.normalise([row(), row(batch=8, status="oom", latency_ms=None, tokens_per_s=None, mbu=None,
                                      mfu=None, note="needs 80 GiB")])
    meta = ProfileMeta(tool_version="1.0", environment={"gpu": "h100-sxm"}, command="inferplan profile m")
    path = tmp_path / "p.csv"
    schema.write_profile(df, path, meta)
    back, bmeta = schema.read_profile(path)
    pd.testing.assert_frame_equal(back, df)
    assert bmeta.environment == {"gpu": "h100-sxm"} and bmeta.tool_version == "1.0"
    assert schema.meta_path(path).exists()
    assert str(back["tp"].dtype) == "Int64" and math.isnan(back["latency_ms"].iloc[1])


def test_json_round_trip_holds_rows_columns_and_meta(tmp_path):
    df = schema.normalise([row()])
    path = tmp_path / "p.json"
    schema.write_profile(df, path, ProfileMeta(tool_version="x"))
    doc = json.loads(path.read_text())
    assert [c["name"] for c in doc["columns"]] == list(schema.COLUMN_NAMES)
    assert doc["rows"][0]["weights_bytes"] == 16_060_522_496
    back, meta = schema.read_profile(path)
    pd.testing.assert_frame_equal(back, df)
    assert meta.tool_version == "x"


def test_ok_row_with_missing_measurement_is_rejected_not_zero_filled():
    with pytest.raises(SchemaError, match="latency_ms"):
        schema.validate(schema.normalise([row(latency_ms=None)]))


def test_unknown_phase_status_and_extra_columns_are_rejected():
    with pytest.raises(SchemaError, match="phase"):
        schema.validate([row(phase="train")])
    with pytest.raises(SchemaError, match="status"):
        schema.validate([row(status="maybe")])
    with pytest.raises(SchemaError, match="outside the schema"):
        schema.normalise([row(colour="red")])
    with pytest.raises(SchemaError, match="batch"):
        schema.validate([row(batch=0)])


def test_unreadable_files_give_a_schema_error(tmp_path):
    with pytest.raises(SchemaError, match="no such"):
        schema.read_profile(tmp_path / "missing.csv")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SchemaError, match="not a profile"):
        schema.read_profile(bad)
    with pytest.raises(SchemaError, match=r"\.csv or \.json"):
        schema.write_profile(schema.normalise([row()]), tmp_path / "p.txt", ProfileMeta(tool_version="x"))


def test_atomic_write_leaves_no_temp_files_and_the_mode_open_would_give(tmp_path):
    import os

    (tmp_path / "a.txt").write_text("old contents, longer than the new")
    schema.atomic_write_text(tmp_path / "a.txt", "hello")
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"] and (tmp_path / "a.txt").read_text() == "hello"
    # mkstemp creates 0600; the written file has what open(path, "w") would create: 0666 less the umask
    mask = os.umask(0)
    os.umask(mask)
    schema.atomic_write_text(tmp_path / "b.txt", "x")
    assert (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o666 & ~mask


def test_schema_markdown_lists_every_column():
    md = schema.schema_markdown()
    assert all(f"`{c}`" in md for c in schema.COLUMN_NAMES)


def test_docs_page_is_generated_from_the_schema():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "profile_schema.md").read_text()
    assert schema.schema_markdown() in page, "regenerate docs/profile_schema.md from schema.schema_markdown()"
