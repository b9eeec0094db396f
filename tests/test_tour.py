"""The README's quick tour and the command line's help (issue 15, item 7)."""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from nas.cli import main, version

PATHLIKE = re.compile(r"\.(csv|parquet|jsonl?|ya?ml|journal|ipynb|py)(:\d+)?$")
OUTPUT_FLAGS = ("-o", "--out")


def tour_lines() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    block = text.split("## Quick tour", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def test_every_path_the_tour_names_exists_or_an_earlier_line_makes_it():
    made: set[str] = set()
    named = []
    for words in tour_lines():
        for i, word in enumerate(words):
            if i and words[i - 1] in OUTPUT_FLAGS:
                made.add(word)
            elif "://" not in word and (
                PATHLIKE.search(word) or word.startswith(("results/", "examples/"))
            ):
                named.append(word)
                assert word in made or (ROOT / word).exists(), (
                    f"the README's tour names {word}, which is not there"
                )
    assert "examples/my_config.yaml" in named and "results/example_anynetx_a.csv" in named


def test_the_tour_runs_the_notebook_with_what_install_sh_installs():
    (line,) = [w for w in tour_lines() if any(x.endswith(".ipynb") for x in w)]
    assert line[0] == ".venv/bin/jupyter" and line[1] == "execute"
    assert shutil.which("jupyter-execute", path=str(Path(sys.executable).parent)), (
        "nbclient's jupyter-execute"
    )


def test_the_example_config_loads(capsys):
    assert (
        main(
            [
                "complexity",
                str(ROOT / "examples/my_config.yaml"),
                "--resolution",
                "32",
                "--in-channels",
                "1",
                "--num-classes",
                "10",
                "--stem",
                "small",
            ]
        )
        == 0
    )
    assert "params" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, start",
    [
        (["sample"], "nas sample: error: the following arguments are required: --space"),
        (
            ["sample", "--space", "anynetx_e", "-n", "x"],
            "nas sample: error: argument -n: 'x' is not an integer",
        ),
        (["nonsense"], "nas: error: argument COMMAND: invalid choice: 'nonsense'"),
    ],
)
def test_usage_errors_are_one_line_with_where_the_help_is(capsys, argv, start):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "usage:" not in err
    assert err.startswith(start) and err.rstrip().endswith("--help`")


def test_help_says_each_default_once(capsys):
    with pytest.raises(SystemExit):
        main(["scale", "--help"])
    scale = capsys.readouterr().out
    assert "(default: None)" not in scale and "(default: False)" not in scale
    assert re.search(r"--alpha ALPHA\s+depth coefficient \(default 1\.2\)", scale)


def test_top_level_help_lists_each_command_once(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    commands = (
        "spaces complexity train sample search export status studies best export-model analyze"
    )
    for command in [*commands.split(), "zoo", "scale", "fit-regnet"]:
        assert len(re.findall(rf"^ {{2,4}}{re.escape(command)}(\s|$)", out, flags=re.M)) == 1, (
            command
        )


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"nas {version()}"
    assert version()[0].isdigit()
