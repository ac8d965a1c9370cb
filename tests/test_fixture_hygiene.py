"""The public fixture fails a passing test that leaves a top-level widget alive, and only then."""

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.gui  # a QApplication in a pytest of its own

INNER = textwrap.dedent('''
    from PySide6 import QtWidgets
    import pytest

    KEPT = []

    def test_leaks_a_menu(make_initscope_window):
        KEPT.append(QtWidgets.QMenu())  # parentless and referenced: a top-level widget that outlives the test

    @pytest.mark.initscope_leaks_ok
    def test_leak_allowed(make_initscope_window):
        KEPT.append(QtWidgets.QMenu())

    def test_clean(make_initscope_window):
        menu = QtWidgets.QMenu()
        menu.deleteLater()

    def test_fails_on_its_own(make_initscope_window):
        KEPT.append(QtWidgets.QMenu())
        assert False, "its own failure, not a leak report"
''')


def test_leaked_widgets_fail_the_test(tmp_path):
    (tmp_path / "test_inner.py").write_text(INNER)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", "test_inner.py"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    text = out.stdout
    assert "1 top-level widget(s) outlived the test's windows: 1 x QMenu" in text, text
    assert "ERROR test_inner.py::test_leaks_a_menu" in text
    assert "PASSED test_inner.py::test_leak_allowed" in text and "PASSED test_inner.py::test_clean" in text
    assert "FAILED test_inner.py::test_fails_on_its_own" in text and "ERROR test_inner.py::test_fails_on_its_own" not in text
