"""Queueing theory checks: M/D/1 waiting time, Little's law, and the latency knee near capacity."""

from __future__ import annotations

import numpy as np
import pytest

from planner.simulate import (
    EngineConfig,
    Fixed,
    FixedStepTime,
    LogNormal,
    Poisson,
    Requests,
    SloTargets,
    WorkloadShape,
    make_requests,
    simulate,
    simulate_workload,
    summarize,
)
from tests.helpers import llama8b_h100_step

LLAMA8B_H100 = llama8b_h100_step()  # llama-3.1-8b bf16 on one H100 SXM (tests/helpers.py: derivation)
BATCH_OF_ONE = EngineConfig(kv_blocks=1000, max_num_seqs=1, max_num_batched_tokens=512)


def md1_wait(rate: float, service_s: float) -> float:
    """Mean wait in queue of M/D/1: Wq = ρ / (2 μ (1 − ρ)) with ρ = λ / μ (Pollaczek–Khinchine)."""
    mu = 1.0 / service_s
    rho = rate / mu
    return rho / (2 * mu * (1 - rho))


@pytest.mark.parametrize(("rho", "output_tokens"), [(0.5, 1), (0.8, 1), (0.7, 5)])
def test_batch_of_one_is_md1(rho, output_tokens):
    """max_num_seqs = 1 and deterministic service: the mean queue wait matches M/D/1 within 5 %."""
    step = FixedStepTime(prefill_s_per_token=1e-4, decode_s=0.01)
    service = 200 * 1e-4 + (output_tokens - 1) * 0.01  # one 200-token prefill chunk + decode steps
    shape = WorkloadShape(Poisson(rho / service), Fixed(200), Fixed(output_tokens))
    run, m = simulate_workload(shape, BATCH_OF_ONE, step, n_requests=60_000, seed=1)
    e2e = run.finish_s - run.requests.arrival_s
    np.testing.assert_allclose(e2e - (run.first_scheduled_s - run.requests.arrival_s), service, rtol=1e-9)
    assert m.queue_wait.mean == pytest.approx(md1_wait(rho / service, service), rel=0.05)


def test_littles_law_holds_on_a_batched_run():
    """L (time-averaged requests in the replica, from the step records) = λ · W (per request)."""
    shape = WorkloadShape(Poisson(12.0), LogNormal(1000, 1.0), LogNormal(250, 1.0))
    cfg = EngineConfig(kv_blocks=28_000, max_num_seqs=1024, max_num_batched_tokens=8192)
    _, m = simulate_workload(shape, cfg, LLAMA8B_H100, n_requests=8000, seed=3)
    assert m.running_mean > 20  # a real batch, not a near-idle replica
    assert m.in_system_mean == pytest.approx(m.arrival_rate_per_s * m.e2e.mean, rel=0.03)


@pytest.mark.parametrize(("rate", "max_seqs"), [(10.0, 32), (12.0, 1024)])
def test_littles_law_holds_on_the_queue(rate, max_seqs):
    """Mean queue length (time-averaged, integrated per request) = arrival rate × mean queue wait.

    With 32 seats the batch is full much of the time and requests queue for seats; with 1,024 they
    wait only for the step in progress to end. Both must satisfy L_q = λ · W_q.
    """
    shape = WorkloadShape(Poisson(rate), LogNormal(1000, 1.0), LogNormal(250, 1.0))
    cfg = EngineConfig(kv_blocks=28_000, max_num_seqs=max_seqs, max_num_batched_tokens=8192)
    _, m = simulate_workload(shape, cfg, LLAMA8B_H100, n_requests=8000, seed=3)
    assert m.queue_wait.mean > 0.01  # requests do wait (a real queue, not a zero on both sides)
    assert m.queue_mean == pytest.approx(m.arrival_rate_per_s * m.queue_wait.mean, rel=0.03)
    assert m.queue_max >= 1


def test_md1_queue_length():
    """Batch of one, ρ = 0.8: L_q = λ · W_q with W_q from Pollaczek–Khinchine, within 5 %."""
    step = FixedStepTime(prefill_s_per_token=1e-4, decode_s=0.01)
    service = 200 * 1e-4
    rate = 0.8 / service
    _, m = simulate_workload(WorkloadShape(Poisson(rate), Fixed(200), Fixed(1)), BATCH_OF_ONE, step,
                             n_requests=60_000, seed=1)
    assert m.queue_mean == pytest.approx(rate * md1_wait(rate, service), rel=0.05)


def _saturated_throughput(cfg: EngineConfig, shape: WorkloadShape, n: int) -> float:
    """Requests/s with every request queued at t = 0, between the 10th and 90th percentile completions
    (leaving out the ramp-up and the drain): the replica's throughput capacity."""
    req = make_requests(shape, n_requests=n, seed=7)
    burst = Requests(np.zeros(n), req.input_tokens, req.output_tokens)
    t10, t90 = np.percentile(simulate(burst, cfg, LLAMA8B_H100).finish_s, [10, 90])
    return 0.8 * n / (t90 - t10)


def test_latency_rises_sharply_towards_capacity():
    cfg = EngineConfig(kv_blocks=6000, max_num_seqs=128, max_num_batched_tokens=2048)
    base = WorkloadShape(Poisson(1.0), LogNormal(600, 0.8), LogNormal(150, 0.8))
    capacity = _saturated_throughput(cfg, base, 3000)
    loads = [0.2, 0.5, 0.8, 0.95, 1.1]
    ttft = []
    for load in loads:
        shape = WorkloadShape(Poisson(load * capacity), base.input_tokens, base.output_tokens)
        ttft.append(simulate_workload(shape, cfg, LLAMA8B_H100, n_requests=4000, seed=2)[1].ttft.mean)
    assert all(b >= a * 0.98 for a, b in zip(ttft, ttft[1:], strict=False))  # monotone (up to noise)
    assert ttft[3] - ttft[2] > 3 * (ttft[1] - ttft[0])  # the knee: the last steps cost the most
    assert ttft[4] > 10 * ttft[0]  # past capacity the queue grows without bound


def test_overload_is_flagged_unstable_and_light_load_stable():
    cfg = EngineConfig(kv_blocks=6000, max_num_seqs=128, max_num_batched_tokens=2048)
    base = WorkloadShape(Poisson(1.0), LogNormal(600, 0.8), LogNormal(150, 0.8))
    capacity = _saturated_throughput(cfg, base, 3000)
    over = WorkloadShape(Poisson(1.3 * capacity), base.input_tokens, base.output_tokens)
    light = WorkloadShape(Poisson(0.5 * capacity), base.input_tokens, base.output_tokens)
    m_over = simulate_workload(over, cfg, LLAMA8B_H100, n_requests=4000, seed=2)[1]
    m_light = simulate_workload(light, cfg, LLAMA8B_H100, n_requests=4000, seed=2)[1]
    assert not m_over.stable and m_over.queue_growth > 100
    assert m_light.stable
    assert m_over.throughput_rps == pytest.approx(capacity, rel=0.1)  # it serves at capacity, no more
    assert summarize(simulate(make_requests(light, n_requests=500, seed=1), cfg, LLAMA8B_H100),
                     SloTargets(ttft_p99_s=10.0)).goodput_fraction == 1.0
