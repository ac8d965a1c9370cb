"""What the window remembers between sessions: the last config, window geometry and splitter states,
presentation mode, and the last folder of each kind of file dialog.

One INI file (QSettings' IniFormat, readable and easy to delete) in platformdirs' user config dir, or
in $INITSCOPE_CONFIG_DIR when set (tests, or a portable setup). Reading never fails: a damaged file is
moved aside (nothing is lost) and the window starts from defaults; a remembered value that no longer
makes sense (a config that fails validation, a geometry Qt rejects) falls back to its default. Either
way `Settings.message` holds one line for the status bar.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from initscope.core.config import Config
from initscope.core.errors import UserError

ENV_DIR = "INITSCOPE_CONFIG_DIR"
FILE_NAME = "settings.ini"
FORMAT = 1  # bump when a key changes meaning; an older or newer file is then treated as foreign


def default_path() -> Path:
    """$INITSCOPE_CONFIG_DIR/settings.ini, else the user config dir (~/.config/initscope on Linux)."""
    base = os.environ.get(ENV_DIR)
    if not base:
        import platformdirs

        base = platformdirs.user_config_dir("initscope", appauthor=False)
    return Path(base) / FILE_NAME


def reset_settings(path: str | Path | None = None) -> str:
    """`initscope gui --reset-settings`: forget everything (the file is deleted). Returns a line to print."""
    p = Path(path) if path else default_path()
    if p.exists():
        p.unlink()
        return f"settings reset: removed {p}"
    return f"settings reset: there were none ({p})"


class Settings:
    """The window's memory. Create one per window (or per test, with a path in a tmp dir)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_path()
        self.messages: list[str] = []
        why = self._damage()
        if why:
            bad = self.path.with_name(self.path.name + ".bad")
            try:
                os.replace(self.path, bad)
                kept = f"the old file is kept as {bad}"
            except OSError:
                kept = "it could not be moved aside"
            self._note(f"settings file {self.path} is damaged ({why}); starting from defaults, {kept}")
        self.qs = QtCore.QSettings(str(self.path), QtCore.QSettings.Format.IniFormat)
        if why:
            self.qs.clear()  # the file could not be moved: do not read anything from it

    # --- opening ---------------------------------------------------------------------------------
    def _damage(self) -> str | None:
        """Why the file cannot be trusted, or None (no file, or an empty one, is a fresh start)."""
        from initscope.core.files import read_capped

        if not os.path.lexists(self.path):
            return None
        try:  # a regular file only, and bounded: a FIFO there hung every launch (issue 20)
            raw = read_capped(self.path, 16 * 2**20, OSError, "settings file")
        except OSError as e:
            return f"cannot read it: {e.strerror or str(e).split(': ', 1)[-1]}"
        if not raw.strip():
            return None
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return "not a text file"
        probe = QtCore.QSettings(str(self.path), QtCore.QSettings.Format.IniFormat)
        if probe.status() != QtCore.QSettings.Status.NoError:
            return "not a valid INI file"
        fmt = probe.value("meta/format")
        if fmt is None:
            return "not an initscope settings file"
        if str(fmt) != str(FORMAT):
            return f"settings format {fmt}, this version reads {FORMAT}"
        return None

    def _note(self, line: str) -> None:
        self.messages.append(line)

    @property
    def message(self) -> str | None:
        """Everything that fell back to defaults, as one line (None when all was well)."""
        return "; ".join(self.messages) if self.messages else None

    def _set(self, key: str, value) -> None:
        self.qs.setValue("meta/format", FORMAT)
        self.qs.setValue(key, value)

    def sync(self) -> str | None:
        """Write to disk now; returns a one-line message when the file could not be written."""
        self.qs.sync()
        if self.qs.status() == QtCore.QSettings.Status.AccessError:
            return f"could not save the settings to {self.path}"
        return None

    def clear(self) -> None:
        self.qs.clear()
        self.qs.sync()

    # --- the last config ---------------------------------------------------------------------------
    def save_config(self, cfg: Config) -> None:
        self._set("config/json", json.dumps(cfg.to_dict()))

    def load_config(self) -> Config | None:
        """The config of the last session, or None (none saved, or it no longer validates: see message)."""
        text = self.qs.value("config/json")
        if text is None:
            return None
        try:
            return Config.from_dict(json.loads(str(text)))
        except (ValueError, UserError) as e:  # json.JSONDecodeError is a ValueError
            self.qs.remove("config/json")
            self._note(f"the remembered config was not valid ({_one_line(e)}); using the defaults")
            return None

    # --- window layout -----------------------------------------------------------------------------
    def save_window(self, window: QtWidgets.QWidget,
                    splitters: Mapping[str, QtWidgets.QSplitter] | None = None) -> None:
        """Geometry (and, for a QMainWindow, docks and toolbars) and each named splitter's sizes."""
        self._set("window/geometry", window.saveGeometry())
        if isinstance(window, QtWidgets.QMainWindow):
            self._set("window/state", window.saveState())
        for name, sp in (splitters or {}).items():
            self._set(f"splitters/{name}", sp.saveState())

    def restore_window(self, window: QtWidgets.QWidget,
                       splitters: Mapping[str, QtWidgets.QSplitter] | None = None) -> bool:
        """Restore what save_window kept. False (and the widget as it was) when nothing usable was saved."""
        restored = False
        geo = self.qs.value("window/geometry")
        if geo is not None:
            if isinstance(geo, QtCore.QByteArray) and window.restoreGeometry(geo):
                restored = True
            else:
                self.qs.remove("window/geometry")
                self._note("the remembered window size could not be used; using the default")
        state = self.qs.value("window/state")
        if (state is not None and isinstance(window, QtWidgets.QMainWindow)
                and not (isinstance(state, QtCore.QByteArray) and window.restoreState(state))):
            self.qs.remove("window/state")
            self._note("the remembered window layout could not be used; using the default")
        for name, sp in (splitters or {}).items():
            s = self.qs.value(f"splitters/{name}")
            if s is None:
                continue
            if isinstance(s, QtCore.QByteArray) and sp.restoreState(s):
                restored = True
            else:
                self.qs.remove(f"splitters/{name}")
                self._note(f"the remembered {name} splitter could not be used; using the default")
        return restored

    # --- the main window as a whole ----------------------------------------------------------------------
    def restore_main_window(self, win) -> None:
        """Geometry, docks, the explorer's splitter and presentation mode; a line in the status bar if
        anything remembered could not be used. Into a window on screen (the launch builds its docks into the
        shown window) once the new docks have been laid out: restored at once, the side panel came back 496 px
        wide instead of its 382."""
        if win.isVisible():
            QtCore.QTimer.singleShot(0, lambda: self._restore_main_window(win))
        else:
            self._restore_main_window(win)

    def _restore_main_window(self, win) -> None:
        self.restore_window(win, {"explorer": win.explorer.map_tab})
        if self.qs.value("window/state") is not None:  # restored (it sets each dock's visibility): hidden last time?
            win.panel_act.setChecked(not win.controls_dock.isHidden())
        # presentation mode (remembered, or `--present`) once the restored docks have their sizes: the layout it
        # keeps to go back to is taken when it starts
        present = self.presentation or win.presentation.at_start
        if win.isVisible():
            QtCore.QTimer.singleShot(0, lambda: win.present_act.setChecked(present))
        else:
            win.present_act.setChecked(present)
        if self.message:
            win.statusBar().showMessage(self.message, 15_000)

    def remember_main_window(self, win) -> None:
        """On closing: the settings in the side panel, the layout and presentation mode."""
        self.save_config(win.cfg)
        self.presentation = win.present_act.isChecked()
        self.save_window(win, {"explorer": win.explorer.map_tab})
        before = win.presentation.layout_before
        if before is not None:  # in presentation mode: the layout to go back to, which it rebuilds from
            self._set("window/state", before[0])
        self.sync()

    # --- presentation mode ---------------------------------------------------------------------------
    @property
    def presentation(self) -> bool:
        v = self.qs.value("view/presentation")
        if v is None or isinstance(v, bool):
            return bool(v)
        s = str(v).strip().lower()
        if s in ("true", "1"):
            return True
        if s not in ("false", "0"):
            self.qs.remove("view/presentation")
            self._note(f"the remembered presentation mode {v!r} is not true or false; it is off")
        return False

    @presentation.setter
    def presentation(self, on: bool) -> None:
        self._set("view/presentation", bool(on))

    # --- export width ------------------------------------------------------------------------------
    @property
    def export_width(self) -> int:
        """The PNG width last chosen for exports (default 1600 px)."""
        from initscope.gui.export import DEFAULT_WIDTH, MAX_WIDTH, MIN_WIDTH  # pyqtgraph: not at start-up

        v = self.qs.value("export/width")
        if v is None:
            return DEFAULT_WIDTH
        try:
            w = int(str(v))
        except ValueError:
            w = -1
        if not MIN_WIDTH <= w <= MAX_WIDTH:
            self.qs.remove("export/width")
            self._note(f"the remembered export width {v!r} is not {MIN_WIDTH}..{MAX_WIDTH} px; using {DEFAULT_WIDTH}")
            return DEFAULT_WIDTH
        return w

    @export_width.setter
    def export_width(self, width: int) -> None:
        self._set("export/width", int(width))

    # --- last folder per dialog kind ---------------------------------------------------------------
    def folder(self, kind: str) -> str:
        """The folder the last `kind` dialog ended in, if it still exists; else "" (Qt's default)."""
        v = self.qs.value(f"folders/{kind}")
        return str(v) if v is not None and Path(str(v)).is_dir() else ""

    def remember_folder(self, kind: str, path: str | Path) -> None:
        """Remember the folder of `path` (a file) or `path` itself (a folder)."""
        if not path:
            return
        p = Path(path)
        self._set(f"folders/{kind}", str(p if p.is_dir() else p.parent))

    # --- file dialogs that start in, and remember, the last folder of their kind --------------------------
    def save_file(self, parent: QtWidgets.QWidget | None, kind: str, caption: str, name: str = "",
                  filter: str = "") -> str:
        return get_save_file(parent, self, kind, caption, name, filter)


def _one_line(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


# --- file dialogs that start in the last folder of their kind ---------------------------------------------
def get_open_file(parent: QtWidgets.QWidget | None, settings: Settings | None, kind: str, caption: str,
                  filter: str = "", default: str = "") -> str:
    """An open-file dialog in the last folder of its kind (else `default`); remembers the folder picked."""
    start = (settings.folder(kind) if settings else "") or default
    path, _ = QtWidgets.QFileDialog.getOpenFileName(parent, caption, start, filter)
    if path and settings:
        settings.remember_folder(kind, path)
    return path


def first_folder(kind: str) -> str:
    """Where a dialog of `kind` starts before one was ever used: the user's pictures folder for exports, else
    the home folder. Never Qt's last folder of any dialog: after Open scenario the first export opened in the
    installed package's scenarios folder."""
    if kind == "export":
        from platformdirs import user_pictures_dir

        pics = user_pictures_dir()
        if Path(pics).is_dir():
            return pics
    return str(Path.home())


def get_save_file(parent: QtWidgets.QWidget | None, settings: Settings | None, kind: str, caption: str,
                  name: str = "", filter: str = "") -> str:
    start = (settings.folder(kind) if settings else "") or first_folder(kind)
    target = str(Path(start) / name) if start and name else (name or start)
    path, _ = QtWidgets.QFileDialog.getSaveFileName(parent, caption, target, filter)
    if path and settings:
        settings.remember_folder(kind, path)
    return path


def get_folder(parent: QtWidgets.QWidget | None, settings: Settings | None, kind: str, caption: str) -> str:
    start = (settings.folder(kind) if settings else "") or first_folder(kind)
    path = QtWidgets.QFileDialog.getExistingDirectory(parent, caption, start)
    if path and settings:
        settings.remember_folder(kind, path)
    return path
