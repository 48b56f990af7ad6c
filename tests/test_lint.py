"""Undefined names, unused imports and syntax errors anywhere in the project fail the suite (ruff's F and E9)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ["estatelink", "gateway", "drivers", "edge_config", "central", "simulators", "bench", "tests"]


def test_ruff_finds_no_undefined_or_unused_names() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F,E9", "--output-format", "concise",
                           "--no-cache", *PACKAGES], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
