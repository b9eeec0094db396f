"""A study of this project in its storage: creating it with its spec, checking a resumed one,
growing it.

A `nas sample` / `nas search` / `nas scale --grid` study records what it means (its *spec*: kind,
space, seed, n, bands, dataset, schedule, a digest of its configs) in its user attrs when it is
created; a command that names the same study with other settings is refused before anything is
written (`open_study`). A sample study may grow to a larger n when its first configs are unchanged
(`grow_study`). `StudyHandle` is what the rest of the lifecycle works on: the Optuna study, its
(retrying) storage, its id, name, and where it lives in words. `load_study` opens an existing study
and names the close ones when it is not there. `best_error` / `best_score` read a study's best
trial.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna
from optuna.exceptions import DuplicatedStudyError
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from nas.storage import describe_storage, open_storage, study_names
from spaces.errors import ConfigError, NasError
from spaces.sampling import Band

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

__all__ = [
    "StudyHandle",
    "SweepError",
    "bands_json",
    "bands_text",
    "configs_digest",
    "grow_study",
    "highest_score",
    "json_normalized",
    "load_study",
    "lowest_error",
    "open_study",
]


class SweepError(NasError):
    """A sweep or search that cannot run as asked; the message is one line naming the problem."""


def bands_json(bands: Iterable[Band]) -> list[dict[str, Any]]:
    return [{"metric": b.metric, "low": b.low, "high": b.high} for b in bands]


def bands_text(bands: Any) -> str:
    try:
        return "; ".join(str(Band(b["metric"], b["low"], b["high"])) for b in bands) or "no band"
    except (TypeError, KeyError, ConfigError):
        return repr(bands)


def configs_digest(records: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()[:16]


def json_normalized(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _fmt_value(key: str, value: Any) -> str:
    if key == "bands":
        return f"[{bands_text(value)}]"
    if key == "configs":
        return f"digest {value}"
    return json.dumps(value) if not isinstance(value, str) else value


def _spec_differences(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    out = []
    for key, want in wanted.items():
        have = stored.get(key)
        if have == want:
            continue
        if isinstance(have, dict) and isinstance(want, dict):
            for sub in sorted(set(have) | set(want)):
                if have.get(sub) != want.get(sub):
                    out.append(
                        f"{key}.{sub} {_fmt_value(sub, have.get(sub))} (here "
                        f"{_fmt_value(sub, want.get(sub))})"
                    )
        else:
            out.append(f"{key} {_fmt_value(key, have)} (here {_fmt_value(key, want)})")
    return out


@dataclass
class StudyHandle:
    study: optuna.Study
    storage: BaseStorage
    study_id: int
    name: str
    url: str

    def trials(self, states: Sequence[TrialState] | None = None) -> list[FrozenTrial]:
        return self.storage.get_all_trials(self.study_id, deepcopy=False, states=states)


def _wrap(study: optuna.Study, storage: BaseStorage, url: str | None) -> StudyHandle:
    return StudyHandle(
        study,
        storage,
        storage.get_study_id_from_name(study.study_name),
        study.study_name,
        describe_storage(url),
    )


def open_study(
    storage: BaseStorage,
    url: str | None,
    name: str,
    spec: dict[str, Any],
    directions: list[str],
    sampler: optuna.samplers.BaseSampler,
) -> tuple[StudyHandle, bool]:
    """Create the study with its spec, or load it and check that it means the same thing."""
    spec = json_normalized(spec)
    if name not in study_names(storage):
        try:
            study = optuna.create_study(
                storage=storage,
                study_name=name,
                sampler=sampler,
                directions=[StudyDirection[d.upper()] for d in directions],
            )
        except DuplicatedStudyError:  # another process created it a moment ago
            pass
        else:
            for key, value in spec.items():
                study.set_user_attr(key, value)
            return _wrap(study, storage, url), True
    study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
    _check_spec(study, spec, name, describe_storage(url))
    return _wrap(study, storage, url), False


def _check_spec(
    study: optuna.Study, spec: dict[str, Any], name: str, url: str, wait: float = 15.0
) -> None:
    deadline = time.monotonic() + wait
    attrs = study.user_attrs
    # A study created by another process a moment ago gets its spec and queue just after creation; a
    # long queue (thousands of configs on a remote database) takes a while: wait as long as it keeps
    # growing.
    count = len(study.get_trials(deepcopy=False))
    while "ready" not in attrs and time.monotonic() < deadline and (attrs or not count):
        time.sleep(0.2)
        attrs = study.user_attrs
        grown = len(study.get_trials(deepcopy=False))
        if grown > count:
            count, deadline = grown, time.monotonic() + wait
    if "kind" not in attrs:
        raise SweepError(
            f"study {name!r} in {url} was not made by `nas sample`, `nas search` or `nas scale "
            "--grid`; pick another --study name"
        )
    diffs = _spec_differences(attrs, spec)
    # other settings explain other configs; a digest alone means the sampler changed
    if len(diffs) > 1:
        diffs = [d for d in diffs if not d.startswith("configs ")]
    if diffs:
        kind = attrs.get("kind")
        raise SweepError(
            f"study {name!r} in {url} is a {kind} with other settings: {'; '.join(diffs)}. Repeat "
            f"its settings to resume it, or give another --study name (nothing was changed)"
        )


def grow_study(
    storage: BaseStorage,
    url: str | None,
    name: str,
    spec: dict[str, Any],
    records: list[dict[str, Any]],
) -> bool:
    """Grow a `nas sample` study to a larger n: when the stored study differs from `spec` only in n
    (smaller) and its configs are the first n of these `records` (sampling is prefix-stable: the
    first k of n draws do not depend on n), its n and digest become the new ones and the next steps
    queue the added configs. Anything else is left to `open_study`'s check. Returns whether the
    study grew."""
    if name not in study_names(storage):
        return False
    study = optuna.load_study(
        study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler()
    )
    attrs, want = study.user_attrs, json_normalized(spec)
    old_n = attrs.get("n")
    if attrs.get("kind") != "sample" or not isinstance(old_n, int) or not 0 < old_n < want["n"]:
        return False
    if {k for k in want if attrs.get(k) != want[k]} - {"n", "configs"}:
        return False
    if attrs.get("configs") != configs_digest(records[:old_n]):
        return False
    study.set_user_attr("n", want["n"])
    study.set_user_attr("configs", want["configs"])
    print(
        f"nas: study {name!r} grows from {old_n} to {want['n']} configs (the first {old_n} "
        "unchanged, drawn from the same seed)",
        file=sys.stderr,
    )
    return True


def load_study(url: str | None, name: str, storage_retry: float | None = None) -> StudyHandle:
    storage = open_storage(url, create=False, patience=storage_retry)
    if name not in study_names(storage):
        raise SweepError(_unknown_study(name, storage, url))
    study = optuna.load_study(
        study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler()
    )
    return _wrap(study, storage, url)


def _unknown_study(name: str, storage: BaseStorage, url: str | None) -> str:
    studies = storage.get_all_studies()
    where = describe_storage(url)
    if not studies:
        return f"no study {name!r} in {where}: it holds no studies yet"
    listed = []
    for s in studies:
        kind = s.user_attrs.get("kind", "optuna")
        count = len(storage.get_all_trials(s._study_id, deepcopy=False))
        listed.append(f"{s.study_name} ({kind}, {count} trials)")
    close = difflib.get_close_matches(name, [s.study_name for s in studies], n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    return f"no study {name!r} in {where}.{hint} Studies there: {', '.join(listed)}"


def lowest_error(trials: Iterable[FrozenTrial]) -> tuple[float | None, int | None]:
    best: tuple[float | None, int | None] = (None, None)
    for t in trials:
        error = t.user_attrs.get("error")
        if (
            t.state == TrialState.COMPLETE
            and isinstance(error, int | float)
            and (best[0] is None or error < best[0])
        ):
            best = (float(error), t.number)
    return best


def highest_score(trials: Iterable[FrozenTrial], key: str) -> tuple[float | None, int | None]:
    """The highest `key` user attr of the complete trials (zero-cost scores: higher is better) and
    its trial."""
    best: tuple[float | None, int | None] = (None, None)
    for t in trials:
        value = t.user_attrs.get(key)
        if (
            t.state == TrialState.COMPLETE
            and isinstance(value, int | float)
            and (best[0] is None or value > best[0])
        ):
            best = (float(value), t.number)
    return best
