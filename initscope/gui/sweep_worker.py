"""The at-init sweeps' worker: gain and depth sweeps off the GUI thread, point by point."""

from __future__ import annotations

from PySide6 import QtCore

from initscope.core.config import ACTIVATIONS, NORM_CHOICES, Config


class SweepWorker(QtCore.QObject):
    """Computes sweeps off the GUI thread; a newer request makes an older one stop at its next point."""

    gainPoint = QtCore.Signal(int, int, object, object)  # generation, index, names, [layers, 3] means
    gainDone = QtCore.Signal(int)
    depthDone = QtCore.Signal(int, object)  # generation, SweepResult
    failed = QtCore.Signal(str, str)  # which sweep (gain | depth), why

    def __init__(self):
        super().__init__()
        self.latest = 0  # set by the GUI thread

    @QtCore.Slot(int, object, object, object, int)
    def gain(self, generation: int, cfg: Config, data, gains: list, seeds: int) -> None:
        try:
            from initscope.core.sweeps import iter_gain_sweep  # torch: imported in this thread, not at start-up

            for i, names, arr in iter_gain_sweep(cfg, data, gains, seeds):
                if generation != self.latest:
                    return
                self.gainPoint.emit(generation, i, names, arr)
            self.gainDone.emit(generation)
        except Exception as e:  # noqa: BLE001
            self.failed.emit("gain", str(e))

    @QtCore.Slot(int, object, object, int, int, object)
    def depth(self, generation: int, cfg: Config, data, max_depth: int, seeds: int, residual: tuple = (False,)) -> None:
        try:
            width = next((s.width for s in cfg.model.layers if s.kind == "linear" and s.width), 100)
            act = next((t.kind for s in cfg.model.layers for t in (s.layers or [s]) if t.kind in ACTIVATIONS), "tanh")
            from initscope.core.sweeps import depth_sweep

            self.depthDone.emit(generation, depth_sweep(cfg, data, max_depth, width, act, seeds, NORM_CHOICES,
                                                        residual))
        except Exception as e:  # noqa: BLE001
            self.failed.emit("depth", str(e))
