"""Impossible --out / -o paths and devices are one-line errors with exit status 2, never a traceback
(issue 15, defect 3): `nas analyze`, `nas sample --dry-run`, `nas export`; `nas train` /
`nas sample` --device."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import BANDS, DATA, SCHEDULE, fake_train

from nas.cli import main
from nas.sweep import run_sweep

STUDY = "anynetx_e-s0"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A folder with a stored study (s.journal), two CSV inputs for analyze and a plain
    file (afile)."""
    tmp = tmp_path_factory.mktemp("outputs")
    run_sweep(
        "anynetx_e",
        2,
        bands=BANDS,
        dataset=DATA,
        schedule=SCHEDULE,
        storage=str(tmp / "s.journal"),
        device="cpu",
        threads=1,
        progress=False,
        train_fn=fake_train,
    )
    frame = pd.DataFrame(
        {"state": "COMPLETE", "error": [0.2, 0.3, 0.4, 0.5], "flops": [1e6, 2e6, 3e6, 4e6]}
    )
    for name in ("a", "b"):
        frame.to_csv(tmp / f"{name}.csv", index=False)
    (tmp / "afile").write_text("not a folder\n")
    return tmp


def _commands(tmp, out):
    return {
        "analyze": [
            "analyze",
            f"{tmp}/a.csv",
            f"{tmp}/b.csv",
            "--bootstrap",
            "10",
            "--efit",
            "off",
            "--bins",
            "2",
            "-o",
            out,
        ],
        "sample": [
            "sample",
            "--space",
            "anynetx_e",
            "-n",
            "2",
            "--dry-run",
            "-o",
            f"{out}/c.jsonl",
        ],
        "export": [
            "export",
            "--study",
            STUDY,
            "--storage",
            f"{tmp}/s.journal",
            "-o",
            f"{out}/t.csv",
        ],
    }


@pytest.mark.parametrize("command", ["analyze", "sample", "export"])
@pytest.mark.parametrize("where", ["/proc/nas-test-out", "{tmp}/afile/sub"])
def test_an_impossible_out_is_a_one_line_error(inputs, capsys, command, where):
    out = where.format(tmp=inputs)
    capsys.readouterr()
    assert main(_commands(inputs, out)[command]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"nas {command}: error: cannot write "), captured.err
    if "afile" in where:
        assert f"{inputs}/afile is a file, not a folder" in err[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["sample", "--space", "anynetx_e", "-n", "2", "--dry-run", "-o", "{tmp}"],
        ["export", "--study", STUDY, "--storage", "{tmp}/s.journal", "-o", "{tmp}/sub.csv"],
        ["sample", "--space", "anynetx_e", "-n", "2", "--dry-run", "-o", "/proc/c.jsonl"],
        ["export", "--study", STUDY, "--storage", "{tmp}/s.journal", "-o", "/proc/t.csv"],
    ],
)
def test_a_file_out_that_cannot_be_written_is_a_one_line_error(inputs, capsys, argv):
    (inputs / "sub.csv").mkdir(exist_ok=True)  # a folder where the file should go
    capsys.readouterr()
    assert main([a.format(tmp=inputs) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ": error: cannot write " in err[0], err


@pytest.mark.parametrize(
    "argv", [["train", "resnet18"], ["sample", "--space", "anynetx_e", "-n", "2"]]
)
@pytest.mark.parametrize("device", ["tpu", "cuda:x", "cuda:-1", "cpu:cuda"])
def test_a_bad_device_is_refused_when_the_command_line_is_read(capsys, argv, device):
    with pytest.raises(SystemExit) as info:
        main([*argv, "--dataset", "synthetic", "--device", device])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --device: {device!r} is not a device: give auto, cpu, cuda, cuda:N" in err
    assert "Traceback" not in err and "Expected one of" not in err


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1", "CUDA:0", "mps"])
def test_good_devices_are_accepted(device):
    from nas.cli.argtypes import device as parse_device

    assert parse_device(device) == device.lower()
