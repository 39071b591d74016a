"""How many requests are in a state over time, integrated exactly from per-request intervals.

A request is in a state over a half-open interval ``[a, b)``: *queued* from its arrival to its first
admission into the running batch, *in the system* from its arrival to its last token. The count at
time ``t`` is ``N(t) = #{i : a_i ≤ t < b_i}`` and its integral up to ``x`` is [request·s]::

    Q(x) = Σ_i (min(b_i, x) − min(a_i, x))
    Σ_i min(c_i, x) = Σ_{c_i < x} c_i + x · #{c_i ≥ x}          (c sorted: a prefix sum and a search)

so the time-averaged count over ``[w0, w1]`` is ``(Q(w1) − Q(w0)) / (w1 − w0)``, exactly, with no
sampling at step boundaries (a request arriving mid-step counts from its arrival). Over a window
long against the intervals this obeys Little's law: mean ``N`` = arrival rate × mean ``(b − a)``
(Little 1961, Operations Research 9(3):383-387, doi:10.1287/opre.9.3.383).
"""

from __future__ import annotations

import numpy as np


def _sum_min(sorted_c: np.ndarray, prefix: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``Σ_i min(c_i, x)`` for each ``x``, given ``c`` sorted and ``prefix = [0, cumsum(c)]``."""
    below = np.searchsorted(sorted_c, x, side="left")
    return prefix[below] + x * (len(sorted_c) - below)


def _sorted_with_prefix(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.sort(c)
    return s, np.concatenate([[0.0], np.cumsum(s)])


def integral(start: np.ndarray, end: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``Q(x)`` [request·s] at each time in ``x`` for intervals ``[start, end)`` (module docstring)."""
    keep = np.isfinite(start) & np.isfinite(end)
    a, pa = _sorted_with_prefix(start[keep])
    b, pb = _sorted_with_prefix(end[keep])
    x = np.asarray(x, dtype=float)
    return _sum_min(b, pb, x) - _sum_min(a, pa, x)


def binned_mean(start: np.ndarray, end: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Time-averaged count in each bin between consecutive ``edges`` [requests]."""
    q = integral(start, end, edges)
    return np.diff(q) / np.diff(edges)


def window_mean(start: np.ndarray, end: np.ndarray, w0: float, w1: float) -> float:
    """Time-averaged count over ``[w0, w1]`` [requests]."""
    return float(binned_mean(start, end, np.array([w0, w1], dtype=float))[0])


def window_max(start: np.ndarray, end: np.ndarray, w0: float, w1: float) -> int:
    """Largest count at any instant of ``[w0, w1]``: at ``w0`` or right after an arrival in the window."""
    keep = np.isfinite(start) & np.isfinite(end)
    a, b = np.sort(start[keep]), np.sort(end[keep])
    t = np.concatenate([[w0], a[(a > w0) & (a <= w1)]])
    n = np.searchsorted(a, t, side="right") - np.searchsorted(b, t, side="right")
    return int(n.max(initial=0))
