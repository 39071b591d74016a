"""What `inferplan profile --measure` says after its table: one warning when timings were unstable (spread above
UNSTABLE_REL_SPREAD of the median), and a line naming the machine and library versions it ran on."""

import pytest

from tests.helpers import cli


def _fake_sweep(monkeypatch, spreads):
    """run_measured_profile replaced by rows of one decode point per spread (latency 10 ms)."""
    import profiler.measure.sweep as sweep
    from profiler.schema import ProfileMeta, normalise

    def fake(model, gpu, *grid, **kw):
        rows = [{"model": model.name, "gpu": "cpu", "quant": "bf16", "kv_dtype": "bf16", "tp": 1, "phase": "decode",
                 "batch": b + 1, "context": 16, "latency_ms": 10.0, "tokens_per_s": 100.0 * (b + 1),
                 "weights_bytes": 1, "kv_bytes_per_token": 1, "peak_bytes": 1, "kv_capacity_tokens": 1,
                 "max_batch": 8, "mbu": 0.1, "mfu": 0.1, "source": "measured", "status": "ok", "note": "",
                 "latency_ms_spread": s} for b, s in enumerate(spreads)]
        env = {"gpu": "cpu", "cpu": "x86_64", "cpu_threads": 2, "torch": "2.13", "transformers": "5.24",
               "torchao": "not installed"}
        return normalise(rows), ProfileMeta(tool_version="t", environment=env)

    monkeypatch.setattr(sweep, "run_measured_profile", fake)


def test_unstable_measured_points_get_one_warning_after_the_table(monkeypatch):
    _fake_sweep(monkeypatch, [0.5, 4.0, 6.0])  # 5 %, 40 %, 60 % of the 10 ms median: two above the 25 % limit
    r = cli("profile", "smollm2-135m", "--measure", "--device", "cpu")
    assert r.exit_code == 0, r.output
    warnings = [line for line in r.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert warnings[0].startswith("warning: 2 of 3 measured points have unstable timings (spread up to 60% of the "
                                  "median")
    assert "machine was probably busy" in warnings[0]
    # the environment line closes the report
    assert r.output.strip().splitlines()[-1] == ("measured on CPU x86_64 (2 threads, rows labelled cpu); torch 2.13, "
                                                 "transformers 5.24, torchao not installed")


def test_stable_measured_points_and_analytic_bands_give_no_warning(monkeypatch):
    _fake_sweep(monkeypatch, [0.5, 2.5])  # 5 %, 25 % (the limit itself is stable)
    r = cli("profile", "smollm2-135m", "--measure", "--device", "cpu")
    assert r.exit_code == 0 and "unstable" not in r.output
    analytic = cli("profile", "llama-3.1-8b")  # analytic spreads are error bands, not timing noise
    assert analytic.exit_code == 0 and "unstable" not in analytic.output and "measured on" not in analytic.output


def test_unstable_timings_lists_measured_ok_rows_past_the_limit_only():
    import pandas as pd

    from profiler.measure.timers import UNSTABLE_REL_SPREAD
    from profiler.tables import unstable_timings

    assert UNSTABLE_REL_SPREAD == 0.25  # the limit the spreads in the tests above sit around
    df = pd.DataFrame({"source": ["measured", "measured", "calibrated", "measured"],
                       "status": ["ok", "ok", "ok", "oom"], "latency_ms": [10.0, 10.0, 10.0, None],
                       "latency_ms_spread": [10 * UNSTABLE_REL_SPREAD + 0.1, 1.0, 9.0, None]})
    out = unstable_timings(df)
    # row 0: (2.5 + 0.1) / 10 = 26 %; row 1 10 % is stable; row 2 is not measured; row 3 did not run
    assert list(out.index) == [0] and out["spread_pct"].iloc[0] == pytest.approx(26.0)


def test_the_environment_summary_names_the_card_driver_and_versions():
    from profiler.tables import environment_summary

    gpu = {"gpu_name": "NVIDIA H200", "gpu": "h100-sxm", "nvml": {"driver": "570.1"}, "cuda_runtime": "12.8",
           "torch": "2.9.0", "transformers": "5.2.0", "torchao": "0.15.0",
           "gpu_id_warning": "device reports 'NVIDIA H200' (h200), profile labelled h100-sxm"}
    assert environment_summary(gpu) == (
        "measured on NVIDIA H200 (rows labelled h100-sxm), driver 570.1, CUDA 12.8; torch 2.9.0, transformers 5.2.0, "
        "torchao 0.15.0; warning: device reports 'NVIDIA H200' (h200), profile labelled h100-sxm")


def test_the_environment_summary_says_unknown_for_what_was_not_recorded():
    from profiler.tables import environment_summary

    # an older profile: no NVML record, no CUDA runtime, no torchao key, no warning
    assert environment_summary({"gpu_name": "NVIDIA H100", "gpu": "h100-sxm", "torch": "2.4"}) == (
        "measured on NVIDIA H100 (rows labelled h100-sxm), driver unknown, CUDA unknown; torch 2.4, "
        "transformers unknown, torchao unknown")
    assert environment_summary({"nvml": "unavailable"}) == (  # not a mapping, no card: the CPU wording
        "measured on CPU unknown (? threads, rows labelled cpu); torch unknown, transformers unknown, torchao unknown")
