"""Spare replicas: binomial availability, N+k, hot standby, zone and node loss; the seed's 50 % standby."""

import math

import pytest

from planner.redundancy import (
    SEED_POLICY,
    RedundancyPolicy,
    availability_total,
    hot_standby_total,
    node_loss_total,
    plan_redundancy,
    prob_at_least,
    spare_replicas,
    zone_loss_total,
)
from profiler.errors import InvalidValueError


def brute_total(n_peak: int, target: float, a: float) -> int:
    """Independent reference: exact binomial sums with integer binomial coefficients."""
    n = n_peak
    while sum(math.comb(n, k) * a ** k * (1 - a) ** (n - k) for k in range(n_peak, n + 1)) < target:
        n += 1
    return n


def test_prob_at_least_small_cases():
    a = 0.99
    assert prob_at_least(3, 2, a) == pytest.approx(a ** 3 + 3 * a ** 2 * (1 - a), rel=1e-12)  # 0.999702
    assert prob_at_least(2, 2, a) == pytest.approx(a * a)
    assert prob_at_least(1, 1, a) == pytest.approx(a)
    assert prob_at_least(4, 5, a) == 0.0 and prob_at_least(4, 0, a) == 1.0


@pytest.mark.parametrize("n_peak", [1, 2, 3, 7, 20, 64, 150, 400])  # large N: the normal start overshoots, walks down
@pytest.mark.parametrize("target, a", [(0.999, 0.99), (0.9999, 0.99), (0.99, 0.95), (0.99999, 0.995)])
def test_availability_total_matches_brute_force(n_peak, target, a):
    assert availability_total(n_peak, target, a) == brute_total(n_peak, target, a)


def test_availability_numbers():
    assert availability_total(1, 0.999, 0.99) == 2  # 1 - 0.01^2 = 0.9999
    assert availability_total(2, 0.999, 0.99) == 3  # 0.999702 >= 0.999 > 0.9801
    assert availability_total(1, 0.98, 0.99) == 1  # one replica already meets 98 %


def test_large_fleet_stays_finite():
    n = availability_total(2000, 0.9999, 0.99)
    assert 2000 < n < 2100
    assert prob_at_least(n, 2000, 0.99) >= 0.9999 > prob_at_least(n - 1, 2000, 0.99)


def test_seed_policy_reproduces_the_seed_failover():
    red = plan_redundancy(2, 0.999, SEED_POLICY)
    assert (red.replicas_at_peak, red.spare_replicas, red.total_replicas) == (2, 1, 3)
    lines = red.lines.set_index("line")
    assert lines.loc["hot standby 50%", "replicas"] == 1
    assert lines.loc["availability 99.9%", "replicas"] == 1
    assert lines.loc["hot standby 50%", "used"] and lines.loc["availability 99.9%", "used"]  # they tie
    assert red.availability_achieved == pytest.approx(0.999702)
    assert list(red.lines.columns) == ["line", "replicas", "total_replicas", "gpus", "basis", "used"]


def test_hot_standby_rounding():
    assert hot_standby_total(10, 0.7) == 17  # 0.7 x 10 = 7.000000000000001 must not become 8
    assert hot_standby_total(3, 0.5) == 5  # ceil(1.5) = 2 spares
    assert hot_standby_total(4, 0.0) == 4


@pytest.mark.parametrize("n_peak, zones, total", [(2, 2, 4), (2, 3, 3), (10, 3, 15), (1, 2, 2), (9, 4, 12)])
def test_zone_loss(n_peak, zones, total):
    assert zone_loss_total(n_peak, zones) == total
    assert total - math.ceil(total / zones) >= n_peak
    assert (total - 1) - math.ceil((total - 1) / zones) < n_peak  # smallest such


@pytest.mark.parametrize("n_peak, per_node, total", [(2, 8, 4), (20, 4, 24), (1, 1, 2), (5, 2, 7)])
def test_node_loss(n_peak, per_node, total):
    assert node_loss_total(n_peak, per_node) == total


def test_largest_requirement_wins_and_every_line_shows():
    policy = RedundancyPolicy(spares=1, hot_standby_fraction=0.25, zones=3, survive_node_loss=True)
    red = plan_redundancy(20, 0.9999, policy, gpus_per_replica=2, gpus_per_node=8)
    lines = red.lines.set_index("line")
    assert set(lines.index) == {"serve peak", "availability 99.99%", "N+1", "hot standby 25%",
                                "zone loss (3 zones)", "node loss"}
    assert red.spare_replicas == lines["replicas"].iloc[1:].max() == 10  # zone loss: 30 - 10 = 20
    assert lines.loc["zone loss (3 zones)", "used"] and lines["used"].sum() == 1
    assert lines.loc["node loss", "replicas"] == 4  # 4 replicas of 2 GPUs per 8-GPU node
    assert red.spare_gpus == 20 and red.total_gpus == 60
    assert (lines["gpus"] == lines["replicas"] * 2).all()


def test_explicit_spares_above_availability():
    red = plan_redundancy(3, 0.999, RedundancyPolicy(spares=4))
    assert red.spare_replicas == 4


@pytest.mark.parametrize("kwargs", [{"spares": -1}, {"zones": 0}, {"replica_availability": 1.0},
                                    {"hot_standby_fraction": -0.5}, {"spares": 1.5}])
def test_bad_policy(kwargs):
    with pytest.raises(InvalidValueError):
        RedundancyPolicy(**kwargs)


def test_bad_inputs():
    with pytest.raises(InvalidValueError, match="replicas at peak"):
        plan_redundancy(0, 0.999)
    with pytest.raises(InvalidValueError, match="strictly between"):
        plan_redundancy(2, 1.0)
    with pytest.raises(InvalidValueError, match="2 zones"):
        zone_loss_total(3, 1)


def test_the_seed_standby_covers_small_fleets_and_the_availability_target_sizes_larger_ones():
    # issue 11: a 50% standby at every scale bought 8 spares for N = 16 where 99.9% needs 2. The seed policy keeps
    # it for N <= 2 (the seed's own fleet: 2 replicas, 1 spare) and sizes larger fleets on N+k.
    small = plan_redundancy(2, 0.999, SEED_POLICY)
    assert small.spare_replicas == 1 and small.lines.set_index("line").loc["hot standby 50%", "used"]
    big = plan_redundancy(16, 0.999, SEED_POLICY)
    lines = big.lines.set_index("line")
    # P(>= 16 of 17 up) = 0.98769, P(>= 16 of 18 up) = 0.99927 at 0.99 each: 2 spares
    assert big.spare_replicas == 2 == availability_total(16, 0.999, 0.99) - 16
    assert lines.loc["availability 99.9%", "used"] and not lines.loc["hot standby 50%", "used"]
    assert lines.loc["hot standby 50%", "replicas"] == 0 and "up to 2 replicas" in lines.loc["hot standby 50%", "basis"]
    # at N = 3 the standby no longer applies: 99.9% needs P(>= 3 of 4 up) = 0.99941 -> 1 spare, not ceil(1.5) = 2
    assert plan_redundancy(3, 0.999, SEED_POLICY).spare_replicas == 1
    # a fraction without the cap (what --hot-standby gives) applies at every N
    assert plan_redundancy(16, 0.999, RedundancyPolicy(hot_standby_fraction=0.5)).spare_replicas == 8
    assert spare_replicas(16, 0.999, SEED_POLICY) == 2  # the cost curve's shortcut agrees
