"""argparse value types of the `nas` commands: numbers with K/M/G/T suffixes, bands, sizes,
devices."""

from __future__ import annotations

import argparse
import math

SUFFIX = {"k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}


def number(text: str) -> float:
    t = text.strip().lower()
    scale = SUFFIX.get(t[-1:], 1.0)
    if t[-1:] in SUFFIX:
        t = t[:-1]
    return float(t) * scale


def band(text: str) -> tuple[float | None, float | None]:
    if text.strip().lower() in ("none", "off", ""):
        return None, None
    if ":" not in text:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a band: write LO:HI, LO: or :HI (suffixes K, M, G), or none"
        )
    lo, hi = text.split(":", 1)
    try:
        low, high = (number(lo) if lo.strip() else None), (number(hi) if hi.strip() else None)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: bounds must be numbers like 360M or 4e8"
        ) from None
    if any(x is not None and not math.isfinite(x) for x in (low, high)):
        raise argparse.ArgumentTypeError(
            f"{text!r}: bounds must be finite numbers like 360M or 4e8; leave a side "
            "empty for no bound (e.g. 1G:)"
        )
    if any(x is not None and x < 0 for x in (low, high)):
        raise argparse.ArgumentTypeError(
            f"{text!r}: complexity is never negative; leave the low side empty for "
            "no lower bound (e.g. :1G)"
        )
    if low is not None and high is not None and low > high:
        raise argparse.ArgumentTypeError(f"{text!r}: the low bound is above the high bound")
    return low, high


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def size(text: str) -> int | None:
    return None if text.strip().lower() in ("all", "none") else positive_int(text)


def resolution(text: str) -> int | tuple[int, int]:
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give R or HxW, e.g. 224 or 32x32") from None
    if len(values) > 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive R or HxW, e.g. 224 or 32x32")
    return values[0] if len(values) == 1 else (values[0], values[1])


def value_range(text: str) -> tuple[float, float]:
    """LO:HI with both bounds and LO < HI (e.g. 360M:400M)."""
    low, high = band(text)
    if low is None or high is None or not low < high:
        raise argparse.ArgumentTypeError(f"{text!r}: give LO:HI with LO below HI, e.g. 360M:400M")
    return low, high


DEVICES = ("auto", "cpu", "cuda", "mps")


def device(text: str) -> str:
    """--device: auto, cpu, cuda, cuda:N (N a GPU number) or mps; anything else is refused here,
    before torch."""
    t = text.strip().lower()
    kind, colon, index = t.partition(":")
    if (t in DEVICES and not colon) or (kind == "cuda" and index.isdigit()):
        return f"cuda:{int(index)}" if colon else t
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a device: give auto, cpu, cuda, cuda:N (N a GPU number, "
        "e.g. cuda:1) or mps"
    )
