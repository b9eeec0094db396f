"""Progress of long work (issue 15, item 4): a bar on a terminal, log lines under nohup / CI / a log
file, a line when a worker process dies, and `nas train` reporting its steps."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap

import pytest
from helpers import BANDS, DATA, SCHEDULE, fake_train

from nas.cli import main
from nas.progress import Progress, choose_mode
from nas.sweep import run_sweep


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_lines_every_n_seconds_or_items_with_rate_eta_and_failures():
    out, clock = io.StringIO(), Clock()
    p = Progress(100, "study-x", stream=out, every_seconds=60, every_items=10, clock=clock)
    assert p.mode == "log"
    p.update(0)  # the start
    clock.t = 30
    p.update(5)  # 30 s, 5 items: nothing
    clock.t = 61
    p.update(6)  # 60 s passed: a line
    clock.t = 70
    p.update(16)  # 10 items since the last line: a line
    clock.t = 71
    p.update(16, failed=1)  # a new failure: a line at once
    clock.t = 80
    p.update(17, failed=1)  # nothing new
    p.close()  # the end: a last line
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("nas: study-x: 0/100 trials (0.0%), none done yet")
    assert lines[1].startswith("nas: study-x: 6/100 trials (6.0%), 5.9 trials/min, ETA 16 min")
    assert lines[2].startswith("nas: study-x: 16/100 trials") and "failed" not in lines[2]
    assert lines[3].endswith("1 failed") and lines[3].startswith("nas: study-x: 16/100")
    assert lines[4].startswith("nas: study-x: 17/100") and len(lines) == 5


def test_a_terminal_gets_a_bar_and_progress_false_nothing():
    assert choose_mode(None, Tty()) == "bar" and choose_mode(None, io.StringIO()) == "log"
    assert choose_mode(False, Tty()) == "off"
    out = io.StringIO()
    p = Progress(3, "quiet", stream=out, enabled=False)
    p.update(3)
    p.close()
    assert out.getvalue() == ""


def test_a_sweep_logs_progress_when_stderr_is_not_a_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NAS_PROGRESS_ITEMS", "2")
    summary = run_sweep(
        "anynetx_e",
        4,
        seed=0,
        bands=BANDS,
        dataset=DATA,
        schedule=SCHEDULE,
        device="cpu",
        threads=1,
        storage=str(tmp_path / "s.journal"),
        train_fn=fake_train,
    )
    assert summary.complete == 4
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("nas: anynetx_e-s0:")]
    assert lines[0].startswith("nas: anynetx_e-s0: 0/4 trials (0.0%)")
    assert any(x.startswith("nas: anynetx_e-s0: 2/4 trials (50.0%)") and "ETA" in x for x in lines)
    assert (
        lines[-1].startswith("nas: anynetx_e-s0: 4/4 trials (100.0%)") and "finished" in lines[-1]
    )
    assert "best error" in lines[-1]


DYING = """
import os, signal
from pathlib import Path
from helpers import fake_train

def train_fn(cfg, dataset, schedule, **kw):
    try:  # the first trial of the first worker to get here: kill -9 in the middle of it
        os.close(os.open(os.environ["NAS_TEST_MARKER"], os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return fake_train(cfg, dataset, schedule, **kw)
    os.kill(os.getpid(), signal.SIGKILL)
"""

RUN = """
import json, sys
import dying
from nas.sweep import run_sweep
from helpers import BANDS, DATA, SCHEDULE
s = run_sweep("anynetx_e", 4, seed=0, bands=BANDS, dataset=DATA, schedule=SCHEDULE, \
device="cpu", threads=1,
              storage=sys.argv[1], workers=2, train_fn=dying.train_fn)
print(json.dumps(s.to_dict()))
"""


def test_a_worker_process_that_dies_is_reported_at_once(tmp_path):
    (tmp_path / "dying.py").write_text(textwrap.dedent(DYING))
    tests = os.path.dirname(__file__)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "NAS_TEST_MARKER": str(tmp_path / "marker"),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), tests, os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", RUN, str(tmp_path / "s.journal")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    died = [x for x in proc.stderr.splitlines() if " died: " in x]
    assert len(died) == 1, proc.stderr
    assert died[0].startswith("nas: worker ") and "killed by SIGKILL" in died[0]
    assert "queued again and the other workers go on" in died[0]
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["complete"] == 4 and sorted(summary["worker_exit_codes"]) == [-9, 0]


def test_nas_train_reports_steps_and_loss_and_clamped_sizes(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NAS_PROGRESS_SECONDS", "0")
    cfg = tmp_path / "tiny.json"
    cfg.write_text(
        json.dumps(
            {
                "block": "X",
                "stem_width": 8,
                "stages": [
                    {"depth": 1, "width": 8, "stride": 2, "bottleneck": 1, "group_width": 8},
                    {"depth": 1, "width": 16, "stride": 2, "bottleneck": 1, "group_width": 8},
                ],
            }
        )
    )
    rc = main(
        [
            "train",
            str(cfg),
            "--dataset",
            "synthetic:256",
            "--train-size",
            "100000",
            "--test-size",
            "999999",
            "--batch-size",
            "64",
            "--device",
            "cpu",
        ]
    )
    assert rc == 0
    err = capsys.readouterr().err.splitlines()
    steps = [x for x in err if x.startswith("nas: training ")]
    assert (
        steps
        and steps[-1].startswith(f"nas: training {cfg}: 4/4 steps (100.0%)")
        and "loss " in steps[-1]
    )
    assert any(
        (
            "--train-size 100,000 is more than the 256 images of synthetic:256's train split; "
            "using all 256"
        )
        in x
        for x in err
    ), err
    assert any(
        x.startswith("nas train: note: --test-size 999,999 is more than the") for x in err
    ), err


@pytest.mark.parametrize(
    "code, text", [(-9, "killed by SIGKILL (out of memory, or kill -9?)"), (2, "exit status 2")]
)
def test_exit_description(code, text):
    from nas.workers import exit_description

    assert exit_description(code) == text
