"""p99 TTFT and TPOT of one continuous-batching replica, analytically: what `plan` sizes replicas on.

The mean-value model (planner.capacity) finds the batch whose *mean* step meets the TPOT target; a replica
loaded to a Poisson stream runs a batch that moves, and its p99s sit well above the means. This module
predicts the p99s the event simulator (planner.simulate) measures, from the same step-time model, in
milliseconds instead of seconds, by modelling what the engine does:

**The running batch is a birth–death chain.** Every running sequence advances one token per engine step
(vLLM V1 continuous batching: all decodes in every step; chunked prefill of new prompts mixed in), so the
replica is a processor-sharing queue whose total service rate depends on how many it serves: with ``k``
sequences a step takes

    s(k) = s0(k) / (1 - lam x c(k))

where ``s0(k)`` is the decode-only step (the step model at ``k`` sequences, each at the mean context of a
sequence in the system) and ``lam x c(k)`` the share of time spent prefilling the prompts that arrive
(``c``: the mean prefill time of one prompt beside ``k`` decodes, its chunks of
``max_num_batched_tokens - k`` tokens). A request needs ``L_eff = L_out - 1 + chunks`` steps, so the
departure rate in state ``k`` is ``mu(k) = k / (L_eff s(k))``, held at ``mu(cap)`` above the engine's cap
(``--max-num-seqs`` or the KV cache, whichever binds), where requests wait FCFS. A symmetric
processor-sharing queue's stationary distribution depends on the job-size distribution only through its
mean (Kelly 1979, *Reversibility and Stochastic Networks*, ch. 3: insensitivity), so

    pi(n) ∝ prod_{j<=n} lam / mu(j)

holds for lognormal output lengths as well. Arrivals see ``pi`` (Poisson arrivals see time averages).

**A request's TPOT averages the batch over its lifetime.** vLLM's TPOT of a request is
``(e2e - ttft) / (out - 1)``: the mean of its ``out - 1`` step times, each ``s0`` of the batch at that step
plus the prefill chunks of prompts that arrive meanwhile. The batch is treated as an Ornstein–Uhlenbeck
process around its mean ``m`` with the chain's variance and relaxation time ``tau`` (``1 / mu'(m)``, the
linearised drift; near saturation the M/M/1 heavy-traffic rate ``(sqrt(mu_cap) - sqrt(lam))^2`` when that
is faster): over a lifetime ``T = (out - 1) s``, starting from the batch it joined, the time-averaged
batch has mean ``m + (k0 - m) phi`` and variance ``var (h - phi^2)`` with ``x = T / tau``,
``phi = (1 - e^-x) / x`` and ``h = 2 (1 - phi) / x`` (the OU window average). The prompts arriving in ``T``
are a Poisson count, each costing the prefill time of its length (drawn from the workload's distribution):
short outputs see few and their TPOT spreads; long ones average them out.

**TTFT** is the FCFS wait for a free slot (``n - cap + 1`` departures at ``mu(cap)``, an Erlang draw)
plus the rest of the step in flight, plus the request's own chunks beside ``k0`` decodes.

The p99s are quantiles of ``SAMPLES`` requests drawn with a fixed seed (common random numbers: the p99s move
smoothly with the rate, so the capacity bisection is well posed). Nothing here is fitted to the simulator;
``benchmarks/p99_sizing.py`` compares the two on a grid of workloads and prints the agreement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from planner.capacity import prefill_share
from planner.workload import Workload

SAMPLES = 4_000  # requests drawn per rate: the p99 rests on the 40 slowest (design choice: speed vs noise)
SEED = 0
QUANTILE_POINTS = 256  # stratified length quantiles for the means over the length distributions
# prompt-length quantiles whose prefill time is computed with the step model (interpolated between): the tail
# matters, as the p99 TTFT and the TPOT of short outputs are set by the longest prompts
PREFILL_QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999, 0.99999)
BATCH_POINTS = 12  # batch sizes where the decode step is evaluated (linear between, geometric grid: it is near affine)
PREFILL_BATCHES = 4  # batch sizes (besides 0) where prefill costs are evaluated (geometric from 1 to the cap)
EXACT_ARRIVALS = 12  # up to this many prompts arriving in a lifetime are drawn one by one; more: normal sum
TAIL_MASS = 1e-7  # the chain is truncated where the remaining probability is below this
MAX_STATES = 200_000  # states beyond the cap kept at most (a queue longer than this is unstable for a p99)
RATE_TOL = 0.01  # relative tolerance of the capacity bisection (the simulator's search uses 2 %)
IDLE_SHARE = 1e-3  # the bisection's low end, as a share of the saturation rate: a near-idle replica


@dataclass(frozen=True)
class TailPoint:
    """The replica at one Poisson arrival rate [req/s]. Seconds; ``running_mean`` in sequences."""

    rate_per_s: float
    stable: bool
    ttft_p99_s: float = math.inf
    tpot_p99_s: float = math.inf
    ttft_mean_s: float = math.inf
    tpot_mean_s: float = math.inf
    running_mean: float = math.nan  # time-average of the running batch
    queue_probability: float = math.nan  # share of arrivals that wait for a slot (batch at the cap)
    running_p90: float = math.nan
    running_p99: float = math.nan


@dataclass(frozen=True)
class TailCapacity:
    """Highest Poisson rate one replica serves with both p99s within the SLOs, and the point there."""

    rate_per_s: float
    point: TailPoint
    limited_by: str  # ttft | tpot | stability


def resident_context(workload: Workload) -> float:
    """Mean context [tokens] of a running sequence: its prompt plus, in a processor-sharing system, half a
    size-biased output (``L_out (1 + cv^2) / 2``, cv of the output lengths): what it holds in the KV cache."""
    out = _stratified(workload.output_dist, workload.mean_output_tokens, QUANTILE_POINTS)
    cv2 = float(np.var(out) / np.mean(out) ** 2)
    return workload.mean_input_tokens + workload.mean_output_tokens * (1 + cv2) / 2


def _stratified(dist, mean: float, n: int) -> np.ndarray:
    return np.array([max(1.0, dist.quantile(mean, (i + 0.5) / n)) for i in range(n)])


def _draw(dist, mean: float, rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` lengths [tokens] from the workload's distribution (planner.workload.LengthDist), whole tokens >= 1."""
    if dist.kind == "fixed" or dist.sigma == 0:
        x = np.full(n, float(mean))
    else:
        x = np.exp(math.log(mean) - dist.sigma ** 2 / 2 + dist.sigma * rng.standard_normal(n))
    if dist.max_tokens:
        x = np.minimum(x, dist.max_tokens)
    return np.maximum(np.round(x), 1.0)


@dataclass(frozen=True, eq=False)
class ReplicaTail:
    """Precomputed step times of one deployment for one workload shape; :meth:`at` and :meth:`capacity`."""

    cap: int  # most sequences running at once (max_num_seqs or the KV cache)
    chunk: int  # max_num_batched_tokens
    k_grid: np.ndarray  # batch sizes where s0 was evaluated
    s0_grid: np.ndarray  # decode-only step [s] at k_grid
    kp_grid: np.ndarray  # batch sizes where prefill costs were evaluated
    prompt_points: np.ndarray  # prompt lengths [tokens] where prefill costs were evaluated
    prefill_grid: np.ndarray  # [len(kp_grid), len(prompt_points)] prefill time of one prompt [s] beside k decodes
    prefill_mean: np.ndarray  # mean prefill time [s] of one prompt at each kp_grid batch
    prefill_std: np.ndarray  # its standard deviation
    in_draws: np.ndarray  # stratified prompt lengths to prefill (the uncached share: planner.capacity.prefill_share)
    l_out: float
    ttft_slo_s: float
    tpot_slo_s: float
    workload: Workload

    @classmethod
    def build(cls, step, workload: Workload, cap: int, chunk: int) -> ReplicaTail:
        """`step(prefill_tokens, decode_seqs, context_tokens) -> s` (planner.step_model); `cap` >= 1."""
        l_in, l_out = workload.mean_input_tokens, workload.mean_output_tokens
        f = prefill_share(workload)  # prompt tokens prefilled: the rest come from the prefix cache
        in_draws = np.maximum(np.round(_stratified(workload.input_dist, l_in, QUANTILE_POINTS) * f), 1.0)
        ctx = resident_context(workload)
        k_grid = np.unique(np.round(np.geomspace(1, cap, min(BATCH_POINTS, cap))).astype(int))
        s0 = np.array([step(0, int(k), int(k * ctx)) for k in k_grid])
        # prefill costs beside 0 decodes (a prompt alone) and beside more, each chunk attending its own prefix
        ks_pf = np.round(np.geomspace(1, cap, min(PREFILL_BATCHES, cap))).astype(int)
        kp_grid = np.unique(np.concatenate([[0], ks_pf]))
        prompts = np.unique([max(1.0, round(f * workload.input_dist.quantile(l_in, min(max(q, 1e-6), 1 - 1e-6))))
                             for q in PREFILL_QUANTILES])
        if len(prompts) == 1:  # fixed lengths: a second point one token longer keeps the grid two wide
            prompts = np.array([prompts[0], prompts[0] + 1])
        s0_kp = [0.0 if k == 0 else float(np.interp(k, k_grid, s0)) for k in kp_grid]  # no decodes: no decode step
        pre = np.array([[_prefill_s(step, int(L), int(k), int(k * ctx), chunk, s0k)
                         for L in prompts] for k, s0k in zip(kp_grid, s0_kp, strict=True)])
        per_k = np.array([np.interp(in_draws, prompts, row) for row in pre])
        return cls(cap, chunk, k_grid, s0, kp_grid, prompts, pre, per_k.mean(axis=1), per_k.std(axis=1),
                   in_draws, l_out,
                   workload.ttft_p99_s, workload.tpot_p99_s, workload)

    # -- the chain -------------------------------------------------------------------------------------------
    def _prefill(self, lengths, k) -> np.ndarray:
        """Prefill time [s] of prompts of `lengths` beside `k` decodes: bilinear on the (batch, prompt) grid,
        flat beyond its ends."""
        L = np.asarray(lengths, float)
        kk = np.broadcast_to(np.asarray(k, float), L.shape)
        P, K, G = self.prompt_points, self.kp_grid, self.prefill_grid
        i = np.clip(np.searchsorted(P, L, side="right") - 1, 0, len(P) - 2)
        u = np.clip((L - P[i]) / (P[i + 1] - P[i]), 0.0, 1.0)
        j = np.clip(np.searchsorted(K, kk, side="right") - 1, 0, len(K) - 2)
        v = np.clip((kk - K[j]) / (K[j + 1] - K[j]), 0.0, 1.0)
        lo = G[j, i] * (1 - u) + G[j, i + 1] * u
        hi = G[j + 1, i] * (1 - u) + G[j + 1, i + 1] * u
        return lo * (1 - v) + hi * v

    def _chunks(self, lengths: np.ndarray, k) -> np.ndarray:
        return np.ceil(lengths / np.maximum(self.chunk - np.asarray(k, float), 1))

    def at(self, rate: float, samples: int = SAMPLES) -> TailPoint:
        """The p99s at Poisson `rate` [req/s]; unstable (infinite p99s) when the queue would grow."""
        lam = float(rate)
        ks = np.arange(1, self.cap + 1, dtype=float)
        s0 = np.interp(ks, self.k_grid, self.s0_grid)
        c = np.interp(ks, self.kp_grid, self.prefill_mean)  # mean prefill time of one prompt beside k decodes
        busy = lam * c
        mean_chunks = np.array([self._chunks(self.in_draws, k).mean() for k in self.kp_grid])
        if lam <= 0 or busy[-1] >= 1 or lam * np.mean(self.in_draws) * s0[-1] / (1 - busy[-1]) > self.chunk:
            return TailPoint(lam, False)
        s = s0 / (1 - np.minimum(busy, 0.999999))
        l_eff = self.l_out - 1 + np.interp(ks, self.kp_grid, mean_chunks)
        mu = ks / (l_eff * s)
        if lam >= mu[-1]:
            return TailPoint(lam, False)
        # the batch as a diffusion: drift lam - mu(n); infinitesimal variance lam + mu(n) (arrivals, departures)
        # plus the prefill work the arrivals bring, which stalls every decode (mu0 = decode-only departure rate)
        mu0 = ks / (l_eff * s0)
        c2 = np.interp(ks, self.kp_grid, self.prefill_mean ** 2 + self.prefill_std ** 2)
        a = lam + mu + lam * (mu0 ** 2 * c2 + 2 * mu0 * c)
        # as a birth-death chain with that drift and variance: births lam + e/2, deaths mu + e/2 (e: the extra)
        half = (a - lam - mu) / 2
        up, down = lam + half, mu + half
        logp = np.concatenate([[0.0], np.cumsum(np.log(np.concatenate([[lam], up[:-1]]) / down))])
        decay = math.log(down[-1] / up[-1])  # beyond the cap: constant rates, a geometric queue-length tail
        extra = int(min(MAX_STATES, max(0.0, -math.log(TAIL_MASS) / decay)))
        logp = np.concatenate([logp, logp[-1] - decay * np.arange(1, extra + 1)])
        logp -= logp.max()
        pi = np.exp(logp)
        pi /= pi.sum()
        n_states = np.arange(len(pi))
        running = np.minimum(n_states, self.cap)
        m = float(pi @ running)
        var = float(pi @ (running - m) ** 2)
        # relaxation time: linearised drift at the mean, or the heavy-traffic M/M/1 rate when faster
        mi = min(max(m, 1.0), self.cap - 1.0) if self.cap > 1 else 1.0
        dmu = float(np.interp(mi + 0.5, ks, mu) - np.interp(mi - 0.5, ks, mu)) if self.cap > 1 else 0.0
        gap = max(dmu, (math.sqrt(mu[-1]) - math.sqrt(lam)) ** 2, 1e-12)
        tau = 1.0 / gap
        # prefill is served FCFS within the token budget: an M/G/1 queue of prompts, each taking its prefill
        # time plus its share of the steps it spans (L / (budget - k) decode-only steps)
        km = max(m, 1.0)
        b_mean = float(np.mean(self._prefill(self.in_draws, m) + self.in_draws / max(self.chunk - m, 1)
                               * float(np.interp(m, np.r_[0.0, ks], np.r_[0.0, s0]))))
        if lam * b_mean >= 1:
            return TailPoint(lam, False)

        rng = np.random.default_rng(SEED)
        n_arr = n_states[np.minimum(np.searchsorted(np.cumsum(pi), rng.random(samples)), len(pi) - 1)]
        k0 = np.minimum(n_arr + 1, self.cap).astype(float)
        s_k0 = np.interp(k0, ks, s)
        ahead = np.maximum(n_arr - self.cap + 1, 0)
        wait = np.where(ahead > 0, rng.gamma(np.maximum(ahead, 1), 1.0 / mu[-1]), 0.0)
        w = self.workload
        prompt = self._to_prefill(rng, samples)
        s0_k0 = np.interp(k0, ks, s0)
        beside = np.minimum(n_arr, self.cap).astype(float)  # the others decoding while this prompt prefills
        s0_beside = np.interp(beside, np.r_[0.0, ks], np.r_[0.0, s0])  # no decodes: no decode step
        chunks = self._chunks(prompt, beside)
        own = self._prefill(prompt, beside) + chunks * s0_beside
        # the step with the last chunk fills its leftover budget with prompts that arrived meanwhile (vLLM V1 fills
        # the token budget FCFS across requests); the first token comes only when that whole step ends
        budget = np.maximum(self.chunk - beside, 1)
        leftover = chunks * budget - prompt
        newcomers = rng.poisson(lam * own)
        filled = np.minimum(leftover, newcomers * self._to_prefill(rng, samples))
        own = own + filled * self._prefill(budget, beside) / budget
        # the M/G/1 wait of consecutive arrivals by Lindley's recursion W' = max(0, W + B - A), in closed form
        # W_n = S_n - min(0, min_k<=n S_k) with S the running sum of B - A (heavy-tailed B keeps its tail)
        service = self._prefill(prompt, beside) + prompt / np.maximum(self.chunk - beside, 1) * s0_beside
        walk = np.cumsum(np.concatenate([[0.0], service[:-1]]) - rng.exponential(1 / lam, samples))
        pf_wait = walk - np.minimum(np.minimum.accumulate(walk), 0.0)
        ttft = wait + pf_wait + rng.random(samples) * s0_beside + own  # + the rest of the step in flight

        out = _draw(w.output_dist, w.mean_output_tokens, rng, samples)
        steps = np.maximum(out - 1, 1)
        life = steps * s_k0
        x = np.maximum(life / tau, 1e-9)
        phi = -np.expm1(-x) / x
        h = 2 * (1 - phi) / x
        # prompts arriving after this one (during its TTFT too) are prefilled, FCFS, during its decode; the batch's
        # future moves are driven by the same arrivals, so its noise is correlated with their count
        span = ttft + steps * s0_k0
        arrivals = rng.poisson(lam * span)
        z_arr = (arrivals - lam * span) / np.sqrt(np.maximum(lam * span, 1e-9))
        a_m = float(np.interp(km, ks, a))
        r = math.sqrt(max(0.0, 1 - float(np.interp(km, ks, mu)) / a_m))  # arrivals' share of the batch noise
        z = r * z_arr + math.sqrt(1 - r * r) * rng.standard_normal(samples)
        bbar = m + (k0 - m) * phi + math.sqrt(var) * np.sqrt(np.maximum(h - phi ** 2, 0)) * z
        bbar = np.clip(bbar, 1, self.cap)
        decode = np.interp(bbar, ks, s0) * steps
        # prefill stretches the lifetime, which lets more prompts arrive in it, whose prefill stretches it again:
        # on average each second of prefill admits lam x c(k) more, so the first draw's work grows by 1 / (1 - lam c)
        work = self._work(arrivals, bbar, rng) / (1 - np.minimum(lam * np.interp(bbar, ks, c), 0.99))
        tpot = (decode + work) / steps
        tpot = tpot[out > 1]
        return TailPoint(lam, True, float(np.quantile(ttft, 0.99)), float(np.quantile(tpot, 0.99)) if tpot.size
                         else 0.0, float(ttft.mean()), float(tpot.mean()) if tpot.size else 0.0, m,
                         float(pi[self.cap:].sum()), *(float(running[np.searchsorted(np.cumsum(pi), q)])
                                                      for q in (0.9, 0.99)))

    def _to_prefill(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """`n` prompts' tokens to prefill: drawn lengths x the uncached share (planner.capacity.prefill_share)."""
        w = self.workload
        return np.maximum(np.round(_draw(w.input_dist, w.mean_input_tokens, rng, n) * prefill_share(w)), 1.0)

    def _work(self, counts: np.ndarray, k: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Prefill time [s] of `counts` prompts (per sample) drawn from the workload, beside `k` decodes: one by
        one up to EXACT_ARRIVALS, a normal sum with the per-prompt mean and spread beyond."""
        few = np.where(counts <= EXACT_ARRIVALS, counts, 0)
        owner = np.repeat(np.arange(len(counts)), few)
        costs = self._prefill(self._to_prefill(rng, len(owner)), k[owner])
        total = np.bincount(owner, weights=costs, minlength=len(counts))
        many = counts > EXACT_ARRIVALS
        if many.any():
            mean = np.interp(k[many], self.kp_grid, self.prefill_mean)
            std = np.interp(k[many], self.kp_grid, self.prefill_std)
            n = counts[many]
            total[many] = np.maximum(n * mean + np.sqrt(n) * std * rng.standard_normal(int(many.sum())), 0.0)
        return total

    def ok(self, p: TailPoint) -> bool:
        return p.stable and p.ttft_p99_s <= self.ttft_slo_s and p.tpot_p99_s <= self.tpot_slo_s

    def capacity(self) -> TailCapacity:
        """Bisect geometrically (to RATE_TOL) on the rate between an idle replica and the rate at which the full
        batch, decoding alone, would saturate (an upper bound: prefill only slows it)."""
        s_cap = float(np.interp(self.cap, self.k_grid, self.s0_grid))
        hi = self.cap / (max(self.l_out, 1.0) * s_cap)
        lo = hi * IDLE_SHARE
        best = self.at(lo)
        if not self.ok(best):
            return TailCapacity(0.0, best, _why(best, self))
        failed = self.at(hi)
        if self.ok(failed):
            return TailCapacity(hi, failed, "stability")
        while hi > lo * (1 + RATE_TOL):
            mid = math.sqrt(lo * hi)
            p = self.at(mid)
            if self.ok(p):
                lo, best = mid, p
            else:
                hi, failed = mid, p
        return TailCapacity(lo, best, _why(failed, self))


def _why(p: TailPoint, t: ReplicaTail) -> str:
    if not p.stable:
        return "stability"
    return "ttft" if p.ttft_p99_s / t.ttft_slo_s >= p.tpot_p99_s / t.tpot_slo_s else "tpot"


def _prefill_s(step, prompt: int, k: int, ctx: int, chunk: int, s0k: float) -> float:
    """Prefill time [s] of one `prompt` beside `k` decodes (context `ctx`): its chunks of ``chunk - k``
    tokens, each step's time above the decode-only step, attending the chunks before it."""
    c, done, total = max(chunk - k, 1), 0, 0.0
    exact = getattr(step, "exact_prefill", False)  # the chunk's own context and pairs, as the simulator passes
    while done < prompt:
        n = min(c, prompt - done)
        t = step(n, k, ctx + done + n, done + n, n * done + n * (n + 1) // 2) if exact else step(n, k, ctx + done + n)
        total += max(t - s0k, 0.0)
        done += n
    return total
