"""GUI responsiveness while training: event-loop latency, redraw rate, training speed in the window vs headless,
and start-up time.

    python benchmarks/bench_gui.py [--seconds S] [--json FILE]

The real main window (offscreen unless a display is set) trains the lecture's deep net (deep-bn) through
the real worker for S seconds while a 10 ms QTimer probe records how late it fires.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

STARTUP_CODE = """
import sys, time
from initscope.gui.app import make_app
from initscope.gui.main_window import MainWindow
from PySide6 import QtCore
app = make_app()
w = MainWindow()
w.resize(1366, 768)
w.show()
QtCore.QTimer.singleShot(0, lambda: (print(time.time()), sys.stdout.flush(), w.close(), app.quit()))
app.exec()
"""


def startup_seconds() -> float:
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", STARTUP_CODE], capture_output=True, text=True, env=env, timeout=120)
    shown = float(out.stdout.strip().splitlines()[-1])  # the first event-loop turn after show()
    return shown - t0


def headless_steps_per_sec(seconds: float) -> float:
    from initscope.core.config import preset
    from initscope.core.data import load_dataset
    from initscope.core.trainer import Trainer

    cfg = preset("deep-bn")
    t = Trainer(cfg, load_dataset())
    t.train(steps=200)  # warm-up
    n0, t0 = t.step, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        t.train(steps=t.step + 500)
    return (t.step - n0) / (time.perf_counter() - t0)


def gui_run(seconds: float) -> dict:
    from PySide6 import QtCore

    from initscope.core.config import preset
    from initscope.gui.app import make_app
    from initscope.gui.main_window import MainWindow

    _app = make_app()  # held for the life of the window
    cfg = preset("deep-bn")
    cfg.train.steps = 10_000_000
    w = MainWindow(cfg)
    w.resize(1366, 768)
    w.show()
    loop = QtCore.QEventLoop()

    def wait(cond, timeout=120.0):
        end = time.monotonic() + timeout
        t = QtCore.QTimer(interval=20)
        t.timeout.connect(lambda: (cond() or time.monotonic() > end) and loop.quit())
        t.start()
        loop.exec()
        t.stop()

    wait(lambda: w.preview_snapshot is not None)
    w.train()
    wait(lambda: len(w.history.loss) >= 1000)  # the training process is up and streaming
    lateness: list[float] = []
    last = [time.perf_counter()]

    def probe():
        now = time.perf_counter()
        lateness.append((now - last[0]) * 1000 - 10.0)
        last[0] = now

    probe_timer = QtCore.QTimer(interval=10)
    probe_timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
    probe_timer.timeout.connect(probe)
    steps0, redraws0, t0 = len(w.history.loss), w.redraws, time.perf_counter()
    probe_timer.start()
    end = t0 + seconds
    wait(lambda: time.perf_counter() >= end, timeout=seconds + 5)
    probe_timer.stop()
    dt = time.perf_counter() - t0
    steps, redraws = len(w.history.loss) - steps0, w.redraws - redraws0
    w.close()
    lat = np.maximum(np.array(lateness[1:]), 0.0)
    return {"latency_ms_p50": float(np.percentile(lat, 50)), "latency_ms_p99": float(np.percentile(lat, 99)),
            "latency_ms_max": float(lat.max()), "redraw_hz": redraws / dt, "gui_steps_per_sec": steps / dt}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import torch

    torch.set_num_threads(1)
    headless = headless_steps_per_sec(min(args.seconds, 10.0))
    res = gui_run(args.seconds)
    res["headless_steps_per_sec"] = headless
    res["gui_vs_headless"] = res["gui_steps_per_sec"] / headless
    res["startup_s"] = startup_seconds()
    targets = {"latency p99 < 50 ms": res["latency_ms_p99"] < 50, "redraw >= 20 Hz": res["redraw_hz"] >= 20,
               "gui_vs_headless >= 0.8": res["gui_vs_headless"] >= 0.8, "startup < 3 s": res["startup_s"] < 3}
    for k, v in res.items():
        print(f"{k:<24} {v:10.2f}")
    for k, ok in targets.items():
        print(f"{'PASS' if ok else 'MISS'}  {k}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**res, "seconds": args.seconds, "targets": targets}, f, indent=1)


if __name__ == "__main__":
    main()
