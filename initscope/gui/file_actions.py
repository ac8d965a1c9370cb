"""File menu actions: configs, runs, scenarios, word lists and exports.

FileActions reads the state from the Session (what is shown, whether a run trains, the settings), asks the
RunController to open and save runs, and uses its parent window only as a parent: for dialogs and the status bar,
and for what is about views (the scenario bar, following a run, drawing every tab for an export). New settings go
to the session, which the window listens to. A bad file or a bad target path is a message box and changes nothing.
"""

from __future__ import annotations

import weakref
from pathlib import Path

from PySide6 import QtWidgets

from initscope.core.config import Config
from initscope.core.errors import UserError
from initscope.core.messages import RunStatus
from initscope.core.session import Session
from initscope.gui.settings import get_folder, get_open_file, get_save_file


class FileActions:
    def __init__(self, session: Session, controller, parent):
        self.session = session
        self.controller = controller  # gui.run_controller.RunController: opens and saves run files off this thread
        # a weak reference: shiboken's wrappers hide their attributes from gc, so window -> files -> window would
        # be a cycle never collected, and each closed window would keep its pyqtgraph menus alive
        self._parent = weakref.ref(parent)
        self.last_saved = ""

    @property
    def parent(self):
        return self._parent()

    @property
    def settings(self):  # gui.settings.Settings: the folders last used (None in tests: Qt's defaults)
        return getattr(self.parent, "settings", None)

    def warn(self, title: str, msg: str) -> None:
        QtWidgets.QMessageBox.warning(self.parent, title, f"{msg}\n\nNothing was changed.")

    def _done(self, msg: str) -> None:
        self.parent.statusBar().showMessage(msg, 8000)

    def _check_output(self, path: str, what: str) -> None:
        """As the CLI (issue 20): the target is writable and is none of the files the window reads (the word lists
        of its runs, the run a script writes that it follows); a UserError says which."""
        from initscope.core.data import default_data_path
        from initscope.core.files import check_output_path, same_file

        ins = [("the word list", self.session.data_path or str(default_data_path()))]
        ins += [("a run's word list", r.data_path) for r in getattr(getattr(self.parent, "runs", None), "records", [])
                if r.data_path]
        follower = getattr(getattr(self.parent, "following", None), "follower", None)
        if follower is not None:
            ins.append(("the followed run", follower.path))
        for label, src in ins:
            if same_file(path, src):
                raise UserError(f"{path}: that is {label}, which the window reads; give the {what} its own name")
        check_output_path(path, what)

    # --- configs -----------------------------------------------------------------------------------------
    def open_config(self) -> None:
        if self.session.training:
            return
        path = get_open_file(self.parent, self.settings, "config", "Open a config", "JSON (*.json);;All files (*)")
        if path:
            self.load_config_file(path)

    def load_config_file(self, path: str) -> bool:
        """Load a config saved by the app or the CLI; a bad file gets a message and changes nothing."""
        try:
            cfg = Config.load(path)
        except UserError as e:
            self.warn("Could not open the config", str(e))
            return False
        self.session.set_config(cfg)  # the window hears it and shows it
        return True

    def save_config(self) -> None:
        path = get_save_file(self.parent, self.settings, "config", "Save the config", "initscope-config.json",
                             "JSON (*.json)")
        if path:
            self.save_config_to(path)

    def save_config_to(self, path: str) -> bool:
        try:
            self._check_output(path, "config")
            self.session.cfg.save(path)
        except (OSError, UserError) as e:
            self.warn("Could not save the config", str(e))
            return False
        return True

    # --- runs --------------------------------------------------------------------------------------------
    def one_run(self, what: str):
        """The one shown run that has weights, or None with a message saying why not."""
        shown = self.session.shown
        rec = shown[0] if len(shown) == 1 else None
        if (rec is None or rec.is_preview or rec.status == RunStatus.RUNNING or rec.result is None
                or not (rec.has_weights or rec.result.saved is not None)):
            QtWidgets.QMessageBox.information(self.parent, what, "Select one run that has ended (finished or "
                                              "stopped) in the Runs list first.")
            return None
        return rec

    def saved_run(self, rec):
        """A record as plain data for a run file (weights as numpy arrays)."""
        from initscope.core.hints import hints
        from initscope.core.runfile import SavedRun

        if rec.result.saved is not None:  # a watched run, as its file holds it
            return rec.result.saved
        h, r = rec.history, rec.result
        return SavedRun.from_history(h, config=rec.cfg, vocab=list(rec.vocab), data_path=rec.data_path,
                                     status=rec.status, message=r.message, split_losses=r.losses, samples=r.samples,
                                     hints=hints(h.latest) if h.latest else [], state_dict=r.state)

    def save_run(self) -> None:
        rec = self.one_run("Save run")
        if rec is None:
            return
        path = get_save_file(self.parent, self.settings, "run", "Save the run", "run.initscope", "Runs (*.initscope)")
        if path:
            self.save_run_to(path)

    def save_run_to(self, path: str) -> bool:
        """The shown run; the worker thread writes the file atomically and says when it is done."""
        rec = self.one_run("Save run")
        if rec is None:
            return False
        try:
            self._check_output(path, "run file")
        except UserError as e:
            self.warn("Could not save the run", str(e))
            return False
        self.controller.save_run(path, self.saved_run(rec))
        return True

    def run_saved(self, path: str) -> None:
        self.last_saved = path
        self._done(f"saved the run to {path}")

    def open_run(self) -> None:
        if self.session.training:
            return
        path = get_open_file(self.parent, self.settings, "run", "Open a run", "Runs (*.initscope);;All files (*)")
        if path:
            self.controller.open_run(path)

    def follow_run(self) -> None:
        """A run file that a script writes (initscope.watch(save=...)), shown live; it may not exist yet."""
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self.parent, "Follow a run (pick or name the file your script writes)", self._run_folder(),
            "Runs (*.initscope)", options=QtWidgets.QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.parent.follow_run_file(path)

    def _run_folder(self) -> str:
        return self.settings.folder("run") if self.settings is not None else ""

    # --- exports -------------------------------------------------------------------------------------------
    def export_report(self) -> None:
        if self.one_run("Export report") is None:
            return
        path = get_save_file(self.parent, self.settings, "report", "Export an HTML report", "report.html",
                             "HTML (*.html)")
        if path:
            self.export_report_to(path)

    def export_report_to(self, path: str) -> bool:
        """The same one-file HTML report as `initscope report`, for the shown run."""
        from initscope.core.files import atomic_write_text
        from initscope.gui.report_images import plot_images
        from initscope.report import render_html

        rec = self.one_run("Export report")
        if rec is None:
            return False
        run = self.saved_run(rec)
        try:
            self._check_output(path, "report")
            atomic_write_text(Path(path), render_html(run, plot_images(run), source="initscope window"))
        except (OSError, UserError) as e:
            self.warn("Could not export the report", str(e))
            return False
        self._done(f"wrote {path}")
        return True

    def export_csv(self) -> None:
        path = get_save_file(self.parent, self.settings, "metrics", "Export metrics: prefix for the CSV files",
                             "metrics", "CSV prefix (*)")
        if path:
            self.export_csv_to(path.removesuffix(".csv"))

    def export_csv_to(self, prefix: str) -> list[str]:
        from initscope.core.files import atomic_write_text
        from initscope.core.runfile import metrics_csv

        shown = self.session.shown
        if len(shown) != 1:
            QtWidgets.QMessageBox.information(self.parent, "Export metrics", "Select one run first.")
            return []
        out = [f"{prefix}_loss.csv", f"{prefix}_layers.csv"]
        try:
            for p in out:
                self._check_output(p, "CSV file")
            for path, text in zip(out, metrics_csv(shown[0].history)):
                atomic_write_text(Path(path), text)
        except (OSError, UserError) as e:
            self.warn("Could not export the metrics", str(e))
            return []
        self._done(f"wrote {out[0]} and {out[1]}")
        return out

    def export_panels(self) -> None:
        folder = get_folder(self.parent, self.settings, "export", "Export the panels to a folder")
        if folder:
            self.export_panels_to(folder)

    def export_panels_to(self, folder: str, width: int | None = None) -> list[str]:
        """Every panel of every tab, the dead-neuron map and BatchNorm in five points included, as PNG (at the
        export width, default 1600 px) and SVG, legends moved off the data, named after their titles."""
        from initscope.gui.export import DEFAULT_WIDTH, export_panels, shown_caption

        if not Path(folder).is_dir():
            self.warn("Could not export the panels", f"{folder}: no such folder")
            return []
        if width is None:
            width = self.settings.export_width if self.settings else DEFAULT_WIDTH
        panels = self.render_all_tabs()  # tabs never shown are drawn and laid out first
        try:
            written = [str(p) for p in export_panels(panels, folder, width, caption=shown_caption(self.session))]
        except (OSError, ValueError) as e:
            self.warn("Could not export the panels", str(e))
            return []
        self._done(f"exported {len(written)} files to {folder}")
        return written

    def render_all_tabs(self) -> list:
        """Lay out and draw every tab once (an export wants them all), back on the current tab; returns every
        exportable panel, the explorer's dead-neuron map and five points included."""
        win = self.parent
        current = win.tabs.currentIndex()
        for i in range(win.tabs.count()):
            win.tabs.setCurrentIndex(i)
            win.force_redraw()
            win.redraw()
        win.tabs.setCurrentIndex(current)
        return win.all_panels() + [win.explorer.dead_map, win.explorer.bn5]

    # --- scenarios and data ----------------------------------------------------------------------------------
    def open_scenario(self) -> None:
        if self.session.training:
            return
        from initscope.core.scenario import SCENARIO_DIR

        path = get_open_file(self.parent, self.settings, "scenario", "Open a scenario",
                             "Scenarios (*.json);;All files (*)", str(SCENARIO_DIR))
        if path:
            self.load_scenario_file(path)

    def load_scenario_file(self, path: str) -> bool:
        from initscope.core.scenario import load_scenario

        try:
            scenario = load_scenario(path)
        except UserError as e:
            self.warn("Could not open the scenario", str(e))
            return False
        self.parent.set_scenario(scenario)
        return True

    def open_data(self) -> None:
        if self.session.training:
            return
        path = get_open_file(self.parent, self.settings, "data", "Open a word list",
                             "Text files (*.txt);;All files (*)", str(self.session.data_path))
        if path:
            self.controller.load_data(path, self.session.cfg.model.block_size)
