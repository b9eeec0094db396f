"""Bad input is refused with one line, or noted, never used silently (issue 15, item 5)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from helpers import ROOT

from analysis.data import load_frame
from analysis.errors import AnalysisError
from nas.cli import main
from nas.datasets import DatasetError, data_dir_note, load_dataset, make_synthetic, size_notes
from spaces import get_config, get_space
from spaces.bounds import complexity_bounds
from spaces.errors import ConfigError

CSV = ROOT / "results" / "example_anynetx_a.csv"


def one_line_error(capsys, argv: list[str]) -> str:
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "band, message",
    [
        ("nan:inf", "'nan:inf': bounds must be finite numbers"),
        ("1G:inf", "bounds must be finite numbers"),
        ("-5M:1G", "'-5M:1G': complexity is never negative"),
    ],
)
def test_bands_that_are_not_numbers_or_negative_are_refused(capsys, band, message):
    err = one_line_error(
        capsys, ["sample", "--space", "anynetx_e", "-n", "1", "--dry-run", "--flops", band]
    )
    assert message in err and err.startswith("nas sample: error: argument --flops")


@pytest.mark.parametrize(
    "space, band, message",
    [
        ("anynetx_a", "1000T:", "no config of anynetx_a has flops in [1000T, inf]"),
        ("regnetx", ":1K", "no config of regnetx has flops in [-inf, 1K]"),
        ("anynety_e", "1G:2G", None),  # reachable: not refused by the bounds
    ],
)
def test_an_impossible_band_fails_at_once(capsys, space, band, message):
    start = time.monotonic()
    argv = ["sample", "--space", space, "-n", "1", "--dry-run", "--flops", band]
    if message is None:
        assert main(argv) == 0
        return
    err = one_line_error(capsys, argv)
    assert message in err and "move the band into that range" in err
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("name", ["anynetx_a", "anynetx_e", "anynety_b", "regnetx", "regnety"])
def test_the_bounds_hold_every_drawn_config(name):
    space = get_space(name)
    bounds = complexity_bounds(space)
    batch = space.draw(np.random.default_rng(0), 20_000)
    for metric, values in zip(("params", "flops", "acts"), batch.cost(), strict=True):
        low, high = bounds[metric]
        assert low <= int(values.min()) and int(values.max()) <= high, metric


def test_a_csv_cut_inside_its_last_row_is_refused(tmp_path, capsys):
    text = CSV.read_text()
    assert len(load_frame(CSV)) == 32
    cut = tmp_path / "cut.csv"
    cut.write_text(text[: len(text) // 2])  # cut mid-row: fewer fields than the header
    with pytest.raises(
        AnalysisError, match=r"cut\.csv: line \d+ has \d+ fields where the header has 4\d"
    ):
        load_frame(cut)
    last = tmp_path / "last.csv"
    last.write_text(text.rstrip("\n")[:-2])  # cut inside the last field: same field count
    with pytest.raises(AnalysisError, match=r"last line \(line 33\) does not end with a newline"):
        load_frame(last)
    err = one_line_error(capsys, ["analyze", str(last), "--out", str(tmp_path / "out")])
    assert "was cut" in err


def test_a_jsonl_of_several_configs_needs_the_line_named(tmp_path, capsys):
    a, b = get_config("regnetx_200mf"), get_config("regnetx_400mf")
    path = tmp_path / "c.jsonl"
    path.write_text(a.to_json() + "\n" + b.to_json() + "\n")
    with pytest.raises(
        ConfigError, match=r"c\.jsonl holds 2 configs, one a line; name one as .*c\.jsonl:N"
    ):
        get_config(str(path))
    assert get_config(f"{path}:2") == b and get_config(f"{path}:1") == a
    with pytest.raises(ConfigError, match="no config on that line"):
        get_config(f"{path}:3")
    err = one_line_error(capsys, ["complexity", str(path)])
    assert "holds 2 configs" in err
    single = tmp_path / "one.jsonl"
    single.write_text(b.to_json() + "\n")
    assert get_config(str(single)) == b


def test_a_missing_data_dir_is_refused(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetError, match=r"data folder .*nowhere does not exist"):
        load_dataset("fashion-mnist", missing)
    err = one_line_error(
        capsys,
        [
            "sample",
            "--space",
            "anynetx_e",
            "-n",
            "1",
            "--data-dir",
            str(missing),
            "--storage",
            str(tmp_path / "s.journal"),
        ],
    )
    assert "does not exist" in err and not (tmp_path / "s.journal").exists()


def test_a_data_dir_without_the_files_says_which_were_read(tmp_path):
    data = load_dataset("fashion-mnist", tmp_path)  # tmp_path holds no Fashion-MNIST files
    note = data_dir_note(data, tmp_path)
    assert note == (
        f"{tmp_path} does not hold the fashion-mnist files; read them from {data.source} "
        "(the next folder searched)"
    )
    assert data_dir_note(data, data.source) is None and data_dir_note(data, None) is None


def test_sizes_beyond_the_split_are_noted():
    data = make_synthetic(256, 64)
    assert size_notes(data, 100_000, 999_999) == [
        (
            "--train-size 100,000 is more than the 256 images of synthetic:256's train split; "
            "using all 256"
        ),
        (
            "--test-size 999,999 is more than the 64 images of synthetic:256's test split; "
            "using all 64"
        ),
    ]
    assert size_notes(data, 256, None) == []


def test_an_unknown_model_is_a_short_line(capsys):
    err = one_line_error(capsys, ["complexity", "regnetx_40mf"])
    assert (
        "Did you mean regnetx_400mf, regnety_400mf, regnetx_800mf?" in err
        and "see `nas zoo`" in err
    )
    assert len(err) < 250, len(err)


def test_a_config_file_still_loads(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps(get_config("regnetx_200mf").to_dict()))
    assert get_config(str(path)) == get_config("regnetx_200mf")
