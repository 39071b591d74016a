"""MBU/MFU of measured rows are fractions of a rate the device was seen to reach, or say why not.

On a CPU the record is measured (environment.cpu_spec), once, at the start. Measured while other processes held
the cores it was up to 30x too slow (seen on a 2-core machine: 13.5 GFLOP/s bf16 and 5.5 GB/s with two spinning
processes, 415 GFLOP/s and 15.5 GB/s a second later), and every step after the load left showed MFU 1.5-4.5. A
step that outruns the record now makes the sweep measure the CPU again, keep the faster rates, and rate every row
(earlier ones too) against them; a ratio still above 1 is flagged in the row's note, never clipped. GPU rows
whose label is not the device say so. The CPU record is faked here (the timer too): what is tested is what the
sweep does with it."""

import math

import pytest

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

import profiler.measure.environment as environment  # noqa: E402
import profiler.measure.runner as runner  # noqa: E402
from profiler.measure import rates  # noqa: E402
from profiler.measure.journal import journal_path  # noqa: E402
from profiler.measure.sweep import run_measured_profile  # noqa: E402
from profiler.schema import read_profile, validate  # noqa: E402
from profiler.specs import GpuSpec  # noqa: E402
from tests.profiler.measure.fakes import fixed_timing  # noqa: E402
from tests.profiler.measure.tiny import decode_by_hand, prefill_by_hand  # noqa: E402

T = 0.001  # s: every point's median (the timer is faked)
IDLE = (1e10, 1e11)  # (B/s, FLOP/s) of the CPU measured idle: every tiny step is far below both
GRID = dict(gpu_id=None, quants=["bf16"], kv_dtypes=["bf16"], batches=[1, 2], contexts=[16, 32], device="cpu",
            progress=False, max_batch_cap=2)


def record(bandwidth: float, flops: float, source: str = "fake") -> GpuSpec:
    return GpuSpec(id="cpu", name="fake", hbm_bytes=2**34, hbm_bandwidth_bytes_per_s=bandwidth,
                   tflops={"bf16": flops / 1e12}, interconnect_bytes_per_s=0.0, interconnect="none",
                   tdp_w=float("nan"), gpus_per_node=1, vendor="cpu", source=source)


def by_hand(phase: str, batch: int, context: int) -> tuple[int, int]:
    return (decode_by_hand if phase == "decode" else prefill_by_hand)(batch, context)


@pytest.fixture
def cpu_measurements(monkeypatch):
    """environment.cpu_spec replaced: each call (the sweep's start, then every measurement again) returns the next
    record of `queue` (the last repeats); `calls` counts them. Points are 'timed' at T."""
    state = {"queue": [], "calls": 0}

    def cpu_spec():
        state["calls"] += 1
        return state["queue"][min(state["calls"], len(state["queue"])) - 1]

    monkeypatch.setattr(environment, "cpu_spec", cpu_spec)
    monkeypatch.setattr(runner, "time_call", lambda fn, dev, policy=None: fixed_timing(T, 0.0))
    return state


# ---- the arithmetic and the notes ----------------------------------------------------------------------------


def test_utilisation_is_bytes_and_flops_per_second_over_the_record():
    mbu, mfu = rates.utilisation(2e6, 3e9, 0.002, record(4e9, 6e12), "bf16")
    assert (mbu, mfu) == pytest.approx((2e6 / 0.002 / 4e9, 3e9 / 0.002 / 6e12))  # 0.25, 0.25


def test_only_a_ratio_above_one_gets_a_note_and_it_says_which_rate_it_outran():
    cpu = record(15.5e9, 415e9)
    assert rates.over_one_notes(1.0, 1.0, cpu, "bf16") == [] and rates.over_one_notes(0.3, 0.2, cpu, "bf16") == []
    mbu_note, mfu_note = rates.over_one_notes(1.25, 3.1, cpu, "bf16")
    assert mbu_note.startswith("mbu 1.25 > 1, not a utilisation: the step moved its bytes faster than this CPU's "
                               "measured 64 MiB copy (15.5 GB/s)")
    assert mfu_note.startswith("mfu 3.10 > 1, not a utilisation: the step outran this CPU's fastest measured 512^3 "
                               "bf16 matmul (415.0 GFLOP/s) even after it was measured again")
    from profiler import catalogue

    l4 = catalogue.get_gpu("l4")
    (gpu_note,) = rates.over_one_notes(0.9, 2.0, l4, "bf16")
    assert gpu_note.startswith(f"mfu 2.00 > 1, not a utilisation: more FLOP/s than l4's datasheet "
                               f"{l4.tflops['bf16']:,.0f} TFLOP/s bf16")


def test_gpu_rows_labelled_with_another_card_say_their_ratios_divide_by_its_datasheet():
    from profiler import catalogue

    l4 = catalogue.get_gpu("l4")
    assert rates.label_note(l4, {"gpu": "l4"}) is None
    warning = "device reports 'NVIDIA H200' (h200), profile labelled l4"
    assert rates.label_note(l4, {"gpu_id_warning": warning}) == (
        f"MBU/MFU divide by l4's datasheet, not this device's ({warning})")


def test_the_faster_record_takes_each_rate_from_whichever_measured_it_faster():
    busy, idle = record(5.5e9, 415e9), record(15.5e9, 13.5e9)
    both = rates.faster_record(busy, idle, "both")
    assert (both.hbm_bandwidth_bytes_per_s, both.peak_flops("bf16"), both.source) == (15.5e9, 415e9, "both")


# ---- a sweep that started on a busy machine -----------------------------------------------------------------


def test_a_record_measured_on_a_busy_machine_is_measured_again_and_every_row_rated_against_the_faster_one(
        tiny, tmp_path, cpu_measurements):
    """Busy start: the bf16 rate measured is between what the first point and the fourth (prefill of 2 x 32
    tokens) reach in 1 ms. Without measuring again the fourth row showed MFU > 1 (the symptom); with it, the CPU
    is measured again there (idle now) and every row, the three before it too, divides by the idle rates."""
    busy_flops = 1.5 * prefill_by_hand(1, 16)[1] / T  # the first point: MFU 0.67 of it; prefill 2 x 32: > 1
    assert prefill_by_hand(2, 32)[1] / T / busy_flops > 1  # the symptom the old code wrote into the row
    cpu_measurements["queue"] = [record(1e12, busy_flops, "busy"), record(*IDLE, "idle")]
    seen, out = [], tmp_path / "r.csv"
    df, meta = run_measured_profile(tiny, **GRID, out=out, on_point=seen.append)
    assert cpu_measurements["calls"] == 2  # the start, and once again when the fourth point outran it
    spec_ = meta.environment["machine_spec"]
    assert (spec_["hbm_bandwidth_bytes_per_s"], spec_["tflops"]["bf16"] * 1e12) == (1e12, IDLE[1])
    assert spec_["source"].endswith("the second idle")
    assert seen[0]["mfu"] == pytest.approx(prefill_by_hand(1, 16)[1] / T / busy_flops)  # as journaled at the time
    for r in df.itertuples():
        nbytes, flops = by_hand(r.phase, r.batch, r.context)
        assert r.mbu == pytest.approx(nbytes / T / 1e12, rel=1e-9) and r.mfu == pytest.approx(flops / T / IDLE[1])
        assert 0 < r.mfu <= 1 and 0 < r.mbu <= 1 and "not a utilisation" not in r.note
    on_disk, disk_meta = read_profile(out)  # the file says the same as the returned table
    assert list(on_disk["mfu"]) == pytest.approx(list(df["mfu"])) and disk_meta.environment == meta.environment


def test_a_ratio_the_cpu_never_reaches_again_is_flagged_not_clipped_and_measuring_again_is_bounded(
        tiny, cpu_measurements):
    slow = record(1e6, 1e6)  # every tiny step moves more than 1 MB/s and 1 MFLOP/s
    cpu_measurements["queue"] = [slow]
    df, meta = run_measured_profile(tiny, **GRID)
    assert cpu_measurements["calls"] == 1 + runner.CPU_REMEASURES == 3  # measured again twice, then no more
    validate(df)
    for r in df.itertuples():
        nbytes, flops = by_hand(r.phase, r.batch, r.context)
        mbu, mfu = nbytes / T / 1e6, flops / T / 1e6
        assert (r.mbu, r.mfu) == pytest.approx((mbu, mfu))  # the numbers stand; the note says what they are not
        assert f"mbu {mbu:.2f} > 1, not a utilisation" in r.note and f"mfu {mfu:.2f} > 1, not a utilisation" in r.note


def test_a_resumed_sweep_keeps_the_faster_record_an_earlier_run_measured(tiny, tmp_path, cpu_measurements):
    out = tmp_path / "k.csv"
    busy_flops = 1.5 * prefill_by_hand(1, 16)[1] / T
    cpu_measurements["queue"] = [record(1e12, busy_flops), record(*IDLE)]
    stop = []

    def kill_after_four(row):
        stop.append(row)
        if len(stop) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_measured_profile(tiny, **GRID, out=out, on_point=kill_after_four)
    assert '"name": "cpu_reference"' in journal_path(out).read_text()
    cpu_measurements.update(queue=[record(1e12, busy_flops)], calls=0)  # the new run starts busy again
    df, meta = run_measured_profile(tiny, **GRID, out=out)
    assert cpu_measurements["calls"] == 1  # the journal's faster record: nothing outran it, nothing measured again
    assert meta.environment["machine_spec"]["tflops"]["bf16"] * 1e12 == IDLE[1]
    assert len(df) == 8 and all(math.isclose(r.mfu, by_hand(r.phase, r.batch, r.context)[1] / T / IDLE[1])
                                for r in df.itertuples())


@pytest.mark.parametrize("name, warning", [
    ("NVIDIA H100 NVL", "device reports 'NVIDIA H100 NVL', which is no catalogue card; profile labelled h100-sxm"),
    ("NVIDIA H200", "device reports 'NVIDIA H200' (h200), profile labelled h100-sxm"),
    ("NVIDIA H100 80GB HBM3", None)])
def test_the_environment_says_when_the_label_is_not_the_device(monkeypatch, name, warning):
    """--gpu h100-sxm on an H100 NVL (no catalogue row: other bandwidth and clocks) or, with --force-gpu, on an
    H200: the rows divide by the H100 SXM's datasheet, and every row's note says so (rates.label_note)."""
    from profiler import catalogue

    monkeypatch.setattr(environment, "_cuda", lambda dev: {"gpu_name": name})
    env = environment.environment(torch.device("cuda"), catalogue.get_gpu("h100-sxm"))
    assert env.get("gpu_id_warning") == warning
