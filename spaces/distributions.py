"""Discrete parameter distributions of the design spaces, sampled in vectorized batches.

The RegNet paper's reference sweeps (pycls, `pycls/sweep/random.py`) sample each quantized parameter
log-uniformly: f = exp(U[log(lo - q*), log hi]) with q* = min(q, lo / 2), then ceil(f / q) * q, so
the lowest grid value also takes the mass below it (depth in [1, 16]: P(1) = log 2 / log 32 = 0.2).
Here each such distribution is written out exactly as probabilities over its grid, which also makes
exact sampling under ordering constraints possible. The rule this project used before
(round(exp(U[log lo, log hi]) / q) * q) stays available as `rule="round"`, never the default.

A grid is also asked of an Optuna trial, one named parameter at a time (`Discrete.suggest`,
`Discrete.suggest_nondecreasing`; the trial is a spaces.design_space.Suggester), with the helpers
they share (`snap`, `int_if_whole`) and `numpy_to_python` for drawn values.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np

if TYPE_CHECKING:
    from spaces.design_space import Suggester

# What a grid holds: numbers (the AnyNet / RegNet grids, widths, ratios), or for the zoo's family
# spaces any field value: names (str), flags (bool) and tuples such as depth layouts.
GridValue = float | str | tuple[Any, ...]
V = TypeVar("V", bound=GridValue)


@dataclass(frozen=True)
class Discrete(Generic[V]):
    """A distribution over a finite grid of values (numeric unless made by `choice` over other
    values)."""

    values: tuple[V, ...]
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
        """The values as an array; tuple values (e.g. depth layouts) as an object array of
        tuples."""
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

    def suggest(self: Discrete[float], trial: Suggester, name: str) -> int | float:
        """One value of this (numeric) grid from `trial`'s parameter `name`: a log-uniform grid as a
        log-scale float snapped to the nearest grid value (the quantized log-uniform, when the trial
        samples at random), consecutive integers as an int, any other grid as a categorical over its
        values; a one-value grid asks nothing."""
        values = sorted(self.values)
        if len(values) == 1:
            return int_if_whole(values[0])
        if self.kind == "log-uniform" and values[0] > 0:
            return int_if_whole(
                snap(values, trial.suggest_float(name, values[0], values[-1], log=True))
            )
        if values == list(range(int(values[0]), int(values[-1]) + 1)):
            return trial.suggest_int(name, int(values[0]), int(values[-1]))
        picked = trial.suggest_categorical(name, [int_if_whole(v) for v in values])
        return int_if_whole(picked)  # type: ignore[arg-type]  # one of the numbers offered

    def suggest_nondecreasing(
        self: Discrete[float], trial: Suggester, name: str, length: int
    ) -> list[int | float]:
        """`length` non-decreasing values of this (numeric) grid from `trial`, kept in order by
        construction: value i is the parameter ``{name}_{i}_u`` in [0, 1] (i from 1), placed at the
        quantile 1 - (1 - u)^(1 / m) of the range left above value i-1 (m = values not yet placed;
        log scale for a log-uniform grid), then snapped to the grid. Uniform u's give exactly the
        sorted draws of the grid's range (the order statistics), so a trial sampling at random
        explores like `sample_nondecreasing`, while each parameter keeps to one position."""
        values = sorted(self.values)
        log = self.kind == "log-uniform" and values[0] > 0
        low, high = (
            (math.log(values[0]), math.log(values[-1])) if log else (0.0, float(len(values)))
        )
        pos, out = low, []
        for i in range(length):
            u = trial.suggest_float(f"{name}_{i + 1}_u", 0.0, 1.0)
            pos += (1.0 - (1.0 - u) ** (1.0 / (length - i))) * (high - pos)
            out.append(
                int_if_whole(
                    snap(values, math.exp(pos)) if log else values[min(int(pos), len(values) - 1)]
                )
            )
        return out

    def describe(self) -> str:
        v = self.values
        return (
            f"{self.kind} over {{{', '.join(_fmt(x) for x in v)}}}"
            if len(v) <= 8
            else f"{self.kind} in [{_fmt(v[0])}, {_fmt(v[-1])}] ({len(v)} values)"
        )


def snap(values: Sequence[float], x: float) -> float:
    """The value of the sorted grid `values` nearest to x (the lower one on a tie; monotone in
    x)."""
    i = bisect.bisect_left(values, x)
    candidates = [values[j] for j in (i - 1, i) if 0 <= j < len(values)]
    return min(candidates, key=lambda v: abs(v - x))


def int_if_whole(v: float) -> int | float:
    """v as an int when it is a whole number, else as a float (grid values as JSON and Optuna want
    them)."""
    return int(v) if float(v).is_integer() else float(v)


def numpy_to_python(x: Any) -> Any:
    """A numpy scalar (as drawn by `Discrete.sample`) as the Python value it holds; anything else as
    is."""
    return x.item() if isinstance(x, np.generic) else x


def _fmt(x: GridValue) -> str:
    if isinstance(x, tuple):
        return "(" + ", ".join(_fmt(v) for v in x) + ")"
    if isinstance(x, str | bool):
        return str(x)
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def choice(values: tuple[V, ...]) -> Discrete[V]:
    """Uniform over the values."""
    return Discrete(tuple(values), tuple([1.0 / len(values)] * len(values)))


LOG_UNIFORM_RULES = ("pycls", "round")


def log_uniform(low: float, high: float, q: float, rule: str = "pycls") -> Discrete[float]:
    """Quantized log-uniform over the grid low, low + q, ..., high, as exact grid probabilities.

    rule "pycls" (the default, `pycls.sweep.random.log_uniform`): f log-uniform on (low - q*, high]
    with q* = min(q, low / 2), value ceil(f / q) * q, so P(v) = log(v / (v - q)) / log(high / (low -
    q*)) for v > low and P(low) = log(low / (low - q*)) / log(high / (low - q*)).
    rule "round" (this project's earlier rule, kept for old studies): f log-uniform on [low, high],
    value round(f / q) * q.
    """
    if rule not in LOG_UNIFORM_RULES:
        raise ValueError(
            f"unknown log-uniform rule {rule!r}; valid: {', '.join(LOG_UNIFORM_RULES)}"
        )
    if not 0 < low <= high or not q > 0:
        raise ValueError(f"log_uniform needs 0 < low <= high and q > 0, got ({low}, {high}, {q})")
    n = round((high - low) / q)
    values = tuple(round(low + i * q, 10) for i in range(n + 1))
    if rule == "round":
        span = math.log(high) - math.log(low)
        probs = tuple(
            (math.log(min(v + q / 2, high)) - math.log(max(v - q / 2, low))) / span for v in values
        )
        return Discrete(values, probs, kind="log-uniform (round)")
    floor = low - min(q, low / 2)
    span = math.log(high) - math.log(floor)
    probs = tuple((math.log(v) - math.log(max(v - q, floor))) / span for v in values)
    return Discrete(values, probs, kind="log-uniform")


def power2_or_log_uniform(low: int, high: int, q: int) -> Discrete[float]:
    """pycls' `power2_or_log_uniform` (its RegNet group-width sampler), as exact grid probabilities.

    A power of two 2^k is drawn uniformly over low <= 2^k <= high; one below q is kept, otherwise
    the value is redrawn from log_uniform(max(low, q), high, min(high, q)) (rule "pycls").
    """
    powers = [2**k for k in range(int(math.log2(low)), int(math.log2(high)) + 1)]
    below = [p for p in powers if p < q]
    upper = log_uniform(max(low, q), high, min(high, q))
    share = 1 - len(below) / len(powers)
    values = tuple(below) + upper.values
    probs = tuple([1 / len(powers)] * len(below)) + tuple(share * p for p in upper.probs)
    return Discrete(values, probs, kind="power-of-2-or-log-uniform")


def uniform_int(low: int, high: int) -> Discrete[float]:
    return Discrete(
        tuple(range(low, high + 1)),
        tuple([1.0 / (high - low + 1)] * (high - low + 1)),
        kind="uniform",
    )


def multichoose(k: int, n: int) -> int:
    """Number of non-decreasing sequences of length n over k values."""
    return math.comb(k + n - 1, n)
