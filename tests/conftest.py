import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # the suite never needs a display
# the suite never reads or writes the user's own settings; each xdist worker gets a folder of its own (they inherit
# the controller's environment, and two windows saving settings at once must not read each other's)
if "INITSCOPE_CONFIG_DIR" not in os.environ or os.environ.get("INITSCOPE_TEST_SETTINGS_OWNED"):
    import tempfile

    os.environ["INITSCOPE_CONFIG_DIR"] = tempfile.mkdtemp(prefix="initscope-test-settings-")
    os.environ["INITSCOPE_TEST_SETTINGS_OWNED"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

from initscope.core.config import Config, LayerSpec, ModelConfig, TrainConfig, preset  # noqa: E402
from initscope.core.data import default_data_path, load_dataset, load_words, make_dataset  # noqa: E402

torch.set_num_threads(1)

# --- markers: `gui` on every test that opens a window or needs a QApplication, so the quick loop
# `pytest -m "not gui and not slow"` leaves them out; `slow` is set by hand on the rest that take long
WINDOW_FIXTURES = {"qtbot", "qapp", "win", "deep", "initscope_window", "make_initscope_window"}
WINDOWS_BUILT = [0]  # MainWindow constructions in this run, printed in the terminal summary


def _uses_qt(item) -> bool:
    if WINDOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    module = getattr(item, "module", None)  # a module that imports Qt at the top builds widgets in its tests
    return module is not None and any(getattr(v, "__name__", "").startswith("PySide6")
                                      for v in vars(module).values())


def pytest_collection_modifyitems(config, items):
    gui = [item for item in items if _uses_qt(item)]
    for item in gui:
        item.add_marker(pytest.mark.gui)
    if gui and not config.option.collectonly:
        _count_windows()


@pytest.hookimpl(trylast=True)  # after xdist's own hook, which tags each grouped test's id with "@group"
def pytest_collection_finish(session):
    if getattr(session.config.option, "loadgroup", False):  # an xdist worker under --dist loadgroup
        lost = [i.nodeid for i in session.items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid]
        if lost:  # pytest-xdist #1386: the groups are ignored without a word, and the Ray tests then collide
            raise pytest.UsageError(f"xdist's loadgroup did not group {lost[0]} (pytest-xdist #1386: use pytest<9.2)")


def _count_windows() -> None:
    from initscope.gui.main_window import MainWindow

    if getattr(MainWindow, "_counted_by_suite", False):
        return
    init = MainWindow.__init__

    def counted(self, *a, **k):
        WINDOWS_BUILT[0] += 1
        init(self, *a, **k)

    MainWindow.__init__ = counted
    MainWindow._counted_by_suite = True


def pytest_sessionstart(session):
    """The fork server started while tests are collected (its torch import, ~3 s, overlaps them): once it is
    ready, every window's training process is forked from it instead of importing torch anew (~80 a run; see
    core/forkserver.py). Not in xdist's controller, which runs no test."""
    opt = session.config.option
    if session.config.pluginmanager.hasplugin("xdist") and not hasattr(session.config, "workerinput") \
            and getattr(opt, "numprocesses", None) and not getattr(opt, "collectonly", False):
        return
    import threading

    from initscope.core import forkserver

    threading.Thread(target=forkserver.warm, name="initscope-forkserver-warm", daemon=True).start()


WORKER_COUNTS: list[tuple[int, int, int]] = []  # (windows, leaked, checked) from each xdist worker


def _counts() -> tuple[int, int, int]:
    from initscope.testing import LEAKED_WIDGETS

    return WINDOWS_BUILT[0], sum(LEAKED_WIDGETS), len(LEAKED_WIDGETS)


def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):  # an xdist worker: its counts go back to the controller
        session.config.workeroutput["initscope_counts"] = _counts()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):  # xdist's controller hears each worker's counts (the hook exists with xdist only)
    WORKER_COUNTS.append(tuple(getattr(node, "workeroutput", {}).get("initscope_counts", (0, 0, 0))))


def pytest_terminal_summary(terminalreporter):
    windows, leaked, checked = (sum(c) for c in zip(_counts(), *WORKER_COUNTS))
    terminalreporter.write_line(f"initscope: {windows} main windows built; {leaked} top-level widgets leaked over "
                                f"{checked} leak-checked tests")


@pytest.fixture(scope="session")
def names_data():
    """The shipped names.txt, split as the lecture splits it."""
    return load_dataset(None, 3)


@pytest.fixture(scope="session")
def small_data():
    """The first 2,000 shipped names: enough for real numbers, quick to build."""
    return make_dataset(load_words(default_data_path())[:2000], 3, "names[:2000]")


def tiny_config(layers=None, steps=50, **train) -> Config:
    layers = layers or [LayerSpec("linear", 16), LayerSpec("batchnorm"), LayerSpec("tanh"),
                        LayerSpec("linear", 16), LayerSpec("tanh"), LayerSpec("linear", None)]
    cfg = preset("deep-bn")
    cfg.model = ModelConfig(block_size=3, n_embd=4, layers=layers)
    cfg.train = TrainConfig(steps=steps, batch_size=16, lr=0.1, lr_decay_step=0, seed=1234, **train)
    return cfg


@pytest.fixture
def win(make_initscope_window):
    """The real main window (initscope_window's factory) on the lecture's deep net without BatchNorm."""
    return make_initscope_window(preset("deep-nobn")).window


@pytest.fixture
def deep(make_initscope_window):
    """A WindowDriver on the lecture's deep net without BatchNorm, previewed."""
    return make_initscope_window(preset("deep-nobn"))


def wait_laid_out(qtbot, widget=None, timeout: int = 10_000) -> None:
    """Until the layout has settled after a resize, a tab change or a mode switch: posted events (layout requests,
    resizes) handled and the geometry of every visible widget (under `widget`, else under every shown window) the
    same on three checks in a row. In place of a fixed wait: as short as the layout allows, as long as it needs."""
    from PySide6 import QtCore, QtWidgets

    state = {"last": None, "same": 0}

    def geometry():
        tops = [widget] if widget is not None else [w for w in QtWidgets.QApplication.topLevelWidgets() if w.isVisible()]
        return tuple(w.geometry().getRect() for top in tops
                     for w in [top, *top.findChildren(QtWidgets.QWidget)] if w.isVisible())

    def settled() -> bool:
        QtCore.QCoreApplication.sendPostedEvents()
        sig = geometry()
        state["same"] = state["same"] + 1 if sig == state["last"] else 0
        state["last"] = sig
        return state["same"] >= 2

    qtbot.waitUntil(settled, timeout=timeout)
