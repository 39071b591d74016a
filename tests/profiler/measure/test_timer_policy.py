"""How a point is timed: repetitions until a minimum count and time (and, on the CPU, a small spread), the caps,
the statistics, and which policy the sweep picks. Timed on a fake clock that moves only when the fake step runs,
so every count and median below is exact and no result depends on how busy the machine is."""

from dataclasses import replace

import pytest

import profiler.measure.timers as timers
from profiler.measure.timers import TimerPolicy, Timing, time_call
from tests.profiler.measure.fakes import FakeClock

# Durations are binary fractions (1/16, 1/64, ...), so sums of them are exact and the counts below are too.
SLOW, FAST = 1 / 16, 1 / 256


@pytest.fixture
def clock(monkeypatch):
    return FakeClock().install(monkeypatch, timers)


def test_a_step_of_known_duration_is_read_exactly_and_warmups_are_not_timed(clock):
    step = clock.step(1 / 64)
    t = time_call(step, "cpu", TimerPolicy(warmup=1, min_count=5, min_time_s=0.0))
    assert (t.count, t.method, len(step.calls)) == (5, "perf_counter", 1 + 5)
    assert (t.median_s, t.q1_s, t.q3_s, t.iqr_s, t.total_s) == (1 / 64, 1 / 64, 1 / 64, 0.0, 5 / 64)


def test_timing_stops_only_when_both_the_minimum_count_and_time_are_met(clock):
    # 1/64 s steps need ceil(0.25 / (1/64)) = 16 repetitions for 0.25 s, more than the 3 asked for
    step = clock.step(1 / 64)
    t = time_call(step, "cpu", TimerPolicy(warmup=2, min_count=3, min_time_s=0.25))
    assert (t.count, t.total_s, len(step.calls)) == (16, 0.25, 2 + 16)
    # 1/32 s steps: 4 repetitions are 1/8 s, already past 0.01 s, so the count decides
    assert time_call(clock.step(1 / 32), "cpu", TimerPolicy(warmup=0, min_count=4, min_time_s=0.01)).count == 4


def test_the_count_and_the_wall_time_are_capped(clock):
    # a step that takes no time never reaches 10 s: max_count stops it
    instant = time_call(clock.step(0.0), "cpu", TimerPolicy(warmup=0, min_count=1, min_time_s=10.0, max_count=7))
    assert instant.count == 7
    # 1 s steps and a 5 s cap: 5 repetitions, although 100 were asked for
    capped = time_call(clock.step(1.0), "cpu", TimerPolicy(warmup=0, min_count=100, min_time_s=0.0, max_time_s=5.0))
    assert (capped.count, capped.total_s) == (5, 5.0)


def test_timing_statistics_are_the_percentiles_of_the_samples():
    t = Timing.from_samples([1.0, 2.0, 3.0, 4.0, 100.0], "x")
    assert (t.median_s, t.q1_s, t.q3_s, t.min_s, t.max_s, t.total_s) == (3.0, 2.0, 4.0, 1.0, 100.0, 110.0)


def test_the_samples_are_the_step_durations_in_any_order(clock):
    t = time_call(clock.step(4 / 64, 1 / 64, 100 / 64, 3 / 64, 2 / 64), "cpu",
                  TimerPolicy(warmup=0, min_count=5, min_time_s=0.0))
    want = Timing.from_samples([4 / 64, 1 / 64, 100 / 64, 3 / 64, 2 / 64], "perf_counter")
    assert t == want and (t.median_s, t.min_s, t.max_s) == (3 / 64, 1 / 64, 100 / 64)


def test_repeating_until_the_spread_is_small_outlasts_a_burst(clock):
    """Two slow calls (another process took the cores), then fast ones."""
    few = time_call(clock.step(SLOW, SLOW, FAST), "cpu", TimerPolicy(warmup=0, min_count=3, min_time_s=0.0))
    assert few.median_s == SLOW  # three repetitions: the burst is the median (the 8x-too-slow CPU rows)
    robust = time_call(clock.step(SLOW, SLOW, FAST), "cpu",
                       TimerPolicy(warmup=0, min_count=3, min_time_s=0.0, max_time_s=5.0, max_rel_iqr=0.1))
    # n samples = 2 slow + (n - 2) fast; numpy's linear q3 sits at sorted position 0.75 (n - 1), which is a fast
    # sample (positions 0 .. n - 3) once 0.75 (n - 1) <= n - 3, i.e. n >= 9: then IQR = 0 and the timing stops.
    # At n = 8, q3 = FAST + 0.25 (SLOW - FAST), an IQR far above 10 % of the median.
    assert (robust.count, robust.median_s, robust.q3_s) == (9, FAST, FAST)


def test_the_cpu_policy_takes_enough_repetitions_and_time(clock):
    p = TimerPolicy.cpu()
    assert (p.warmup, p.min_count, p.min_time_s, p.max_rel_iqr, p.max_time_s) == (2, 7, 0.3, 0.10, 10.0)
    # a steady 1/64 s step: 7 repetitions are only 0.11 s; 0.3 / (1/64) = 19.2, so 20 repetitions (0.3125 s)
    steady = clock.step(1 / 64)
    t = time_call(steady, "cpu", p)
    assert (t.count, t.total_s, len(steady.calls)) == (20, 20 / 64, 2 + 20)
    # a step alternating 1/8 and 3/8 s never gets its IQR (1/4 s) under 10 % of its median: the 10 s cap stops it,
    # after 20 pairs of 1/2 s
    alternating = clock.step(*[1 / 8, 3 / 8] * 100)
    assert time_call(alternating, "cpu", p).count == 40


def test_the_sweep_times_cpu_points_with_the_cpu_policy_unless_told_otherwise(tiny, fixed_timer):
    pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")
    from profiler.measure.sweep import run_measured_profile

    grid = dict(model=tiny, gpu_id=None, quants=["bf16"], kv_dtypes=["bf16"], batches=[1], contexts=[16],
                device="cpu", progress=False, max_batch_cap=2)
    run_measured_profile(**grid)
    # one prefill and one decode point; the untimed call that tracks the peak memory was the first warm-up
    cpu = replace(TimerPolicy.cpu(), warmup=TimerPolicy.cpu().warmup - 1)
    assert [(str(d), p) for d, p in fixed_timer] == [("cpu", cpu)] * 2
    fixed_timer.clear()
    run_measured_profile(**grid, timer=TimerPolicy.quick())
    assert [p for _, p in fixed_timer] == [replace(TimerPolicy.quick(), warmup=0)] * 2
