"""Discrete parameter distributions of the design spaces, sampled in vectorized batches.

The RegNet paper samples each parameter log-uniformly and quantizes it (pycls' `log_uniform`:
round(exp(U[log lo, log hi]) / q) * q). Here that quantized distribution is written out exactly as
probabilities over its grid, which also makes exact sampling under ordering constraints possible.
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


def log_uniform(low: float, high: float, q: float) -> Discrete:
    """round(exp(U[log low, log high]) / q) * q, written out as exact grid probabilities."""
    n = round((high - low) / q)
    values = tuple(round(low + i * q, 10) for i in range(n + 1))
    span = math.log(high) - math.log(low)
    probs = tuple((math.log(min(v + q / 2, high)) - math.log(max(v - q / 2, low))) / span for v in values)
    return Discrete(values, probs, kind="log-uniform")


def uniform_int(low: int, high: int) -> Discrete:
    return Discrete(tuple(range(low, high + 1)), tuple([1.0 / (high - low + 1)] * (high - low + 1)),
                    kind="uniform")


def multichoose(k: int, n: int) -> int:
    """Number of non-decreasing sequences of length n over k values."""
    return math.comb(k + n - 1, n)
