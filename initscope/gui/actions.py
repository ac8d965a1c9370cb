"""The window's menus, toolbar and their enabled states (napari keeps its qactions apart the same way).

`build_actions(win)` makes every QAction once and puts it on the window (`win.train_act`, ...);
`update_actions(win)` enables them from the window's state: what is shown, whether a run trains.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui


def build_actions(win) -> None:
    tb = win.addToolBar("Run")
    tb.setObjectName("run")
    tb.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)

    def act(text, shortcut, slot, tip="", menu=None, toolbar=False, **kw):
        a = QtGui.QAction(text, win, **kw)
        if shortcut:
            a.setShortcut(QtGui.QKeySequence(shortcut))
        a.setToolTip(f"{tip} ({QtGui.QKeySequence(shortcut).toString()})" if tip and shortcut else tip or text)
        (a.toggled if kw.get("checkable") else a.triggered).connect(slot)
        if toolbar:
            tb.addAction(a)
        if menu is not None:
            menu.addAction(a)
        return a

    files = win.files
    f = win.menuBar().addMenu("&File")
    run = win.menuBar().addMenu("&Run")
    view = win.menuBar().addMenu("&View")
    win.train_act = act("Train", "Ctrl+Return", win.train, "train with the current settings", run, True)
    win.pause_act = act("Pause", "Ctrl+P", win.toggle_pause, "pause or resume the run", run, True)
    win.stop_act = act("Stop", "Ctrl+.", win.stop, "stop the run (keeps what was recorded)", run, True)
    win.reset_act = act("Reset", "Ctrl+R", win.reset, "show the init preview of the current settings", run, True)
    tb.addSeparator()
    win.sample_act = act("Sample names", "Ctrl+N", win.sample_names, "20 names from the shown run", run, True)
    tb.addSeparator()
    win.open_act = act("Open data…", "Ctrl+O", files.open_data, "load another word list", f, True)
    f.addSeparator()
    win.file_acts = [act("Open config…", "Ctrl+Shift+O", files.open_config, menu=f),
                     act("Save config…", "Ctrl+S", files.save_config, menu=f),
                     act("Open run…", "", files.open_run, menu=f),
                     act("Follow a run…", "", files.follow_run, "show a run that a script writes with "
                         "initscope.watch(save=FILE), live", f),
                     act("Save run…", "", files.save_run, menu=f),
                     act("Export panels (PNG + SVG)…", "", files.export_panels, menu=f),
                     act("Export metrics (CSV)…", "", files.export_csv, menu=f),
                     act("Export report (HTML)…", "", files.export_report, menu=f)]
    f.addSeparator()
    win.file_acts.append(act("Open scenario…", "", files.open_scenario, menu=f))
    f.addSeparator()
    act("Quit", "Ctrl+Q", win.close, menu=f)
    win.present_act = act("Presentation mode (large fonts and lines)", "Ctrl+Shift+P", win.set_presentation,
                          menu=view, checkable=True)
    # the docks (settings and Runs) in and out: presentation mode on a small screen starts without them
    win.panel_act = act("Side panel", "Ctrl+B", win.set_side_panel, "show or hide the settings and Runs", view,
                        True, checkable=True, checked=True)
    win.workshop_act = act("Workshop length (20,000 steps, lr decay scaled)", "", win.set_workshop, menu=view,
                           checkable=True)
    win.view_menu = view
    from initscope.gui.export import add_to_plot_menu, export_actions
    from initscope.gui.help import build_help_menu

    for panel in win.all_panels():  # right-click a plot: copy to clipboard, export as PNG or SVG
        add_to_plot_menu(panel, export_actions(panel, win, win.settings))

    build_help_menu(win.menuBar(), win, lambda: [*win.findChildren(QtGui.QAction), win.scenario_bar.prev_btn,
                                                 win.scenario_bar.next_btn])


def update_actions(win) -> None:
    training = win.training
    valid = win.data is not None and win.stack_error is None
    one = win.shown[0] if len(win.shown) == 1 else None
    win.train_act.setEnabled(not training and valid)
    win.pause_act.setEnabled(training)
    win.stop_act.setEnabled(training)
    win.reset_act.setEnabled(not training)
    win.sample_act.setEnabled(not training and one is not None and "state" in one.result)  # not a watched run: no weights
    win.runs.compare_btn.setEnabled(not training and valid)
    win.open_act.setEnabled(not training)  # the toolbar's Open data, like the side panel's
    for a in win.file_acts:  # nothing that replaces the settings or the data while a run trains
        a.setEnabled(not training or a.text().startswith(("Save config", "Export")))
    win.pause_act.setText("Resume" if training and win.controller.paused else "Pause")
