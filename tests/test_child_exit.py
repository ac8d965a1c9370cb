"""The training child ends itself at once on QuitRequest (os._exit after serving), and loses nothing it said."""

import subprocess
import sys

import pytest

from initscope.core.config import preset
from initscope.core.remote import RemoteTrainer

pytestmark = pytest.mark.slow  # each test starts a training process (torch imported there): seconds


def test_child_exits_by_itself_after_serving():
    r = RemoteTrainer(threads=1)
    assert r.load("", 3)  # served a conversation first
    r.preview(preset("deep-nobn"), "")
    r.close(timeout=30)  # a child that did not end itself would be terminated: exit code -15, not 0
    assert not r.alive and r.exitcode == 0


def test_exit_flushes_what_the_child_printed():
    # stdout to a pipe is block-buffered: a bare os._exit would drop these lines
    code = ("import sys, multiprocessing as mp\n"
            "from initscope.core.remote import _exit_served\n"
            "a, b = mp.Pipe()\n"
            "print('line one'); print('line two', file=sys.stderr, end='')\n"
            "_exit_served(b)\n"
            "print('never')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    assert out.stdout == "line one\n" and out.stderr.endswith("line two")


def test_a_quit_ends_the_child_even_while_it_is_busy():
    # mid-run, with no stop asked: the run would go on for hours, so only the pipe's reader can end the child,
    # by itself (exit code 0) rather than by a terminate (-15)
    import threading

    from initscope.core.data import default_data_path
    from initscope.core.remote import QuitRequest

    from conftest import tiny_config

    r = RemoteTrainer(threads=1)
    seen, errors = threading.Event(), []

    def train():
        try:
            r.train({"A": tiny_config(steps=10_000_000)}, str(default_data_path()), on_progress=lambda t, p: seen.set())
        except RuntimeError as e:  # the process ended under the conversation
            errors.append(str(e))

    th = threading.Thread(target=train)
    th.start()
    assert seen.wait(120)
    r._conn.send(QuitRequest())
    r.join(60)  # while the relay thread, hearing EOF, reads the child's end too
    th.join(60)
    assert r.exitcode == 0 and not th.is_alive()
    assert errors and "the training process" in errors[0]  # the conversation learnt that the child is gone
    r._conn.close()


def test_threads_reading_the_childs_end_at_once_all_see_its_exit_code(monkeypatch):
    """A fork server's child reports its exit code once, through its sentinel: of two threads polling at once (the
    relay hearing EOF, the window's close joining), the second used to read nothing and take exit code 255 (seen
    once in CI). The server's read is slowed here so that the threads always overlap."""
    import threading
    import time
    from multiprocessing import forkserver as mp_forkserver

    from initscope.core import forkserver
    from initscope.core.remote import QuitRequest

    if not forkserver.warm():
        pytest.skip("no fork server on this platform")
    real = mp_forkserver.read_signed

    def slow(fd):
        time.sleep(0.1)
        return real(fd)

    monkeypatch.setattr(mp_forkserver, "read_signed", slow)
    r = RemoteTrainer(threads=1)
    assert r.start_method == "forkserver" and r.load("", 3)
    threads = [threading.Thread(target=r.join, args=(30,)) for _ in range(4)]
    for th in threads:
        th.start()
    r._conn.send(QuitRequest())
    for th in threads:
        th.join(60)
    assert r.exitcode == 0 and not r.alive
    r._conn.close()
