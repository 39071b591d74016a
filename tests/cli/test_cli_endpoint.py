"""`inferplan endpoint` from the command line, against the fake OpenAI server (tests/endpoint/fake_server.py): the
table, the profile it writes and what reads it, each bad input as one line, the API key kept out of every output,
and a real Ctrl-C in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from profiler.schema import read_profile
from tests.endpoint.fake_server import serve, serve_in_thread
from tests.helpers import cli, cli_error

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["--input-tokens", "40", "--output-tokens", "6", "--requests", "6", "--no-metrics"]


@pytest.fixture(scope="module")
def url():
    with serve_in_thread(ttft_ms=10, itl_ms=3) as base:
        yield base


def test_table_and_profile_that_plan_and_calibrate_read(url, tmp_path):
    out = tmp_path / "served.json"
    r = cli("endpoint", url, *QUICK, "--concurrency", "1,4", "--gpu", "h100-sxm", "--tp", "1", "-o", out,
            "--ttft-p99", "500")
    assert r.exit_code == 0, r.output
    assert "synchronous" in r.stdout and "concurrent 4" in r.stdout and f"wrote {out}" in r.stdout
    assert "SLO (p99 TTFT <= 500 ms): met up to concurrent 4" in r.stdout
    df, meta = read_profile(out)
    assert set(df["source"]) == {"endpoint"} and set(df["model"]) == {"llama-3.1-8b"}  # root -> catalogue
    assert sorted(df["phase"]) == ["decode", "decode", "prefill"]
    assert meta.environment["report"]["served_model"] == "fake-model"
    assert meta.environment["report"]["url"] == url
    assert cli("plan", "llama-3.1-8b", "--profile", out, "--format", "json").exit_code == 0
    cal = cli("calibrate", out, "-o", tmp_path / "cal.yaml", "--force")
    assert cal.exit_code == 0, cal.output


def test_json_document_is_read_later_with_the_deployment_named(url, tmp_path):
    r = cli("endpoint", url, *QUICK, "--rates", "20", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["inferplan_endpoint"] == 1 and doc["points"][0]["point"] == "poisson 20/s"
    assert doc["points"][0]["completed"] == 6 and doc["failures"] == []
    path = tmp_path / "run.json"
    path.write_text(r.stdout)
    plan = cli("plan", "llama-3.1-8b", "--profile", path, "--gpu", "h100-sxm", "--tp", "1", "--format", "json")
    assert plan.exit_code == 0, plan.output
    assert "--gpu ID" in cli_error("plan", "llama-3.1-8b", "--profile", path)


def test_csv_has_every_summary_column(url):
    r = cli("endpoint", url, *QUICK, "--concurrency", "2", "--format", "csv")
    assert r.exit_code == 0, r.output
    header = r.stdout.splitlines()[0].split(",")
    for col in ("ttft_p50", "ttft_p90", "ttft_p99", "itl_p99", "tpot_p50", "e2e_p99", "goodput", "keeps_up"):
        assert col in header


@pytest.mark.parametrize(("args", "words"), [
    (["--concurrency", "1", "--rates", "2"], "give exactly one load"),
    ([], "give exactly one load"),
    (["--concurrency", "1", "-o", "x.json"], "-o writes a profile of the deployment: name --gpu ID and --tp N"),
    (["--concurrency", "1", "--api-key-env", "INFERPLAN_TEST_UNSET_KEY"], "INFERPLAN_TEST_UNSET_KEY"),
    (["--rates", "0"], "--rates: every rate must be a positive number"),
    (["--concurrency", "1", "--requests", "0"], "--requests must be between 1"),
    (["--concurrency", "1", "--gpu", "h900"], "h900"),
    (["--concurrency", "1", "--duration", "-1"], "--duration"),
])
def test_bad_options_are_one_line(url, args, words):
    assert words in cli_error("endpoint", url, *QUICK, *args)


def test_bad_url_and_nothing_listening_are_one_line():
    assert "not an http(s) URL" in cli_error("endpoint", "localhost:8000", "--concurrency", "1")
    assert "cannot reach http://127.0.0.1:9/v1/models" in cli_error("endpoint", "http://127.0.0.1:9",
                                                                    "--concurrency", "1")


def test_a_model_outside_the_catalogue_is_refused_before_the_load(tmp_path):
    with serve_in_thread(root="someorg/unknown-model-7b", model="unknown") as base:
        out = cli_error("endpoint", base, *QUICK, "--concurrency", "1", "--gpu", "h100-sxm", "--tp", "1",
                        "-o", tmp_path / "p.json")
        assert "'unknown' (root 'someorg/unknown-model-7b') is no catalogue id" in out and "--catalogue-model" in out
        r = cli("endpoint", base, *QUICK, "--concurrency", "1", "--gpu", "h100-sxm", "--tp", "1",
                "--catalogue-model", "llama-3.1-8b", "-o", tmp_path / "p.json")
        assert r.exit_code == 0, r.output
    assert set(read_profile(tmp_path / "p.json")[0]["model"]) == {"llama-3.1-8b"}


def test_the_api_key_is_sent_and_never_printed(monkeypatch, tmp_path):
    key = "sk-inferplan-test-9f8e7d"
    monkeypatch.setenv("INFERPLAN_TEST_KEY", key)
    with serve_in_thread(require_key=key, ttft_ms=5, itl_ms=2) as base:
        r = cli("endpoint", base, *QUICK, "--concurrency", "2", "--api-key-env", "INFERPLAN_TEST_KEY", "--gpu",
                "h100-sxm", "--tp", "1", "-o", tmp_path / "p.json", "--format", "json")
        assert r.exit_code == 0, r.output
        monkeypatch.setenv("INFERPLAN_TEST_KEY", key + "-wrong")
        bad = cli_error("endpoint", base, *QUICK, "--concurrency", "2", "--api-key-env", "INFERPLAN_TEST_KEY")
    assert "HTTP 401" in bad and key not in bad
    assert key not in r.output and key not in (tmp_path / "p.json").read_text()


def test_failures_are_one_line_per_class_on_stderr():
    with serve_in_thread(ttft_ms=5, itl_ms=2, fail="status500", fail_every=2) as base:
        r = cli("endpoint", base, *QUICK, "--concurrency", "2", "--requests", "8")
    assert r.exit_code == 0, r.output
    failed = [line for line in r.stderr.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1 and failed[0].startswith("failed: HTTP error: 4 requests (first: HTTP 500")


INFERPLAN = Path(sys.executable).with_name("inferplan")


@pytest.mark.skipif(not INFERPLAN.exists(), reason="the inferplan console script is not installed in this environment")
def test_ctrl_c_keeps_the_points_measured_and_exits_130(tmp_path):
    out = tmp_path / "p.csv"
    with serve(ttft_ms=20, itl_ms=20) as base:
        argv = [str(INFERPLAN), "endpoint", base, "--input-tokens", "40", "--output-tokens", "20", "--requests", "4",
                "--concurrency", "4,1", "--no-metrics", "--gpu", "h100-sxm", "--tp", "1", "-o", str(out)]
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "COLUMNS": "100"})
        deadline = time.monotonic() + 60
        while not out.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)  # the first point (4 streams, ~0.4 s) is written; the synchronous one is running
        assert out.exists(), proc.communicate(timeout=30)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "stopped by Ctrl-C: 2 load point(s) kept" in stderr and f"{out} holds them" in stderr
    assert "concurrent 4" in stdout and "synchronous" in stdout
    df, _ = read_profile(out)
    assert len(df[df["phase"] == "decode"]) >= 1


def test_without_the_endpoint_extra_the_install_line_is_said(monkeypatch, url):
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # what `import aiohttp` meets when the extra is not installed
    out = cli_error("endpoint", url, *QUICK, "--concurrency", "1")
    assert "pip install 'inferplan[endpoint]'" in out
