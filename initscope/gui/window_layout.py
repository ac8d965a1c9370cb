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
from initscope.gui.texts import TABS
from initscope.gui.ui import Ui
from initscope.gui.views import GradientsView, OverviewView


def setup_ui(win, ui: Ui) -> Ui:
    """Build the window's widgets into `ui` (the window reads them from there as they are made) and wire their
    signals to the window's public slots."""
    configure_pyqtgraph()
    ui.files = FileActions(win.session, win.controller, win)
    ui.samples = SamplesDialog(win.controller, win)

    ui.controls = ControlPanel(win.cfg, ["cpu"])
    ui.controls.changed.connect(win.config_changed)
    ui.controls.openData.connect(ui.files.open_data)
    ui.controls_scroll = ui.controls.in_scroll_area()
    ui.runs = RunsDock()
    ui.runs.selectionChanged.connect(win.runs_selected)
    ui.runs.list.itemClicked.connect(lambda _: win.runs_selected(ui.runs.selected()))
    ui.runs.compare_btn.clicked.connect(win.compare_with_one_change)
    ui.controls_dock = _dock(win, "Network and training", "controls", ui.controls_scroll)
    ui.runs_dock = _dock(win, "Runs", "runs", ui.runs)
    win.tabifyDockWidget(ui.controls_dock, ui.runs_dock)
    ui.controls_dock.raise_()

    ui.overview, ui.gradients = OverviewView(), GradientsView()
    ui.explorer = ExplorerTabs(win)
    ui.explorer.gainPicked.connect(win.pick_gain)
    ui.explorer.runRequested.connect(win.open_run_file)
    ui.compare = CompareView()
    ui.compare.pickRequested.connect(lambda: ui.runs.pick_to_compare(win))
    ui.tabs = QtWidgets.QTabWidget()
    for w, (_, title) in zip((ui.overview, ui.gradients, ui.explorer.sweeps_tab, ui.explorer.map_tab, ui.compare),
                             TABS, strict=True):
        ui.tabs.addTab(w, title)
    ui.tabs.currentChanged.connect(lambda _: win.force_redraw())
    ui.scenario_bar = ScenarioBar()
    ui.scenario_bar.stepRequested.connect(win.scenario_step)
    ui.hints = HintStrip()
    central = QtWidgets.QWidget()
    cl = QtWidgets.QVBoxLayout(central)
    cl.setContentsMargins(4, 4, 4, 4)
    cl.addWidget(ui.scenario_bar)
    cl.addWidget(ui.tabs, 1)
    cl.addWidget(ui.hints)
    win.setCentralWidget(central)

    ui.actions = build_actions(win)
    ui.status = StatusLine(win.statusBar())
    install_replay(win, ui)  # issue 24: the time scrubber, the Explorer's Time sub-tab, ghosts, Export animation
    # added to a window already on screen (the app's launch), the docks and the toolbar count as hidden until Qt
    # shows them: a layout saved before then (presentation mode asked for at launch, to go back to) had them
    # hidden, and leaving presentation mode hid the side panel and the toolbar
    for w in (ui.controls_dock, ui.runs_dock, *win.findChildren(QtWidgets.QToolBar)):
        w.show()
    ui.controls_dock.raise_()
    return ui


def _dock(win, title: str, name: str, widget) -> QtWidgets.QDockWidget:
    dock = QtWidgets.QDockWidget(title, win, objectName=name)
    dock.setWidget(widget)
    dock.setFeatures(dock.DockWidgetFeature.DockWidgetMovable | dock.DockWidgetFeature.DockWidgetFloatable)
    win.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, dock)
    return dock
