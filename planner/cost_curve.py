"""The self-hosted monthly cost at any daily volume, S(v): one curve per plan shape, read by the crossover table, the
cost-vs-volume table and plot, the parity band, the price trends and the verdict.

No re-plan per volume is needed. ``Workload.scaled_to`` keeps request lengths, mix and SLOs, so each candidate
deployment's per-replica capacity (found once by the search, ``planner.search.search(capacities=...)``) holds at
every volume; what changes with v is each candidate's replica count ``n_c(v) = max(1, ceil(peak rate(v) / rate_c))``,
a step function. S is therefore piecewise in v:

- at a replica count n, a candidate's deployment side is fixed: its spares (planner.redundancy, memoised for the
  process), the instance offer and GPUs billed (planner.search.offer_for), its GPU bill and the bill's deployment
  lines (planner.tco, every basis outside ``tco.VOLUME_BASES``). The curve computes them once per (candidate, n)
  it meets;
- at a volume v, the plan bills in full the SHORTLIST candidates with the cheapest GPU bill (the bulk of any
  bill) and takes the cheapest total. The candidates are met cheapest first through a lower bound on each one's GPU
  bill (n_c x TP x its lowest $/GPU-h: spares and whole instances only add), so of the ~150 candidates of a 70B
  plan only the dozen that can reach the shortlist are priced at each volume;
- only the bill's volume lines (``tco.VOLUME_BASES``: traffic units, per-request logging, egress, the guard model)
  move with v at fixed replica counts; they are priced per volume.

So S(v) is the number a plan made at volume v bills for its cheapest shortlisted deployment — a test holds the curve
to full re-plans on a grid — at the cost of a vector of ceilings, a few dict lookups and four line items instead of
a search. The break-even searches (planner.crossover) probe it a few hundred times per plan. The curve is built
lazily, not over all its breakpoints up front: up to 1e12 tokens/day the ~150 candidates of a 70B plan step
~10^6 times between them, and the searches visit a few hundred volumes.

With p99 sizing (`refine`), the candidates billed at a volume are the ones a plan at that volume sizes with the p99
model: a branch and bound over the mean-value capacities x P99_RATE_BOUND (:meth:`SelfHostCurve.keys_at`); their
p99 capacities are memoised for the process (planner.p99_plan).

One curve serves every plan of the same shape (:func:`shared_cost`): the same candidates and capacities, workload
apart from its volume, search space and price tables. Its volumes are scaled from a canonical workload of that shape
(CANONICAL_TOKENS_PER_DAY, the mix to 12 significant digits), so a plan's crossovers and curve do not depend on
the volume it was made at, nor on which plan of a sweep came first; a sweep over volumes (growth, sensitivity)
prices the curve once.

An offer row with ``max_gpus`` (GPUs already owned, planner.owned) prices no deployment needing more GPUs than that:
S(v) is infinite from the volume whose shortlisted deployments all need more (the plan's own search is not capped:
planner.owned refuses a plan needing more GPUs than owned, with what the rest would cost).
"""

from __future__ import annotations

import bisect
import heapq
import math
import weakref
from collections import OrderedDict
from dataclasses import replace

import numpy as np

from planner import limits
from planner import prices as prices_mod
from planner import redundancy as red_mod
from planner.crossover import MemoCost
from planner.errors import PlannerError
from planner.resize import Key, dep_key
from planner.search import SearchSpace, bill_total, offer_for, offers_by_size
from planner.workload import Workload

SHORTLIST = 5  # configurations billed in full at each volume: the cheapest by GPU bill (the bulk of any bill)
# A p99-SLO rate is at most the mean-value model's uncapped rate: the p99s are at least the means it holds to the
# SLOs, at the same batch. On the 60-workload grid of benchmarks/p99_sizing.py the tail model's rate reached at most
# 1.002x it (sampling noise); 1.05 keeps the branch and bound exact with room to spare (design choice).
P99_RATE_BOUND = 1.05
_ONE_BELOW = 1e-12  # planner.capacity.replicas_needed's tolerance: a rate exactly at capacity needs no extra replica

Option = tuple  # (GPU bill [USD/month], GPUs, index in its list, replicas, spares, TP, $/GPU-h, offer row)


class _Candidates:
    """A list of (Deployment, Capacity) priced at any volume: each one's options (one per pricing model with an
    offer) at a replica count, memoised, and met cheapest GPU bill first (module docstring)."""

    def __init__(self, configs: list, rates: list[float], curve: SelfHostCurve):
        self.configs, self.curve = configs, curve
        self.rates = np.asarray(rates, dtype=float)
        self.tps = np.array([dep.tp for dep, _ in configs], dtype=float)
        # lowest $/GPU-h over every offer of each candidate's GPU (any instance size, every pricing searched)
        self.usd_min = np.array([curve.lowest_usd(dep) for dep, _ in configs], dtype=float)
        self.memo: dict[tuple[int, int], list[Option]] = {}

    def counts(self, peak_rps: float) -> np.ndarray:
        """Replicas at peak of every candidate: planner.capacity.replicas_needed, elementwise (same float ops)."""
        return np.maximum(1.0, np.ceil(peak_rps / self.rates - _ONE_BELOW))

    def options(self, i: int, n: int) -> list[Option]:
        key = (i, n)
        if key not in self.memo:
            self.memo[key] = [(o[0], o[1], i, *o[2:]) for o in self.curve.options_of(self.configs[i][0], n)]
        return self.memo[key]

    def cheapest(self, peak_rps: float):
        """Every option at this peak rate in (GPU bill, GPUs, index) order, priced lazily: a candidate is priced
        only once its lower bound (n x TP x lowest $/GPU-h) reaches the cheapest option not yet given out."""
        ns = self.counts(peak_rps)
        bound = ns * self.tps * self.usd_min  # <= every option's GPU bill (spares and whole instances only add)
        bound[ns > limits.MAX_REPLICAS] = math.inf  # not sized past the bound (planner.search does the same)
        order = np.argsort(bound, kind="stable")
        heap: list = []
        for j in order:
            lb = bound[j]
            while heap and heap[0][0][0] < lb:  # strictly: an option tied with lb may lose the tie-break to it
                yield heapq.heappop(heap)[2]
            if not math.isfinite(lb):
                break
            for p, o in enumerate(self.options(int(j), int(ns[j]))):
                heapq.heappush(heap, (o[:3], p, o))  # ties of one candidate keep the pricing models' order
        while heap:
            yield heapq.heappop(heap)[2]


class SelfHostCurve:
    """S(v) -> (monthly full TCO [USD], replicas incl. spares) of the cheapest deployment at daily volume v
    (module docstring). Callable; a volume no candidate serves gives (inf, 0). `gpu_factor` multiplies every
    GPU-hour price (:meth:`at_gpu_price`)."""

    def __init__(self, capacities: dict, workload: Workload, space: SearchSpace, cat, refine=None,
                 gpu_factor: float = 1.0, _offers: dict | None = None):
        self.capacities, self.workload, self.space, self.cat = capacities, workload, space, cat
        self.gpu_factor = gpu_factor
        self._refine, self.refined = refine, {}  # key -> (Deployment, p99 Capacity), memoised per curve
        self.offers: dict = {} if _offers is None else _offers  # offer rows by GPU count (planner.search.offer_for)
        self.usd_min: dict[str, float] = {}  # GPU id -> lowest $/GPU-h x gpu_factor (lowest_usd)
        self.priced: dict[tuple, list] = {}  # (GPU id, TP, replicas) -> options (options_of)
        self.terms: dict[int, tuple] = {}  # id(offer row) -> ($/GPU-h x gpu_factor, GPUs per instance, most GPUs)
        self.fixed: dict = {}  # (GPUs, replicas, spares, TP, $/GPU-h, id(offer), GPU) -> deployment lines [USD/month]
        configs = list(capacities.values())
        if refine is None:  # mean-value sizing: every candidate the search found feasible
            self.mean_value, self.bound = _Candidates(configs, [cap.requests_per_s for _, cap in configs], self), None
        else:  # the p99 branch and bound's bound: each mean-value rate uncapped (/ headroom) x P99_RATE_BOUND
            self.mean_value, self.bound = None, _Candidates(
                configs, [cap.requests_per_s / cap.headroom * P99_RATE_BOUND for _, cap in configs], self)
        self.sized: dict[Key, _Candidates] = {}  # p99-sized candidates, one list each (their options memoised)
        self.twins: dict[float, SelfHostCurve] = {gpu_factor: self}  # at_gpu_price's curves, by factor
        self.memos: dict[float, MemoCost] = {}  # memo(factor)

    def refine(self, key: Key):
        if key not in self.refined:
            self.refined[key] = self._refine(key)
        return self.refined[key]

    # ---- pricing one candidate -------------------------------------------------------------------------------

    def lowest_usd(self, dep) -> float:
        """Lowest $/GPU-h (x gpu_factor) over every offer for dep's GPU under the pricing models searched."""
        if dep.gpu.id in self.usd_min:
            return self.usd_min[dep.gpu.id]
        best = math.inf
        for pricing in self.space.pricing:
            offers = offers_by_size(self.cat.gpu_prices, (dep.gpu.id, pricing, self.space.provider, self.space.region))
            if not isinstance(offers, PlannerError):
                best = min([best] + [float(o["usd_per_gpu_hour"]) * self.gpu_factor for o in offers])
        self.usd_min[dep.gpu.id] = best
        return best

    def options_of(self, dep, n: int) -> list[tuple]:
        """(GPU bill, GPUs, n, spares, TP, $/GPU-h, offer) of `dep` at n replicas, per pricing model with an offer;
        memoised by what they depend on (GPU, TP, n), so every list of candidates shares them."""
        key = (dep.gpu.id, dep.tp, n)
        if key in self.priced:
            return self.priced[key]
        w = self.workload
        k = red_mod.spare_replicas(n, w.availability, self.space.redundancy, gpus_per_replica=dep.tp,
                                   gpus_per_node=dep.gpu.gpus_per_node)
        gpus = (n + k) * dep.tp
        out = []
        for pricing in self.space.pricing:
            offer = offer_for(self.cat.gpu_prices, dep.gpu.id, pricing, self.space.provider, gpus, self.offers,
                              self.space.region)
            if not isinstance(offer, PlannerError):
                if id(offer) not in self.terms:  # read once per offer row (pandas access is slow)
                    self.terms[id(offer)] = (float(offer["usd_per_gpu_hour"]) * self.gpu_factor,
                                             prices_mod.instance_size(offer), _max_gpus(offer))
                usd, size, _ = self.terms[id(offer)]
                out.append((math.ceil(gpus / size) * size * usd, gpus, n, k, dep.tp, usd, offer))
        self.priced[key] = out
        return out

    def total(self, o: Option, dep, w: Workload) -> float:
        """planner.search.bill_total of option `o` at workload `w`: its deployment lines (memoised per option) plus
        its volume lines at `w`."""
        _, gpus, _, n, k, tp, usd, offer = o
        args = (n, k, tp, usd)
        key = (gpus, *args, id(offer), dep.gpu.id)
        fixed = self.fixed.get(key)
        if fixed is None:
            fixed = self.fixed[key] = bill_total(*args, self.workload, self.cat.tco_defaults,
                                                 self.space.existing_infra, offer, dep.gpu, part="deployment")
        return fixed + bill_total(*args, w, self.cat.tco_defaults, self.space.existing_infra, offer, dep.gpu,
                                  part="volume")

    # ---- the curve ---------------------------------------------------------------------------------------------

    def __call__(self, tokens_per_day: float) -> tuple[float, int]:
        if tokens_per_day > limits.MAX_TOKENS_PER_DAY:  # not planned for (planner/limits.py): no deployment
            return math.inf, 0
        w = self.workload.scaled_to(tokens_per_day)
        if self._refine is None:
            cands, shortlist = self.mean_value, []
            for o in cands.cheapest(w.requests_per_s_peak):
                shortlist.append(o)
                if len(shortlist) == SHORTLIST:
                    break
        else:
            cands, shortlist = self._sized_shortlist(w)
        # an offer with a fixed number of GPUs (owned ones, planner.owned) prices no deployment needing more
        shortlist = [o for o in shortlist if o[1] <= self.terms[id(o[7])][2]]
        if not shortlist:
            return math.inf, 0
        return min((self.total(o, cands.configs[o[2]][0], w), o[3] + o[4]) for o in shortlist)

    def _sized_shortlist(self, w: Workload):
        """The p99-sized candidates at `w` (:meth:`keys_at`) and the SHORTLIST cheapest of their options."""
        keys = self.keys_at(w)
        chosen = [c for c in (self.refine(k) for k in keys)
                  if c[1].feasible and _replicas(c[1], w.requests_per_s_peak) <= limits.MAX_REPLICAS]
        cands = self._list(tuple(keys), chosen)
        options = sorted((o for i, (_, cap) in enumerate(chosen)
                          for o in cands.options(i, _replicas(cap, w.requests_per_s_peak))), key=lambda o: o[:3])
        return cands, options[:SHORTLIST]

    def _list(self, name, configs: list) -> _Candidates:
        if name not in self.sized:
            self.sized[name] = _Candidates(configs, [cap.requests_per_s for _, cap in configs], self)
        return self.sized[name]

    def keys_at(self, w: Workload) -> list[Key]:
        """The deployments the p99 model sizes at this volume (branch and bound): in order of their GPU bill at the
        mean-value model's uncapped rate x P99_RATE_BOUND (a p99 rate never exceeds it, so that bill is a lower
        bound), until no unsized one can reach the SHORTLIST cheapest p99 GPU bills."""
        if self._refine is None:
            raise PlannerError("keys_at needs a p99 refine function (sizing p99)")
        keys: list[Key] = []
        bills: list[float] = []  # GPU bills of the p99-sized options so far, cheapest first
        peak = w.requests_per_s_peak
        for o in self.bound.cheapest(peak):
            if len(bills) >= SHORTLIST and o[0] >= bills[SHORTLIST - 1]:
                break  # at best a tie with the SHORTLIST-th: the billed shortlist is complete
            key = dep_key(self.bound.configs[o[2]][0])
            if key in keys:
                continue
            keys.append(key)
            dep, cap = self.refine(key)
            if cap.feasible and _replicas(cap, peak) <= limits.MAX_REPLICAS:
                for opt in self._list(key, [(dep, cap)]).options(0, _replicas(cap, peak)):
                    bisect.insort(bills, opt[0])
        return keys

    def at_gpu_price(self, factor: float) -> SelfHostCurve:
        """The curve with every catalogue GPU-hour price x factor (planner.trends: the bill at a future GPU price;
        other lines unchanged); shares the offers and the p99 sizing; one per factor. Itself at its own factor."""
        if factor not in self.twins:
            twin = SelfHostCurve(self.capacities, self.workload, self.space, self.cat, self._refine, factor,
                                 self.offers)
            twin.refined, twin.twins = self.refined, self.twins
            self.twins[factor] = twin
        return self.twins[factor]

    def memo(self, factor: float = 1.0) -> MemoCost:
        """:meth:`at_gpu_price` memoised by volume (planner.crossover.MemoCost), one per factor: every search that
        reads the curve at that price shares its evaluations."""
        if factor not in self.memos:
            self.memos[factor] = MemoCost(self.at_gpu_price(factor))
        return self.memos[factor]


CANONICAL_TOKENS_PER_DAY = 1e9  # the volume a shared curve's workload is written at (any fixed value would do)
_SHARED: OrderedDict = OrderedDict()  # curve key -> (SelfHostCurve, weakref to its price table, to its TCO defaults)
_SHARED_SIZE = 16  # curves kept for the process: a few sweeps' shapes (design choice)


def canonical_workload(workload: Workload) -> Workload:
    """`workload` at CANONICAL_TOKENS_PER_DAY with its in/out/request mix to 12 significant digits: the same
    Workload whatever volume it was scaled from (``scaled_to`` moves the mix in the last bit)."""
    k = CANONICAL_TOKENS_PER_DAY / workload.tokens_per_day
    return replace(workload, tokens_in_per_day=_sig(workload.tokens_in_per_day * k),
                   tokens_out_per_day=_sig(workload.tokens_out_per_day * k),
                   requests_per_day=_sig(workload.requests_per_day * k))


def _sig(x: float) -> float:
    return float(f"{x:.12g}")


def shared_cost(capacities: dict, workload: Workload, space: SearchSpace, cat, refine=None,
                sizing: tuple = (), share: bool = True) -> MemoCost:
    """The memoised curve of this shape (module docstring): built once per process for the same candidates and
    capacities, canonical workload, search space, price table and TCO defaults (those two by identity: tables are
    built once and never changed in place) and `sizing` (what `refine` sizes with, e.g. ("p99", engine)).
    `share` False (a measured profile, which the key does not name): a curve of its own."""
    canon = canonical_workload(workload)
    key = (tuple(capacities.items()), canon, space, id(cat.gpu_prices), id(cat.tco_defaults), sizing,
           refine is None)
    try:
        entry = _SHARED.get(key) if share else None
    except TypeError:  # an unhashable field: no sharing for this plan
        share, entry = False, None
    if not share:
        return SelfHostCurve(capacities, canon, space, cat, refine).memo()
    if entry is not None and entry[1]() is cat.gpu_prices and entry[2]() is cat.tco_defaults:
        _SHARED.move_to_end(key)
        return entry[0].memo()
    curve = SelfHostCurve(capacities, canon, space, cat, refine)
    _SHARED[key] = (curve, weakref.ref(cat.gpu_prices), weakref.ref(cat.tco_defaults))
    while len(_SHARED) > _SHARED_SIZE:
        _SHARED.popitem(last=False)
    return curve.memo()


def _max_gpus(offer) -> float:
    """The most GPUs an offer row can supply: its ``max_gpus`` (GPUs already owned, planner.owned), else no limit."""
    most = offer.get("max_gpus")
    return math.inf if most is None or most != most else float(most)  # most != most: NaN (a rented row)


def _replicas(cap, peak_rps: float) -> int:
    """planner.capacity.replicas_needed for a feasible capacity."""
    return max(1, math.ceil(peak_rps / cap.requests_per_s - _ONE_BELOW))


__all__ = ["SelfHostCurve", "SHORTLIST", "P99_RATE_BOUND", "CANONICAL_TOKENS_PER_DAY", "canonical_workload",
           "shared_cost"]
