"""Discrete parameter distributions of the design spaces, sampled in vectorized batches.

The RegNet paper's reference sweeps (pycls, `pycls/sweep/random.py`) sample each quantized parameter
log-uniformly: f = exp(U[log(lo - q*), log hi]) with q* = min(q, lo / 2), then ceil(f / q) * q, so the
lowest grid value also takes the mass below it (depth in [1, 16]: P(1) = log 2 / log 32 = 0.2). Here each
such distribution is written out exactly as probabilities over its grid, which also makes exact sampling
under ordering constraints possible. The rule this project used before (round(exp(U[log lo, log hi]) / q)
* q) stays available as `rule="round"`, never the default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Discrete:
    """A distribution over a finite grid of values."""

    values: tuple[float, ...]
    probs: tuple[float, ...]
    kind: str = "choice"

    @property
    def size(self) -> int:
        return len(self.values)

    def sample(self, rng: np.random.Generator, shape: int | tuple[int, ...]) -> np.ndarray:
        cdf = np.cumsum(self.probs)
        idx = np.searchsorted(cdf, rng.random(shape) * cdf[-1], side="right")
        return self._array()[np.minimum(idx, self.size - 1)]

    def _array(self) -> np.ndarray:
        """The values as an array; tuple values (e.g. depth layouts) as an object array of tuples."""
        if not any(isinstance(v, tuple) for v in self.values):
            return np.asarray(self.values)
        out = np.empty(self.size, dtype=object)
        for i, v in enumerate(self.values):
            out[i] = v
        return out

    def sample_nondecreasing(self, rng: np.random.Generator, n: int, length: int) -> np.ndarray:
        """Exact draws of the product distribution conditioned on x_1 <= ... <= x_length.

        W_t(i) is the mass of non-decreasing sequences of length t whose first value index is >= i;
        position t picks index k >= previous with probability proportional to p_k * W_{rest}(k).
        Plain rejection would keep only ~1/length! of the draws.
        """
        p = np.asarray(self.probs, dtype=np.float64)
        tails = [np.ones(self.size)]
        for _ in range(length - 1):
            tails.append(np.cumsum((p * tails[-1])[::-1])[::-1])
        out = np.empty((n, length), dtype=np.int64)
        lower = np.zeros(n, dtype=np.int64)
        for t in range(length):
            cdf = np.concatenate([[0.0], np.cumsum(p * tails[length - 1 - t])])
            lo, hi = cdf[lower], cdf[-1]
            idx = np.searchsorted(cdf, lo + rng.random(n) * (hi - lo), side="right") - 1
            idx = np.clip(idx, lower, self.size - 1)
            out[:, t] = idx
            lower = idx
        return np.asarray(self.values)[out]

    def describe(self) -> str:
        v = self.values
        return f"{self.kind} over {{{', '.join(_fmt(x) for x in v)}}}" if len(v) <= 8 else \
            f"{self.kind} in [{_fmt(v[0])}, {_fmt(v[-1])}] ({len(v)} values)"


def _fmt(x: float | tuple | str) -> str:
    if isinstance(x, tuple):
        return "(" + ", ".join(_fmt(v) for v in x) + ")"
    if isinstance(x, str | bool):
        return str(x)
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def choice(values: tuple[float, ...]) -> Discrete:
    """Uniform over the values."""
    return Discrete(tuple(values), tuple([1.0 / len(values)] * len(values)))


LOG_UNIFORM_RULES = ("pycls", "round")


def log_uniform(low: float, high: float, q: float, rule: str = "pycls") -> Discrete:
    """Quantized log-uniform over the grid low, low + q, ..., high, as exact grid probabilities.

    rule "pycls" (the default, `pycls.sweep.random.log_uniform`): f log-uniform on (low - q*, high] with
    q* = min(q, low / 2), value ceil(f / q) * q, so P(v) = log(v / (v - q)) / log(high / (low - q*)) for
    v > low and P(low) = log(low / (low - q*)) / log(high / (low - q*)).
    rule "round" (this project's earlier rule, kept for old studies): f log-uniform on [low, high], value
    round(f / q) * q.
    """
    if rule not in LOG_UNIFORM_RULES:
        raise ValueError(f"unknown log-uniform rule {rule!r}; valid: {', '.join(LOG_UNIFORM_RULES)}")
    if not 0 < low <= high or not q > 0:
        raise ValueError(f"log_uniform needs 0 < low <= high and q > 0, got ({low}, {high}, {q})")
    n = round((high - low) / q)
    values = tuple(round(low + i * q, 10) for i in range(n + 1))
    if rule == "round":
        span = math.log(high) - math.log(low)
        probs = tuple((math.log(min(v + q / 2, high)) - math.log(max(v - q / 2, low))) / span for v in values)
        return Discrete(values, probs, kind="log-uniform (round)")
    floor = low - min(q, low / 2)
    span = math.log(high) - math.log(floor)
    probs = tuple((math.log(v) - math.log(max(v - q, floor))) / span for v in values)
    return Discrete(values, probs, kind="log-uniform")


def power2_or_log_uniform(low: int, high: int, q: int) -> Discrete:
    """pycls' `power2_or_log_uniform` (its RegNet group-width sampler), as exact grid probabilities.

    A power of two 2^k is drawn uniformly over low <= 2^k <= high; one below q is kept, otherwise the
    value is redrawn from log_uniform(max(low, q), high, min(high, q)) (rule "pycls").
    """
    powers = [2 ** k for k in range(int(math.log2(low)), int(math.log2(high)) + 1)]
    below = [p for p in powers if p < q]
    upper = log_uniform(max(low, q), high, min(high, q))
    share = 1 - len(below) / len(powers)
    values = tuple(below) + upper.values
    probs = tuple([1 / len(powers)] * len(below)) + tuple(share * p for p in upper.probs)
    return Discrete(values, probs, kind="power-of-2-or-log-uniform")


def uniform_int(low: int, high: int) -> Discrete:
    return Discrete(tuple(range(low, high + 1)), tuple([1.0 / (high - low + 1)] * (high - low + 1)),
                    kind="uniform")


def multichoose(k: int, n: int) -> int:
    """Number of non-decreasing sequences of length n over k values."""
    return math.comb(k + n - 1, n)
