"""The window's widgets as one object (Qt Designer's Ui_ class, by hand): gui/window_layout.py fills it, the
window owns it. Its own module, with no import of pyqtgraph or numpy: the launch's shell reads its field names."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtWidgets import QDockWidget, QScrollArea, QTabWidget

    from initscope.gui.compare_view import CompareView
    from initscope.gui.controls import ControlPanel
    from initscope.gui.explorer import ExplorerTabs
    from initscope.gui.file_actions import FileActions
    from initscope.gui.hint_strip import HintStrip
    from initscope.gui.runs import RunsDock
    from initscope.gui.samples_dialog import SamplesDialog
    from initscope.gui.scenario_bar import ScenarioBar
    from initscope.gui.status_line import StatusLine
    from initscope.gui.views import GradientsView, OverviewView


class Ui:
    """The window's widgets, made by setup_ui (Qt Designer's Ui_ object, by hand). The window owns one
    (`win.ui`) and reads its parts through properties of the same names (win.controls, win.tabs, ...): no module
    but main_window.py sets an attribute on the window."""

    files: FileActions
    samples: SamplesDialog
    controls: ControlPanel
    controls_scroll: QScrollArea
    runs: RunsDock
    controls_dock: QDockWidget
    runs_dock: QDockWidget
    overview: OverviewView
    gradients: GradientsView
    explorer: ExplorerTabs
    compare: CompareView
    tabs: QTabWidget
    scenario_bar: ScenarioBar
    hints: HintStrip
    status: StatusLine
    actions: object  # gui.actions.Actions
    scrubber: object  # gui.scrubber.Scrubber (issue 24's replay: gui/replay_wiring.py)
    heatmaps: object  # gui.heatmap_view.HeatmapView
    ghosts: object  # gui.ghosts.Ghosts

    FIELDS = tuple(__annotations__)  # the names above, in order: what the window reads through its properties
