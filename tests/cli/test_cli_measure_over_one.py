"""`inferplan profile --measure` warns once, after the table, when measured rows carry an MBU or MFU above 1 (their
notes say it is not a utilisation: profiler.measure.rates), since the terminal prints the notes of ok rows
nowhere else."""

from tests.helpers import cli

OVER = "mfu 2.10 > 1, not a utilisation: the step outran this CPU's fastest measured 512^3 bf16 matmul"


def _fake_sweep(monkeypatch, notes):
    """run_measured_profile replaced by one ok decode row per note."""
    import profiler.measure.sweep as sweep
    from profiler.schema import ProfileMeta, normalise

    def fake(model, gpu, *grid, **kw):
        rows = [{"model": model.name, "gpu": "cpu", "quant": "bf16", "kv_dtype": "bf16", "tp": 1, "phase": "decode",
                 "batch": b + 1, "context": 16, "latency_ms": 10.0, "tokens_per_s": 100.0 * (b + 1),
                 "weights_bytes": 1, "kv_bytes_per_token": 1, "peak_bytes": 1, "kv_capacity_tokens": 1,
                 "max_batch": 8, "mbu": 0.1, "mfu": 2.1 if OVER in n else 0.1, "source": "measured", "status": "ok",
                 "note": n, "latency_ms_spread": 0.1} for b, n in enumerate(notes)]
        env = {"gpu": "cpu", "cpu": "x86_64", "cpu_threads": 2, "torch": "2.13", "transformers": "5.24",
               "torchao": "not installed"}
        return normalise(rows), ProfileMeta(tool_version="t", environment=env)

    monkeypatch.setattr(sweep, "run_measured_profile", fake)


def test_rows_above_one_get_one_warning(monkeypatch):
    _fake_sweep(monkeypatch, ["eager, median of 9", f"eager, median of 9; {OVER}", f"x; {OVER}"])
    r = cli("profile", "smollm2-135m", "--measure", "--device", "cpu")
    assert r.exit_code == 0, r.output
    (warning,) = [line for line in r.output.splitlines() if line.startswith("warning:")]
    assert warning == ("warning: 2 of 3 measured points have an MBU or MFU above 1, which is not a utilisation: the "
                       "rate it divides by is no peak for this device (see their notes)")


def test_rows_at_or_below_one_get_none(monkeypatch):
    _fake_sweep(monkeypatch, ["eager, median of 9", ""])
    r = cli("profile", "smollm2-135m", "--measure", "--device", "cpu")
    assert r.exit_code == 0 and "warning" not in r.output
