"""How far compound scaling may go: multipliers that would give a network no machine holds are
refused before any config is built (merely counting one with 10^8 blocks takes minutes and
gigabytes, one node per layer)."""

from __future__ import annotations

import math

from spaces.errors import ConfigError

MAX_MULTIPLIER = (
    1000.0  # of the base's depth, width or resolution: EfficientNet-B0 x1000 deep is 16,000 blocks
)


def check_multipliers(
    phi: float, alpha: float, beta: float, gamma: float, limit: float = MAX_MULTIPLIER
) -> None:
    """ConfigError unless phi is finite and depth alpha^phi, width beta^phi and resolution gamma^phi
    are each at most `limit` times the base's (other bad values are compound scaling's own
    errors)."""
    if isinstance(phi, int | float) and not isinstance(phi, bool) and not math.isfinite(phi):
        raise ConfigError(f"compound scaling: phi must be a finite number, got {phi!r}")
    for flag, dimension, coefficient in (
        ("alpha", "depth", alpha),
        ("beta", "width", beta),
        ("gamma", "resolution", gamma),
    ):
        try:
            log_multiplier = phi * math.log(coefficient)
        except (TypeError, ValueError):  # not a number, or not positive: compound scaling says so
            continue
        if log_multiplier > math.log(limit):
            raise ConfigError(
                f"compound scaling: phi={phi:g} makes the {dimension} {coefficient:g}^{phi:g} = "
                f"{_times(log_multiplier)} the base's, above the limit of x{limit:g}; lower phi or "
                f"{flag}"
            )


def _times(log_multiplier: float) -> str:
    return (
        f"x{math.exp(log_multiplier):.4g}"
        if log_multiplier < 700
        else f"x1e{log_multiplier / math.log(10):.0f}"
    )
