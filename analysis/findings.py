"""The RegNet paper's findings as tests decided by rules fixed before the data (REFERENCE section
1, RegNet sections 3-4).

Each claim names the spaces it needs (by the `space` column of a sweep's export, or the label) and
one of four rules; `evaluate_findings` applies them and gives each claim a verdict, "reproduced",
"contradicted", "inconclusive" or "not run" (a space is missing), with the statistic that decides
it.

- `better` (a later space improves the EDF): reproduced when the flops-normalized KS test rejects
  equality (p < ALPHA) and the 95% bootstrap interval of the mean-error difference (later - earlier)
  lies below 0; contradicted when that interval lies above 0; else inconclusive.
- `no_worse` (a restriction loses nothing): reproduced when the interval's upper end is below the
  equivalence margin, EQUIVALENCE_D pooled standard deviations of the two spaces' errors (a "small"
  effect); contradicted when the interval lies above 0 and the KS test rejects; else inconclusive.
- `near` (the best models have a parameter about equal to a value): the best-parameter bootstrap
  (RegNet footnote 4: the best of a quarter of the models, resampled) gives a 95% range;
  contradicted when the value lies outside it; reproduced when inside and the range is informative
  (it holds at most INFORMATIVE of the sampled models); else inconclusive.
- `above` (the best models have a parameter above a value): reproduced when the range's low end is
  above the value; contradicted when its high end is at or below it; else inconclusive.

For an inconclusive EDF claim, `n_needed` estimates the models per space whose 95% interval of the
mean difference would be narrow enough to decide it at the observed spread (a normal approximation:
an estimate, not a guarantee).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.data import check_columns, clean
from analysis.edf import normalize_auto
from analysis.errors import AnalysisError
from analysis.regnet_fit import stage_columns
from analysis.stats import Interval, best_parameter_bootstrap, ks_test

ALPHA = 0.05
EQUIVALENCE_D = 0.2  # the equivalence margin in pooled standard deviations (Cohen's "small")
INFORMATIVE = 0.5  # a best range is informative when it holds at most this share of the models
LEVEL = 0.95
RULES = ("better", "no_worse", "near", "above")
VERDICTS = ("reproduced", "contradicted", "inconclusive", "not run")


@dataclass(frozen=True)
class Claim:
    """One finding of the paper: `rule` applied to `spaces` (earlier, later for the EDF rules; one
    space for `near` / `above`, on `column` against `value`)."""

    key: str
    text: str
    source: str
    rule: str
    spaces: tuple[str, ...]
    column: str | None = None
    value: float | None = None

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise AnalysisError(f"claim {self.key}: rule must be one of {', '.join(RULES)}")
        pair = self.rule in ("better", "no_worse")
        if len(self.spaces) != (2 if pair else 1):
            raise AnalysisError(
                f"claim {self.key}: rule {self.rule} takes {2 if pair else 1} space(s), "
                f"got {len(self.spaces)}"
            )
        if not pair and (self.column is None or self.value is None):
            raise AnalysisError(f"claim {self.key}: rule {self.rule} needs a column and a value")


# fmt: off
PAPER_CLAIMS: tuple[Claim, ...] = (
    Claim("a_to_b", "AnyNetX_B (shared bottleneck ratio) loses nothing against AnyNetX_A",
          "RegNet §3.2, Fig. 7", "no_worse", ("anynetx_a", "anynetx_b")),
    Claim("b_to_c", "AnyNetX_C (shared group width) loses nothing against AnyNetX_B",
          "RegNet §3.2, Fig. 7", "no_worse", ("anynetx_b", "anynetx_c")),
    Claim("c_to_d", "AnyNetX_D (widths increase over stages) improves on AnyNetX_C",
          "RegNet §3.2, Fig. 8", "better", ("anynetx_c", "anynetx_d")),
    Claim("d_to_e", "AnyNetX_E (depths increase over stages) improves on AnyNetX_D",
          "RegNet §3.2, Fig. 8", "better", ("anynetx_d", "anynetx_e")),
    Claim("e_to_regnetx", "RegNetX is at least as good as AnyNetX_E",
          "RegNet §3.3, Fig. 9", "no_worse", ("anynetx_e", "regnetx")),
    Claim("x_to_y", "RegNetY (squeeze-and-excitation) improves on RegNetX",
          "RegNet §5, Fig. 14", "better", ("regnetx", "regnety")),
    Claim("bottleneck_1", "the best models have bottleneck ratio b = 1",
          "RegNet §4, Fig. 12", "near", ("anynetx_e",), "bottleneck", 1.0),
    Claim("group_width_gt_1", "the best models have group width g > 1",
          "RegNet §3.2 (AnyNetX_A)", "above", ("anynetx_e",), "group_width", 1.0),
    Claim("width_ratio_e", "the best models' width ratio between stages is about 2.5",
          "RegNet §4, Fig. 11 (w_m)", "near", ("anynetx_e",), "width_ratio", 2.5),
    Claim("width_ratio_regnetx", "the best RegNetX models' width ratio between stages is about 2.5",
          "RegNet §4, Fig. 11 (w_m)", "near", ("regnetx",), "width_ratio", 2.5),
    Claim("depth_e", "the best models have about 20 blocks in all at this complexity",
          "RegNet §4, Fig. 11", "near", ("anynetx_e",), "total_depth", 20.0),
    Claim("depth_regnetx", "the best RegNetX models have about 20 blocks in all",
          "RegNet §4, Fig. 11", "near", ("regnetx",), "total_depth", 20.0),
)
# fmt: on


@dataclass(frozen=True)
class Finding:
    """A claim's verdict and the statistics that decide it (`stats`: plain numbers, JSON-ready)."""

    claim: Claim
    verdict: str
    statistic: str
    n: tuple[int, ...] = ()
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self.claim),
            "verdict": self.verdict,
            "statistic": self.statistic,
            "n": list(self.n),
            "stats": self.stats,
        }


# --- derived design parameters --------------------------------------------------------------------
def design_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the design parameters the claims read, computed from the per-stage columns of
    `nas export` (depth_i, width_i, bottleneck_i, group_width_i): total_depth (blocks in all),
    width_ratio (the geometric mean of width_{i+1} / width_i over the stages, that is
    (w_last / w_first) ^ (1 / (stages - 1))), bottleneck where every stage shares one value (else
    NaN), and group_width where the stages the compatibility step left alone share one (a stage
    whose g it lowered to its bottleneck width w / b does not count; when it lowered every stage,
    their largest g)."""
    stages = stage_columns(frame)
    out = frame.copy()
    if not stages:
        return out
    depth = out[[f"depth_{i}" for i in stages]].to_numpy(float)
    out["total_depth"] = np.where(np.isnan(depth), 0, depth).sum(axis=1)
    w = out[[f"width_{i}" for i in stages]].to_numpy(float)
    if len(stages) >= 2:
        last = _last_present(w)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["width_ratio"] = (last[:, 1] / w[:, 0]) ** (1 / np.maximum(last[:, 0], 1))
        out.loc[last[:, 0] < 1, "width_ratio"] = np.nan
    b = _stage_values(out, "bottleneck", stages)
    if b is not None:
        out["bottleneck"] = _shared(b)
    g = _stage_values(out, "group_width", stages)
    if g is not None:
        # the compatibility step lowers g to a narrow stage's bottleneck width w / b (one group):
        # such a stage does not show the g the model was drawn with, the others do
        capped = np.zeros_like(g, bool) if b is None else g == w / b
        free = np.where(capped, np.nan, g)
        out["group_width"] = np.where(
            np.isnan(free).all(axis=1),
            _largest(g),
            _shared(free),
        )
    return out


def _stage_values(frame: pd.DataFrame, p: str, stages: list[int]) -> np.ndarray | None:
    cols = [f"{p}_{i}" for i in stages]
    return frame[cols].to_numpy(float) if all(c in frame for c in cols) else None


def _shared(v: np.ndarray) -> np.ndarray:
    """Per row: the one value its present (non-NaN) stages share, else NaN."""
    first = _largest(v)
    same = np.all(np.isnan(v) | (v == first[:, None]), axis=1) & np.isfinite(first)
    return np.where(same, first, np.nan)


def _largest(v: np.ndarray) -> np.ndarray:
    """Per row: the largest present (non-NaN) value, -inf when none is."""
    return np.where(np.isnan(v), -np.inf, v).max(axis=1)


def _last_present(w: np.ndarray) -> np.ndarray:
    """(index of the last present stage, its width) per row; stages of a model with fewer stages are
    NaN in the export."""
    present = ~np.isnan(w)
    idx = np.where(present.any(axis=1), w.shape[1] - 1 - np.argmax(present[:, ::-1], axis=1), 0)
    return np.stack([idx, w[np.arange(len(w)), idx]], axis=1)


# --- the rules ------------------------------------------------------------------------------------
def mean_difference(
    earlier: np.ndarray,
    later: np.ndarray,
    stat: str = "mean",
    n_boot: int = 1000,
    level: float = LEVEL,
    seed: int = 0,
) -> Interval:
    """stat(later) - stat(earlier) ("mean" or "median") with a percentile bootstrap interval, the
    two samples resampled independently."""
    a, b = np.asarray(earlier, float), np.asarray(later, float)
    if len(a) < 2 or len(b) < 2:
        raise AnalysisError("a difference with an interval needs at least 2 models per space")
    if stat not in ("mean", "median"):
        raise AnalysisError(f"stat must be mean or median, got {stat!r}")
    f: Callable[..., Any] = np.mean if stat == "mean" else np.median
    rng = np.random.default_rng(seed)
    ra = f(a[rng.integers(0, len(a), (n_boot, len(a)))], axis=1)
    rb = f(b[rng.integers(0, len(b), (n_boot, len(b)))], axis=1)
    q = (1 - level) / 2
    lo, hi = np.quantile(rb - ra, [q, 1 - q])
    return Interval(float(f(b) - f(a)), float(lo), float(hi))


def _edf_finding(
    claim: Claim, a: pd.DataFrame, b: pd.DataFrame, n_boot: int, n_perm: int, seed: int
) -> Finding:
    ea, eb = a["error"].to_numpy(float), b["error"].to_numpy(float)
    nz = normalize_auto(
        {"a": a["flops"].to_numpy(float), "b": b["flops"].to_numpy(float)}, metric="flops"
    )
    fa, fb = a[nz.inside["a"]], b[nz.inside["b"]]
    ks = ks_test(fa["error"], fb["error"], fa["flops"], fb["flops"], nz.bins, n_perm, seed)
    mean = mean_difference(ea, eb, "mean", n_boot, seed=seed)
    median = mean_difference(ea, eb, "median", n_boot, seed=seed)
    sd = math.sqrt(
        (ea.var(ddof=1) * (len(ea) - 1) + eb.var(ddof=1) * (len(eb) - 1)) / (len(ea) + len(eb) - 2)
    )
    margin = EQUIVALENCE_D * sd
    rejects = ks.p_value < ALPHA
    if claim.rule == "better":
        verdict = (
            "reproduced"
            if rejects and mean.high < 0
            else "contradicted"
            if mean.low > 0
            else "inconclusive"
        )
        # half-width that would exclude 0 at the observed difference
        half = abs(mean.estimate)
    else:
        verdict = (
            "reproduced"
            if mean.high < margin
            else "contradicted"
            if mean.low > 0 and rejects
            else "inconclusive"
        )
        half = max(margin - mean.estimate, 0.0)
    need = _n_needed(sd, half) if verdict == "inconclusive" else None
    later, earlier = claim.spaces[1], claim.spaces[0]
    text = (
        f"KS D {ks.D:.3f}, p {_p(ks.p_value)} (flops-normalized, {nz.bins.count} bins); "
        f"mean error {later} - {earlier} {_signed(mean.estimate)} "
        f"({_signed(mean.low)} to {_signed(mean.high)}); median {_signed(median.estimate)} "
        f"({_signed(median.low)} to {_signed(median.high)})"
        + (f"; margin {margin:.4f}" if claim.rule == "no_worse" else "")
    )
    stats = {
        "ks_D": ks.D,
        "ks_p": ks.p_value,
        "ks_bins": nz.bins.count,
        "mean_difference": mean.to_dict(),
        "median_difference": median.to_dict(),
        "pooled_sd": sd,
        "margin": margin if claim.rule == "no_worse" else None,
        "n_needed": need,
    }
    return Finding(claim, verdict, text, (len(ea), len(eb)), stats)


def _n_needed(sd: float, half: float) -> int | None:
    """Models per space for a 95% interval of the mean difference of half-width `half` at spread
    `sd` (normal approximation); None when no n would do (a zero effect to detect)."""
    if half <= 0 or not np.isfinite(half):
        return None
    return math.ceil(2 * (1.96 * sd / half) ** 2)


def _best_finding(claim: Claim, f: pd.DataFrame, n_best: int, seed: int) -> Finding:
    col = claim.column
    assert col is not None and claim.value is not None
    if col not in f.columns or not f[col].notna().any():
        return Finding(claim, "not run", f"no {col} column in {claim.spaces[0]}")
    keep = f[col].notna() & f["error"].notna()
    x = f.loc[keep, col].to_numpy(float)
    r = best_parameter_bootstrap(x, f.loc[keep, "error"], n_boot=n_best, seed=seed)
    share = float(((x >= r.low) & (x <= r.high)).mean())
    t = claim.value
    if claim.rule == "near":
        verdict = (
            "contradicted"
            if not r.low <= t <= r.high
            else "reproduced"
            if share <= INFORMATIVE
            else "inconclusive"
        )
    else:
        verdict = "reproduced" if r.low > t else "contradicted" if r.high <= t else "inconclusive"
    text = (
        f"best {col} {_g(r.median)} (95% range {_g(r.low)} to {_g(r.high)}, holding "
        f"{share:.0%} of the models; sampled {_g(x.min())} to {_g(x.max())})"
    )
    stats = {
        **r.to_dict(),
        "share_in_range": share,
        "sampled_min": float(x.min()),
        "sampled_max": float(x.max()),
    }
    return Finding(claim, verdict, text, (len(x),), stats)


def evaluate_findings(
    frames: Mapping[str, pd.DataFrame],
    claims: Sequence[Claim] = PAPER_CLAIMS,
    n_boot: int = 1000,
    n_perm: int = 1000,
    n_best: int = 10_000,
    seed: int = 0,
) -> list[Finding]:
    """Apply each claim's rule to the sweeps in `frames` (label -> frame with error, flops and the
    per-stage columns of `nas export`; failed and unfinished trials are left out). A frame serves
    the space named by its `space` column (one value) or else by its label; a claim whose spaces
    are missing is "not run"."""
    by_space: dict[str, pd.DataFrame] = {}
    for label, raw in frames.items():
        check_columns(raw, ["error", "flops"], label)
        f = clean(raw, "exclude", label).frame
        names = f["space"].dropna().unique() if "space" in f.columns else []
        name = str(names[0]) if len(names) == 1 else label
        if name in by_space:
            raise AnalysisError(f"two inputs are sweeps of {name}; give each space once")
        by_space[name] = design_columns(f)
    out = []
    for c in claims:
        missing = [s for s in c.spaces if s not in by_space]
        if missing:
            out.append(Finding(c, "not run", f"no sweep of {', '.join(missing)}"))
        elif c.rule in ("better", "no_worse"):
            a, b = (by_space[s] for s in c.spaces)
            out.append(_edf_finding(c, a, b, n_boot, n_perm, seed))
        else:
            out.append(_best_finding(c, by_space[c.spaces[0]], n_best, seed))
    return out


# --- output ---------------------------------------------------------------------------------------
def findings_markdown(findings: Sequence[Finding]) -> str:
    """The findings as a Markdown table: claim, source, spaces, n, verdict, deciding statistic."""
    rows = [
        "| finding (paper) | source | spaces | n | verdict | statistic |",
        "|---|---|---|---|---|---|",
    ]
    for f in findings:
        need = f.stats.get("n_needed")
        stat = f.statistic + (f"; about {need} models per space would decide it" if need else "")
        rows.append(
            f"| {f.claim.text} | {f.claim.source} | {' → '.join(f.claim.spaces)} | "
            f"{'/'.join(map(str, f.n)) or '-'} | **{f.verdict}** | {stat} |"
        )
    return "\n".join(rows) + "\n"


def _signed(x: float) -> str:
    return f"{x:+.4f}"


def _p(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def _g(x: float) -> str:
    return f"{x:.3g}"
