"""The README's generated table is what the command prints now."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_zoo_table_is_current():
    text = README.read_text()
    match = re.search(r"<!-- nas zoo --markdown -->\n(.*?)\n<!-- /nas zoo -->", text, re.S)
    assert match, "README lost its zoo table markers"
    out = subprocess.run(
        [sys.executable, "-m", "nas.cli", "zoo", "--markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert match.group(1).strip() == out, (
        "README's zoo table is stale: regenerate it with `nas zoo --markdown`"
    )
