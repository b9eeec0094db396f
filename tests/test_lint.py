"""The code base stays ruff clean and ruff formatted (the configuration is in pyproject.toml: 100
columns, the style of `ruff format`)."""

import shutil
import subprocess
import sys
from pathlib import Path

from helpers import ROOT


def test_ruff_clean():
    local = Path(sys.executable).parent / "ruff"  # the pinned one of this environment first
    ruff = str(local) if local.exists() else shutil.which("ruff")
    assert ruff, "ruff is not installed: ./install.sh installs it"
    proc = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_python_files_are_ruff_formatted():
    local = Path(sys.executable).parent / "ruff"
    ruff = str(local) if local.exists() else shutil.which("ruff")
    assert ruff, "ruff is not installed: ./install.sh installs it"
    files = [
        str(p)
        for p in sorted(ROOT.glob("**/*.py"))
        if ".venv" not in p.parts
        and not any(part.startswith(".") for part in p.relative_to(ROOT).parts)
    ]
    proc = subprocess.run(
        [ruff, "format", "--check", *files], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr + "\nrun: ruff format <file>"
