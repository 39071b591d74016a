"""What a measured CPU row says about itself: unstable timings are flagged on the row, and the memory boundary
note explains the emulated card to a CLI user (no library parameter named)."""

import pytest

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

import profiler.measure.runner as runner  # noqa: E402
from profiler.measure import maxbatch  # noqa: E402
from profiler.measure.sweep import run_measured_profile  # noqa: E402
from profiler.measure.timers import UNSTABLE_REL_SPREAD, TimerPolicy, Timing, unstable_note  # noqa: E402


def test_unstable_note_past_the_limit_only():
    assert unstable_note(0.010, 0.006) == "timing unstable: spread 60% of median; machine busy?"
    assert unstable_note(0.010, UNSTABLE_REL_SPREAD * 0.010) is None  # at the limit: stable
    assert unstable_note(0.010, 0.001) is None and unstable_note(0.0, 1.0) is None


@pytest.fixture(scope="module")
def rows(tiny):
    """A tiny CPU sweep whose every timing has an IQR of 60 % of its median (the timer replaced)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "time_call", lambda fn, dev, policy: Timing(0.010, 0.007, 0.013, 0.005, 0.02, 9, 0.09,
                                                                      "perf_counter"))
        df, _ = run_measured_profile(tiny, None, ["bf16"], ["bf16"], [1, 2], [16], device="cpu", progress=False,
                                     timer=TimerPolicy.quick())
    return df


def test_an_unstable_point_says_so_in_its_note(rows):
    ok = rows[rows["status"] == "ok"]
    assert len(ok) == 4 and ok["latency_ms_spread"].tolist() == pytest.approx([6.0] * 4)
    for note in ok["note"]:
        assert note.startswith("timing unstable: spread 60% of median; machine busy?; ")


def test_the_cpu_memory_boundary_is_explained_without_library_parameters(rows, tiny):
    for note in rows["note"]:
        assert "memory_limit_bytes" not in note
        assert "CPU run: the memory boundary is an emulated card, not this machine's RAM" in note
        assert f"plus a fixed {maxbatch.CPU_EMULATED_HEADROOM_BYTES >> 20} MiB for KV cache and activations" in note


def test_a_stable_point_is_not_flagged(tiny):
    df, _ = run_measured_profile(tiny, None, ["bf16"], ["bf16"], [1], [16], device="cpu", progress=False,
                                 phases=("decode",), timer=TimerPolicy.quick())
    spread, median = float(df["latency_ms_spread"].iloc[0]), float(df["latency_ms"].iloc[0])
    assert ("timing unstable" in df["note"].iloc[0]) == (spread > UNSTABLE_REL_SPREAD * median)
