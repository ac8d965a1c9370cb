"""Issue 24 in the window: the time scrubber, the Explorer's "Time" sub-tab (histograms over time), a scenario's
ghosts and File > Export animation, wired in one place. `install_replay(win, ui)` runs at the end of the
window's setup, once the menus and the status bar exist; it builds its widgets into `ui`, the object the window
reads its widgets from (`ui.scrubber`, `ui.heatmaps`, `ui.ghosts`).

Every view draws what `scrubber.apply(shown)` returns (main_window.redraw): the shown records, or copies of them
at the scrubber's step. The scrubber sits at the right of the status bar, a row the window has anyway: a bar of
its own under the tabs cost the plots, at 1024x700 in presentation mode, the height they need; and the heatmaps
are an Explorer sub-tab because a sixth tab did not fit the tab bar there.
"""

from __future__ import annotations

from PySide6 import QtGui

from initscope.gui.animation import export_animation
from initscope.gui.ghosts import Ghosts
from initscope.gui.heatmap_view import HeatmapView
from initscope.gui.scrubber import Scrubber
from initscope.gui.texts import EXPLORER_TABS, tab_title


def install_replay(win, ui) -> None:
    ui.scrubber = scrubber = Scrubber()
    ov = ui.overview
    scrubber.step_plots = [p.plot for p in (ov.loss_panel, ov.sat_panel, ov.upd_panel)]
    scrubber.stepChanged.connect(lambda _: win.redraw())
    scrubber.bind_keys(win.centralWidget())
    win.statusBar().addPermanentWidget(scrubber)
    scrubber.setVisible(False)  # until there is something to scrub: the status line keeps the room
    scrubber.problemFound.connect(lambda msg: win.statusBar().showMessage(f"⚠ {msg}", 15_000))

    ui.heatmaps = heatmaps = HeatmapView(source=lambda: scrubber.apply(win.shown))
    scrubber.stepChanged.connect(lambda _: heatmaps.refresh())
    ex = ui.explorer
    ex.inner.addTab(heatmaps, tab_title("time", EXPLORER_TABS))
    ex.inner.setTabToolTip(ex.inner.count() - 1, "the shown run(s): every snapshot's histograms as one image")

    def where(_=None) -> None:  # the sweeps draw no run: beside them the scrubber would move nothing
        scrubber.wanted = ui.tabs.currentWidget() is not ex.sweeps_tab or ex.inner.currentWidget() is heatmaps
        scrubber.setVisible(scrubber.wanted and len(scrubber.steps) > 1)

    ui.tabs.currentChanged.connect(where)
    ex.inner.currentChanged.connect(where)

    ui.ghosts = Ghosts(ui.scenario_bar, ov.loss_panel, ov.sat_panel, win)
    win.controller.recordAdded.connect(ui.ghosts.record_trained)

    # File > Export animation, after Export report; enabled as the other exports are (gui/actions.py)
    menu = next(a.menu() for a in win.menuBar().actions() if a.menu() is not None and a.text() == "&File")
    after = next((a for a in menu.actions() if a.text().startswith("Export report")), None)
    anim = QtGui.QAction("Export animation (GIF / MP4)…", win)
    anim.setToolTip("the shown run, one frame per snapshot, as the time scrubber shows it")
    anim.triggered.connect(lambda: export_animation(win))
    actions = menu.actions()
    i = actions.index(after) + 1 if after is not None else len(actions)
    if i < len(actions):
        menu.insertAction(actions[i], anim)
    else:
        menu.addAction(anim)
    win.file_acts.append(anim)
