"""The code base stays ruff clean (the configuration is in pyproject.toml)."""

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
