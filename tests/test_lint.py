"""ruff keeps the tree free of unused imports and names, undefined names and unsorted or relative imports
(the rules: [tool.ruff] in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_check_is_clean():
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_finds_what_it_is_configured_to_find(tmp_path):
    # the configuration is live: an unused import, an undefined name and a relative import are each reported
    bad = tmp_path / "probe.py"
    bad.write_text("import os\nfrom . import core\n\n\ndef f():\n    return undefined_name\n")
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise",
                          "--config", str(ROOT / "pyproject.toml"), str(bad)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    for code in ("F401", "F821", "TID252"):
        assert code in out.stdout, out.stdout
