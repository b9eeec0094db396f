"""The samplers against independent simulations of the RegNet paper's reference code (pycls).

The reference rules are re-implemented here from their definitions, one draw at a time where the
rule is sequential, not from the project's tables:
- `pycls/sweep/random.py` log_uniform: f = exp(-U(-log hi, -log(lo - min(q, lo/2)))), value
  ceil(f/q)*q; power2_or_log_uniform: a power of two uniform over the exponents, redrawn log-uniform
  when >= q.
- `pycls/sweep/samplers.py` regnet_sampler (d uniform 12..28, w0 on 8, wa on 0.1, wm on 0.001, group
  width power2_or_log_uniform on 8) and check_regnet_constraints (number of distinct widths ==
  largest level + 1 == 4), with `pycls/models/regnet.py` generate_regnet.
- `pycls/models/blocks.py` adjust_block_compatibility, with pycls' bottleneck multiplier 1/b.
Each marginal is compared by chi-square (or KS) with enough draws to see a 0.01 difference in a
probability; each test also shows that the project's earlier rule is rejected at the same
draw count.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from spaces import get_space, regnet
from spaces.compat import adjust_block_compatibility
from spaces.config import StageConfig, adjust_stage
from spaces.distributions import log_uniform, power2_or_log_uniform
from spaces.space import DEPTH, REGNET_GROUP_WIDTH, REGNET_W0, REGNET_WA, REGNET_WM, WIDTH

N = 200_000  # sd of an estimated probability <= 0.0012: a 0.01 difference is > 8 sd


def ref_log_uniform(rng, low, high, q, n):
    f = np.exp(-rng.uniform(-np.log(high), -np.log(low - min(q, low / 2)), n))
    return np.round(np.ceil(f / q) * q, 10)


def ref_power2_or_log_uniform(rng, low, high, q, n):
    exps = np.floor(rng.uniform(np.log2(low), np.log2(high) + 1, n))
    f = 2.0**exps
    upper = ref_log_uniform(rng, max(low, q), high, min(high, q), n)
    return np.where(f >= q, upper, f)


def chi2_p(draws, dist):
    values = np.asarray(dist.values, dtype=float)
    idx = np.searchsorted(values, np.round(np.asarray(draws, dtype=float), 10))
    if not np.all(values[np.minimum(idx, len(values) - 1)] == np.round(draws, 10)):
        return 0.0  # a value off the grid is impossible under `dist`
    observed = np.bincount(idx, minlength=len(values))
    expected = np.asarray(dist.probs) * len(draws)
    return stats.chisquare(observed, expected).pvalue


@pytest.mark.parametrize(
    ("dist", "args"), [(DEPTH, (1, 16, 1)), (WIDTH, (8, 1024, 8)), (REGNET_W0, (8, 256, 8))]
)
def test_quantized_log_uniform_tables_match_pycls(dist, args):
    rng = np.random.default_rng(0)
    draws = ref_log_uniform(rng, *args, N)
    assert math.isclose(sum(dist.probs), 1.0)
    assert chi2_p(draws, dist) > 1e-4
    assert chi2_p(draws, log_uniform(*args, rule="round")) < 1e-12  # the old rule is seen at this N
    empirical = np.array([np.mean(draws == v) for v in dist.values])
    assert np.abs(empirical - np.asarray(dist.probs)).max() < 0.005


def test_published_probabilities():
    # hand-computed: P(low) = log(low / (low - q*)) / log(high / (low - q*))
    assert DEPTH.probs[0] == pytest.approx(math.log(2) / math.log(32))  # 0.200
    assert DEPTH.probs[-1] == pytest.approx(math.log(16 / 15) / math.log(32))  # 0.0186
    assert WIDTH.probs[0] == pytest.approx(math.log(2) / math.log(256))  # 0.125
    assert REGNET_W0.probs[0] == pytest.approx(math.log(2) / math.log(64))  # 0.1667
    assert REGNET_GROUP_WIDTH.probs[0] == pytest.approx(math.log(2) / math.log(32))


def test_group_width_sampler_matches_pycls_power2_or_log_uniform():
    rng = np.random.default_rng(1)
    assert chi2_p(ref_power2_or_log_uniform(rng, 8, 128, 8, N), REGNET_GROUP_WIDTH) > 1e-4
    # a range reaching below q: powers of two 1, 2, 4 each 1/8, the rest log-uniform on 8
    dist = power2_or_log_uniform(1, 128, 8)
    assert dist.values[:3] == (1, 2, 4) and dist.probs[:3] == pytest.approx((1 / 8,) * 3)
    assert chi2_p(ref_power2_or_log_uniform(rng, 1, 128, 8, N), dist) > 1e-4


@pytest.mark.parametrize(
    ("dist", "args"), [(REGNET_WA, (8.0, 256.0, 0.1)), (REGNET_WM, (2.0, 3.0, 0.001))]
)
def test_regnet_continuous_parameters_match_pycls_steps(dist, args):
    rng = np.random.default_rng(2)
    ref = ref_log_uniform(rng, *args, N)
    ours = dist.sample(rng, N)
    assert len(dist.values) == round((args[1] - args[0]) / args[2]) + 1
    assert stats.ks_2samp(ref, ours).pvalue > 1e-4
    assert chi2_p(ref, dist) > 1e-4
    old = log_uniform(args[0], args[1], 0.01, rule="round").sample(rng, N)
    assert chi2_p(old, dist) < 1e-12  # the old 0.01 grid is seen at this N


def ref_generate_regnet(wa, w0, wm, d, q=8):
    ws_cont = np.arange(d) * wa + w0
    ks = np.round(np.log(ws_cont / w0) / np.log(wm))
    ws_all = np.round(w0 * np.power(wm, ks) / q).astype(int) * q
    ws = np.unique(ws_all)
    return len(ws), int(ks.max()) + 1


def ref_accepts(d, w0, wa, wm):
    num_s, max_s = ref_generate_regnet(wa, w0, wm, d)
    return num_s == max_s and num_s == 4


def test_regnet_acceptance_follows_pycls_constraint_check():
    # the counter-example: 4 distinct widths but levels {0, 2, 3, 4}: pycls rejects it
    assert not ref_accepts(13, 8, 71.92, 2.85)
    assert not regnet.pycls_accepts(13, 8, 71.92, 2.85)
    assert regnet.pycls_accepts(22, 24, 24.48, 2.54)  # RegNetX-400MF
    rng = np.random.default_rng(3)
    n = 3000
    d = rng.integers(12, 29, n)
    w0 = REGNET_W0.sample(rng, n)
    wa = REGNET_WA.sample(rng, n)
    wm = REGNET_WM.sample(rng, n)
    ours = regnet.pycls_accepts(d, w0, wa, wm)
    ref = np.array(
        [ref_accepts(int(d[i]), int(w0[i]), float(wa[i]), float(wm[i])) for i in range(n)]
    )
    assert 0.05 < ref.mean() < 0.95 and np.array_equal(ours, ref)


def test_regnet_space_accepted_population_matches_pycls():
    space = get_space("regnetx")
    rng = np.random.default_rng(4)
    batch = space.draw(rng, N)
    ours = {k: batch.extra[k] for k in ("d", "w0", "wa", "wm")}
    ours["g"] = batch.group_width[:, 0]
    # independent: pycls' regnet_sampler one draw at a time (vectorized over draws), then its check
    m = 60_000
    d = np.floor(rng.uniform(12, 29, m)).astype(int)
    w0 = ref_log_uniform(rng, 8, 256, 8, m)
    wa = ref_log_uniform(rng, 8.0, 256.0, 0.1, m)
    wm = ref_log_uniform(rng, 2.0, 3.0, 0.001, m)
    g = ref_power2_or_log_uniform(rng, 8, 128, 8, m)
    keep = np.array(
        [ref_accepts(int(d[i]), int(w0[i]), float(wa[i]), float(wm[i])) for i in range(m)]
    )
    # the first stage's group width after pycls' compatibility step (g = min(g, first
    # stage's width))
    first = [ref_adjust(int(w0[i]), 1, int(g[i]))[1] for i in np.flatnonzero(keep)]
    ref = {"d": d[keep], "w0": w0[keep], "wa": wa[keep], "wm": wm[keep], "g": np.array(first)}
    for k in ("d", "w0", "wa", "wm", "g"):
        assert stats.ks_2samp(ours[k], ref[k]).pvalue > 1e-4, k


def ref_adjust(w, b, g):
    bm = 1 / b
    v = int(max(1, w * bm))
    g = int(min(g, v))
    m = np.lcm(g, int(bm)) if bm > 1 else g
    v = max(m, int(round(v / m) * m))
    return int(v / bm), g


def test_compatibility_step_equals_pycls_on_every_width():
    ws = np.arange(8, 1025)
    differs = 0
    for b in (1, 2, 4):
        for g in (1, 2, 4, 8, 16, 24, 32, 48, 64, 128):
            got_w, got_g = adjust_block_compatibility(ws, b, g)
            for i, w in enumerate(ws):
                ref = ref_adjust(int(w), b, g)
                assert (int(got_w[i]), int(got_g[i])) == ref, (w, b, g)
                # the earlier rule (round, not truncate) for the count below
                w_b = max(1, round(w / b))
                gg = min(g, w_b)
                differs += max(gg, round(w_b / gg) * gg) * b != ref[0]
    assert differs > 0  # the grid holds cases where truncation and rounding disagree
    s = adjust_stage(StageConfig(1, 102, 2, 4, 1), "X")
    # pycls: int(102 / 4) = 25 -> 100 (rounding gave 104)
    assert (s.width, s.group_width) == (100, 1)
