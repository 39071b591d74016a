"""A prefill row is never an OOM row at or below its own max_batch, and an out-of-memory error is a boundary row,
never the end of the sweep.

The max-batch probe of a decode point allocates the cache, runs one prefill chunk (16 tokens on a CPU) and one
step; a prefill point runs all B x T tokens in one forward, with activations the chunk never has. Prefill rows
used to carry the decode probe's max_batch and then fail their own measured peak below it (smollm2-135m on the
CPU's emulated card: prefill 2 x 256 measured 288,035,712 B against a 285,807,488 B budget, with max_batch 2;
the tiny model below at a 900 kB budget: decode fits 69 sequences of 32 tokens, one prefill forward 13). Prefill
points now get their own search, probed with the prefill step itself."""

import pytest

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

import profiler.measure.runner as runner  # noqa: E402
from profiler.measure import build, maxbatch, steps  # noqa: E402
from profiler.measure.journal import journal_path  # noqa: E402
from profiler.measure.memory import PeakTracker  # noqa: E402
from profiler.measure.sweep import run_measured_profile  # noqa: E402
from profiler.schema import validate  # noqa: E402
from tests.profiler.measure.fakes import fixed_timing  # noqa: E402
from tests.profiler.measure.tiny import TINY_RESIDENT_BYTES  # noqa: E402

LIMIT = 900_000  # bytes: the tiny model (214 kB resident) and a few dozen short sequences
BATCHES = [1, 8, 16, 32, 64]
CUDA_OOM = "CUDA out of memory. Tried to allocate 2.00 GiB"


@pytest.fixture
def timed(monkeypatch):
    """Points 'timed' at 1 ms without repeating their step (the probes and each point's first call are real)."""
    monkeypatch.setattr(runner, "time_call", lambda fn, dev, policy=None: fixed_timing(0.001, 0.0))


def sweep(tiny, **kw):
    grid = dict(gpu_id=None, quants=["bf16"], kv_dtypes=["bf16"], batches=BATCHES, contexts=[32], device="cpu",
                progress=False, memory_limit_bytes=LIMIT)
    return run_measured_profile(tiny, **{**grid, **kw})


def test_every_row_fits_at_or_below_its_max_batch_and_none_fits_above(tiny, timed):
    df, _ = sweep(tiny)
    validate(df)
    found = {}
    for phase, rows in df.groupby("phase"):
        mb = found[phase] = int(rows["max_batch"].iloc[0])
        assert (rows["max_batch"] == mb).all()
        assert list(rows["status"]) == ["ok" if b <= mb else "oom" for b in rows["batch"]], (phase, mb)
        ok = rows[rows["status"] == "ok"]
        assert (ok["peak_bytes"] <= LIMIT).all()
    # the old bookkeeping gave prefill rows the decode probe's number: 69 here, while a prefill forward fits 13
    assert 8 <= found["prefill"] < 16 < 64 <= found["decode"]
    oom = df[(df["phase"] == "prefill") & (df["status"] == "oom")]
    why = f"largest prefill batch that fits in one forward at context 32: {found['prefill']} (injected memory limit"
    assert oom["note"].str.startswith(why).all()


def test_the_prefill_probe_is_never_more_lenient_than_the_point_it_stands_for(tiny):
    """The probe and the measured point run the same step; the probe also counts its cache and inputs from
    scratch, so its peak is at least the point's first tracked call (what runner.measure checks)."""
    dev = torch.device("cpu")
    model = build.build_model(tiny, dev).model
    for batch in (1, 8, 13):
        with PeakTracker(dev, base_bytes=TINY_RESIDENT_BYTES) as probe:
            steps.prefill_probe(model, dev, batch, 32)
        step = steps.prefill_step(model, dev, batch, 32)
        with PeakTracker(dev, base_bytes=TINY_RESIDENT_BYTES) as point:
            step.fn()
        assert probe.peak_device >= point.peak_device > TINY_RESIDENT_BYTES + batch * 32 * 256, batch


def test_a_capped_prefill_search_is_searched_again_when_a_rerun_asks_for_more(tiny, tmp_path, timed):
    """The prefill search stops at the largest prefill batch asked for (each probe is a whole prefill); a later run
    of the same file asking for a larger batch searches again instead of calling it out of memory."""
    out = tmp_path / "p.csv"
    sweep(tiny, out=out, prefill_batches=[1, 2], phases=["prefill"])
    df, _ = sweep(tiny, out=out, prefill_batches=[1, 2, 8], phases=["prefill"])
    assert list(df["status"]) == ["ok", "ok", "ok"]
    assert list(df["max_batch"]) == [2, 2, 8]  # each row as its search saw it; the second search capped at 8
    assert journal_path(out).read_text().count('"name": "max_batch/bf16/bf16/32/prefill"') == 2


# ---- out of memory is a boundary ----------------------------------------------------------------------------


def test_a_cuda_oom_in_a_prefill_probe_is_the_boundary_and_the_sweep_goes_on(tiny, monkeypatch, timed):
    real = steps.prefill_probe

    def probe(model, dev, batch, prompt):
        if batch > 3:
            raise torch.OutOfMemoryError(CUDA_OOM)
        return real(model, dev, batch, prompt)

    monkeypatch.setattr(steps, "prefill_probe", probe)
    df, _ = sweep(tiny, memory_limit_bytes=None)  # the CPU's emulated card: only the fake OOM bounds the prefill
    prefill, decode = df[df["phase"] == "prefill"], df[df["phase"] == "decode"]
    assert list(prefill["max_batch"]) == [3] * 5 and list(prefill["status"]) == ["ok", "oom", "oom", "oom", "oom"]
    assert list(decode["status"]) == ["ok"] * 5  # the decode points after it were measured as usual


def test_a_cuda_oom_inside_a_measured_prefill_is_an_oom_row_and_the_sweep_goes_on(tiny, monkeypatch, timed):
    real = steps.prefill_step

    def prefill_step(model, dev, batch, prompt):
        step = real(model, dev, batch, prompt)
        if batch == 8:
            def oom():
                raise torch.OutOfMemoryError(CUDA_OOM)
            step.fn = oom
        return step

    monkeypatch.setattr(steps, "prefill_step", prefill_step)
    monkeypatch.setattr(steps, "prefill_probe", lambda *a: None)  # the search says all fit: the step itself fails
    df, _ = sweep(tiny, memory_limit_bytes=None, batches=[1, 8, 16], phases=["prefill"])
    assert list(df["status"]) == ["ok", "oom", "ok"]
    assert df.iloc[1]["note"].startswith(f"out of memory while measuring (OutOfMemoryError: {CUDA_OOM}); largest "
                                         "prefill batch that fits in one forward at context 32: 16 or more")
    assert maxbatch.CPU_EMULATED_HEADROOM_BYTES == 16 * 2**20  # the card the probes ran against
