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


def test_the_messages_of_the_training_process_import_neither_qt_nor_torch_nor_numpy():
    """Issue 21: the window unpickles the child's messages without torch, and its shell reads RunStatus before numpy
    is loaded (import-linter checks the imports; this checks what importing them loads)."""
    import subprocess

    code = ("import sys; import initscope.core.messages; "
            "bad = [m for m in ('torch', 'numpy', 'PySide6', 'pyqtgraph') if m in sys.modules]; print(bad); "
            "sys.exit(bool(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_window_module_stays_small():
    # MainWindow keeps the view model and wiring; its widgets are window_layout's, behaviour lives in the controller,
    # views and actions modules
    lines = (ROOT / "initscope" / "gui" / "main_window.py").read_text().count("\n")
    assert lines <= 360, lines


WINDOW_NAMES = {"win", "window"}  # how modules name the main window they are handed


def _window_expr(node) -> bool:
    """`win`, `window`, `self.win`, `self.window`: an expression that is the main window."""
    import ast

    if isinstance(node, ast.Name):
        return node.id in WINDOW_NAMES
    return isinstance(node, ast.Attribute) and node.attr in WINDOW_NAMES and isinstance(node.value, ast.Name)


def test_only_the_window_module_sets_window_attributes_or_reads_its_private_members():
    """Issue 21: the state lives in the Session and the widgets in the window's Ui; no other module stamps an
    attribute on the window (`win.x = ...`) or reaches for a private member (`win._x`)."""
    import ast

    found = []
    for path in (ROOT / "initscope").rglob("*.py"):
        if path.name == "main_window.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, (ast.AugAssign, ast.AnnAssign)) else []
            for t in targets:
                for el in (t.elts if isinstance(t, ast.Tuple) else [t]):
                    if isinstance(el, ast.Attribute) and _window_expr(el.value):
                        found.append(f"{path.relative_to(ROOT)}:{el.lineno} sets {el.attr}")
            if isinstance(node, ast.Attribute) and _window_expr(node.value) and node.attr.startswith("_") \
                    and not node.attr.startswith("__"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} reads {node.attr}")
    assert not found, "\n".join(found)
