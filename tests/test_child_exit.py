"""The training child ends itself at once on QuitRequest (os._exit after serving), and loses nothing it said."""

import subprocess
import sys

from initscope.core.config import preset
from initscope.core.remote import RemoteTrainer


def test_child_exits_by_itself_after_serving():
    r = RemoteTrainer(threads=1)
    assert r.load("", 3)  # served a conversation first
    r.preview(preset("deep-nobn"), "")
    r.close(timeout=30)  # a child that did not end itself would be terminated: exit code -15, not 0
    assert not r.alive and r.proc.exitcode == 0


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
