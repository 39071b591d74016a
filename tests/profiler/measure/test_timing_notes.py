"""What a measured CPU row says about itself: unstable timings are flagged on the row, and the memory boundary
note explains the emulated card to a CLI user (no library parameter named)."""

import pytest

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

import profiler.measure.runner as runner  # noqa: E402
from profiler.measure import maxbatch  # noqa: E402
from profiler.measure.sweep import run_measured_profile  # noqa: E402
from profiler.measure.timers import UNSTABLE_REL_SPREAD, unstable_note  # noqa: E402
from tests.profiler.measure.fakes import fixed_timing  # noqa: E402
from tests.profiler.measure.tiny import TINY_RESIDENT_BYTES  # noqa: E402


def test_unstable_note_past_the_limit_only():
    assert UNSTABLE_REL_SPREAD == 0.25
    assert unstable_note(0.010, 0.006) == "timing unstable: spread 60% of median; machine busy?"
    assert unstable_note(0.010, 0.0026) == "timing unstable: spread 26% of median; machine busy?"
    assert unstable_note(0.010, UNSTABLE_REL_SPREAD * 0.010) is None  # at the limit: stable
    assert unstable_note(0.010, 0.001) is None and unstable_note(0.0, 1.0) is None


@pytest.fixture(scope="module")
def rows(tiny):
    """A tiny CPU sweep whose every timing has an IQR of 60 % of its median (the timer replaced)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "time_call", lambda fn, dev, policy: fixed_timing(0.010, 0.006))
        df, _ = run_measured_profile(tiny, None, ["bf16"], ["bf16"], [1, 2], [16], device="cpu", progress=False,
                                     max_batch_cap=4)
    return df


def test_an_unstable_point_says_so_in_its_note(rows):
    ok = rows[rows["status"] == "ok"]
    assert len(ok) == 4 and ok["latency_ms_spread"].tolist() == pytest.approx([6.0] * 4)
    for note in ok["note"]:
        assert note.startswith("timing unstable: spread 60% of median; machine busy?; eager, median of 9 (fake)")


def test_the_cpu_memory_boundary_is_explained_without_library_parameters(rows):
    # the emulated card: the resident 213,696 B = 0.2 MiB (1 decimal) plus the fixed 16 MiB
    assert maxbatch.CPU_EMULATED_HEADROOM_BYTES == 16 * 2**20 and f"{TINY_RESIDENT_BYTES / 2**20:,.1f}" == "0.2"
    for note in rows["note"]:
        assert "memory_limit_bytes" not in note
        assert ("(CPU run: the memory boundary is an emulated card, not this machine's RAM: the model's resident "
                "0.2 MiB plus a fixed 16 MiB for KV cache and activations, so max_batch and oom rows exercise the GPU "
                "path's search; on a GPU the card's own memory is the limit)") in note


def test_a_stable_point_is_not_flagged(tiny, fixed_timer):
    """The fixed timer: median 1 ms, IQR 0.05 ms (5 %), under the 25 % limit."""
    df, _ = run_measured_profile(tiny, None, ["bf16"], ["bf16"], [1], [16], device="cpu", progress=False,
                                 phases=("decode",), max_batch_cap=2)
    assert df["latency_ms_spread"].iloc[0] == pytest.approx(0.05) and df["latency_ms"].iloc[0] == pytest.approx(1.0)
    assert df["note"].iloc[0].startswith("eager, median of 9 (fake); ") and "unstable" not in df["note"].iloc[0]
