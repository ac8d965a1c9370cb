"""Where should the window's init previews and at-init sweeps run: in a thread of the GUI process, or in the
training process? Measured the way the window asks for them, with the GUI thread's event loop probed.

    python benchmarks/bench_preview.py [--rounds R] [--previews N] [--depth D --width W] [--json FILE]

For the default settings (the lecture's deep net with BatchNorm, on the shipped names.txt; --depth D --width W:
D blocks of that width instead), in alternated rounds:
- `thread`: the engine's way: Trainer(cfg, data).init_snapshot() in a QThread of this process;
- `child`: the launch's way: a PreviewRequest to a training process (core.remote), answered over the pipe and
  relayed by a QThread waiting in recv() (the GIL released while it waits).
Each preview is asked for from the GUI thread after the previous one arrived; `ms` is request to arrival in the GUI
thread (median over N). While they run a 10 ms QTimer records how late it fires (`late_ms`: its worst and 99th
percentile): the window's responsiveness. `sweep`: the same probe while a gain sweep (24 gains x 3 seeds, at init)
runs in a QThread of this process, as the Explorer runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6 import QtCore, QtWidgets  # noqa: E402

from initscope.core.config import GAIN_RANGE, default_config  # noqa: E402
from initscope.core.data import default_data_path, load_dataset  # noqa: E402


class Probe(QtCore.QObject):
    """A 10 ms timer in the GUI thread; how late each tick fires."""

    def __init__(self):
        super().__init__()
        self.late: list[float] = []
        self.timer = QtCore.QTimer(self, interval=10, timerType=QtCore.Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.last = None

    def start(self):
        self.late, self.last = [], time.perf_counter()
        self.timer.start()

    def stop(self) -> dict:
        self.timer.stop()
        a = np.asarray(self.late) if self.late else np.zeros(1)
        return {"late_max_ms": float(a.max()), "late_p99_ms": float(np.percentile(a, 99))}

    def _tick(self):
        now = time.perf_counter()
        self.late.append(max(0.0, (now - self.last) * 1000 - 10))
        self.last = now


class Asker(QtCore.QObject):
    """Lives in a worker thread; computes (or relays) one preview per request."""

    done = QtCore.Signal(float)

    def __init__(self, how: str, cfg, data, remote=None):
        super().__init__()
        self.how, self.cfg, self.data, self.remote = how, cfg, data, remote

    @QtCore.Slot(float)
    def ask(self, t0: float) -> None:
        if self.how == "thread":
            from initscope.core.trainer import Trainer

            Trainer(self.cfg, self.data).init_snapshot()
        else:
            self.remote.preview(self.cfg, str(default_data_path()))
        self.done.emit(t0)


class Driver(QtCore.QObject):
    """In the GUI thread: asks for the next preview when the last one arrived (a bound slot, so the answer is
    queued into this thread, as the window's controller gets it)."""

    go = QtCore.Signal(float)
    sweep = QtCore.Signal(object, object, object)

    def run(self, app, asker: Asker, n: int) -> list[float]:
        self.app, self.n, self.times = app, n, []
        asker.done.connect(self.arrived)
        self.go.connect(asker.ask)
        QtCore.QTimer.singleShot(0, lambda: self.go.emit(time.perf_counter()))
        app.exec()
        self.go.disconnect(asker.ask)
        asker.done.disconnect(self.arrived)
        return self.times

    @QtCore.Slot(float)
    def arrived(self, t0: float) -> None:
        self.times.append((time.perf_counter() - t0) * 1000)
        if len(self.times) < self.n:
            self.go.emit(time.perf_counter())
        else:
            self.app.quit()


class Sweeper(QtCore.QObject):
    finished = QtCore.Signal()

    @QtCore.Slot(object, object, object)
    def sweep(self, cfg, data, gains) -> None:
        from initscope.core.sweeps import iter_gain_sweep

        for _ in iter_gain_sweep(cfg, data, gains, 3):
            pass
        self.finished.emit()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--previews", type=int, default=20)
    ap.add_argument("--depth", type=int, default=0, help="a stack of DEPTH Linear+BatchNorm+Tanh blocks instead")
    ap.add_argument("--width", type=int, default=100, help="their width (with --depth)")
    ap.add_argument("--json")
    args = ap.parse_args()
    app = QtWidgets.QApplication(sys.argv[:1])
    from initscope.core.remote import RemoteTrainer
    from initscope.core.trainer import Trainer, set_threads

    set_threads(1)  # as the app: one torch thread in the window's process
    cfg = default_config()
    if args.depth:
        from initscope.core.config import deep_stack

        cfg.model.layers = deep_stack(args.depth, args.width, batchnorm=True)
    data = load_dataset(None, cfg.model.block_size)
    remote = RemoteTrainer(threads=1)
    remote.load(str(default_data_path()), cfg.model.block_size)
    Trainer(cfg, data).init_snapshot()  # warm both sides once
    remote.preview(cfg, str(default_data_path()))
    thread = QtCore.QThread()
    thread.start()
    probe, driver = Probe(), Driver()
    askers = {how: Asker(how, cfg, data, remote) for how in ("thread", "child")}
    for a in askers.values():
        a.moveToThread(thread)
    sweeper = Sweeper()
    sweeper.moveToThread(thread)
    driver.sweep.connect(sweeper.sweep)
    out: dict[str, list[dict]] = {"thread": [], "child": [], "sweep": []}
    lo, hi, n = GAIN_RANGE
    gains = list(np.linspace(lo, hi, n))
    for _ in range(args.rounds):
        for how, asker in askers.items():
            probe.start()
            times = driver.run(app, asker, args.previews)
            out[how].append({"ms": float(np.median(times)), **probe.stop()})
        probe.start()
        t0 = time.perf_counter()
        sweeper.finished.connect(app.quit)
        QtCore.QTimer.singleShot(0, lambda: driver.sweep.emit(cfg, data, gains))
        app.exec()
        sweeper.finished.disconnect(app.quit)
        out["sweep"].append({"s": time.perf_counter() - t0, **probe.stop()})
    thread.quit()
    thread.wait()
    remote.close()
    best = {how: {k: min(r[k] for r in rows) for k in rows[0]} for how, rows in out.items()}
    for how, b in best.items():
        print(how, " ".join(f"{k}={v:.3g}" for k, v in b.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"best": best, "rounds": out}, f, indent=1)


if __name__ == "__main__":
    main()
