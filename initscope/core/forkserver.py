"""One fork server for every child that trains: the sweep pool's workers and, once the server is up, the window's
training process. The server is a clean interpreter that imported torch, the trainer and torch._dynamo once;
each child is a fork of it and starts in milliseconds instead of importing torch again (1.5-2.5 s of CPU).

Its first start waits for those imports (~3 s). A pool's worker can wait; the window's relay thread should not,
since a window closed meanwhile would leave that thread blocked in `Process.start` at exit. So a training
process is forked from the server only once the server is known to be ready (`ready()`); before that it is
spawned, as always. `warm()` makes the server ready on purpose (the test suite does, once per worker)."""

from __future__ import annotations

import multiprocessing as mp
import os

# the children's OpenMP / MKL read these when torch is imported, which is in the server: one thread each, as
# the trainer sets anyway (several children share the cores)
ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
PRELOAD = ["initscope.core.remote", "initscope.core.train_sweep", "initscope.core.trainer", "torch._dynamo"]
_READY = [False]


def available() -> bool:
    return "forkserver" in mp.get_all_start_methods()


def context():
    """The fork server's context (the preload set, the same for every user of it), or spawn where there is none."""
    if not available():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


class one_thread_env:
    """ONE_THREAD_ENV set while a server or child starts, then the caller's own values back."""

    def __enter__(self):
        self.saved = {k: os.environ.get(k) for k in ONE_THREAD_ENV}
        os.environ.update(ONE_THREAD_ENV)

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def mark_ready() -> None:
    """A child was forked from the server: its imports are done (a later start returns in milliseconds)."""
    _READY[0] = True


def ready() -> bool:
    return _READY[0] and available()


def warm() -> bool:
    """Start the server and wait for its imports, by forking one child that does nothing. False where the
    platform has no fork server."""
    if not available():
        return False
    if not _READY[0]:
        with one_thread_env():
            p = context().Process(target=os.getpid, daemon=True, name="initscope-forkserver-warm")
            p.start()
        p.join()
        mark_ready()
    return True
