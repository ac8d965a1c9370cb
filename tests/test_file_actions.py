"""FileActions without a main window: a Session, a stand-in controller and a bare QMainWindow as the parent
(issue 21: the file actions read the session and ask the controller; the window only parents their dialogs)."""

from types import SimpleNamespace

import pytest
from PySide6 import QtWidgets

from initscope.core.config import preset
from initscope.core.session import Session
from initscope.gui.file_actions import FileActions


class Controller:
    def __init__(self):
        self.loads, self.opened = [], []

    def load_data(self, path, block_size, warm=False):
        self.loads.append((path, block_size))

    def open_run(self, path):
        self.opened.append(path)


@pytest.fixture
def files(qtbot, monkeypatch, tmp_path):
    said = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "warning", lambda *a, **k: said.append(a[2]))
    monkeypatch.setattr(QtWidgets.QMessageBox, "information", lambda *a, **k: said.append(a[2]))
    words = tmp_path / "words.txt"
    words.write_text("anna\nemma\n")
    parent = QtWidgets.QMainWindow()
    qtbot.addWidget(parent)
    parent.runs = SimpleNamespace(records=[])  # what the window's Runs list offers: the records it holds
    session = Session(preset("deep-bn"), str(words))
    heard = []
    session.events.config.connect(heard.append)
    return SimpleNamespace(files=FileActions(session, Controller(), parent), session=session, said=said,
                           heard=heard, words=words, parent=parent)


def test_a_config_goes_through_the_session_and_a_bad_one_changes_nothing(files, tmp_path):
    f, s = files.files, files.session
    s.cfg.init.gain = 0.8
    good = tmp_path / "c.json"
    assert f.save_config_to(str(good))
    s.set_config(preset("deep-nobn"))
    files.heard.clear()
    assert f.load_config_file(str(good))
    assert s.cfg.init.gain == 0.8 and s.cfg.name == "deep-bn" and files.heard == [s.cfg]  # the window hears it
    bad = tmp_path / "bad.json"
    bad.write_text('{"train": {"lr": -1}}')
    before = s.cfg.to_dict()
    assert not f.load_config_file(str(bad))
    assert "train.lr" in files.said[-1] and "Nothing was changed" in files.said[-1]
    assert s.cfg.to_dict() == before and len(files.heard) == 1


def test_outputs_that_are_the_sessions_inputs_are_refused(files, tmp_path):
    f = files.files
    assert not f.save_config_to(str(files.words)) and "the word list" in files.said[-1]
    assert files.words.read_text() == "anna\nemma\n"
    theirs = tmp_path / "theirs.txt"
    theirs.write_text("bob\n")
    files.parent.runs.records.append(SimpleNamespace(data_path=str(theirs)))
    assert not f.save_config_to(str(theirs)) and "a run's word list" in files.said[-1]
    assert theirs.read_text() == "bob\n"


def test_data_is_asked_of_the_controller_at_the_sessions_block_size(files, monkeypatch):
    import initscope.gui.file_actions as fa

    monkeypatch.setattr(fa, "get_open_file", lambda *a, **k: "/some/names.txt")
    f, s = files.files, files.session
    s.cfg.model.block_size = 5
    f.open_data()
    assert f.controller.loads == [("/some/names.txt", 5)]
    s.active = [object()]  # a run trains: the File menu opens nothing
    f.open_data()
    f.open_run()
    assert f.controller.loads == [("/some/names.txt", 5)] and f.controller.opened == []


def test_exports_need_one_ended_run_in_the_session(files, tmp_path):
    f = files.files
    assert f.export_csv_to(str(tmp_path / "m")) == [] and "Select one run" in files.said[-1]
    assert not f.export_report_to(str(tmp_path / "r.html")) and "Select one run that has ended" in files.said[-1]
    assert list(tmp_path.glob("m*")) == [] and not (tmp_path / "r.html").exists()
