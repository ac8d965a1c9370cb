"""Settings persistence: round trips through a fresh QSettings, damaged files and stale values fall back to
defaults with one line, and nothing is written to the real user config dir."""

from __future__ import annotations

import pytest
from PySide6 import QtWidgets

from initscope.core.config import preset
from initscope.gui import settings as settings_mod
from initscope.gui.settings import Settings, default_path, get_open_file, reset_settings


@pytest.fixture(autouse=True)
def _sandbox(tmp_path, monkeypatch):
    """Every Settings() without a path lands in tmp, never in ~/.config."""
    monkeypatch.setenv(settings_mod.ENV_DIR, str(tmp_path / "cfg"))


def _window(qtbot):
    win = QtWidgets.QMainWindow()
    sp = QtWidgets.QSplitter()
    for text in ("left", "right"):
        sp.addWidget(QtWidgets.QLabel(text))
    win.setCentralWidget(sp)
    qtbot.addWidget(win)
    win.resize(640, 420)
    win.show()
    sp.setSizes([150, 490])
    return win, sp


def test_default_path_follows_env(tmp_path):
    assert default_path() == tmp_path / "cfg" / "settings.ini"


def test_round_trip_in_a_new_settings_object(qtbot, tmp_path):
    cfg = preset("deep-bn")
    cfg.init.gain = 0.75
    cfg.train.batch_size = 48
    win, sp = _window(qtbot)
    s = Settings()
    s.save_config(cfg)
    s.save_window(win, {"main": sp})
    s.presentation = True
    s.export_width = 2400
    s.remember_folder("data", tmp_path / "words.txt")  # a file: its folder is remembered
    s.remember_folder("export", tmp_path)
    assert s.sync() is None
    del s

    back = Settings()  # a new QSettings reads the file from disk
    assert back.message is None
    assert back.load_config().to_dict() == cfg.to_dict()
    assert back.presentation is True
    assert back.export_width == 2400
    assert back.folder("data") == str(tmp_path)
    assert back.folder("export") == str(tmp_path)
    assert back.folder("run") == ""

    win2, sp2 = _window(qtbot)
    win2.resize(500, 300)
    sp2.setSizes([400, 100])
    assert back.restore_window(win2, {"main": sp2})
    assert (win2.width(), win2.height()) == (640, 420)
    assert sp2.sizes() == sp.sizes()


def test_presentation_defaults_off_and_can_be_turned_off(tmp_path):
    s = Settings()
    assert s.presentation is False
    assert s.export_width == 1600
    s.presentation = True
    s.presentation = False
    s.sync()
    assert Settings().presentation is False


def test_vanished_folder_is_forgotten(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    s = Settings()
    s.remember_folder("config", gone)
    s.sync()
    gone.rmdir()
    assert Settings().folder("config") == ""


@pytest.mark.parametrize("content, why", [
    (b"\x00\xff\xfe\x89PNG\r\n\x1a garbage", "not a text file"),
    (b"[meta\nformat=1\n", "not a valid INI file"),
    (b"[General]\nfoo=bar\n", "not an initscope settings file"),
    (b"[meta]\nformat=99\n", "format 99"),
])
def test_damaged_file_gives_defaults_and_one_line(tmp_path, content, why):
    path = default_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    s = Settings()
    assert s.load_config() is None
    assert s.presentation is False
    assert s.folder("data") == ""
    msg = s.message
    assert msg is not None and "\n" not in msg
    assert why in msg and "defaults" in msg
    # nothing is lost: the damaged file is kept beside, and the next save starts a clean one
    assert (path.parent / "settings.ini.bad").read_bytes() == content
    s.presentation = True
    s.sync()
    again = Settings()
    assert again.message is None and again.presentation is True


def test_config_that_fails_validation_falls_back(tmp_path):
    s = Settings()
    s.save_config(preset("deep-nobn"))
    s.sync()
    bad = preset("deep-nobn").to_dict()
    bad["train"]["batch_size"] = -3
    s.qs.setValue("config/json", __import__("json").dumps(bad))
    s.qs.setValue("view/presentation", "banana")
    s.qs.setValue("export/width", "12")
    s.sync()
    back = Settings()
    assert back.load_config() is None
    assert back.presentation is False
    assert back.export_width == 1600
    msg = back.message
    assert "\n" not in msg and "config was not valid" in msg and "batch_size" in msg and "presentation" in msg
    assert "export width '12'" in msg
    # the stale values were dropped, so the next session starts clean
    back.sync()
    third = Settings()
    assert third.load_config() is None and third.message is None


def test_config_that_is_not_json_falls_back(tmp_path):
    s = Settings()
    s.qs.setValue("meta/format", 1)
    s.qs.setValue("config/json", "{not json")
    s.sync()
    back = Settings()
    assert back.load_config() is None
    assert "config was not valid" in back.message


def test_unusable_geometry_keeps_the_window(qtbot):
    s = Settings()
    s.qs.setValue("meta/format", 1)
    s.qs.setValue("window/geometry", "not bytes")
    s.sync()
    win, sp = _window(qtbot)
    back = Settings()
    assert back.restore_window(win, {"main": sp}) is False
    assert (win.width(), win.height()) == (640, 420)
    assert "window size" in back.message


def test_reset_settings_removes_the_file():
    s = Settings()
    s.presentation = True
    s.sync()
    assert default_path().exists()
    assert "removed" in reset_settings()
    assert not default_path().exists()
    assert Settings().presentation is False
    assert "there were none" in reset_settings()


def test_open_dialog_starts_in_and_remembers_the_folder(tmp_path, monkeypatch):
    seen = []

    def fake_open(parent, caption, start, flt):
        seen.append(start)
        return str(tmp_path / "cfg.json"), flt

    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", staticmethod(fake_open))
    s = Settings()
    assert get_open_file(None, s, "config", "Open config", "JSON (*.json)") == str(tmp_path / "cfg.json")
    assert get_open_file(None, s, "config", "Open config") == str(tmp_path / "cfg.json")
    assert seen == ["", str(tmp_path)]
