"""Journal files after a torn write: the cut-off last line is set aside (its bytes kept next to the
journal) and every record before it survives; a line damaged in the middle is refused with its real
line number and nothing is written. On real journal files, Optuna and the `nas` commands (issue 15,
defect 1)."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest
from helpers import ROOT

from nas.cli import main
from nas.storage import StorageError, open_storage

# not helpers.TRAIN_FLAGS: the default synthetic set (`synthetic`, 2,048 images, not
# `synthetic:512`), as these tests were written; the same train and test sizes, and only the
# journal's bookkeeping is checked
# fmt: off
TRAIN = ["--dataset", "synthetic", "--train-size", "256", "--test-size", "128",
         "--batch-size", "64", "--device", "cpu", "--threads", "1"]
# fmt: on


def _study(path: Path, trials: int = 5) -> None:
    """A journal with one study of `trials` complete trials (no training)."""
    study = optuna.create_study(study_name="s", storage=open_storage(str(path)))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=trials)


def _values(path: Path) -> list[float]:
    storage = open_storage(str(path), create=False)
    return [t.value for t in optuna.load_study(study_name="s", storage=storage).trials]


def _side_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".torn-*"))


def test_a_torn_last_line_is_set_aside_and_every_record_before_it_is_kept(tmp_path, capsys):
    journal = tmp_path / "j.journal"
    _study(journal)
    before = _values(journal)
    data = journal.read_bytes()
    journal.write_bytes(data[:-40])  # the last write cut off
    start = data[:-40].rfind(b"\n") + 1
    capsys.readouterr()

    # opening sets the partial line aside and says so in one line
    storage = open_storage(str(journal))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "partial line" in err[0] and "j.journal.torn-" in err[0], err
    [side] = _side_files(journal)
    assert side.read_bytes() == data[start:-40]
    assert journal.read_bytes() == data[:start]

    study = optuna.load_study(study_name="s", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)  # the journal goes on
    after = _values(journal)
    assert len(after) == len(before) + 2
    # the last trial's final write was the one cut off
    assert after[: len(before) - 1] == before[:-1]


def test_a_record_is_never_appended_onto_a_partial_line(tmp_path, capsys):
    """Another process dies in the middle of its write while this one has the journal open."""
    journal = tmp_path / "j.journal"
    _study(journal)
    storage = open_storage(str(journal))
    partial = b'{"op_code":8,"worker_id":"w","trial_id":0,"user_attr":{"hea'
    with open(journal, "ab") as f:
        f.write(partial)
    study = optuna.load_study(study_name="s", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert "partial line" in capsys.readouterr().err
    [side] = _side_files(journal)
    assert side.read_bytes() == partial
    assert len(_values(journal)) == 6


def test_a_journal_damaged_in_the_middle_is_refused_with_its_line_number(tmp_path):
    journal = tmp_path / "j.journal"
    _study(journal)
    lines = journal.read_bytes().splitlines(keepends=True)
    # a torn line with a record run into it, as older versions left it
    lines[6] = lines[6][:30] + lines[7]
    damaged = b"".join(lines)
    journal.write_bytes(damaged)
    with pytest.raises(StorageError, match=r"damaged at line 7 \(not JSON"):
        open_storage(str(journal))
    # nothing written, nothing moved
    assert journal.read_bytes() == damaged and not _side_files(journal)


def test_a_damaged_last_line_is_refused_too(tmp_path):
    """Optuna skips a bad last line silently; the next append would bury it in the middle."""
    journal = tmp_path / "j.journal"
    _study(journal)
    lines = journal.read_bytes().splitlines(keepends=True)
    damaged = b"".join(lines[:-1]) + b"oops" + lines[-1]
    journal.write_bytes(damaged)
    with pytest.raises(StorageError, match=rf"damaged at line {len(lines)} "):
        open_storage(str(journal))
    assert journal.read_bytes() == damaged


def test_cli_torn_journal_status_rerun_and_export(tmp_path, capsys):
    """The issue's reproduction: sample, cut 40 bytes, then status / sample / export all work."""
    journal = tmp_path / "j.journal"
    # a short heartbeat and grace period: the cut may take the last trial's finish, which the re-run
    # then finds RUNNING and declares stale after the grace period (60 s by default)
    argv = [
        "sample",
        "--space",
        "anynetx_e",
        "-n",
        "2",
        "--flops",
        ":30M",
        "--storage",
        str(journal),
        *TRAIN,
        "--heartbeat-interval",
        "0.5",
        "--grace-period",
        "2",
    ]
    assert main(argv) == 0
    journal.write_bytes(journal.read_bytes()[:-40])
    capsys.readouterr()

    assert main(["status", "--study", "anynetx_e-s0", "--storage", str(journal)]) == 0
    err = capsys.readouterr().err
    assert "partial line" in err and len(err.strip().splitlines()) == 1
    assert main(argv) == 0
    assert "2/2 complete" in capsys.readouterr().out
    out = tmp_path / "t.csv"
    assert (
        main(["export", "--study", "anynetx_e-s0", "--storage", str(journal), "-o", str(out)]) == 0
    )
    assert out.read_text().count("COMPLETE") == 2
    assert len(_side_files(journal)) == 1


def test_cli_damaged_journal_is_one_line_exit_2_and_untouched(tmp_path, capsys):
    journal = tmp_path / "j.journal"
    _study(journal)
    lines = journal.read_bytes().splitlines(keepends=True)
    lines[3] = b"garbage\n"
    damaged = b"".join(lines)
    journal.write_bytes(damaged)
    capsys.readouterr()
    assert (
        main(["sample", "--space", "anynetx_e", "-n", "2", "--storage", str(journal), *TRAIN]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "damaged at line 4" in err[0], err
    assert journal.read_bytes() == damaged


def test_the_committed_example_journal_still_loads(tmp_path, capsys):
    journal = tmp_path / "example.journal"
    shutil.copy(ROOT / "results" / "example.journal", journal)
    data = journal.read_bytes()
    storage = open_storage(str(journal), create=False)
    names = {s.study_name for s in storage.get_all_studies()}
    assert names and all(storage.get_all_trials(storage.get_study_id_from_name(n)) for n in names)
    assert journal.read_bytes() == data and not _side_files(journal)
    assert capsys.readouterr().err == ""


def test_one_write_holds_a_threads_appends_into_one_write_and_keeps_them_when_it_raises(
    tmp_path, monkeypatch
):
    """A finished trial's attrs reach the journal as one append (one fsync); another thread's
    writes (a heartbeat's) go through at once; a block that raises still writes what it held."""
    import os
    import threading

    from nas.storage import one_write

    journal = tmp_path / "j.journal"
    _study(journal, trials=1)
    storage = open_storage(str(journal))
    trial_id = optuna.load_study(study_name="s", storage=storage).ask()._trial_id  # running
    writes: list[bytes] = []
    backend = storage.journal
    assert backend is not None
    real_write = backend.write
    monkeypatch.setattr(backend, "write", lambda data: (writes.append(data), real_write(data)))
    syncs = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (syncs.append(fd), real_fsync(fd)))

    def heartbeat() -> None:
        storage.set_trial_user_attr(trial_id, "beat", 1)

    with one_write(storage):
        for k in range(5):
            storage.set_trial_user_attr(trial_id, f"a{k}", k)
        other = threading.Thread(target=heartbeat)
        other.start()
        other.join()
        assert writes and b'"beat"' in writes[-1] and b'"a0"' not in journal.read_bytes()
        assert len(writes) == 1
    assert len(writes) == 2 and writes[1].count(b"\n") == 5 and len(syncs) == 2
    attrs = open_storage(str(journal)).get_trial(trial_id).user_attrs
    assert {k: attrs[k] for k in ("a0", "a4", "beat")} == {"a0": 0, "a4": 4, "beat": 1}

    with pytest.raises(RuntimeError), one_write(storage):
        storage.set_trial_user_attr(trial_id, "before", "kept")
        raise RuntimeError("the block fails")
    assert open_storage(str(journal)).get_trial(trial_id).user_attrs["before"] == "kept"
    with one_write(storage), one_write(storage):  # nested: the outer block writes
        storage.set_trial_user_attr(trial_id, "nested", True)
    assert len(writes) == 4 and b'"nested"' in writes[-1]

    # the trial finished elsewhere meanwhile (declared stale by another worker): the block raises
    # Optuna's refusal once, as the first write alone would have, and the storage goes on reading
    open_storage(str(journal)).set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError), one_write(storage):
        for k in range(3):
            storage.set_trial_user_attr(trial_id, f"late{k}", k)
    assert storage.get_trial(trial_id).state == optuna.trial.TrialState.FAIL
    assert "late0" not in storage.get_trial(trial_id).user_attrs and storage.get_all_studies()


def test_a_journal_storage_pickles_and_writes_after_the_trip(tmp_path):
    """A storage travels to cluster workers pickled; the per-thread hold of one_write does not."""
    import pickle

    from nas.storage import one_write

    journal = tmp_path / "j.journal"
    _study(journal, trials=1)
    storage = pickle.loads(pickle.dumps(open_storage(str(journal))))
    trial_id = optuna.load_study(study_name="s", storage=storage).ask()._trial_id
    with one_write(storage):
        storage.set_trial_user_attr(trial_id, "after", 1)
    assert open_storage(str(journal)).get_trial(trial_id).user_attrs["after"] == 1


def test_one_write_keeps_the_blocks_own_exception_when_the_held_write_fails(
    tmp_path, capsys, monkeypatch
):
    from nas.storage import one_write

    journal = tmp_path / "j.journal"
    _study(journal, trials=1)
    storage = open_storage(str(journal), patience=0)
    trial_id = optuna.load_study(study_name="s", storage=storage).ask()._trial_id
    assert storage.journal is not None

    def broken(data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.journal, "write", broken)
    with pytest.raises(KeyboardInterrupt), one_write(storage):
        storage.set_trial_user_attr(trial_id, "x", 1)
        raise KeyboardInterrupt
    assert "held writes not recorded" in capsys.readouterr().err
