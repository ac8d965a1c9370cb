"""What the main window is made of: the side panel and Runs docks, the tabs, the scenario bar, the hint strip,
menus and status bar, and how their signals reach the window's slots (Qt Designer's `setupUi` pattern, by hand).

Kept apart from main_window.py, which holds the view model and the slots, so that module imports neither
pyqtgraph nor numpy: the app's launch shows the window as a shell first and calls this after its first paint.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from initscope.gui.actions import build_actions
from initscope.gui.compare_view import CompareView
from initscope.gui.controls import ControlPanel
from initscope.gui.explorer import ExplorerTabs
from initscope.gui.file_actions import FileActions
from initscope.gui.hint_strip import HintStrip
from initscope.gui.qapp import configure_pyqtgraph
from initscope.gui.replay_wiring import install_replay
from initscope.gui.runs import RunsDock
from initscope.gui.samples_dialog import SamplesDialog
from initscope.gui.scenario_bar import ScenarioBar
from initscope.gui.status_line import StatusLine
from initscope.gui.views import GradientsView, OverviewView


def setup_ui(win) -> None:
    """Build `win`'s widgets as attributes of it (win.controls, win.tabs, win.overview, ...)."""
    configure_pyqtgraph()
    win.files = FileActions(win)
    win.samples = SamplesDialog(win.controller, win)

    win.controls = ControlPanel(win.cfg, ["cpu"])
    win.controls.changed.connect(win._config_changed)
    win.controls.openData.connect(win.files.open_data)
    win.controls_scroll = win.controls.in_scroll_area()
    win.runs = RunsDock()
    win.runs.selectionChanged.connect(win._runs_selected)
    win.runs.list.itemClicked.connect(lambda _: win._runs_selected(win.runs.selected()))
    win.runs.compare_btn.clicked.connect(win.compare_with_one_change)
    win.controls_dock = _dock(win, "Network and training", "controls", win.controls_scroll)
    win.runs_dock = _dock(win, "Runs", "runs", win.runs)
    win.tabifyDockWidget(win.controls_dock, win.runs_dock)
    win.controls_dock.raise_()

    win.overview, win.gradients = OverviewView(), GradientsView()
    win.explorer = ExplorerTabs(win)
    win.explorer.gainPicked.connect(win.pick_gain)
    win.explorer.runRequested.connect(win.open_run_file)
    win.compare = CompareView()
    win.tabs = QtWidgets.QTabWidget()
    for w, title in ((win.overview, "Overview"), (win.gradients, "Gradients"), (win.explorer.sweeps_tab, "Explorer"),
                     (win.explorer.map_tab, "Neurons && BN"), (win.compare, "Compare")):
        win.tabs.addTab(w, title)
    win.tabs.currentChanged.connect(lambda _: win._force_redraw())
    win.scenario_bar = ScenarioBar()
    win.scenario_bar.stepRequested.connect(win.scenario_step)
    win.hints = HintStrip()
    central = QtWidgets.QWidget()
    cl = QtWidgets.QVBoxLayout(central)
    cl.setContentsMargins(4, 4, 4, 4)
    cl.addWidget(win.scenario_bar)
    cl.addWidget(win.tabs, 1)
    cl.addWidget(win.hints)
    win.setCentralWidget(central)

    build_actions(win)
    win.status = StatusLine(win.statusBar())
    install_replay(win, win)  # issue 24: the time scrubber, the Explorer's Time sub-tab, ghosts, Export animation
    # added to a window already on screen (the app's launch), the docks and the toolbar count as hidden until Qt
    # shows them: a layout saved before then (presentation mode asked for at launch, to go back to) had them
    # hidden, and leaving presentation mode hid the side panel and the toolbar
    for w in (win.controls_dock, win.runs_dock, *win.findChildren(QtWidgets.QToolBar)):
        w.show()
    win.controls_dock.raise_()


def _dock(win, title: str, name: str, widget) -> QtWidgets.QDockWidget:
    dock = QtWidgets.QDockWidget(title, win, objectName=name)
    dock.setWidget(widget)
    dock.setFeatures(dock.DockWidgetFeature.DockWidgetMovable | dock.DockWidgetFeature.DockWidgetFloatable)
    win.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, dock)
    return dock
