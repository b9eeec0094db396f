"""Defects found in reading the code, each with its test: registry names, all-invalid
spaces, retries."""

from __future__ import annotations

import pytest

from spaces import get_config
from spaces.registry import MODELS, register_model


@pytest.fixture
def restore_models():
    saved = dict(MODELS)
    yield
    MODELS.clear()
    MODELS.update(saved)


def test_a_registered_name_is_found_in_any_case(restore_models):
    cfg = get_config("regnetx_200mf")
    register_model("MyNet", lambda: cfg)
    assert get_config("MyNet") == cfg and get_config("mynet") == cfg and get_config("MYNET") == cfg


def test_a_taken_name_is_refused_unless_overwrite(restore_models):
    original = get_config("resnet18")
    with pytest.raises(ValueError, match="already registered"):
        register_model("ResNet18", lambda: get_config("regnetx_200mf"))
    assert get_config("resnet18") == original
    register_model("resnet18", lambda: get_config("regnetx_200mf"), overwrite=True)
    assert get_config("resnet18") == get_config("regnetx_200mf")


def test_a_space_whose_every_draw_is_invalid_fails_at_once_and_says_why():
    import dataclasses
    import time

    from spaces import get_space, sample
    from spaces.distributions import choice
    from spaces.errors import SamplingError

    base = get_space("alexnet")
    broken = dataclasses.replace(
        base, name="broken", params={**base.params, "dropout": choice((-1.0, 2.0))}
    )
    start = time.perf_counter()
    with pytest.raises(
        SamplingError, match=r"every one of the .* candidates .* was invalid \(e\.g\. .+\)"
    ):
        sample(broken, 3, bands=[])
    # stopped by the stale-batch rule, not by the 20M-candidate limit
    assert time.perf_counter() - start < 60


def test_full_disk_and_permission_errors_are_not_retried():
    import errno

    from nas.storage import is_transient

    assert is_transient(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))
    assert is_transient(OSError(errno.EIO, "i/o"))
    assert not is_transient(OSError(errno.ENOSPC, "No space left on device"))
    assert not is_transient(PermissionError(errno.EACCES, "denied"))
    assert not is_transient(OSError(errno.EROFS, "read-only"))
    try:
        try:
            raise OSError(errno.ENOSPC, "full")
        except OSError as e:
            raise RuntimeError("write failed") from e
    except RuntimeError as wrapped:
        assert not is_transient(wrapped)


def test_a_heartbeat_that_fails_for_good_says_so_once_and_keeps_beating(capsys):
    import time

    from optuna.exceptions import UpdateFinishedTrialError

    from nas.heartbeat import Heartbeat

    class Storage:
        def __init__(self, error):
            self.error, self.calls = error, 0

        def set_trial_user_attr(self, *args):
            self.calls += 1
            raise self.error

    broken = Storage(ValueError("schema mismatch"))
    with Heartbeat(broken, 7, 0.02) as beat:
        time.sleep(0.3)
    assert isinstance(beat.error, ValueError) and broken.calls > 3  # it kept trying
    err = capsys.readouterr().err
    assert err.count("heartbeat of trial 7 failed: ValueError: schema mismatch") == 1
    finished = Storage(UpdateFinishedTrialError("done"))
    with Heartbeat(finished, 8, 0.02) as beat:
        time.sleep(0.3)
    assert finished.calls == 1 and beat.error is None and "trial 8" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("resnet18", 11_689_512),  # torchvision resnet18: sum of p.numel() = 11,689,512
        ("regnetx_200mf", 2_684_792),  # RegNet paper: 2.68 M; pycls: 2,684,792
        ("lenet5", 60_850),  # LeNet-5 as published: 1 x 32 x 32 in, 10 classes
    ],
)
def test_reference_counts_of_a_dataset_variant_are_the_published_networks(name, params):
    from spaces import reference_complexity

    cfg = get_config(name)
    assert reference_complexity(cfg).params == params
    assert reference_complexity(cfg.for_input(1, 10, small=True)).params == params


@pytest.mark.parametrize("zero", [False, True])
def test_every_family_gets_pycls_init_and_zero_init_last_only_touches_residual_branches(zero):
    import torch
    from torch import nn

    from spaces import build_model

    torch.manual_seed(0)
    # a graph family, no residual branch
    alexnet = build_model(get_config("alexnet"), zero_init_last=zero)
    linears = [m for m in alexnet.modules() if isinstance(m, nn.Linear)]
    # pycls: N(0, 0.01) for linear layers (torch's default would be U(+-1/sqrt(fan_in)): std
    # 0.006-0.02 here, so check the mean-free std over the largest layer, 37.7 M weights, to 2%)
    big = max(linears, key=lambda m: m.weight.numel())
    assert abs(big.weight.std().item() - 0.01) < 2e-4 and all(
        m.bias.abs().max() == 0 for m in linears
    )
    resnet = build_model(get_config("resnet18").for_input(1, 10, small=True), zero_init_last=zero)
    gammas = [m.weight for m in resnet.modules() if isinstance(m, nn.BatchNorm2d)]
    zeroed = sum(bool((g == 0).all()) for g in gammas)
    assert zeroed == (8 if zero else 0)  # one last BN in each of resnet18's 8 basic blocks


def test_a_scaling_space_memo_stays_bounded(monkeypatch):
    import spaces.scaling as scaling

    space = scaling.ScalingSpace("s", "test", get_config("efficientnet_b0"), phi=1.0)
    monkeypatch.setattr(scaling, "MEMO_LIMIT", 10)
    for res in range(32, 60):
        space.cost_of(0, res, 3, 10, "small")
    assert len(space._memo) <= 11 and "grid" in space._memo


def test_every_error_of_ours_is_a_nas_error():
    """Every exception class defined in any module of the three packages derives from NasError."""
    import importlib
    import pkgutil

    from spaces.errors import NasError

    modules = []
    for package in ("spaces", "nas", "analysis"):
        root = importlib.import_module(package)
        modules.append(root)
        modules += [
            importlib.import_module(m.name)
            for m in pkgutil.walk_packages(root.__path__, f"{package}.")
            if not m.name.endswith("__main__")
        ]
    ours = {
        obj
        for m in modules
        for obj in vars(m).values()
        if isinstance(obj, type)
        and issubclass(obj, BaseException)
        and obj.__module__.split(".")[0] in ("nas", "spaces", "analysis")
    }
    assert len(ours) >= 12
    assert [
        c.__name__ for c in ours if not issubclass(c, NasError) and not c.__name__.startswith("_")
    ] == []
