"""`inferplan profile -o PATH`: what the written files hold (read back raw, not through the code that wrote them),
who may read them, and bad paths refused before any work with the path the user gave."""

import csv
import json
import os
import stat

import pytest

from tests.helpers import cli, cli_json

# qwen3-30b-a3b: 30,532,122,624 parameters (tests/profiler/test_params.py); per layer attention projections
# 18,874,368 and 128 experts x 3 x 2,048 x 768 = 603,979,776 expert weights, x 48 layers = 29,896,998,912 linear
# weights that int4 quantises (embedding, lm_head, router and norms, 635,123,712 parameters, stay bf16).
QWEN3_BF16_BYTES = 2 * 30_532_122_624  # = 61,064,245,248
# int4 g128 with a bf16 scale and zero per 128 = 4.25 bits (every input dim is a multiple of 128):
# 29,896,998,912 x 4.25 / 8 = 15,882,780,672 B + 635,123,712 x 2 B = 1,270,247,424 B.
QWEN3_INT4_BYTES = 15_882_780_672 + 1_270_247_424  # = 17,153,028,096
QWEN3_KV_BYTES = 48 * 4 * 128 * 2 * 2  # layers x KV heads x dims x (K, V) x 2 B = 98,304


def test_a_csv_profile_is_written_with_its_metadata_beside_it(tmp_path, monkeypatch):
    args = ["profile", "qwen3-30b-a3b", "--quant", "bf16,int4", "--batch", "1,8", "--context", "2k"]
    # CliRunner leaves sys.argv as pytest's: set what a user would have typed (a path with a space in it)
    monkeypatch.setattr("sys.argv", ["/opt/venv/bin/inferplan", *args, "-o", "my profile.csv"])
    r = cli(*args, "-o", tmp_path / "p.csv")
    assert r.exit_code == 0, r.output
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    # 2 quants x 2 batches x 1 context x 2 phases, every one a fitting configuration
    assert sorted((r["quant"], int(r["batch"]), int(r["context"]), r["phase"]) for r in rows) == sorted(
        (q, b, 2048, p) for q in ("bf16", "int4") for b in (1, 8) for p in ("prefill", "decode"))
    assert {r["status"] for r in rows} == {"ok"} and {r["model"] for r in rows} == {"qwen3-30b-a3b"}
    assert {r["quant"]: int(r["weights_bytes"]) for r in rows} == {"bf16": QWEN3_BF16_BYTES,
                                                                   "int4": QWEN3_INT4_BYTES}
    assert {int(r["kv_bytes_per_token"]) for r in rows} == {QWEN3_KV_BYTES}
    # the file holds what --format json prints for the same request
    shown = cli_json(*args)
    assert [float(r["latency_ms"]) for r in rows] == pytest.approx([s["latency_ms"] for s in shown], rel=1e-12)
    meta = json.loads((tmp_path / "p.meta.json").read_text())
    assert meta["command"] == "inferplan " + " ".join(args) + " -o 'my profile.csv'"  # as typed, shell-quoted
    assert meta["environment"]["gpu"] == "h100-sxm" and set(meta["efficiency"]) == {"bf16", "int4"}


def test_a_missing_output_folder_is_refused_not_created(tmp_path):
    r = cli("profile", "llama-3.1-8b", "--batch", "1", "--context", "1k", "-o", tmp_path / "a" / "b" / "p.json")
    assert r.exit_code == 1 and r.output.count("\n") == 1, r.output
    assert f"the folder {tmp_path / 'a' / 'b'} does not exist; create it first" in r.output
    assert not (tmp_path / "a").exists()


def test_a_good_nested_output_path_holds_rows_and_meta(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    r = cli("profile", "llama-3.1-8b", "--batch", "1", "--context", "1k", "-o", tmp_path / "a" / "b" / "p.json")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["p.json"]  # .json: no .meta.json beside
    doc = json.loads((tmp_path / "a" / "b" / "p.json").read_text())
    assert [(row["phase"], row["batch"], row["context"]) for row in doc["rows"]] == [("prefill", 1, 1024),
                                                                                     ("decode", 1, 1024)]
    assert {row["kv_bytes_per_token"] for row in doc["rows"]} == {131_072}  # 32 x 8 x 128 x 2 x 2 B
    assert {c["name"] for c in doc["columns"]} >= set(doc["rows"][0])
    assert doc["meta"]["environment"]["gpu"] == "h100-sxm"


def test_written_profiles_are_readable_by_others(tmp_path):
    out = tmp_path / "p.csv"
    old = os.umask(0o022)
    try:
        r = cli("profile", "llama-3.1-8b", "--batch", "1", "--context", "1024", "-o", out)
    finally:
        os.umask(old)
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE(out.stat().st_mode) & 0o044 == 0o044
    assert stat.S_IMODE((tmp_path / "p.meta.json").stat().st_mode) & 0o044 == 0o044


def _no_work(monkeypatch):
    """Make the work itself fail loudly, so a test passes only if the path was refused before it."""
    import profiler.measure.sweep as sweep
    from profiler import api

    def boom(*a, **k):
        raise AssertionError("the work ran before the output path was checked")

    monkeypatch.setattr(api, "analytic_profile", boom)
    monkeypatch.setattr(sweep, "run_measured_profile", boom)


@pytest.mark.parametrize("measure", [(), ("--measure", "--device", "cpu")])
def test_a_file_in_the_output_folder_path_is_named_before_any_work(tmp_path, monkeypatch, measure):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.csv").write_text("not a folder")
    _no_work(monkeypatch)
    r = cli("profile", "llama-3.1-8b", *measure, "-o", "p.csv/x.json")
    assert r.exit_code == 1, r.output
    assert r.output.strip() == "error: cannot write p.csv/x.json: p.csv is a file, not a folder"


def test_an_unwritable_folder_is_reported_with_the_users_path_not_a_temp_file(monkeypatch):
    if not os.path.isdir("/proc/self"):
        pytest.skip("needs Linux /proc")
    _no_work(monkeypatch)
    r = cli("profile", "llama-3.1-8b", "-o", "/proc/x.json")  # procfs refuses new files, even to root
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.output.startswith("error: cannot write /proc/x.json: cannot create files in /proc")
    assert ".tmp" not in r.output and ".x.json." not in r.output


def test_a_profile_path_with_another_suffix_is_refused_before_the_work(tmp_path, monkeypatch):
    _no_work(monkeypatch)
    r = cli("profile", "llama-3.1-8b", "-o", tmp_path / "p.txt")
    assert r.exit_code == 1 and r.output.strip() == f"error: {tmp_path / 'p.txt'}: profile files are .csv or .json"
    assert not (tmp_path / "p.txt").exists()
