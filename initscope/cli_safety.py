"""What the CLI checks before expensive work, and how `run` stops on a signal (issue 11).

- Output targets (--json-out, --save-run, --save-config, report -o, --csv) are checked before training, so a
  bad path costs a second, not the run.
- Options with a cost are bounded (--threads, sweep points and seeds), and memory is estimated before the
  dataset tensors and the net are allocated (`--max-memory`, default half of physical memory).
- SIGINT / SIGTERM during training stop at the next step boundary; the run then ends as "stopped" and is
  saved whole; during the final evaluation they cut it short and save; while saving, the save finishes. A second
  SIGINT aborts at once without writing anything. Elsewhere SIGTERM is handled like Ctrl+C (issue 20).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from initscope.core.errors import UserError

EXIT_DIVERGED = 1  # the run diverged (NaN, a runaway loss or saturation); outputs were written
EXIT_STOPPED = 3  # stopped by SIGINT/SIGTERM at a step boundary; outputs were written (130: aborted, nothing written)
MAX_SWEEP_POINTS = 1000
MAX_SWEEP_SEEDS = 1000


def check_outputs(*targets: tuple[str, str | None]) -> None:
    """(option, path) pairs: each path must be writable and absent or a regular file; no two the same."""
    from initscope.core.files import check_output_path

    seen: dict[str, str] = {}
    for opt, path in targets:
        if not path:
            continue
        check_output_path(path, opt)
        key = os.path.realpath(path)
        if key in seen:
            raise UserError(f"{opt} {path}: the same file as {seen[key]}; give each output its own name")
        seen[key] = opt


# what a command reads and what it writes, by argparse dest: every output is compared with every input (issue 20)
OUTPUT_OPTS = {"json_out": "--json-out", "save_config": "--save-config", "save_run": "--save-run", "out": None}
INPUT_OPTS = {"data": "--data", "config": "--config", "scenario": "--scenario", "run_file": "the run file",
              "run": "--run", "follow": "--follow"}
SCREENSHOT_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm")


def command_paths(args) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(outputs, inputs) of a parsed command line as (option, path) pairs."""
    cmd = getattr(args, "command", None)
    outs = []
    for dest, opt in OUTPUT_OPTS.items():
        path = getattr(args, dest, None)
        if isinstance(path, str) and path:
            outs.append((opt or ("-o" if cmd == "report" else "OUT"), path))
    if getattr(args, "csv", None):
        outs += [("--csv", args.csv + suffix) for suffix in ("_loss.csv", "_layers.csv")]
    ins = [(opt, getattr(args, dest)) for dest, opt in INPUT_OPTS.items() if isinstance(getattr(args, dest, None), str)
           and getattr(args, dest)]
    if cmd in ("run", "screenshot", "sweep", "gui", None) and not getattr(args, "data", None):
        from initscope.core.data import default_data_path

        ins.append(("the shipped word list", str(default_data_path())))
    return outs, ins


def check_command_paths(args) -> None:
    """Before any work: every output is writable, none is an input (`report RUN -o RUN` replaced the run file with
    HTML), no two are the same, and a screenshot's suffix is an image format."""
    from initscope.core.files import same_file

    outs, ins = command_paths(args)
    for opt, path in outs:
        for in_opt, in_path in ins:
            if same_file(path, in_path):
                raise UserError(f"{opt} {path}: that is {in_opt} {in_path}, which this command reads; "
                                "give the output its own name")
    check_outputs(*outs)
    if getattr(args, "command", None) == "screenshot" and not args.out.lower().endswith(SCREENSHOT_SUFFIXES):
        raise UserError(f"{args.out}: unknown picture format; end the name with "
                        + ", ".join(SCREENSHOT_SUFFIXES))


def strict_json(obj) -> str:
    """JSON text with NaN and inf written as null (json.dumps writes NaN, which strict parsers refuse)."""
    import json
    import math

    def clean(o):
        if isinstance(o, float):
            return o if math.isfinite(o) else None
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        if hasattr(o, "tolist") and not isinstance(o, (str, bytes)):  # numpy scalars and arrays
            return clean(o.tolist())
        return o

    return json.dumps(clean(obj), indent=1, allow_nan=False) + "\n"


def printable(text: str) -> str:
    """Text from a user's file or option made safe for a terminal: control characters (ESC, BEL: a word list
    could recolour or beep the terminal) as escapes, lone surrogates as replacement characters."""
    out = "".join(c if c.isprintable() or c in "\n\t" else repr(c)[1:-1] for c in text)
    return out.encode("utf-8", "replace").decode("utf-8")


def check_threads(n: int | None) -> int | None:
    """None (the default: 1) or 1 .. 4 x the cores; more only thrashes (5000 threads: 53 s for 10 steps)."""
    if n is None:
        return None
    hi = 4 * (os.cpu_count() or 1)
    if not 1 <= n <= hi:
        raise UserError(f"--threads must be between 1 and {hi} (4 x this machine's {os.cpu_count()} cores), got {n}")
    return n


def check_count(opt: str, n: int, lo: int, hi: int) -> int:
    if not lo <= n <= hi:
        raise UserError(f"{opt} must be between {lo} and {hi}, got {n}")
    return n


def memory_limit(text: str | None) -> int | None:
    """--max-memory text -> bytes; None: the default limit (half of physical memory)."""
    from initscope.core.budget import parse_size

    return None if text is None else parse_size(text)


def load_data_within_budget(path, cfg, max_memory: str | None):
    """Load the word list, check the run's memory estimate against the limit, then build the tensors."""
    from initscope.core.budget import check_memory
    from initscope.core.data import Vocab, default_data_path, load_words, make_dataset

    p = default_data_path() if path is None else Path(path)
    words = load_words(p)
    check_memory(cfg, sum(len(w) + 1 for w in words), memory_limit(max_memory), Vocab.from_words(words).size)
    return make_dataset(words, cfg.model.block_size, str(p))


class Terminated(KeyboardInterrupt):
    """SIGTERM outside training, raised like Ctrl+C so that the same clean-up runs (an atomic write removes its
    temporary file; a sweep keeps its finished runs). main() exits 143 for it, 130 for Ctrl+C."""


class EvaluationStopped(Exception):
    """The first signal during the final evaluation: what was measured so far is saved (issue 20)."""


def _raise_terminated(_signum, _frame) -> None:
    raise Terminated


def _exit_now(signum, _frame) -> None:
    """For commands that run Qt (report): an exception raised inside Qt's C++ aborted the process (exit 134) with
    a traceback; say one line, remove what an atomic write left half-written, and leave."""
    from initscope.core.files import remove_pending_temporaries

    remove_pending_temporaries()
    sys.stderr.write(f"\ninitscope: {signal.Signals(signum).name}: stopped; nothing written\n")
    sys.stderr.flush()
    os._exit(128 + signum)


class CommandSignals:
    """For one command: SIGTERM raises Terminated (like Ctrl+C's KeyboardInterrupt), or with `hard`, both exit at
    once in one line. Restored on exit; only the main thread can install handlers."""

    def __init__(self, hard: bool = False):
        self.hard = hard
        self._old: dict[int, object] = {}

    def __enter__(self) -> CommandSignals:
        if threading.current_thread() is threading.main_thread():
            self._old[signal.SIGTERM] = signal.signal(signal.SIGTERM, _exit_now if self.hard else _raise_terminated)
            if self.hard:
                self._old[signal.SIGINT] = signal.signal(signal.SIGINT, _exit_now)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


class StopOnSignal:
    """While active, a signal never loses a run. The first SIGINT or SIGTERM:
    - while training ("train"): asks the trainer to stop at the next step boundary;
    - during the final evaluation ("evaluate"): raises EvaluationStopped, and what was measured is saved;
    - while the outputs are written ("save"): is noted; the write finishes.
    A second SIGINT raises KeyboardInterrupt (abort: nothing more is written; a half-written temporary file is
    removed); a second SIGTERM is like the first. Handlers are restored on exit.
    Only the main thread can install handlers; elsewhere this does nothing."""

    def __init__(self, trainer, quiet: bool = False):
        self.trainer = trainer
        self.quiet = quiet
        self.signalled: int | None = None
        self.phase = "train"
        self._old: dict[int, object] = {}

    def _handle(self, signum, _frame) -> None:
        if self.signalled is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        first = self.signalled is None
        self.signalled = self.signalled or signum
        if not first:
            return
        name = signal.Signals(signum).name
        if self.phase == "train":
            self.trainer.stop()
            if not self.quiet:
                print(f"\n{name}: stopping at the next step and saving; Ctrl+C again aborts without saving",
                      file=sys.stderr)
        elif self.phase == "evaluate":
            print(f"\n{name}: cutting the final evaluation short and saving; Ctrl+C again aborts without saving",
                  file=sys.stderr)
            raise EvaluationStopped
        elif not self.quiet:
            print(f"\n{name}: saving first; Ctrl+C again aborts without saving", file=sys.stderr)

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()
