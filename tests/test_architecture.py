"""Layering, checked as napari checks it: import-linter's contracts in pyproject.toml ([tool.importlinter]).

The core imports no Qt, pyqtgraph or GUI; the report is Qt-free; commands sit over the GUI over the report over
the core; and no module imports its way back into itself (acyclic siblings at every level)."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold(capsys):
    cli = pytest.importorskip("importlinter.cli")
    sys.path.insert(0, str(ROOT))  # grimp reads the source tree of the checkout
    try:
        code = cli.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)
    finally:
        sys.path.remove(str(ROOT))
    out = capsys.readouterr().out
    assert code == 0, out[out.find("Broken contracts"):]
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert len(contracts) >= 5 and f"{len(contracts)} kept, 0 broken" in out


def test_the_window_module_stays_small():
    # MainWindow keeps the view model and wiring; its widgets are window_layout's, behaviour lives in the controller,
    # views and actions modules
    lines = (ROOT / "initscope" / "gui" / "main_window.py").read_text().count("\n")
    assert lines <= 360, lines
