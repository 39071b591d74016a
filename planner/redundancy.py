"""Spare replicas: how many beyond the N that serve the peak, and why.

Each requirement is a pure function of N (replicas at peak) and returns the TOTAL replica count it
needs; the plan shows every requirement as its own line and uses the largest of those the policy
switches on, so all of them hold at once:

- availability (always on): smallest n with P(at least N of n replicas up) >= target, replicas failing
  independently with availability a each (binomial):

      P(n) = sum_{k=N}^{n} C(n, k) a^k (1 - a)^(n - k)

- N+k: n = N + k (the user's explicit spares; default k = 0).
- hot standby fraction f: n = N + ceil(f x N) (the seed bill's 50 % failover: N = 2 → 1 spare), for fleets of
  at most ``hot_standby_max_replicas`` replicas when that is set. The default policy (``SEED_POLICY``) keeps the
  seed's 50 % standby for N <= 2, where it is the seed's own fleet and one spare is what any 99.9 % target needs
  anyway, and above that leaves the spares to the availability target (and zone or node loss when switched on):
  a 50 % standby at every scale is 12 spare H100s where the binomial 99.9 % needs 2 at N = 16. A fraction the
  user gives (``--hot-standby``) applies at every N.
- zone loss (zones z >= 2): replicas spread evenly over z zones; losing the largest zone (ceil(n / z)
  replicas) must leave N: smallest n with n - ceil(n / z) >= N.
- node loss: replicas packed on nodes of ``gpus_per_node`` GPUs (``gpus_per_node // gpus_per_replica``
  replicas each), spread over at least two nodes; losing the fullest node must leave N: smallest n with
  n - min(per_node, ceil(n / 2)) >= N.

Default per-replica availability a = 0.99 (about 7 h down a month): a conservative round figure below
the AWS EC2 Instance-Level SLA of 99.5 % (aws.amazon.com/compute/sla, version of 2022-05-05), because
GPU servers fail more often than CPU ones — Meta's Llama 3 report counts 419 unexpected interruptions
in 54 days on 16,384 H100s, 58.7 % GPU-related (Llama 3 Herd of Models, 2024, §3.3.4). A replica of
``tp`` GPUs lives on one server, so a is per replica.

``Redundancy.lines`` columns: ``line`` (label), ``replicas`` (N for the peak line; spares the
requirement needs otherwise), ``total_replicas``, ``gpus`` (replicas x gpus_per_replica), ``basis``
(the formula with its numbers), ``used`` (True on each requirement that sets the spare count; ties all
show).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache
from statistics import NormalDist

import numpy as np
import pandas as pd

from planner import limits
from planner.errors import InfeasibleError, PlannerError
from profiler.errors import InvalidValueError

DEFAULT_REPLICA_AVAILABILITY = 0.99  # see the module docstring for the basis
MAX_TOTAL_FACTOR = 100  # give up (InfeasibleError) beyond 100 x N + 100 replicas for an availability target


@dataclass(frozen=True)
class RedundancyPolicy:
    """Which spare requirements are switched on (availability always is)."""

    spares: int = 0  # explicit N+k
    hot_standby_fraction: float = 0.0  # seed bill: 0.5
    hot_standby_max_replicas: int | None = None  # the standby applies only up to this N (None: at every N)
    zones: int = 1  # failure domains replicas spread over; >= 2 switches the zone-loss line on
    survive_node_loss: bool = False
    replica_availability: float = DEFAULT_REPLICA_AVAILABILITY

    def __post_init__(self) -> None:
        if isinstance(self.spares, bool) or not isinstance(self.spares, int) or self.spares < 0:
            raise InvalidValueError(f"spares (N+k) must be an integer >= 0, got {self.spares!r}")
        if self.spares > limits.MAX_REPLICAS:
            raise InvalidValueError(f"spares (N+k) must be at most {limits.MAX_REPLICAS:,} (planner/limits.py), "
                                    f"got {self.spares:,}")
        if not 0 <= self.hot_standby_fraction <= 10:
            raise InvalidValueError(f"hot_standby_fraction must lie in [0, 10] (0.5 = 50%), got "
                                    f"{self.hot_standby_fraction!r}")
        cap = self.hot_standby_max_replicas
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise InvalidValueError(f"hot_standby_max_replicas must be an integer >= 1 or None, got {cap!r}")
        if isinstance(self.zones, bool) or not isinstance(self.zones, int) or not 1 <= self.zones <= limits.MAX_ZONES:
            raise InvalidValueError(f"zones must be an integer from 1 to {limits.MAX_ZONES} (planner/limits.py), "
                                    f"got {self.zones!r}")
        if not 0 < self.replica_availability < 1:
            raise InvalidValueError(f"replica_availability must lie strictly between 0 and 1, got "
                                    f"{self.replica_availability!r}")


# seed §1: "50% hot standby for the SLA", for the seed's own scale (2 replicas); above it, N+k (module docstring)
SEED_STANDBY_MAX_REPLICAS = 2
SEED_POLICY = RedundancyPolicy(hot_standby_fraction=0.5, hot_standby_max_replicas=SEED_STANDBY_MAX_REPLICAS)


@dataclass(frozen=True, eq=False)
class Redundancy:
    """Replicas at peak, spares chosen, and the table of requirement lines (module docstring); the table is built
    when first read (a search sizes hundreds of candidates and shows one)."""

    replicas_at_peak: int
    spare_replicas: int
    gpus_per_replica: int
    availability_achieved: float  # P(at least N of N + spares up)
    availability: float = 0.999  # the target the lines are drawn for
    policy: RedundancyPolicy = RedundancyPolicy()
    gpus_per_node: int = 8

    @property
    def total_replicas(self) -> int:
        return self.replicas_at_peak + self.spare_replicas

    @property
    def spare_gpus(self) -> int:
        return self.spare_replicas * self.gpus_per_replica

    @property
    def total_gpus(self) -> int:
        return self.total_replicas * self.gpus_per_replica

    @cached_property
    def lines(self) -> pd.DataFrame:
        rows = _requirements(self.replicas_at_peak, self.availability, self.policy, self.gpus_per_replica,
                             self.gpus_per_node)
        df = pd.DataFrame(rows, columns=["line", "replicas", "total_replicas", "basis"])
        df["gpus"] = df["replicas"] * self.gpus_per_replica
        df["used"] = (df.index > 0) & (df["replicas"] == self.spare_replicas)  # every line that sets it (ties too)
        return df[["line", "replicas", "total_replicas", "gpus", "basis", "used"]]


def _p_at_most_failures(n: int, failures: int, a: float) -> float:
    """P(at most `failures` of `n` replicas down) = sum_{j=0}^{failures} C(n, j) (1 - a)^j a^(n - j).

    Log-space, vectorised: log pmf(j + 1) = log pmf(j) + log((n - j) / (j + 1)) + log((1 - a) / a),
    summed with the log-sum-exp trick, so fleets of millions of replicas stay finite and fast. Terms
    beyond mean + 40 standard deviations (+ 40) are below 1e-300 of the total and are not summed.
    """
    q = 1 - a
    failures = min(failures, math.ceil(n * q + 40 * math.sqrt(n * q * a) + 40))
    j = np.arange(failures, dtype=float)
    steps = np.log((n - j) / (j + 1)) + math.log((1 - a) / a)
    log_pmf = n * math.log(a) + np.concatenate(([0.0], np.cumsum(steps)))
    top = float(log_pmf.max())
    return min(1.0, math.exp(top) * float(np.exp(log_pmf - top).sum()))


def prob_at_least(n: int, needed: int, a: float) -> float:
    """P(at least `needed` of `n` independent replicas are up), each up with probability `a`."""
    if needed <= 0:
        return 1.0
    if needed > n:
        return 0.0
    return _p_at_most_failures(n, n - needed, a)


def availability_total(n_peak: int, target: float, a: float) -> int:
    """Smallest n >= N with P(at least N of n up) >= target (binomial, independent failures).

    P grows with n. The search starts at the normal approximation's spare count (:func:`_normal_guess`) and walks
    from there checking the exact binomial (down one spare at a time, or up by doubling steps then bisection), so
    the answer is the exact one; the approximation only saves evaluations (typically 2-3 instead of ~12 from zero).
    Beyond MAX_TOTAL_FACTOR x N + 100 replicas the target is unreachable (InfeasibleError).
    """
    _check_n(n_peak)
    if not 0 < target < 1:
        raise InvalidValueError(f"availability target must lie strictly between 0 and 1, got {target!r}")
    limit = MAX_TOTAL_FACTOR * n_peak + 100

    def ok(spares: int) -> bool:
        return prob_at_least(n_peak + spares, n_peak, a) >= target

    k = min(limit, max(0, _normal_guess(n_peak, target, a)))
    if ok(k):
        while k > 0 and ok(k - 1):
            k -= 1
        return n_peak + k
    lo, hi = k, k + 1  # not ok(lo); walk up by doubling steps, then bisect (ok is monotone in the spares)
    step = 1
    while not ok(hi):
        if hi >= limit:
            raise InfeasibleError(f"{n_peak + limit} replicas of availability {a:g} cannot reach {target:.6g} for "
                                  f"N = {n_peak}; raise the per-replica availability or lower the target")
        lo, step = hi, step * 2
        hi = min(limit, hi + step)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return n_peak + hi


def _normal_guess(n_peak: int, target: float, a: float) -> int:
    """Spares k where the normal approximation of the failures among N + k replicas reaches the target:
    k = q (N + k) + z sqrt((N + k) q a) + 1.5, solved by a few fixed-point steps (a start, not an answer). The
    binomial's upper tail is heavier than the normal's (its skew), so without the +1.5 the start lands 1-4 spares
    low; with it, within one of the answer for 93% of fleets of 1-5,000 replicas at targets 99-99.999% and replica
    availability 95-99.5% (checked against this function's exact answer, design choice)."""
    q, z = 1 - a, _NORMAL.inv_cdf(target)
    k = 0.0
    for _ in range(4):
        n = n_peak + k
        k = max(0.0, q * n + z * math.sqrt(n * q * a) + 1.5)
    return math.floor(k)


_NORMAL = NormalDist()


def hot_standby_total(n_peak: int, fraction: float) -> int:
    """N + ceil(fraction x N) (a tolerance keeps 0.7 x 10 = 7.000000000000001 at 7)."""
    _check_n(n_peak)
    return n_peak + math.ceil(fraction * n_peak - 1e-9)


def zone_loss_total(n_peak: int, zones: int) -> int:
    """Smallest n with n - ceil(n / zones) >= N (replicas spread evenly; the largest zone lost)."""
    _check_n(n_peak)
    if zones < 2:
        raise InvalidValueError("surviving a zone loss needs at least 2 zones")
    n = max(n_peak, math.ceil(n_peak * zones / (zones - 1)) - 1)
    while n - math.ceil(n / zones) < n_peak:
        n += 1
    return n


def node_loss_total(n_peak: int, replicas_per_node: int) -> int:
    """Smallest n with n - min(replicas_per_node, ceil(n / 2)) >= N (at least two nodes; fullest lost)."""
    _check_n(n_peak)
    per = max(1, replicas_per_node)
    n = n_peak
    while n - min(per, math.ceil(n / 2)) < n_peak:
        n += 1
    return n


def _check_n(n_peak: int) -> None:
    if isinstance(n_peak, bool) or not isinstance(n_peak, int) or n_peak < 1:
        raise InvalidValueError(f"replicas at peak must be an integer >= 1, got {n_peak!r}")


@lru_cache(maxsize=1 << 16)
def spare_replicas(replicas_at_peak: int, availability: float, policy: RedundancyPolicy = RedundancyPolicy(),
                   *, gpus_per_replica: int = 1, gpus_per_node: int = 8) -> int:
    """``plan_redundancy(...).spare_replicas`` without building its table (cost curves call it for every candidate
    at every volume they price; memoised for the process: a pure function of hashable arguments)."""
    n = replicas_at_peak
    if gpus_per_replica < 1 or gpus_per_node < 1:
        raise PlannerError(f"gpus_per_replica and gpus_per_node must be >= 1, got {gpus_per_replica}, {gpus_per_node}")
    totals = [availability_total(n, availability, policy.replica_availability), n + policy.spares]
    cap = policy.hot_standby_max_replicas
    if policy.hot_standby_fraction > 0 and (cap is None or n <= cap):
        totals.append(hot_standby_total(n, policy.hot_standby_fraction))
    if policy.zones >= 2:
        totals.append(zone_loss_total(n, policy.zones))
    if policy.survive_node_loss:
        totals.append(node_loss_total(n, max(1, gpus_per_node // gpus_per_replica)))
    return max(totals) - n


def plan_redundancy(replicas_at_peak: int, availability: float, policy: RedundancyPolicy = RedundancyPolicy(),
                    *, gpus_per_replica: int = 1, gpus_per_node: int = 8) -> Redundancy:
    """Every spare requirement as a line (``Redundancy.lines``); spares = the largest requirement the policy
    switches on."""
    n, a = replicas_at_peak, policy.replica_availability
    spares = spare_replicas(n, availability, policy, gpus_per_replica=gpus_per_replica, gpus_per_node=gpus_per_node)
    return Redundancy(n, spares, gpus_per_replica, prob_at_least(n + spares, n, a), availability, policy,
                      gpus_per_node)


def _requirements(replicas_at_peak: int, availability: float, policy: RedundancyPolicy, gpus_per_replica: int,
                  gpus_per_node: int) -> list[tuple[str, int, int, str]]:
    """(line, spare replicas, total replicas, basis) for peak and each requirement the policy switches on."""
    n, a = replicas_at_peak, policy.replica_availability
    if gpus_per_replica < 1 or gpus_per_node < 1:
        raise PlannerError(f"gpus_per_replica and gpus_per_node must be >= 1, got {gpus_per_replica}, {gpus_per_node}")
    rows = [("serve peak", n, n, f"N = {n} replicas carry the peak request rate")]
    t = availability_total(n, availability, a)
    rows.append((f"availability {availability * 100:.6g}%", t - n, t,
                 f"smallest n with P(>= {n} of n up) >= {availability:g}, replica availability {a:g}: "
                 f"n = {t}, P = {prob_at_least(t, n, a):.6f}"))
    rows.append((f"N+{policy.spares}", policy.spares, n + policy.spares, f"user spares k = {policy.spares}"))
    if policy.hot_standby_fraction > 0:
        f, cap = policy.hot_standby_fraction, policy.hot_standby_max_replicas
        if cap is None or n <= cap:
            t = hot_standby_total(n, f)
            scope = "" if cap is None else f" (applies up to N = {cap})"
            rows.append((f"hot standby {f * 100:.6g}%", t - n, t, f"ceil({f:g} x {n}) = {t - n}{scope}"))
        else:
            rows.append((f"hot standby {f * 100:.6g}%", 0, n, f"the hidden-cost write-up's {f * 100:.6g}% standby "
                         f"is for fleets of up to {cap} replicas; at N = {n} the spares come from the availability "
                         "target (N+k)"))
    if policy.zones >= 2:
        t = zone_loss_total(n, policy.zones)
        rows.append((f"zone loss ({policy.zones} zones)", t - n, t,
                     f"{t} replicas over {policy.zones} zones: losing {math.ceil(t / policy.zones)} leaves "
                     f"{t - math.ceil(t / policy.zones)} >= {n}"))
    if policy.survive_node_loss:
        per = max(1, gpus_per_node // gpus_per_replica)
        t = node_loss_total(n, per)
        rows.append(("node loss", t - n, t, f"{per} replicas per {gpus_per_node}-GPU node: losing the fullest "
                     f"node ({min(per, math.ceil(t / 2))}) leaves {t - min(per, math.ceil(t / 2))} >= {n}"))
    return rows


__all__ = ["RedundancyPolicy", "SEED_POLICY", "SEED_STANDBY_MAX_REPLICAS", "Redundancy", "DEFAULT_REPLICA_AVAILABILITY",
           "prob_at_least",
           "availability_total", "hot_standby_total", "zone_loss_total", "node_loss_total", "plan_redundancy",
           "spare_replicas"]
