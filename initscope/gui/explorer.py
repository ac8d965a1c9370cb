"""The Explorer tab's host: the gain and depth sweeps at init, the train sweep and the width check as sub-tabs,
and the dead-neuron map beside BatchNorm in five points. Each view is a module of its own (gain_sweep_view,
depth_sweep_view, dead_neuron_map, bn_five_points); the at-init sweeps run in sweep_worker's thread.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from initscope.core.config import GAIN_RANGE, Config, flat_kinds
from initscope.gui.bn_five_points import BatchNormFivePoints
from initscope.gui.dead_neuron_map import DeadNeuronMap
from initscope.gui.depth_sweep_view import DepthSweepView
from initscope.gui.gain_sweep_view import GainSweepView, sweep_key
from initscope.gui.help import corner_help_button
from initscope.gui.labels import ElidedLine
from initscope.gui.panels import Panel, blocks
from initscope.gui.sweep_worker import SweepWorker
from initscope.gui.texts import EXPLORER_TABS, tab_title

__all__ = ["BatchNormFivePoints", "DeadNeuronMap", "DepthSweepView", "ExplorerTabs", "GainSweepView"]


class ExplorerTabs(QtCore.QObject):
    """Builds the two explorer tabs. The window hands it the current settings with `set_context(...)` and
    hears back through `gainPicked`; the sweeps run in a thread of its own.

    The Explorer tab holds four sub-tabs, each with its own button bar and status line: the gain sweep and
    the depth sweep at init (three plots each: stacked under one bar they were squeezed to 30-40 px tall at
    1024x700 in presentation mode), the train sweep and the width check (gui/width_view.py). One seeds value serves both at-init sweeps (each bar
    shows it; changing either changes both).

    A QObject living in the GUI thread, so the sweep worker's signals reach these slots queued (a plain
    object's methods, or a lambda, would run in the worker's thread and touch widgets from there)."""

    gainPicked = QtCore.Signal(float)  # a click on a gain-sweep point: use that gain
    runRequested = QtCore.Signal(str)  # a click on a train-sweep or width point: open that run file
    _sweep_gain = QtCore.Signal(int, object, object, object, int)
    _sweep_depth = QtCore.Signal(int, object, object, int, int, object)
    DONE_MARK = " ✓"  # on a sub-tab whose sweep finished while another sub-tab was shown, until it is shown

    def __init__(self, parent=None):
        super().__init__(parent)
        self.cfg: Config | None = None
        self.data = None
        self.problem: str | None = "no data yet"  # why sweeps cannot run now, or None
        self.worker = SweepWorker()
        self.thread = None
        self.generation = 0  # of the gain sweep: a newer one stops an older one at its next point
        self.depth_generation = 0  # a depth sweep is one call: a newer one only makes an older one's result stale
        self.gain_running = False
        self._gain_key = self._depth_key = None  # the settings the sweep on screen ran on (sweep_key)
        self.gain_view = GainSweepView()
        self.depth_view = DepthSweepView()
        self.dead_map = DeadNeuronMap()
        self.bn5 = BatchNormFivePoints()
        self.gain_btn = QtWidgets.QPushButton("Sweep gain")
        lo, hi, n = GAIN_RANGE
        self.gain_btn.setToolTip(f"gains {lo:g} → {hi:g} ({n} points), the current stack, at init")
        self.depth_btn = QtWidgets.QPushButton("Sweep depth")
        self.depth_btn.setToolTip("depth 1 → 12 blocks of the stack's Linear + activation, with each normalisation (none, BatchNorm, LayerNorm, RMSNorm)")
        self.seeds = self._seeds_box()
        self.depth_seeds = self._seeds_box()
        self.seeds.valueChanged.connect(self.depth_seeds.setValue)  # one value, shown in both bars
        self.depth_seeds.valueChanged.connect(self.seeds.setValue)
        # short texts: at 1024x700 in presentation mode a status line has about 340 px
        self.gain_status = self._status_line("at init, on the current stack")
        self.depth_status = self._status_line("at init, with each normalisation")
        self.status = self.gain_status  # the status line of the sweep asked for last
        gain_tab = self._sweep_page(self.gain_btn, self.seeds, self.gain_status, self.gain_view)
        depth_tab = self._sweep_page(self.depth_btn, self.depth_seeds, self.depth_status, self.depth_view)
        # the train sweep view imports torch, so it is built in start(), once the window is up
        self.train_view = None
        self.train_holder = QtWidgets.QWidget()
        QtWidgets.QVBoxLayout(self.train_holder).addWidget(QtWidgets.QLabel("starting…"))
        self.width_view = None  # the same: built in start()
        self.width_holder = QtWidgets.QWidget()
        QtWidgets.QVBoxLayout(self.width_holder).addWidget(QtWidgets.QLabel("starting…"))
        self.inner = QtWidgets.QTabWidget()
        for w, key in ((gain_tab, "gain"), (depth_tab, "depth"), (self.train_holder, "train"), (self.width_holder, "width")):
            self.inner.addTab(w, tab_title(key, EXPLORER_TABS))
        self.tab_names = [self.inner.tabText(i) for i in range(self.inner.count())]
        for i, tip in enumerate(("at init: every layer's saturation, std and gradient std across gains",
                                 "at init: the deepest layer's statistics as the stack deepens",
                                 "after training: final losses across a grid of settings",
                                 "a few steps at several widths: standard parametrisation against muP")):
            self.inner.setTabToolTip(i, tip)
        self.inner.currentChanged.connect(self._shown)
        self.sweeps_tab = self.inner
        other = QtWidgets.QSplitter()
        other.addWidget(self.dead_map)
        other.addWidget(self.bn5)
        other.setSizes([500, 500])
        self.map_tab = other
        for w, key in ((self.gain_view, "gain-sweep"), (self.depth_view, "depth-sweep"),
                       (self.dead_map, "dead-neurons"), (self.bn5, "batchnorm-five-points")):
            corner_help_button(w, key)  # a HelpCornerRoom's top row ends short of it
        self.scale = (1.0, QtWidgets.QApplication.font().pointSizeF())  # presentation mode's, for views made later
        self.gain_btn.clicked.connect(self.run_gain)
        self.depth_btn.clicked.connect(self.run_depth)
        self.gain_view.gainPicked.connect(self.gainPicked)
        self.worker.gainPoint.connect(self._gain_point)
        self.worker.gainDone.connect(self._gain_done)
        self.worker.depthDone.connect(self._depth_done)
        self.worker.failed.connect(self._failed)

    @staticmethod
    def _seeds_box() -> QtWidgets.QSpinBox:
        box = QtWidgets.QSpinBox()
        box.setRange(1, 50)
        box.setValue(6)
        box.setToolTip("init seeds averaged per point (gain and depth sweeps alike): more is smoother and slower")
        return box

    @staticmethod
    def _status_line(text: str) -> QtWidgets.QLabel:
        label = ElidedLine(text)
        label.setToolTip(text)
        return label

    @staticmethod
    def _sweep_page(button, seeds, status, view) -> QtWidgets.QWidget:
        """One sub-tab: its view, with its button, the seeds and its status line above the plots."""
        bar = QtWidgets.QHBoxLayout()
        bar.setSpacing(6)  # not the gain view's 0, which a child layout would inherit
        for w in (button, QtWidgets.QLabel("seeds"), seeds):
            bar.addWidget(w)
        bar.addWidget(status, 1)
        view.put_bar_above(bar)
        return view

    def _set_status(self, label: QtWidgets.QLabel, text: str) -> None:
        label.setText(text)
        label.setToolTip(text)

    def _page_of(self, view: QtWidgets.QWidget) -> int:
        return self.inner.indexOf(view)

    def _finished(self, view: QtWidgets.QWidget) -> None:
        """A sweep ended: when its sub-tab is not the one shown, its tab says so until it is."""
        i = self._page_of(view)
        if i != self.inner.currentIndex():
            self.inner.setTabText(i, self.tab_names[i] + self.DONE_MARK)

    def _shown(self, i: int) -> None:
        if 0 <= i < len(self.tab_names):
            self.inner.setTabText(i, self.tab_names[i])

    def start(self) -> None:
        """The sweep thread (once torch is importable)."""
        from initscope.gui.worker import start_in_thread

        self.thread = start_in_thread(self.worker, "initscope-sweep")
        self._sweep_gain.connect(self.worker.gain)
        self._sweep_depth.connect(self.worker.depth)
        from initscope.gui.train_sweep import TrainSweepView

        self.train_view = TrainSweepView()
        lay = self.train_holder.layout()
        while lay.count():
            lay.takeAt(0).widget().deleteLater()
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.train_view)
        corner_help_button(self.train_view, "train-sweep")
        self.train_view.set_scale(*self.scale)  # presentation mode may be on already
        self.train_view.run_requested.connect(self.runRequested)
        from initscope.gui.width_view import WidthView

        self.width_view = WidthView()
        lay = self.width_holder.layout()
        while lay.count():
            lay.takeAt(0).widget().deleteLater()
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.width_view)
        corner_help_button(self.width_view, "width-check")
        self.width_view.set_scale(*self.scale)
        self.width_view.run_requested.connect(self.runRequested)
        self.width_view.finished.connect(lambda: self._finished(self.width_holder))
        if self.cfg is not None and self.data is not None:
            self.train_view.set_base_config(self.cfg, self.data.path)
            self.width_view.set_base_config(self.cfg, self.data.path, self.data.vocab.size)

    def set_context(self, cfg: Config, data, problem: str | None) -> None:
        """The window's current settings and data; `problem` says why sweeps cannot run now (None: they can)."""
        self.cfg, self.data, self.problem = cfg, data, problem
        self.gain_view.set_current(cfg.init.gain)
        # a sweep belongs to the settings it ran on: other settings (a preset, a layer) clear it; a new gain
        # (a click in the gain sweep) does not
        if self._gain_key is not None and self._gain_key != sweep_key(cfg, data):
            self._gain_key = None
            self.generation += 1
            self.worker.latest = self.generation  # a sweep still running stops
            self.gain_running = False
            self.gain_view.clear()
            self._set_status(self.gain_status, "the settings changed: Sweep gain again for these")
        if self._depth_key is not None and self._depth_key != sweep_key(cfg, data):
            self._depth_key = None
            self.depth_generation += 1
            self.depth_view.clear()
            self._set_status(self.depth_status, "the settings changed: Sweep depth again for these")
        if self.train_view is not None and data is not None:
            self.train_view.set_base_config(cfg, data.path)
        if self.width_view is not None and data is not None:
            self.width_view.set_base_config(cfg, data.path, data.vocab.size)

    def _ready(self, status: QtWidgets.QLabel, view: QtWidgets.QWidget) -> bool:
        self.status = status
        self.inner.setCurrentIndex(self._page_of(view))  # a sweep asked for is shown (a click is there already)
        if self.problem is not None or self.thread is None:
            self._set_status(status, self.problem or "starting…")
            return False
        return True

    def run_gain(self) -> None:
        if not self._ready(self.gain_status, self.gain_view):
            return
        self.generation += 1
        self.worker.latest = self.generation
        from initscope.core.sweeps import gain_values

        gains = gain_values(*GAIN_RANGE)
        self.gain_view.start(gains, self.cfg.copy(), self.data.vocab.size)  # the theory lines at once
        self._set_status(self.gain_status, "sweeping gain…")
        self.gain_running = True
        self._gain_key = sweep_key(self.cfg, self.data)
        self._sweep_gain.emit(self.generation, self.cfg.copy(), self.data, gains, self.seeds.value())

    def run_depth(self) -> None:
        """A depth sweep; one asked for while a gain sweep runs starts when that one ends (one sweep thread)."""
        if not self._ready(self.depth_status, self.depth_view):
            return
        self.depth_generation += 1
        self._set_status(self.depth_status, "queued after the gain sweep…" if self.gain_running else "sweeping depth…")
        self._depth_cfg = self.cfg.copy()  # the theory is drawn for the config the sweep ran on
        self._depth_key = sweep_key(self.cfg, self.data)
        self._sweep_depth.emit(self.depth_generation, self.cfg.copy(), self.data, 12, self.depth_seeds.value(),
                               self.depth_view.residual_variants())

    @QtCore.Slot(int)
    def _gain_done(self, generation: int) -> None:
        if generation == self.generation:
            self.gain_running = False
            self._set_status(self.gain_status, "done: click a point to use its gain")
            if self.depth_status.text().startswith("queued"):
                self._set_status(self.depth_status, "sweeping depth…")
            self._finished(self.gain_view)

    @QtCore.Slot(str, str)
    def _failed(self, which: str, msg: str) -> None:
        if which == "gain":
            self.gain_running = False
        self._set_status(self.gain_status if which == "gain" else self.depth_status, f"{which} sweep failed: {msg}")

    @QtCore.Slot(int, int, object, object)
    def _gain_point(self, generation: int, i: int, names, arr) -> None:
        if generation != self.generation:
            return
        self.gain_view.add_point(i, names, arr)

    @QtCore.Slot(int, object)
    def _depth_done(self, generation: int, res) -> None:
        if generation != self.depth_generation:
            return
        self.depth_view.show_result(res, self._depth_cfg, self.data.vocab.size)
        self._set_status(self.depth_status, "depth sweep done")
        self._finished(self.depth_view)

    def panels(self) -> list[Panel]:
        return [*self.gain_view.panels, self.depth_view.std_panel, self.depth_view.sat_panel, self.depth_view.grad_panel]

    def set_scale(self, scale: float, point_size: float) -> None:
        """Presentation mode for the views that are not Panels: the dead-neuron map, BatchNorm in five points and
        the train sweep (made once torch is ready: it takes the scale then)."""
        self.scale = (scale, point_size)
        for view in (self.dead_map, self.bn5, self.train_view, self.width_view):
            if view is not None:
                view.set_scale(scale, point_size)

    def redraw(self) -> None:
        """Called from the window's redraw timer while the Explorer tab is shown: sweep points are drawn at most at
        that rate."""
        self._lay_out_hidden_pages()
        v = self.gain_view
        if v.dirty and len(v.values) < len(v.gains):
            self._set_status(self.gain_status, f"sweeping gain… {len(v.values)}/{len(v.gains)}")
        if self.cfg is not None:
            v.draw(blocks(flat_kinds(self.cfg.model.layers)))

    def _lay_out_hidden_pages(self) -> None:
        """The sweep sub-tab not shown, laid out at the shown one's size: an export or presentation mode draws
        every panel, and a page Qt never showed (or showed at another window size) would be drawn at its old
        size. Shown and hidden again at once: nothing is painted between, and the tabs say nothing."""
        cur = self.inner.currentWidget()
        stale = [v for v in (self.gain_view, self.depth_view) if v is not cur and v.size() != cur.size()]
        if not stale or not self.inner.isVisible():
            return
        i = self.inner.currentIndex()
        self.inner.blockSignals(True)
        try:
            for v in stale:
                self.inner.setCurrentWidget(v)
            self.inner.setCurrentIndex(i)
        finally:
            self.inner.blockSignals(False)

    def close(self) -> None:
        if self.train_view is not None:
            self.train_view.shutdown()  # its workers stopped, its temporary run files removed
        if self.width_view is not None:
            self.width_view.shutdown()
        self.worker.latest = -1  # a running sweep stops at its next point
        if self.thread is not None:
            from initscope.gui.worker import stop_thread

            stop_thread(self.thread)
