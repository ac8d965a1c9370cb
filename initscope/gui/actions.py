"""The window's menus, toolbar and their enabled states (napari keeps its qactions apart the same way).

`build_actions(win)` makes every QAction once and puts it on the window (`win.train_act`, ...);
`update_actions(win)` enables them from the window's state: what is shown, whether a run trains.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from initscope.core.messages import RunStatus


class Actions:
    """The window's actions, made once by build_actions (the window reads them as win.train_act, ...)."""

    FIELDS = ("train_act", "pause_act", "stop_act", "reset_act", "sample_act", "open_act", "file_acts", "present_act",
              "panel_act", "fixed_act", "workshop_act", "view_menu")


def build_actions(win) -> Actions:
    acts = win.ui.actions = Actions()  # filled as they are made: later actions' slots read the earlier ones
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

    files = win.ui.files
    f = win.menuBar().addMenu("&File")
    run = win.menuBar().addMenu("&Run")
    view = win.menuBar().addMenu("&View")
    acts.train_act = act("Train", "Ctrl+Return", win.train, "train with the current settings", run, True)
    acts.pause_act = act("Pause", "Ctrl+P", win.toggle_pause, "pause or resume the run", run, True)
    acts.stop_act = act("Stop", "Ctrl+.", win.stop, "stop the run (keeps what was recorded)", run, True)
    acts.reset_act = act("Reset", "Ctrl+R", win.reset, "show the init preview of the current settings", run, True)
    tb.addSeparator()
    acts.sample_act = act("Sample names", "Ctrl+N", win.sample_names, "20 names from the shown run", run, True)
    tb.addSeparator()
    acts.open_act = act("Open data…", "Ctrl+O", files.open_data, "load another word list", f, True)
    f.addSeparator()
    acts.file_acts = [act("Open config…", "Ctrl+Shift+O", files.open_config, menu=f),
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
    acts.present_act = act("Presentation mode (large fonts and lines)", "Ctrl+Shift+P", win.set_presentation,
                          menu=view, checkable=True)
    # the docks (settings and Runs) in and out: presentation mode on a small screen starts without them
    acts.panel_act = act("Side panel", "Ctrl+B", win.set_side_panel, "show or hide the settings and Runs", view,
                        True, checkable=True, checked=True)
    # one axis for every step of a talk (presentation mode turns it on): auto-fitted, a flat 70 % looked like a swing
    acts.fixed_act = act("Fixed axes (saturation 0-100 %, densities from 0)", "", lambda on: set_fixed_axes(win, on),
                        menu=view, checkable=True)
    acts.workshop_act = act("Workshop length (20,000 steps, lr decay scaled)", "", win.set_workshop, menu=view,
                           checkable=True)
    acts.view_menu = view
    fix_pause_width(win)
    from initscope.gui.export import add_to_plot_menu, export_actions
    from initscope.gui.help import build_help_menu

    for panel in win.all_panels():  # right-click a plot: copy to clipboard, export as PNG or SVG
        add_to_plot_menu(panel, export_actions(panel, win, win.settings))

    build_help_menu(win.menuBar(), win, lambda: [*win.findChildren(QtGui.QAction), win.scenario_bar.prev_btn,
                                                 win.scenario_bar.next_btn])
    return acts


def action_states(session, paused: bool = False) -> dict[str, bool | str]:
    """What each action and button is, from the session alone (a pure function, tested without a window):
    enabled states by name, and the pause action's text."""
    training = session.training
    valid = session.data is not None and session.stack_error is None
    one = session.shown[0] if len(session.shown) == 1 else None
    ending = training and any(r.shown_status in ("stopping", RunStatus.EVALUATING) for r in session.active)
    return {"train": not training and valid,
            "pause": training and not ending,  # the last losses' evaluation cannot pause
            "stop": training and not ending,
            "reset": not training,
            "sample": not training and one is not None and one.has_weights,  # a watched run has no weights
            "compare": not training and valid,
            "open_data": not training,  # the toolbar's Open data, like the side panel's
            "files": not training,  # nothing that replaces the settings or the data while a run trains ...
            "save_and_export": True,  # ... but saving the settings and exporting stay
            "scenario_locked": training,
            "pause_text": "Resume" if training and paused else "Pause"}


def update_actions(win) -> None:
    st = action_states(win.session, win.controller.paused if win.training else False)
    for key, act in (("train", win.train_act), ("pause", win.pause_act), ("stop", win.stop_act),
                     ("reset", win.reset_act), ("sample", win.sample_act), ("open_data", win.open_act)):
        act.setEnabled(st[key])
    win.runs.compare_btn.setEnabled(st["compare"])
    win.scenario_bar.set_training(st["scenario_locked"])
    for a in win.file_acts:
        a.setEnabled(st["save_and_export"] if a.text().startswith(("Save config", "Export")) else st["files"])
    win.pause_act.setText(st["pause_text"])


def fix_pause_width(win) -> None:
    """The Pause button as wide as "Resume": its text changes while a run trains and the toolbar must not shift
    (called again when presentation mode changes the font)."""
    tb = win.findChild(QtWidgets.QToolBar, "run")
    button = tb.widgetForAction(win.pause_act) if tb is not None else None
    if button is not None:
        fm = button.fontMetrics()
        pad = button.sizeHint().width() - fm.horizontalAdvance(win.pause_act.text())
        button.setMinimumWidth(max(fm.horizontalAdvance(t) for t in ("Pause", "Resume")) + pad)


def set_fixed_axes(win, on: bool) -> None:
    win.overview.sat_panel.fixed_y = (0.0, 100.0) if on else None
    for p in (win.overview.act_panel, win.gradients.grad_panel, win.gradients.wgrad_panel):
        p.from_zero = on
    win.force_redraw()
