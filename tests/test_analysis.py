"""Design-space analysis: EDFs, normalized weights, bootstrap, KS, random search, RegNet fits,
reports, CLI."""

from __future__ import annotations

import argparse
import json
import math
import sys
import types
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

import spaces
from analysis import (
    AnalysisError,
    Bins,
    add_efit_column,
    analyze,
    best_parameter_bootstrap,
    bootstrap_edf,
    complexity_weights,
    edf,
    expand_stages,
    fit_regnet,
    ks_distance,
    ks_test,
    normalize,
    population_trend,
    random_search_curve,
    records_to_frame,
)
from analysis.data import clean
from analysis.edf import weighted_quantile
from analysis.plots import edf_label
from analysis.regnet_fit import e_fit
from nas.cli.analyze import add_parser
from spaces.regnet import PUBLISHED, stages_from_block_widths


# --- EDF and weights ------------------------------------------------------------------------------
def test_edf_hand_computed_with_strict_inequality():
    e = [0.1, 0.2, 0.2, 0.4]
    pts = [0.1, 0.15, 0.2, 0.25, 0.5]
    # e_i < e: ties at the point not counted
    assert edf(e, pts).tolist() == [0, 0.25, 0.25, 0.75, 1]
    # any weights, normalized to sum 1: [1, 1, 2, 0] / 4
    assert np.allclose(edf(e, pts, [1, 1, 2, 0]), [0, 0.25, 0.25, 1, 1])


def test_complexity_weights_hand_computed():
    # bins [0, 5) and [5, 10]: three models then two; each bin carries half the mass
    w = complexity_weights([1, 2, 3, 9, 10], Bins(0, 10, 2))
    assert np.allclose(w, [1 / 6, 1 / 6, 1 / 6, 1 / 4, 1 / 4]) and np.isclose(w.sum(), 1)
    # log bins over [1, 100]: edges 1, 10, 100
    assert np.allclose(complexity_weights([1, 3, 20, 60], Bins(1, 100, 2, log=True)), [1 / 4] * 4)
    assert np.allclose(complexity_weights([1, 3, 20, 60], Bins(1, 100, 2)), [1 / 6] * 3 + [1 / 2])
    # the normalized EDF of that sample: the model in the upper bin carries half the mass
    assert np.allclose(
        edf([0.3, 0.1, 0.2, 0.05], [0.06, 0.25, 1], [1 / 6] * 3 + [1 / 2]), [1 / 2, 5 / 6, 1]
    )


def test_empty_bin_is_an_error_that_names_the_bin_and_the_fix():
    with pytest.raises(AnalysisError) as info:
        complexity_weights([1, 2, 9, 10], Bins(0, 10, 3), "spaceA", "flops")
    msg = str(info.value)
    assert "1 of 3 flops bins are empty for spaceA" in msg and "bin 2 [3.333, 6.667)" in msg
    assert "fewer bins" in msg and "narrower" in msg
    with pytest.raises(AnalysisError, match="fewer than the 5 bins"):
        normalize({"a": [1, 2, 3], "b": [1, 2, 3, 4]}, bins=5)


def test_overlap_range_leaves_out_and_counts_models_outside():
    nz = normalize({"a": np.arange(1, 11), "b": np.arange(5, 16)}, bins=2, metric="flops")
    assert (nz.bins.low, nz.bins.high) == (5, 10)
    assert nz.left_out == {"a": 4, "b": 5}
    assert nz.inside["a"].sum() == 6 and nz.inside["b"].sum() == 6
    # a: 5,6,7 | 8,9,10 -> every in-range model weighs 1/6; the same for b
    assert np.allclose(nz.weights["a"], 1 / 6) and np.allclose(nz.weights["b"], 1 / 6)
    with pytest.raises(AnalysisError, match="do not overlap"):
        normalize({"a": [1, 2], "b": [3, 4]}, bins=1)
    explicit = normalize({"a": np.arange(1, 11)}, bins=1, value_range=(2, 4))
    assert explicit.left_out == {"a": 7}


# --- KS -------------------------------------------------------------------------------------------
def test_ks_hand_computed():
    assert ks_distance([1, 2, 3], [2, 3, 4]) == pytest.approx(1 / 3)
    assert ks_distance([1, 2], [3, 4]) == 1
    # weights 3:1 on a = [1, 2], b = [1.5]: just above 1, F_a = 0.75 and F_b = 0
    assert ks_distance([1, 2], [1.5], [3, 1]) == pytest.approx(0.75)
    assert ks_distance([1, 2], [1.5], [1, 3]) == pytest.approx(0.75)  # just above 1.5: 0.25 vs 1


def test_ks_distance_agrees_with_scipy_and_permutation_p_with_exact_p():
    rng = np.random.default_rng(0)
    for na, nb, shift, decimals in [
        (5, 7, 0.0, 8),
        (40, 25, 0.3, 8),
        (60, 60, 0.5, 1),
        (100, 13, 0.0, 1),
    ]:
        a = np.round(rng.normal(size=na), decimals)
        b = np.round(rng.normal(shift, size=nb), decimals)  # decimals=1: many ties
        assert ks_distance(a, b) == pytest.approx(sps.ks_2samp(a, b).statistic, abs=1e-12)
    a, b = rng.normal(size=20), rng.normal(0.6, size=25)  # no ties: exact p is a permutation p
    r = ks_test(a, b, n_perm=2000, seed=1)
    assert np.isclose(r.D, sps.ks_2samp(a, b).statistic)
    assert r.p_value == pytest.approx(sps.ks_2samp(a, b, method="exact").pvalue, abs=0.03)


def test_weighted_ks_distance_is_scipy_on_repeated_samples():
    """An integer weight w on a model is w copies of it, so the weighted D must equal scipy's D on
    the expanded samples: 200 random cases with ties (errors rounded to 1 decimal) and zero weights.
    Mutations checked: one side's weights ignored (analysis/stats.py `ks_distance`), weights not
    normalized to sum 1 (analysis/edf.py `edf`)."""
    rng = np.random.default_rng(11)
    for _ in range(200):
        na, nb = rng.integers(1, 15, size=2)
        a, b = (
            np.round(rng.normal(size=na), 1),
            np.round(rng.normal(rng.uniform(-1, 1), size=nb), 1),
        )
        wa, wb = rng.integers(0, 5, size=na), rng.integers(0, 5, size=nb)
        wa[rng.integers(na)] += 1  # not all zero
        wb[rng.integers(nb)] += 1
        want = sps.ks_2samp(np.repeat(a, wa), np.repeat(b, wb)).statistic
        assert ks_distance(a, b, wa, wb) == pytest.approx(want, abs=1e-12), (a, wa, b, wb)


def test_ks_permutation_p_values_are_calibrated_under_the_null():
    """Over many pairs of samples from one distribution, p <= 0.05 as often as it should.

    Plain (20 vs 20 normal errors, 99 random splits): given a pair, each split's D reaches the
    observed D with probability q = scipy's exact p-value (the share of all C(40, 20) splits at
    least as far apart; no ties in continuous data), so p = (1 + K) / 100 <= 0.05, i.e. K <= 4, with
    probability pi = P(Binomial(99, q) <= 4). The number of rejections over 1,000 pairs is a sum of
    independent Bernoulli(pi) draws: within 4.5 standard deviations of the sum of the pi (about 3%
    here: 20 vs 20 D is coarse, ties at the observed D are common). Normalized (30 vs 30 models, a
    quarter of them in the upper of 2 flops bins, so those weigh 3 times the others; error
    independent of flops): the observed split is one of the pooled models' splits at random, so with
    the splits that leave a bin empty dropped on both sides (pairs redrawn, permutations rejected)
    P(p <= 0.05) is 5% but for ties, which the weights make rare; 2,000 pairs: within 4.5 sd of
    Binomial(2000, 5%). Mutations checked: ties not counted as reaching D (`>` for `>=`), random
    splits of other sizes, the normalized weights not recomputed for each split (the weighted D
    spreads wider than the plain one: 17% of pairs fall below 0.05)."""
    n_perm, rng = 99, np.random.default_rng(12)
    rejected, pis = 0, []
    for i in range(1000):
        a, b = rng.normal(size=20), rng.normal(size=20)
        rejected += ks_test(a, b, n_perm=n_perm, seed=i).p_value <= 0.05
        pis.append(sps.binom.cdf(4, n_perm, sps.ks_2samp(a, b, method="exact").pvalue))
    pis = np.array(pis)
    assert abs(rejected - pis.sum()) <= 4.5 * np.sqrt((pis * (1 - pis)).sum()), (
        rejected,
        pis.sum(),
    )
    bins, rejected, pairs = Bins(0, 2, 2), 0, 2000

    def flops() -> np.ndarray:
        return np.where(rng.random(30) < 0.25, rng.uniform(1, 2, 30), rng.uniform(0, 1, 30))

    for i in range(pairs):
        ca, cb = flops(), flops()
        while (
            min(
                np.bincount(ca.astype(int), minlength=2).min(),
                np.bincount(cb.astype(int), minlength=2).min(),
            )
            == 0
        ):
            ca, cb = flops(), flops()
        rejected += (
            ks_test(rng.normal(size=30), rng.normal(size=30), ca, cb, bins, n_perm, seed=i).p_value
            <= 0.05
        )
    assert abs(rejected - 0.05 * pairs) <= 4.5 * np.sqrt(pairs * 0.05 * 0.95), rejected


def test_normalized_ks_test_uses_weights():
    rng = np.random.default_rng(2)
    ca, cb = rng.uniform(0, 1, 200), rng.uniform(0, 1, 200) ** 3  # b crowds the low-complexity end
    ea, eb = 1 - 0.5 * ca + rng.normal(0, 0.02, 200), 1 - 0.5 * cb + rng.normal(0, 0.02, 200)
    bins = Bins(0, 1, 5)
    plain, normed = ks_test(ea, eb, n_perm=200), ks_test(ea, eb, ca, cb, bins, n_perm=200)
    wa, wb = complexity_weights(ca, bins), complexity_weights(cb, bins)
    assert normed.normalized and np.isclose(normed.D, ks_distance(ea, eb, wa, wb))
    assert plain.p_value < 0.01 and normed.D < plain.D / 2  # same error given complexity


# --- bootstrap ------------------------------------------------------------------------------------
def test_bootstrap_band_contains_edf_and_narrows_with_n():
    rng = np.random.default_rng(3)
    pts = np.linspace(-3, 3, 61)
    widths = []
    for n in (40, 640):
        e = rng.normal(size=n)
        b = bootstrap_edf(e, pts, n_boot=300, seed=4)
        assert (b.lower <= b.edf + 1e-12).all() and (b.edf <= b.upper + 1e-12).all()
        assert np.array_equal(b.edf, edf(e, pts))
        for name, value in (("min", e.min()), ("mean", e.mean()), ("median", np.median(e))):
            iv = b.intervals[name]
            assert iv.estimate == pytest.approx(value) and iv.low <= value <= iv.high
        widths.append(np.mean(b.upper - b.lower))
        mid = b.edf[30]  # at 0: a 95% band is ±1.96 sd
        assert b.upper[30] - b.lower[30] == pytest.approx(
            2 * 1.96 * np.sqrt(mid * (1 - mid) / n), rel=0.25
        )
        assert edf_label("A", b) == f"A (n={n}, min={e.min():.4g}, mean={e.mean():.4g})"
    assert widths[1] < widths[0] / 2  # ~ 1/sqrt(n): a factor 4


def test_normalized_bootstrap_recomputes_weights_and_reports_rejections():
    rng = np.random.default_rng(5)
    c = rng.uniform(0, 10, 300)
    e = c / 10 + rng.normal(0, 0.1, 300)
    bins = Bins(0, 10, 4)
    b = bootstrap_edf(e, np.linspace(-0.5, 1.5, 41), c, bins, n_boot=200, seed=0)
    assert np.allclose(b.edf, edf(e, b.points, complexity_weights(c, bins)))
    assert (b.lower <= b.edf + 1e-12).all() and (b.edf <= b.upper + 1e-12).all() and b.rejected == 0
    # a bin with a single model is empty in ~37% of resamples: rejected and counted, not hidden
    c2 = np.append(rng.uniform(0, 5, 100), 9.0)
    b2 = bootstrap_edf(rng.random(101), [0.5], c2, Bins(0, 10, 2), n_boot=400, seed=0)
    assert 100 < b2.rejected < 200 and b2.n_boot == 400 - b2.rejected


def test_weighted_quantile_is_the_quantile_of_repeated_samples():
    """A weight w on a value is w copies of it: the weighted quantile (the average of the smallest x
    with cumulative weight >= q and the smallest with > q) is numpy's averaged_inverted_cdf quantile
    of the expanded sample, for 200 random cases with ties and zero weights. Mutations checked: the
    average dropped (`hi = lo` in analysis/edf.py quantile_sorted), the weights not sorted with
    the values."""
    rng = np.random.default_rng(13)
    for _ in range(200):
        n = rng.integers(1, 12)
        x, w = np.round(rng.normal(size=n), 1), rng.integers(0, 4, size=n)
        w[rng.integers(n)] += 1
        for q in (0.1, 0.25, 0.5, 0.75, 0.9):
            want = np.quantile(np.repeat(x, w), q, method="averaged_inverted_cdf")
            assert weighted_quantile(x, q, w) == pytest.approx(want, abs=1e-12), (x, w, q)
    assert weighted_quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5  # by hand: (2 + 3) / 2
    assert weighted_quantile([1.0, 2.0, 3.0], 0.5, [1, 1, 2]) == 2.5  # 1, 2, 3, 3: (2 + 3) / 2


def test_normalized_median_and_its_interval_hand_computed():
    """Errors 0.2 (flops 1, the low bin of 2 over [0, 10]) and 0.6, 0.7, 0.8 (flops 9-10, the high
    bin): the normalized weights are 1/2 and 1/6 each (3, 1, 1, 1 copies), so the weighted median is
    (0.2 + 0.6) / 2 = 0.4 (the plain one is 0.65). In a bootstrap resample of 4 the low bin always
    carries exactly half the mass, so its median is (0.2 + the least high-bin error drawn) / 2, in
    {0.4, 0.45, 0.5}. Resamples missing a bin are rejected: P = (1 + 81) / 256 (all high, or all
    0.2). Given m >= 1 high draws (P(m = 1, 2, 3) = 12, 54, 108 of 256), all are 0.8 with
    probability 3^-m: P(median 0.5 | kept) = (12/3 + 54/9 + 108/27) / 174 = 14/174 = 8%;
    P(median 0.4 | kept) = (12 (1 - 2/3) + 54 (1 - 4/9) + 108 (1 - 8/27)) / 174 = 110/174 = 63%. So
    the 95% interval is [0.4, 0.5]. Mutations checked (analysis/stats.py `bootstrap_edf`): the point
    median unweighted (0.65), the resamples' medians unweighted (an interval down to 0.2), resamples
    with an empty bin kept."""
    e, c = np.array([0.2, 0.6, 0.7, 0.8]), np.array([1.0, 9.0, 9.5, 10.0])
    b = bootstrap_edf(e, [0.5], c, Bins(0, 10, 2), n_boot=2000, seed=0)
    assert np.median(np.repeat(e, [3, 1, 1, 1])) == pytest.approx(0.4)
    iv = b.intervals["median"]
    assert (iv.estimate, iv.low, iv.high) == (
        pytest.approx(0.4),
        pytest.approx(0.4),
        pytest.approx(0.5),
    )
    p_reject = 82 / 256  # within 4.5 sd of Binomial(2000, 82/256)
    assert abs(b.rejected - 2000 * p_reject) <= 4.5 * np.sqrt(2000 * p_reject * (1 - p_reject))
    assert b.n_boot + b.rejected == 2000


def test_best_parameter_bootstrap_finds_planted_value():
    rng = np.random.default_rng(6)
    x = rng.integers(1, 17, 400).astype(float)  # a depth-like parameter
    err = 0.01 * np.abs(x - 7) + rng.normal(0, 0.003, 400)
    r = best_parameter_bootstrap(x, err, n_boot=2000, seed=0)
    assert r.median == 7 and r.low <= 7 <= r.high and r.high - r.low <= 2 and r.draws == 100
    xc = rng.uniform(0, 10, 400)  # continuous, optimum at 3.0
    r = best_parameter_bootstrap(xc, (xc - 3) ** 2 + rng.normal(0, 0.05, 400), n_boot=2000, seed=0)
    assert abs(r.median - 3) < 0.3 and r.low <= 3 <= r.high


# --- random search --------------------------------------------------------------------------------
def test_random_search_exact_on_a_tiny_case():
    ms, best = random_search_curve([3.0, 1.0, 2.0])
    # subsets {1,2},{1,3},{2,3}
    assert ms.tolist() == [1, 2, 3] and np.allclose(best, [2, 4 / 3, 1])
    _, best = random_search_curve([3.0, 1.0, 2.0], replace=True)
    assert np.allclose(best, [2, 14 / 9, 36 / 27])
    _, best = random_search_curve([1.0, 2.0, 3.0], [1, 2], replace=True, weights=[1, 1, 2])
    assert np.allclose(best, [2.25, 1 - 0.75**2 + 2 * (0.75**2 - 0.5**2) + 3 * 0.5**2])
    assert random_search_curve(np.arange(10.0))[0].tolist() == [1, 2, 4, 8, 10]
    with pytest.raises(AnalysisError):
        random_search_curve([1.0, 2.0], [3])


def test_random_search_matches_enumeration_and_simulation():
    rng = np.random.default_rng(7)
    small = np.round(rng.random(8), 1)  # ties included
    _, exact = random_search_curve(small, range(1, 9))
    for m in range(1, 9):
        assert exact[m - 1] == pytest.approx(np.mean([min(c) for c in combinations(small, m)]))
    e = rng.gamma(2.0, size=50)
    ms, exact = random_search_curve(e)
    draws = np.argsort(rng.random((20000, 50)), axis=1)
    for m, x in zip(ms, exact, strict=True):
        sim = e[draws[:, :m]].min(axis=1)
        assert abs(sim.mean() - x) < 4 * sim.std() / np.sqrt(len(sim)) + 1e-9


def test_failed_trials_excluded_or_counted_as_error_one():
    f = pd.DataFrame(
        {
            "error": [0.2, np.nan, 0.3, 0.4, np.nan],
            "flops": [1, 2, 3, 4, 5],
            "state": ["COMPLETE", "FAIL", "COMPLETE", "FAIL", "RUNNING"],
        }
    )
    ex = clean(f, "exclude")
    assert ex.frame["error"].tolist() == [0.2, 0.3] and (ex.failed, ex.unfinished) == (2, 1)
    asis = clean(f, "as_error")
    assert asis.frame["error"].tolist() == [0.2, 1.0, 0.3, 1.0] and asis.failed == 2
    with pytest.raises(AnalysisError, match="not fractions"):
        clean(f.assign(error=[20, np.nan, 30, 40, np.nan]), "as_error")


# --- RegNet fit -----------------------------------------------------------------------------------
def test_fit_regnet_recovers_all_published_regnets():
    assert len(PUBLISHED) == 24
    for name, p in PUBLISHED.items():
        observed = p.block_widths()
        fit = fit_regnet(observed)
        assert fit.d == p.depth and fit.e_fit == 0, name
        assert (fit.stage_widths, fit.stage_depths) == tuple(stages_from_block_widths(observed)), (
            name
        )
        # with the published group width, the fit builds the published network (compatibility
        # step included)
        assert fit.params(p.group_width, se_ratio=p.se_ratio).to_anynet() == spaces.get_config(
            name
        ), name


def test_fit_regnet_small_e_fit_on_perturbed_widths_and_stage_input():
    rng = np.random.default_rng(8)
    for name, p in PUBLISHED.items():
        noisy = np.asarray(p.block_widths()) * rng.uniform(0.96, 1.04, p.depth)
        assert fit_regnet(noisy).e_fit < 0.05, name
    cfg = spaces.get_config("regnetx_200mf")
    widths, depths = [s.width for s in cfg.stages], [s.depth for s in cfg.stages]
    assert expand_stages([24, 56], [1, 2]) == [24, 56, 56]
    fit = fit_regnet(widths, depths)
    assert fit.d == 13 and fit.e_fit == 0 and fit.stage_depths == depths
    with pytest.raises(AnalysisError):
        fit_regnet([24, -8])


def test_e_fit_hand_computed():
    """e_fit = mean_j |log(pred_j / obs_j)| [RegNet Sec. 3.3], pred the quantized-linear widths of
    (w0, wa, wm).
    d = 3, w0 = 16, wa = 16, wm = 2: u_j = 16, 32, 48; s_j = log2(u_j / 16) = 0, 1, 1.585 round to
    0, 1, 2; pred = 16, 32, 64. Against obs = 16, 40, 48:
    (|log 1| + |log(32/40)| + |log(64/48)|) / 3 = (0 + 0.22314 + 0.28768) / 3 = 0.170275.
    d = 3, w0 = 24, wa = 24, wm = 2.2: u_j = 24, 48, 72; s_j = 0, log 2 / log 2.2 = 0.879,
    log 3 / log 2.2 = 1.393 round to 0, 1, 1; 24 x 2.2 = 52.8 rounds to 56 (q = 8);
    pred = 24, 56, 56, against the same obs:
    (|log(24/16)| + |log(56/40)| + |log(56/48)|) / 3 = (0.40547 + 0.33647 + 0.15415) / 3 = 0.298696.
    Mutations checked: a signed mean (the first would be 0.0215), no rounding to multiples of 8."""
    got = e_fit([16, 40, 48], [16, 24], [16, 24], [2.0, 2.2])
    assert got[0] == pytest.approx((abs(math.log(32 / 40)) + math.log(64 / 48)) / 3, abs=1e-12)
    assert got[0] == pytest.approx(0.170275, abs=5e-7)
    assert got[1] == pytest.approx(
        (math.log(24 / 16) + math.log(56 / 40) + math.log(56 / 48)) / 3, abs=1e-12
    )
    assert got[1] == pytest.approx(0.298696, abs=5e-7)


def test_population_trend_and_efit_column():
    linear = {
        "depth_1": 1,
        "depth_2": 1,
        "depth_3": 1,
        "depth_4": 1,
        "width_1": 48,
        "width_2": 96,
        "width_3": 144,
        "width_4": 192,
    }
    rows = [{**linear, "error": 0.1 + i * 0.001} for i in range(5)]
    rows.append({**linear, "width_1": 800, "width_4": 16, "error": 0.9})  # worst: not in the top 5
    f = pd.DataFrame(rows)
    t = population_trend(f, 5)
    assert (t.w0, t.wa, t.k, t.blocks) == (
        pytest.approx(48),
        pytest.approx(48),
        5,
        20,
    ) and t.r2 == 1
    g = add_efit_column(f)
    assert g["e_fit"].iloc[0] < 0.1 < g["e_fit"].iloc[-1] and {"fit_w0", "fit_wa", "fit_wm"} <= set(
        g.columns
    )


# --- report and CLI -------------------------------------------------------------------------------
def synthetic(space: str, n: int, seed: int, shift: float) -> pd.DataFrame:
    f = records_to_frame(spaces.sample(spaces.get_space(space), n, seed=seed).records)
    rng = np.random.default_rng(seed)
    f["error"] = 0.3 + shift + 0.05 * np.log(f["flops"] / 4e8) + rng.normal(0, 0.02, len(f))
    f.insert(0, "state", "COMPLETE")
    f.loc[0, ["state", "error"]] = ["FAIL", np.nan]
    return f


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return {
        "anynetx_e": synthetic("anynetx_e", 50, 0, 0.0),
        "regnetx": synthetic("regnetx", 50, 1, -0.03),
    }


def nds_repeats(values: np.ndarray, low: float, high: float, count: int) -> np.ndarray:
    """Integer weights proportional to the NDS-normalized ones (REFERENCE section 3: 1 / models in
    the bin), for `count` equal-width bins over [low, high] (the last one closed): lcm(bin counts) /
    (models in the bin). Repeating each model that many times turns the weighted EDF into a plain
    one that scipy can test."""
    v = np.asarray(values, float)
    idx = np.minimum(((v - low) / (high - low) * count).astype(int), count - 1)
    per_bin = np.bincount(idx, minlength=count)
    assert (per_bin > 0).all()
    return math.lcm(*per_bin.tolist()) // per_bin[idx]


# the plots' expected pixel sizes at 110 dpi (bbox "tight" trims the margins): (width, height)
# in inches
PLOT_INCHES = {
    "edf": (6.0, 4.2),
    "edf_normalized": (6.0, 4.2),
    "random_search": (6.0, 4.2),
    "error_vs_stage_params": (
        4 * 3.2,
        4 * 3.2 * 0.85,
    ),  # depth/width/bottleneck/group_width x 4 stages, 4 a row
    # d, w0, wa, wm (regnetx); e_fit, total_depth, width_ratio, bottleneck; group_width, flops,
    # params, acts
    "error_vs_params": (4 * 3.2, 3 * 3.2 * 0.85),
    "best_ranges": (4 * 3.2, 7 * 3.2 * 0.85),  # those 16 + 12 parameters, 4 a row
    "width_profiles": (2 * 4.0, 4.0 * 0.85),  # one panel per space
}


def drawn_pixels(image: np.ndarray, color: str, alpha: float = 1.0) -> int:
    """Pixels of `color` drawn with `alpha` over white, to a rounding tolerance."""
    from matplotlib.colors import to_rgb

    want = np.rint(alpha * np.array(to_rgb(color)) * 255 + (1 - alpha) * 255).astype(np.int16)
    return int((np.abs(image.astype(np.int16) - want) <= 2).all(axis=-1).sum())


def test_analyze_writes_summary_and_plots(frames, tmp_path):
    """Values, not keys: the KS entries against scipy.stats.ks_2samp on the same models, and each
    plot decoded (PIL), of its figure's size, with both spaces drawn in their colors. Mutations
    checked: the normalized entry's D on plain weights (analysis/report.py `_ks`), the p-value
    without its + 1 (k / n), the EDF curves not drawn (analysis/plots.py `plot_edfs`), plots saved
    at 80 dpi."""
    from PIL import Image

    s = analyze(frames, tmp_path, normalize="flops", bins=5, n_boot=100, n_perm=100, n_best=300)
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == s and set(on_disk["spaces"]) == {"anynetx_e", "regnetx"}
    for label, sp in on_disk["spaces"].items():
        assert {
            "n",
            "min_error",
            "mean_error",
            "median_error",
            "intervals",
            "left_out",
            "failed",
        } <= set(sp)
        assert sp["n"] == 49 and sp["failed"] == 1, label
        assert sp["min_error"] == pytest.approx(frames[label]["error"].min())
        assert sp["median_e_fit"] >= 0 and "trend" in sp and "depth_3" in sp["best_ranges"]
    assert [(r["a"], r["b"], r["normalized"]) for r in on_disk["ks"]] == [
        ("anynetx_e", "regnetx", False),
        ("anynetx_e", "regnetx", True),
    ]
    assert on_disk["bins"]["count"] == 5
    a, b = (frames[k][frames[k]["state"] == "COMPLETE"] for k in ("anynetx_e", "regnetx"))
    plain, normed = on_disk["ks"]
    assert plain["D"] == pytest.approx(sps.ks_2samp(a["error"], b["error"]).statistic, abs=1e-12)
    # scipy's exact p (the share of all splits of the pooled models at least this far apart) is
    # 2.6e-12, so none of the 100 random splits reaches D: the permutation p-value is its floor
    # 1 / (1 + 100)
    assert sps.ks_2samp(a["error"], b["error"], method="exact").pvalue < 1e-9
    assert plain["p_value"] == 1 / 101 and plain["n_perm"] + plain["rejected"] == 100
    # normalized: the models in the overlap of the flops ranges, weighted 1 / (models in the bin)
    # over 5 bins, as integer repeats; its D is as extreme, so again no split reaches it
    low, high = max(a["flops"].min(), b["flops"].min()), min(a["flops"].max(), b["flops"].max())
    a, b = (f[(f["flops"] >= low) & (f["flops"] <= high)] for f in (a, b))
    ea, eb = (
        np.repeat(f["error"].to_numpy(), nds_repeats(f["flops"], low, high, 5)) for f in (a, b)
    )
    assert normed["D"] == pytest.approx(sps.ks_2samp(ea, eb).statistic, abs=1e-12)
    assert normed["p_value"] == 1 / 101 and normed["n_perm"] + normed["rejected"] == 100
    report = (tmp_path / "report.md").read_text()
    for name, (w, h) in PLOT_INCHES.items():
        assert f"]({name}.png)" in report
        with Image.open(tmp_path / f"{name}.png") as im:
            image = np.asarray(im.convert("RGB"))
        assert (
            0.85 <= image.shape[1] / (w * 110) <= 1.02
            and 0.85 <= image.shape[0] / (h * 110) <= 1.02
        ), name
        if name == "width_profiles":  # best models blue, worst red, each drawn at alpha 0.7
            assert (
                drawn_pixels(image, "tab:blue", 0.7) > 100
                and drawn_pixels(image, "tab:red", 0.7) > 100
            )
        else:  # one color per space: anynetx_e blue, regnetx orange
            assert (
                drawn_pixels(image, "tab:blue") > 100 and drawn_pixels(image, "tab:orange") > 100
            ), name


def test_analyze_input_errors(frames, tmp_path):
    with pytest.raises(AnalysisError, match=r"lacks column.*flops"):
        analyze({"a": pd.DataFrame({"error": [0.1, 0.2]})}, tmp_path)
    with pytest.raises(AnalysisError, match="fewer than the 60 bins"):
        analyze(frames, tmp_path, bins=60, efit=False)
    with pytest.raises(AnalysisError, match="flops bins are empty for anynetx_e"):
        analyze(frames, tmp_path, bins=40, efit=False)
    with pytest.raises(AnalysisError, match="normalize must be"):
        analyze(frames, tmp_path, normalize="acts")


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nas")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_analyze_csv_inputs(frames, tmp_path, capsys):
    paths = []
    for label, f in frames.items():
        paths.append(tmp_path / f"{label}.csv")
        f.to_csv(paths[-1], index=False)
    out = tmp_path / "report"
    code = run_cli(
        [
            "analyze",
            *map(str, paths),
            "--bins",
            "4",
            "--out",
            str(out),
            "--bootstrap",
            "50",
            "--no-efit",
            "--failed",
            "as_error",
            "--json",
        ]
    )
    s = json.loads(capsys.readouterr().out)
    assert (
        code == 0
        and set(s["spaces"]) == {"anynetx_e", "regnetx"}
        and (out / "summary.json").is_file()
    )
    assert (
        s["spaces"]["regnetx"]["n"] == 50 and s["spaces"]["regnetx"]["failed_policy"] == "as_error"
    )
    code = run_cli(
        [
            "analyze",
            f"A={paths[0]}",
            "--normalize",
            "none",
            "--out",
            str(out),
            "--bootstrap",
            "20",
            "--no-efit",
        ]
    )
    text = capsys.readouterr().out
    assert code == 0 and text.startswith("A: n=49") and "1 failed" in text
    with pytest.raises(AnalysisError, match="no such file"):
        run_cli(["analyze", str(tmp_path / "missing.csv")])


def test_cli_analyze_study_input(frames, tmp_path, capsys, monkeypatch):
    fake = types.ModuleType("nas.tables")
    sweep_error = type("SweepError", (Exception,), {"__module__": "nas.study"})

    def export_study(name, storage=None):
        if name == "bad":
            raise sweep_error("no study 'bad' in results/nas.journal. Studies there: regnetx")
        if name not in frames:
            raise KeyError("Record does not exist.")
        return frames[name]

    fake.export_study = export_study
    monkeypatch.setitem(sys.modules, "nas.tables", fake)
    code = run_cli(
        [
            "analyze",
            "regnetx",
            "--normalize",
            "none",
            "--bootstrap",
            "20",
            "--no-efit",
            "--out",
            str(tmp_path),
            "--json",
        ]
    )
    assert code == 0 and json.loads(capsys.readouterr().out)["spaces"]["regnetx"]["n"] == 49
    with pytest.raises(AnalysisError) as info:
        run_cli(["analyze", "nope", "--storage", "sqlite:///x.db"])
    assert str(info.value) == (
        "'nope' is not a CSV/Parquet file, and as a study in sqlite:///x.db: "
        "KeyError: 'Record does not exist.'"
    )
    with pytest.raises(AnalysisError) as info:  # nas's own errors pass through
        run_cli(["analyze", "bad"])
    assert str(info.value).endswith(
        "as a study: no study 'bad' in results/nas.journal. Studies there: regnetx"
    )
    code = run_cli(["fit-regnet", "--study", "anynetx_e", "--top", "3", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and len(out["models"]) == 3 and {"w0", "wa", "k"} <= set(out["trend"])


def test_cli_fit_regnet(capsys):
    widths = PUBLISHED["regnetx_400mf"].block_widths()
    code = run_cli(["fit-regnet", "--widths", ",".join(map(str, widths)), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["d"] == 22 and out["e_fit"] == 0 and {"w0", "wa", "wm"} <= set(out)
    assert [out["stage_widths"], out["stage_depths"]] == list(stages_from_block_widths(widths))
    code = run_cli(["fit-regnet", "--config", "regnetx_200mf"])
    text = capsys.readouterr().out
    assert code == 0 and text.startswith("d=13 ") and "(1, 24), (1, 56), (4, 152), (7, 368)" in text
    code = run_cli(["fit-regnet", "--widths", "24,56,152", "--depths", "1,1,4", "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["d"] == 6
    with pytest.raises(SystemExit):  # argparse: exactly one source
        run_cli(["fit-regnet"])


def test_efit_auto_skips_large_populations(capsys):
    from nas.cli.analyze import EFIT_AUTO_LIMIT, want_efit

    small = {"a": pd.DataFrame({"error": np.zeros(10)})}
    large = {
        "a": pd.DataFrame({"error": np.zeros(EFIT_AUTO_LIMIT)}),
        "b": pd.DataFrame({"error": np.zeros(1)}),
    }
    assert want_efit("auto", small) and not want_efit("off", small)
    assert not want_efit("auto", large)
    assert "--efit on" in capsys.readouterr().err
    assert want_efit("on", large)
