"""The generic machinery behind the zoo's design spaces: config kinds, family spaces,
sampling limits."""

from __future__ import annotations

import optuna
import pytest
from model_counts import built_counts

from spaces import SPACES, SamplingError, get_config, sample
from spaces.distributions import choice
from spaces.family_space import FamilySpace, suggest_choice
from spaces.registry import config_from_dict


def test_exhausted_family_space_fails_fast_with_the_count():
    space = FamilySpace(
        "tiny_vgg", "VGG letters", base=get_config("vgg11"), params={"letter": choice(("A", "B"))}
    )
    assert len(sample(space, 2, seed=0).records) == 2
    with pytest.raises(SamplingError, match=r"holds only 2 distinct configs .* ask for at most 2"):
        sample(space, 3, seed=0)


def test_structured_choices_are_suggested_by_label():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    layouts = ((3, 4, 6, 3), (3, 4, 23, 3))
    assert suggest_choice(trial, "depths", layouts) in layouts
    assert suggest_choice(trial, "width", (1, 2)) in (1, 2)


@pytest.mark.parametrize("name", sorted(n for n, s in SPACES.items() if isinstance(s, FamilySpace)))
def test_every_family_space_samples_records_that_parse_back(name):
    """Each record parses back to its config, and its params / flops / acts are those of the network
    that config builds, counted on the built module at the record's resolution
    (tests/model_counts.py: parameter numel, per-layer multiply-adds and outputs of the convs and
    linears that run), not by the analytic formulas that made the record. Guards against an analytic
    formula that drifts from the module it describes (mutation checked: LeNet's table conv counted
    with one parameter more in spaces/zoo/lenet.py, which the former comparison of the record with
    `analytic()` let pass) and counts stored for another resolution than the record's. One record
    per space is counted: a meta-device forward pass costs 0.1-0.5 s for the deep families."""
    records = sample(SPACES[name], 3, seed=0).records
    for r in records:
        cfg = config_from_dict(r)
        assert cfg.to_dict()["kind"] == r["kind"]
    r = records[0]
    assert built_counts(config_from_dict(r), r["resolution"]) == (
        r["params"],
        r["flops"],
        r["acts"],
    )


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(Exception, match="unknown config kind 'nope'"):
        config_from_dict({"kind": "nope"})
