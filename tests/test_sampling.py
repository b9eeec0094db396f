"""Rejection sampling: seeds, bands, duplicates, infeasible bands."""

from __future__ import annotations

import pytest

from spaces import SPACES, Band, ConfigError, SamplingError, get_space, sample


def test_same_seed_same_configs_and_prefix_stable():
    a = sample(get_space("anynetx_e"), 50, seed=7).records
    b = sample(get_space("anynetx_e"), 50, seed=7).records
    c = sample(get_space("anynetx_e"), 20, seed=7).records
    d = sample(get_space("anynetx_e"), 50, seed=8).records
    assert a == b and a[:20] == c and a != d


@pytest.mark.parametrize(
    "name", sorted(n for n, s in SPACES.items() if s.default_flops_band == (360e6, 400e6))
)
def test_default_band_is_the_papers_and_holds(name):
    result = sample(SPACES[name], 60, seed=1)
    assert [str(b) for b in result.bands] == ["flops in [360M, 400M]"]
    assert all(360e6 <= r["flops"] <= 400e6 for r in result.records)
    assert len({str(r["stages"]) for r in result.records}) == 60


def test_several_bands_and_no_band():
    bands = [Band("flops", 100e6, 2e9), Band("params", None, 3e6), Band("acts", 1e6, None)]
    for r in sample(get_space("regnetx"), 40, seed=2, bands=bands).records:
        assert 100e6 <= r["flops"] <= 2e9 and r["params"] <= 3e6 and r["acts"] >= 1e6
    free = sample(get_space("anynetx_a"), 200, seed=2, bands=[]).records
    assert max(r["flops"] for r in free) > 1e9 > min(r["flops"] for r in free)


def test_duplicates_are_dropped():
    # a tiny band in a small space forces repeats
    result = sample(get_space("regnetx"), 30, seed=0, bands=[Band("flops", None, 60e6)])
    keys = [str(r["stages"]) for r in result.records]
    assert len(set(keys)) == len(keys) == 30
    assert result.duplicates > 0


def test_infeasible_band_error_says_what_was_tried():
    with pytest.raises(SamplingError) as err:
        # reachable (the space's bounds reach 161G) but rare; a band past the
        # bounds: tests/test_input_checks.py
        sample(
            get_space("anynetx_a"), 5, bands=[Band("flops", 1.5e11, None)], max_candidates=50_000
        )
    message = str(err.value)
    assert "found only 0 of 5" in message and "candidates" in message and "flops" in message
    assert "widen or move the band" in message


def test_record_fields():
    r = sample(get_space("regnety"), 1, seed=0).records[0]
    for key in (
        "space",
        "params",
        "flops",
        "acts",
        "stem_width",
        "block",
        "se_ratio",
        "stages",
        "regnet",
    ):
        assert key in r
    assert set(r["stages"][0]) == {"depth", "width", "stride", "bottleneck", "group_width"}
    assert set(r["regnet"]) == {"d", "w0", "wa", "wm"}
    assert r["se_ratio"] == 0.25 and r["block"] == "X"
    assert sample(get_space("anynetx_a"), 1).records[0]["se_ratio"] is None


def test_bad_arguments():
    with pytest.raises(ConfigError, match="n must be at least 1"):
        sample(get_space("anynetx_a"), 0)
    with pytest.raises(ConfigError, match="band is empty"):
        Band("flops", 5, 1)
    with pytest.raises(ConfigError, match="unknown metric"):
        Band("latency", 1, 2)
