"""Design spaces: distributions, constraints, sizes, exact constrained sampling."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from spaces import SPACES, AnyNetSpace, RegNetSpace, get_config, get_space, sample
from spaces.blocks import ResBottleneckBlock
from spaces.distributions import choice, log_uniform

# RegNet paper (Radosavovic et al. 2020, "Designing Network Design Spaces", arXiv:2003.13678),
# Table 1: step -> (dims, size as printed)
PAPER_TABLE_1 = {
    "a": (16, 1.8e18),
    "b": (13, 6.8e16),
    "c": (10, 3.2e14),
    "d": (10, 1.3e13),
    "e": (10, 5.5e11),
}
# The sampling grid of the paper's Sec. 3.1, counted by hand: depth 1..16 (16 values), width 8..1024
# in steps of 8 (128), bottleneck ratio {1, 2, 4} (3), group width {1, 2, 4, 8, 16, 32} (6);
# four stages.
D, W, B, G = 16, 128, 3, 6
HAND_SIZE = {
    "a": (D * W * B * G) ** 4,  # every parameter per stage
    "b": (D * W) ** 4 * B * G**4,  # one shared b
    "c": (D * W) ** 4 * B * G,  # one shared b and g
    "d": D**4 * math.comb(W + 3, 4) * B * G,  # non-decreasing widths: multisets of 4 of the 128
    "e": math.comb(D + 3, 4) * math.comb(W + 3, 4) * B * G,  # and non-decreasing depths
}
# The paper approximates an ordered space as the unordered one over 4! per ordered parameter (D:
# widths, E: widths and depths), which is how it prints 1.3e13 and 5.5e11 (the exact counts are
# 1.4e13 and 8.2e11).
PAPER_ESTIMATE = {
    "a": HAND_SIZE["a"],
    "b": HAND_SIZE["b"],
    "c": HAND_SIZE["c"],
    "d": HAND_SIZE["c"] / math.factorial(4),
    "e": HAND_SIZE["c"] / math.factorial(4) ** 2,
}


@pytest.mark.parametrize("letter", ["x", "y"])
@pytest.mark.parametrize("step", sorted(PAPER_TABLE_1))
def test_dims_and_sizes_match_paper_table_1(letter, step):
    """size() is the hand count of the grid and dims the count of free parameters (4 per stage, less
    the shared ones); the paper's printed sizes follow from the hand counts, and the paper_size a
    space reports (in `nas spaces`) is that rounding, not a copy. Mutation checked: widths up to
    1016 instead of 1024 (spaces/space.py WIDTH), which AnyNetX_A's rounded size alone let pass;
    also guarded: a constraint not counted in size(), a wrong paper_size."""
    space = get_space(f"anynet{letter}_{step}")
    dims, paper = PAPER_TABLE_1[step]
    assert space.dims == dims
    assert space.size() == HAND_SIZE[step]
    assert float(f"{PAPER_ESTIMATE[step]:.1e}") == paper == space.paper_size


def test_regnet_space_dims():
    """RegNet's six free parameters (d, w0, wa, wm, g, b: RegNet paper Sec. 3.3) are the ones the
    space samples; RegNetY is RegNetX with SE whose width is 1/4 of each block's *input* width in
    the built network (pycls `pycls/models/anynet.py`: `w_se = int(round(w_in * se_r))`,
    se_r = 0.25), RegNetX has no SE. Mutation checked: the SE width taken from the block's output
    width (spaces/blocks.py); also guarded: a sampled parameter more or less than dims says,
    another se_ratio."""
    assert get_space("regnetx").dims == len(get_space("regnetx").parameters()) == 6
    for name, se in (("regnetx", False), ("regnety", True)):
        cfg = get_config(sample(get_space(name), 1, seed=0).records[0])
        blocks = [m for m in cfg.build().modules() if isinstance(m, ResBottleneckBlock)]
        assert len(blocks) == sum(s.depth for s in cfg.stages)
        for blk in blocks:
            w_in = blk.a[0].in_channels
            assert (
                (blk.se.reduce.out_channels == w_in // 4 and w_in % 4 == 0)
                if se
                else blk.se is None
            )


def tiny_space(**constraints) -> AnyNetSpace:
    return AnyNetSpace(
        "tiny",
        "test",
        num_stages=3,
        depth=choice((1, 2, 3)),
        width=choice((8, 16)),
        bottleneck=choice((1, 2)),
        group_width=choice((1, 2)),
        **constraints,
    )


@pytest.mark.parametrize(
    "constraints",
    [
        {},
        {"shared_bottleneck": True},
        {"shared_bottleneck": True, "shared_group_width": True},
        {"increasing_widths": True},
        {"increasing_widths": True, "increasing_depths": True},
    ],
)
def test_size_equals_brute_force_count(constraints):
    space = tiny_space(**constraints)
    count = 0
    for d in itertools.product((1, 2, 3), repeat=3):
        for w in itertools.product((8, 16), repeat=3):
            for b in itertools.product((1, 2), repeat=3):
                for g in itertools.product((1, 2), repeat=3):
                    if space.shared_bottleneck and len(set(b)) > 1:
                        continue
                    if space.shared_group_width and len(set(g)) > 1:
                        continue
                    if space.increasing_widths and list(w) != sorted(w):
                        continue
                    if space.increasing_depths and list(d) != sorted(d):
                        continue
                    count += 1
    assert space.size() == count


def test_nondecreasing_sampler_is_the_exact_conditional_distribution():
    dist = log_uniform(1, 6, 1)
    rng = np.random.default_rng(1)
    n = 120_000
    ours = Counter(map(tuple, dist.sample_nondecreasing(rng, n, 3)))
    raw = dist.sample(rng, (n * 8, 3))
    kept = raw[(raw[:, 0] <= raw[:, 1]) & (raw[:, 1] <= raw[:, 2])]
    reference = Counter(map(tuple, kept))
    total_ref = sum(reference.values())
    assert set(ours) <= set(reference)
    tv = 0.5 * sum(abs(ours[k] / n - reference[k] / total_ref) for k in set(ours) | set(reference))
    assert tv < 0.02


@pytest.mark.parametrize(
    "name", sorted(n for n, s in SPACES.items() if isinstance(s, AnyNetSpace | RegNetSpace))
)
def test_draws_respect_constraints_and_ranges(name):
    space = SPACES[name]
    batch = space.draw(np.random.default_rng(0), 4096)
    assert len(batch) > 0
    w_b = batch.width // batch.bottleneck
    assert np.all(w_b % batch.group_width == 0)
    assert np.all((batch.depth >= 1) & (batch.width >= 1))
    if isinstance(space, AnyNetSpace):
        assert batch.depth.max() <= 16 and np.isin(batch.bottleneck, (1, 2, 4)).all()
        if space.shared_bottleneck:
            assert np.all(batch.bottleneck == batch.bottleneck[:, :1])
        if (
            space.shared_group_width
        ):  # shared before compatibility: g_i = g, or w_b_i where w_b_i < g
            g = batch.group_width.max(axis=1, keepdims=True)
            assert np.all((batch.group_width == g) | (batch.group_width == w_b))
        if space.increasing_widths:
            assert np.all(np.diff(batch.width, axis=1) >= 0)
        if space.increasing_depths:
            assert np.all(np.diff(batch.depth, axis=1) >= 0)
    else:
        assert batch.depth.shape[1] == 4
        assert np.all(batch.depth.sum(axis=1) == batch.extra["d"])
        assert np.all((batch.extra["wm"] >= 2) & (batch.extra["wm"] <= 3))


def test_regnet_candidates_reproduce_their_parameters():
    from spaces.regnet import RegNetParams

    space = get_space("regnety")
    batch = space.draw(np.random.default_rng(5), 512)
    for i in range(0, len(batch), 37):
        cfg = batch.config(i)
        p = cfg.extra["regnet"]
        again = RegNetParams(
            p["d"], p["w0"], p["wa"], p["wm"], int(batch.group_width[i, -1]), se_ratio=0.25
        ).to_anynet()
        assert [s.depth for s in again.stages] == [s.depth for s in cfg.stages]
        assert [s.width for s in again.stages] == [s.width for s in cfg.stages]


def test_unknown_space_suggests_names():
    from spaces import UnknownNameError

    with pytest.raises(UnknownNameError, match="Did you mean anynetx_e"):
        get_space("anynetx_f")
