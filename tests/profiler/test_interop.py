"""Serving benchmark reports (vllm bench serve, guidellm) read as measured profiles: profiler.interop.

The fixtures under tests/data/interop are small reports written in each tool's layout (profiler/interop/
vllm_bench.py and guidellm.py cite the source): llama-3.1-8b bf16 on one H100 SXM, 1,024-token prompts and
256-token outputs at three loads (vllm_bench_serve_rates.json: rates 1, 4, 16 req/s appended with
--append-result and --metadata gpu=h100-sxm tp=1; guidellm_sweep.json: synchronous, constant 4/s,
concurrent 16, guidellm 0.5 layout; guidellm_v03.json: its first two benchmarks in the 0.3 layout), and one
vLLM run at rate inf capped at 8 concurrent (512 in, 128 out, default percentiles, no E2EL, no metadata).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from profiler.errors import InvalidValueError
from profiler.interop import ServingContext, catalogue_model_id, parse_json, read_report
from profiler.interop.serving import ReportError, ServingPoint
from profiler.schema import SchemaError, read_profile
from tests.helpers import cli, cli_error, cli_json

DATA = Path(__file__).resolve().parents[1] / "data" / "interop"
RATES, SINGLE = DATA / "vllm_bench_serve_rates.json", DATA / "vllm_bench_serve_single.json"
SWEEP, V03 = DATA / "guidellm_sweep.json", DATA / "guidellm_v03.json"
H100 = ServingContext(gpu="h100-sxm", tp=1)


def _results(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _report(path: Path):
    text = path.read_text()
    return read_report(parse_json(text, str(path)), str(path))


# ------------------------------------------------------------------------------------------------ parsing


def test_vllm_appended_results_are_one_point_each():
    rep = _report(RATES)
    assert [p.label for p in rep.points] == ["rate 1/s", "rate 4/s", "rate 16/s"]
    assert [p.request_rate for p in rep.points] == [1.0, 4.0, 16.0]
    assert rep.model == "meta-llama/Llama-3.1-8B-Instruct" and (rep.gpu, rep.tp) == ("h100-sxm", 1)
    p = rep.points[1]
    assert (p.completed, p.failed, p.input_tokens, p.output_tokens) == (200, 0, 1024, 256)  # 204,800 / 200 ...
    assert (p.request_throughput, p.ttft_mean_ms, p.ttft_median_ms, p.step_ms) == (3.8493, 45.0, 41.5, 7.2)
    assert p.step_from == "median_itl_ms" and p.max_concurrency is None
    # --metric-percentiles 50,90,99 over ttft,tpot,itl,e2el: every summary kept under vLLM's names
    assert p.stats["itl_ms"] == {"mean": 7.463, "median": 7.2, "std": 3.0, "p50": 7.2, "p90": 9.72, "p99": 15.12}
    assert set(p.stats) == {"ttft_ms", "tpot_ms", "itl_ms", "e2el_ms"}
    assert rep.info["date"] == "20261201-101500" and rep.info["backend"] == "openai"


def test_vllm_single_result_with_default_percentiles():
    (p,) = _report(SINGLE).points
    assert p.label == "rate inf, max concurrency 8" and p.request_rate is None and p.max_concurrency == 8
    assert (p.input_tokens, p.output_tokens) == (512, 128)
    assert set(p.stats["ttft_ms"]) == {"mean", "median", "std", "p99"}  # vLLM's default --metric-percentiles 99
    # no E2EL in the file: decode time = mean TPOT x (OSL - 1) = 7.4 ms x 127
    assert p.decode_from == "mean TPOT x (OSL - 1)" and p.decode_mean_s == pytest.approx(7.4e-3 * 127)


def test_saved_results_concatenated_read_as_points(tmp_path):
    both = tmp_path / "both.json"
    both.write_text(SINGLE.read_text() + SINGLE.read_text().replace('"request_rate": "inf"', '"request_rate": 2.0'))
    rep = _report(both)  # `cat a.json b.json`: two objects with no newline between
    assert [p.label for p in rep.points] == ["rate inf, max concurrency 8", "rate 2/s, max concurrency 8"]


def test_guidellm_report_layouts_0_5_and_0_3():
    new, old = _report(SWEEP), _report(V03)
    assert [p.label for p in new.points] == ["synchronous", "constant 4/s", "concurrent 16"]
    assert [p.max_concurrency for p in new.points] == [1, None, 16]
    assert new.model == old.model == "meta-llama/Llama-3.1-8B-Instruct" and new.info["guidellm_version"] == "0.5.4"
    sync = new.points[0]
    # inter_token_latency_ms.successful.median; request_latency (s) - TTFT mean for the decode time
    assert (sync.step_ms, sync.ttft_median_ms, sync.input_tokens, sync.output_tokens) == (6.7, 29.1, 1024, 256)
    assert sync.decode_mean_s == pytest.approx(1.764 - 0.030)
    assert sync.stats["time_to_first_token_ms"]["p99"] == pytest.approx(29.1 * 1.6)  # p99 key kept as p99
    assert sync.stats["time_to_first_token_ms"]["p99.9"] == pytest.approx(29.1 * 2.0)  # guidellm's p999
    for a, b in zip(new.points[:2], old.points, strict=True):  # the 0.3 layout reads to the same points
        assert a.record() == b.record()


# ------------------------------------------------------------------------------------------------ mechanism


def test_decode_batch_is_littles_law_over_the_decode_phase():
    rows = _results(RATES)
    rep = _report(RATES)
    for doc, p in zip(rows, rep.points, strict=True):
        busy = doc["request_throughput"] * (doc["mean_e2el_ms"] - doc["mean_ttft_ms"]) / 1e3
        assert p.decode_batch == round(busy)
        assert p.concurrency == pytest.approx(doc["request_throughput"] * doc["mean_e2el_ms"] / 1e3)
    # 0.99125 x 1.734 s = 1.72; 3.848 x 1.9125 s = 7.36; 13.25 x 2.499 s = 33.1
    assert [p.decode_batch for p in rep.points] == [2, 7, 33]
    assert [p.decode_batch for p in _report(SWEEP).points] == [1, 7, 16]


def test_decode_batch_is_capped_by_the_concurrency_limit():
    base = dict(label="x", request_rate=None, completed=10, failed=0, input_tokens=100, output_tokens=50,
                request_throughput=8.0, ttft_mean_ms=50.0, ttft_median_ms=45.0, step_ms=7.0, step_from="",
                decode_mean_s=1.0, decode_from="")
    assert ServingPoint(max_concurrency=None, **base).decode_batch == 8
    assert ServingPoint(max_concurrency=4, **base).decode_batch == 4
    assert ServingPoint(max_concurrency=None, **{**base, "request_throughput": 0.2}).decode_batch == 1
    assert ServingPoint(max_concurrency=None, **base).decode_context == 125  # ISL + OSL / 2


def test_rows_carry_the_measured_numbers():
    from profiler import catalogue
    from profiler.analytic import timing
    from profiler.analytic.efficiency import efficiency_for
    from profiler.analytic.profile import Grid, analytic_profile
    from profiler.specs import KvDtype

    df, meta = read_profile(RATES)
    assert list(df["phase"]) == ["decode"] * 3 + ["prefill"]
    assert set(df["source"]) == {"vllm-bench-serve"} and set(df["status"]) == {"ok"}
    assert set(zip(df["model"], df["gpu"], df["quant"], df["kv_dtype"], df["tp"], strict=True)) == {
        ("llama-3.1-8b", "h100-sxm", "bf16", "bf16", 1)}
    dec, pre = df[df["phase"] == "decode"], df[df["phase"] == "prefill"].iloc[0]
    assert list(dec["latency_ms"]) == [6.7, 7.2, 9.1]  # median_itl_ms of each rate
    assert list(dec["batch"]) == [2, 7, 33] and set(dec["context"]) == {1024 + 128}
    assert list(dec["tokens_per_s"]) == pytest.approx([2 / 6.7e-3, 7 / 7.2e-3, 33 / 9.1e-3])
    # prefill: median TTFT of the lightest load (rate 1/s), one 1,024-token prompt
    assert (pre["batch"], pre["context"], pre["latency_ms"]) == (1, 1024, 31.0)
    # memory columns: the analytic model's, for the same point; mbu: analytic bytes over the measured time
    model, gpu, quant = (catalogue.get_model("llama-3.1-8b"), catalogue.get_gpu("h100-sxm"),
                         catalogue.get_quant("bf16"))
    twin = analytic_profile(model, gpu, Grid(quants=(quant,), batches=(7,), contexts=(1152,), phases=("decode",)))
    row = dec.iloc[1]
    for col in ("weights_bytes", "kv_bytes_per_token", "kv_capacity_tokens", "max_batch", "peak_bytes"):
        assert row[col] == twin[col].iloc[0]
    step = timing.decode_step(model, gpu, quant, KvDtype.BF16, 1, 7, 1152, efficiency_for("h100-sxm", "bf16"))
    assert row["mbu"] == pytest.approx(step.mbu * step.latency_s / 7.2e-3)
    # nothing measured is lost: every point's numbers are in the metadata
    points = meta.environment["points"]
    assert [p["request_rate"] for p in points] == [1.0, 4.0, 16.0]
    assert points[2]["stats"]["ttft_ms"]["p99"] == 130.2 and points[2]["output_throughput"] == 3397.704
    assert meta.environment["deployment_from"]["gpu"] == "the report's gpu"
    assert meta.environment["report"]["tool"] == "vllm bench serve"


def test_model_names_map_to_catalogue_ids():
    from profiler import catalogue

    models = catalogue.load_models()
    for name in ("meta-llama/Llama-3.1-8B-Instruct", "/models/Llama-3.1-8B-Instruct/", "meta-llama/Llama-3.1-8B",
                 "LLAMA-3.1-8B"):
        assert catalogue_model_id(name, models) == "llama-3.1-8b", name
    assert catalogue_model_id("google/gemma-2-9b", models) == "gemma-2-9b"
    assert catalogue_model_id("my-org/custom-model", models) is None


def test_the_command_fills_what_the_file_does_not_say():
    df, meta = read_profile(SINGLE, ServingContext(model="llama-3.1-8b", gpu="h200", tp=2, quant="fp8",
                                                   kv_dtype="fp8"))
    assert set(zip(df["gpu"], df["tp"], df["quant"], df["kv_dtype"], strict=True)) == {("h200", 2, "fp8", "fp8")}
    assert meta.environment["deployment_from"]["gpu"] == "--gpu"
    df, _ = read_profile(RATES, ServingContext(gpu="a100-80gb", tp=2))  # the file's --metadata wins
    assert set(zip(df["gpu"], df["tp"], strict=True)) == {("h100-sxm", 1)}


# ------------------------------------------------------------------------------------------------ bad files


def _edited(tmp_path: Path, source: Path, edit) -> Path:
    doc = json.loads(source.read_text())
    edit(doc)
    out = tmp_path / source.name
    out.write_text(json.dumps(doc))
    return out


@pytest.mark.parametrize(("source", "edit", "message"), [
    (SINGLE, lambda d: d.pop("total_output_tokens"), "field 'total_output_tokens' is missing"),
    (SINGLE, lambda d: d.update(median_itl_ms=None, median_tpot_ms=None), "'median_itl_ms' and 'median_tpot_ms'"),
    (SINGLE, lambda d: d.update(completed=0, request_throughput=0.0), "completed a request"),
    (SINGLE, lambda d: d.update(median_itl_ms=0.0), "did not stream tokens"),
    (SINGLE, lambda d: d.update(mean_ttft_ms="fast"), "field 'mean_ttft_ms' is 'fast'"),
    (SWEEP, lambda d: d["benchmarks"][1]["metrics"].pop("inter_token_latency_ms"),
     "benchmarks[1] (constant 4/s): field 'inter_token_latency_ms' is missing"),
    (SWEEP, lambda d: d.update(benchmarks=[]), "holds no benchmarks"),
])
def test_bad_reports_are_one_clear_error(tmp_path, source, edit, message):
    path = _edited(tmp_path, source, edit)
    with pytest.raises(ReportError) as exc:
        read_profile(path, H100)
    assert message in str(exc.value) and str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_a_point_without_completed_requests_is_left_out(tmp_path):
    def zero(d):
        d["benchmarks"][2]["metrics"]["request_totals"]["successful"] = 0

    df, meta = read_profile(_edited(tmp_path, SWEEP, zero), H100)
    assert list(df["batch"][df["phase"] == "decode"]) == [1, 7]
    assert meta.environment["skipped_points"] == ["concurrent 16"]


def test_missing_deployment_names_the_flag():
    with pytest.raises(InvalidValueError, match=r"does not say which GPU served it; name it with --gpu ID "
                                                r"\(`vllm bench serve --metadata gpu=...`"):
        read_profile(SINGLE, ServingContext(tp=1))
    with pytest.raises(InvalidValueError, match="tensor-parallel degree; name it with --tp N"):
        read_profile(SWEEP, ServingContext(gpu="h100-sxm"))


def test_profile_json_without_rows_is_still_not_a_profile(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"benchmark": 1}\n{"x": 2}')  # two objects, but no vLLM results: the JSON error stands
    with pytest.raises(SchemaError, match="not valid JSON"):
        read_profile(path)


# ------------------------------------------------------------------------------------------------ commands


def test_plan_uses_the_report():
    out = cli_json("plan", "llama-3.1-8b", "--profile", RATES, "--gpu", "h100-sxm", "--tp", "1")
    assert (out["gpu"], out["quant"], out["tp"]) == ("h100-sxm", "bf16", 1)
    # one request at a time decodes at the measured step at the lightest load (6.7 ms; the roofline says ~6.2)
    assert out["p99"]["at_peak"]["tpot_mean_s"] * 1e3 == pytest.approx(6.7, abs=0.1)


def test_plan_with_a_guidellm_report_needs_one_gpu():
    assert "name it with --gpu ID" in cli_error("plan", "llama-3.1-8b", "--profile", SWEEP, "--tp", "1")
    out = cli_json("plan", "llama-3.1-8b", "--profile", SWEEP, "--gpu", "h100-sxm", "--tp", "1")
    assert out["p99"]["at_peak"]["tpot_mean_s"] * 1e3 == pytest.approx(6.7, abs=0.1)


def test_plan_refuses_a_report_of_another_model():
    assert "profiles llama-3.1-8b, not llama-3.3-70b" in cli_error("plan", "llama-3.3-70b", "--profile", RATES)


def test_calibrate_fits_a_report(tmp_path):
    out = tmp_path / "cal.yaml"
    r = cli("calibrate", SWEEP, "--gpu", "h100-sxm", "--tp", "1", "-o", out)
    assert r.exit_code == 0, r.output
    fit = yaml.safe_load(out.read_text())["calibrations"]["h100-sxm"]["bf16"]
    assert fit["points"] == {"decode": 3, "prefill": 1} and fit["source_file"] == str(SWEEP)
    # 16 GB of weights in 6.7 ms at batch 1 on a 3.35 TB/s card: about 0.7-0.8 of the datasheet bandwidth
    assert 0.6 < fit["bandwidth"] < 0.9


def test_calibrate_refuses_report_options_for_a_profile(tmp_path):
    from profiler.api import ProfileRequest, profile

    path = tmp_path / "p.csv"
    profile(ProfileRequest(model="llama-3.1-8b", output=path))
    assert "--gpu names the deployment a vllm bench serve or guidellm report" in cli_error(
        "calibrate", path, "--gpu", "h100-sxm", "-o", tmp_path / "c.yaml")


def test_bad_report_through_the_cli_is_one_line(tmp_path):
    path = _edited(tmp_path, SINGLE, lambda d: d.pop("completed"))
    assert "field 'completed' is missing" in cli_error("calibrate", path, "--gpu", "h100-sxm", "--tp", "1")


def test_simulate_takes_step_times_from_a_report():
    out = cli_json("simulate", "llama-3.1-8b", "--profile", SWEEP, "--rate", "1/s", "--duration", "1m")
    assert 6.7 <= out["metrics"]["itl"]["p50"] * 1e3 <= 8.0  # within the measured steps (6.7 at 1, 8.0 at 16)


def test_plan_of_a_local_model_folder_takes_a_report_of_it(tmp_path):
    from profiler import catalogue
    from profiler.hf_mapping import INFERPLAN_FIELDS

    spec = catalogue.get_model("llama-3.1-8b")
    folder = tmp_path / "my-finetune"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({k: v for k, v in spec.hf_config.items()
                                                    if k not in INFERPLAN_FIELDS}))
    report = _edited(tmp_path, SINGLE, lambda d: d.update(model_id="/srv/my-finetune"))  # no catalogue hf_repo
    out = cli_json("plan", folder, "--profile", report, "--gpu", "h100-sxm", "--tp", "1")
    assert out["p99"]["at_peak"]["tpot_mean_s"] * 1e3 == pytest.approx(7.1, abs=0.1)  # the file's median ITL
