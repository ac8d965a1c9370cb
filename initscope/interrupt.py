"""Ctrl+C as a KeyboardInterrupt subclass. CPython kills itself with SIGINT at exit (exit status -2, after our one
line "interrupted") when a plain KeyboardInterrupt ever escaped a C extension's PyRun_String during an import, even
one we then caught: it compares the type by identity, so a subclass is still caught by `except KeyboardInterrupt`
everywhere but never sets that flag (seen in CI: 2 of 20 Ctrl+C's during torch's import)."""

import signal
import threading


class Interrupted(KeyboardInterrupt):
    pass


def _interrupt(_signum, _frame):
    raise Interrupted


def install() -> None:
    """Only over Python's own default handler, and only on the main thread (the only one that may set handlers)."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt)


def caused_by_ctrl_c(e: BaseException | None) -> bool:
    """A KeyboardInterrupt, or an error it caused: Ctrl+C inside a class body being built (a dataclass's
    __set_name__, during a lazy import) arrives as a RuntimeError whose cause is the KeyboardInterrupt."""
    for _ in range(20):  # a chain is short; a cycle of contexts must not hang us
        if e is None:
            return False
        if isinstance(e, KeyboardInterrupt):
            return True
        e = e.__cause__ or e.__context__
    return False
