"""Defects found in reading the code, each with its test: registry names, all-invalid spaces, retries."""

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
    broken = dataclasses.replace(base, name="broken", params={**base.params, "dropout": choice((-1.0, 2.0))})
    start = time.perf_counter()
    with pytest.raises(SamplingError, match=r"every one of the .* candidates .* was invalid \(e\.g\. .+\)"):
        sample(broken, 3, bands=[])
    assert time.perf_counter() - start < 60  # stopped by the stale-batch rule, not by the 20M-candidate limit


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

    from nas.sweep import _Heartbeat

    class Storage:
        def __init__(self, error):
            self.error, self.calls = error, 0

        def set_trial_user_attr(self, *args):
            self.calls += 1
            raise self.error

    broken = Storage(ValueError("schema mismatch"))
    with _Heartbeat(broken, 7, 0.02) as beat:
        time.sleep(0.3)
    assert isinstance(beat.error, ValueError) and broken.calls > 3  # it kept trying
    err = capsys.readouterr().err
    assert err.count("heartbeat of trial 7 failed: ValueError: schema mismatch") == 1
    finished = Storage(UpdateFinishedTrialError("done"))
    with _Heartbeat(finished, 8, 0.02) as beat:
        time.sleep(0.3)
    assert finished.calls == 1 and beat.error is None and "trial 8" not in capsys.readouterr().err
