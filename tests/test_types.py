"""The packages type-check with mypy (the configuration, third-party modules without types included,
is in pyproject.toml's [tool.mypy])."""

import importlib.util
import re
import subprocess
import sys
from collections import Counter

import pytest
from helpers import ROOT

PACKAGES = ("spaces", "nas", "analysis")
ERROR = re.compile(r"^(?P<file>[^:\n]+\.py):\d+(?::\d+)?: error: ", re.MULTILINE)


@pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None,
    reason="mypy is not installed: pip install -e '.[dev]' (or ./install.sh) installs it",
)
def test_mypy_clean():
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", *PACKAGES], capture_output=True, text=True, cwd=ROOT
    )
    found = [(line, m["file"]) for line in proc.stdout.splitlines() if (m := ERROR.match(line))]
    errors = [line for line, _ in found]
    per_file = Counter(file for _, file in found)
    summary = ", ".join(f"{f}: {n}" for f, n in sorted(per_file.items()))
    assert proc.returncode == 0 and not errors, (
        f"mypy found {len(errors)} errors ({summary or 'none listed'}):\n"
        + "\n".join(errors)
        + (f"\n{proc.stderr}" if proc.stderr else "")
    )
