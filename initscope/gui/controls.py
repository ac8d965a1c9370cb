"""The side panel: data, preset, layer stack, init and training settings.

The Config held by the main window is the one source of truth: every widget writes its field into it
and emits `changed`; `show_config` writes the config back into the widgets (signals blocked).
"""

from __future__ import annotations

import math
from dataclasses import replace

from PySide6 import QtCore, QtGui, QtWidgets

from initscope.core.config import (
    ACTIVATIONS,
    NORM_CHOICES,
    PRESET_INFO,
    PRESETS,
    RESIDUAL_SCALINGS,
    SCHEMES,
    Config,
    LayerSpec,
    deep_stack,
    field_bounds_open,
    field_spec,
    preset,
    set_batchnorm,
    set_norm,
    stack_norm,
)

NORM_LABELS = {"none": "none", "batchnorm": "BatchNorm", "layernorm": "LayerNorm", "rmsnorm": "RMSNorm"}
MORE_KINDS = ("layernorm", "rmsnorm", "gelu", "silu", "sigmoid")  # beside the lecture's buttons

GAIN_PICKS = (("5/3", 5 / 3), ("1", 1.0), ("√2", math.sqrt(2)))


INT_MAX = 2**31 - 1  # a QSpinBox's range; larger integers (the seed's 2**63 - 1) use BigIntSpin

# Each numeric widget writes one config field; its range and default are the schema's (config.field_spec), its
# step and decimals the widget's own. (widget attribute, "section.field", step, decimals: None for an integer)
BINDINGS = (
    ("gain", "init.gain", 0.05, 3), ("out_factor", "init.output_factor", 0.01, 3),
    ("n_embd", "model.n_embd", 1, None), ("block", "model.block_size", 1, None),
    ("steps", "train.steps", 1000, None), ("batch", "train.batch_size", 1, None),
    ("lr", "train.lr", 0.01, 4), ("decay_step", "train.lr_decay_step", 1000, None),
    ("decay_factor", "train.lr_decay_factor", 0.01, 4), ("seed", "train.seed", 1, None),
    ("every", "diag.snapshot_every", 10, None),
)


class BigIntSpin(QtWidgets.QAbstractSpinBox):
    """A spin box for integers beyond 32 bits (the seed goes to 2**63 - 1): a Python int, no rounding."""

    valueChanged = QtCore.Signal(object)

    def __init__(self, lo: int, hi: int, parent=None):
        super().__init__(parent)
        self.lo, self.hi, self._value, self.step = lo, hi, lo, 1
        self.lineEdit().setText(str(lo))
        self.editingFinished.connect(self._typed)

    def value(self) -> int:
        return self._value

    def setValue(self, v: int) -> None:
        v = max(self.lo, min(self.hi, int(v)))
        self.lineEdit().setText(str(v))
        if v != self._value:
            self._value = v
            self.valueChanged.emit(v)

    def setSingleStep(self, step: int) -> None:
        self.step = step

    def _typed(self) -> None:
        text = self.lineEdit().text().strip()
        self.setValue(int(text)) if text.isdigit() else self.lineEdit().setText(str(self._value))

    def stepBy(self, n: int) -> None:
        self.setValue(self._value + n * self.step)

    def stepEnabled(self):
        flags = QtWidgets.QAbstractSpinBox.StepEnabledFlag
        return (flags.StepUpEnabled if self._value < self.hi else flags.StepNone) | \
            (flags.StepDownEnabled if self._value > self.lo else flags.StepNone)

    def validate(self, text: str, pos: int):
        st = QtGui.QValidator.State
        if text.isdigit() and self.lo <= int(text) <= self.hi:
            return st.Acceptable, text, pos
        return (st.Intermediate if text == "" or (text.isdigit() and int(text) <= self.hi) else st.Invalid), text, pos

    def sizeHint(self) -> QtCore.QSize:
        h = super().sizeHint()
        return QtCore.QSize(self.fontMetrics().horizontalAdvance("9" * 12) + 30, h.height())


def bound_spin(path: str, step, decimals: int | None):
    """The widget for config field `path`, its range and default from the schema (field_spec)."""
    section, name = path.split(".")
    default, lo, hi = field_spec(section, name)
    lo = 0 if lo is None else lo
    if decimals is None and (hi or 0) > INT_MAX:
        w = BigIntSpin(int(lo), int(hi))
        w.setSingleStep(step)
        w.setValue(default)
        return w
    hi = INT_MAX if hi is None else hi
    if field_bounds_open(section, name):  # a bound the value may not reach: the smallest step above it
        lo = lo + (10 ** -(decimals or 0))
    return _spin(lo, hi, default, step, decimals)


def _spin(lo, hi, value, step=1, decimals=None, suffix=""):
    w = QtWidgets.QDoubleSpinBox() if decimals is not None else QtWidgets.QSpinBox()
    if decimals is not None:
        w.setDecimals(decimals)
    w.setRange(lo, hi)
    w.setSingleStep(step)
    w.setValue(value)
    if suffix:
        w.setSuffix(suffix)
    w.setKeyboardTracking(False)  # typing "100" should not preview 1, then 10, then 100
    return w


class StackEditor(QtWidgets.QGroupBox):
    """List of layers with add / remove / reorder, and a quick depth x width builder."""

    edited = QtCore.Signal(list)  # the new list[LayerSpec]

    def __init__(self, parent=None):
        super().__init__("Layer stack", parent)
        self.layers: list[LayerSpec] = []
        self.list = QtWidgets.QListWidget()
        self.list.setMinimumHeight(90)
        self.list.setMaximumHeight(150)
        self.list.setAlternatingRowColors(True)
        self.width_spin = _spin(1, 4096, 100)
        add_lin = QtWidgets.QPushButton("+ Linear")
        add_bn = QtWidgets.QPushButton("+ BN")
        add_tanh = QtWidgets.QPushButton("+ Tanh")
        add_relu = QtWidgets.QPushButton("+ ReLU")
        for b, spec in ((add_lin, None), (add_bn, "batchnorm"), (add_tanh, "tanh"), (add_relu, "relu")):
            b.setToolTip("insert after the selected layer (or at the end)")
            b.clicked.connect(lambda _=False, s=spec: self._add(s))
        self.more = QtWidgets.QComboBox()  # the kinds beyond the lecture, one insert button for all
        self.more.addItems(list(MORE_KINDS))
        self.more.setToolTip("LayerNorm / RMSNorm normalise each example over its features; GELU, SiLU, sigmoid "
                             "are the activations of today's nets")
        add_more = QtWidgets.QPushButton("+")
        add_more.setMaximumWidth(36)
        add_more.setToolTip("insert the chosen kind after the selected layer (or at the end)")
        add_more.clicked.connect(lambda: self._add(self.more.currentText()))
        self.add_more = add_more
        self.remove_btn = QtWidgets.QPushButton("Remove")
        self.up_btn = QtWidgets.QPushButton("▲")
        self.down_btn = QtWidgets.QPushButton("▼")
        self.up_btn.setToolTip("move the selected layer up")
        self.down_btn.setToolTip("move the selected layer down")
        self.remove_btn.clicked.connect(self._remove)
        self.up_btn.clicked.connect(lambda: self._move(-1))
        self.down_btn.clicked.connect(lambda: self._move(1))
        self.depth = _spin(1, 20, 5)
        self.bwidth = _spin(1, 4096, 100)
        self.act = QtWidgets.QComboBox()
        self.act.addItems(list(ACTIVATIONS))
        self.residual = QtWidgets.QCheckBox("residual")
        self.residual.setToolTip("a stem Linear(width), then depth residual blocks x + [norm] -> Linear -> activation "
                                 "-> Linear (pre-norm with the normalisation chosen under Init), then the output")
        self.norm = "none"  # the panel's normalisation choice, which Build follows
        self.build_btn = QtWidgets.QPushButton("Build")
        self.build_btn.setToolTip("replace the stack with depth x (Linear(width), activation), then the output "
                                  "Linear; with the chosen normalisation after every Linear; or residual blocks")
        self.build_btn.clicked.connect(self._build)
        self.error = QtWidgets.QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b00020;")
        self.params = QtWidgets.QLabel()

        g = QtWidgets.QGridLayout(self)
        g.setContentsMargins(6, 6, 6, 6)
        g.addWidget(self.list, 0, 0, 1, 4)
        g.addWidget(QtWidgets.QLabel("width"), 1, 0)
        g.addWidget(self.width_spin, 1, 1)
        g.addWidget(add_lin, 1, 2)
        g.addWidget(add_bn, 1, 3)
        g.addWidget(add_tanh, 2, 0)
        g.addWidget(add_relu, 2, 1)
        g.addWidget(self.up_btn, 2, 2)
        g.addWidget(self.down_btn, 2, 3)
        more = QtWidgets.QHBoxLayout()
        more.addWidget(self.more, 1)
        more.addWidget(add_more)
        g.addLayout(more, 3, 0, 1, 2)
        g.addWidget(self.remove_btn, 3, 2, 1, 2)
        quick = QtWidgets.QHBoxLayout()
        quick.addWidget(self.depth)
        quick.addWidget(QtWidgets.QLabel("×"))
        quick.addWidget(self.bwidth)
        quick.addWidget(self.act)
        quick.addWidget(self.build_btn)
        head = QtWidgets.QHBoxLayout()
        head.addWidget(QtWidgets.QLabel("depth × width:"))
        head.addStretch(1)
        head.addWidget(self.residual)
        g.addLayout(head, 4, 0, 1, 4)
        g.addLayout(quick, 5, 0, 1, 4)
        g.addWidget(self.params, 6, 0, 1, 4)
        g.addWidget(self.error, 7, 0, 1, 4)

    def show_layers(self, layers: list[LayerSpec]) -> None:
        row = self.list.currentRow()
        self.layers = [replace(s) for s in layers]
        self.list.clear()
        i = 0  # flat index, as the net names its layers: a residual block spans its branch and its addition
        for s in self.layers:
            n = len(s.layers or []) + 1 if s.kind == "residual" else 1
            self.list.addItem(f"L{i}  {s.label()}" if n == 1 else f"L{i}–L{i + n - 1}  {s.label()}")
            i += n
        if 0 <= row < self.list.count():
            self.list.setCurrentRow(row)

    def _emit(self, layers, select: int | None = None) -> None:
        self.show_layers(layers)
        if select is not None and 0 <= select < self.list.count():
            self.list.setCurrentRow(select)
        self.edited.emit([replace(s) for s in self.layers])

    def _add(self, kind: str | None) -> None:
        spec = LayerSpec("linear", self.width_spin.value()) if kind is None else LayerSpec(kind)
        row = self.list.currentRow()
        at = len(self.layers) if row < 0 else row + 1
        self._emit(self.layers[:at] + [spec] + self.layers[at:], at)

    def _remove(self) -> None:
        row = self.list.currentRow()
        if 0 <= row < len(self.layers):
            self._emit(self.layers[:row] + self.layers[row + 1:], min(row, len(self.layers) - 2))

    def _move(self, d: int) -> None:
        row = self.list.currentRow()
        j = row + d
        if 0 <= row < len(self.layers) and 0 <= j < len(self.layers):
            layers = list(self.layers)
            layers[row], layers[j] = layers[j], layers[row]
            self._emit(layers, j)

    def _build(self) -> None:
        norm = self.norm if self.norm != "none" else stack_norm(self.layers)
        self._emit(deep_stack(self.depth.value(), self.bwidth.value(), activation=self.act.currentText(), norm=norm,
                              residual=self.residual.isChecked()))


def matching_preset(cfg: Config) -> str | None:
    """The preset whose layer stack and init cfg has (the gain to the side panel's 3 decimals), if any."""
    for name in PRESETS:
        p = preset(name)
        if p.model == cfg.model and replace(p.init, gain=0.0) == replace(cfg.init, gain=0.0) \
                and abs(p.init.gain - cfg.init.gain) < 5e-4:
            return name
    return None


class ControlPanel(QtWidgets.QWidget):
    changed = QtCore.Signal(str)  # the config path that changed ("init.gain", "model.layers"), or "preset:NAME"
    openData = QtCore.Signal()

    def __init__(self, cfg: Config, devices: list[str], parent=None):
        super().__init__(parent)
        self.cfg = cfg
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)

        # preset
        pre_box = QtWidgets.QGroupBox("Preset (the lecture's steps)")
        pl = QtWidgets.QVBoxLayout(pre_box)
        self.preset = QtWidgets.QComboBox()
        self.preset.addItem("(custom)")
        for name in PRESETS:
            self.preset.addItem(name)
            self.preset.setItemData(self.preset.count() - 1, PRESET_INFO[name], QtCore.Qt.ItemDataRole.ToolTipRole)
        pl.addWidget(self.preset)
        lay.addWidget(pre_box)

        # init
        init_box = QtWidgets.QGroupBox("Init")
        il = QtWidgets.QGridLayout(init_box)
        self.scheme = QtWidgets.QComboBox()
        self.scheme.addItems(list(SCHEMES))
        self.scheme.setToolTip("kaiming: randn/sqrt(fan_in) × gain;  naive: randn × gain (the lecture's start); "
                               "torch-default: what nn.Linear draws by itself; xavier: variance 2/(fan_in+fan_out); "
                               "orthogonal; lsuv: orthogonal, then unit output variance on a batch")
        spins = {attr: bound_spin(path, step, dec) for attr, path, step, dec in BINDINGS}
        self.gain = spins["gain"]
        self.gain.setToolTip("gain on every hidden Linear: 5/3 for tanh, √2 for ReLU, 1 for none")
        picks = QtWidgets.QHBoxLayout()
        self.gain_picks = []
        for label, v in GAIN_PICKS:
            b = QtWidgets.QPushButton(label)
            b.setMaximumWidth(44)
            b.clicked.connect(lambda _=False, v=v: self.pick_gain(v))
            picks.addWidget(b)
            self.gain_picks.append(b)
        self.gain_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.gain_slider.setRange(0, 300)  # gain x 100: drag and watch the saturation move
        self.gain_slider.valueChanged.connect(lambda v: self.gain.setValue(v / 100))
        self.out_scale = QtWidgets.QCheckBox("scale output layer by")
        self.out_factor = spins["out_factor"]
        self.batchnorm = QtWidgets.QCheckBox("BatchNorm after every Linear")
        self.norm = QtWidgets.QComboBox()  # beside the lecture's toggle: which normalisation, if any
        for k in NORM_CHOICES:
            self.norm.addItem(NORM_LABELS[k], k)
        self.norm.setToolTip("a normalisation after every Linear (BatchNorm after the output too, as the lecture "
                             "does); in a residual stack, the branches' pre-norms and the final one")
        self.res_scaling = QtWidgets.QComboBox()
        self.res_scaling.addItems(list(RESIDUAL_SCALINGS))
        self.res_scaling.setToolTip("residual stacks: gpt2 scales each branch's last Linear by 1/sqrt(2 × blocks); "
                                    "zero starts it at 0 (every block the identity)")
        il.addWidget(QtWidgets.QLabel("weights"), 0, 0)
        il.addWidget(self.scheme, 0, 1, 1, 2)
        il.addWidget(QtWidgets.QLabel("gain"), 1, 0)
        il.addWidget(self.gain, 1, 1)
        il.addLayout(picks, 1, 2)
        il.addWidget(self.gain_slider, 2, 0, 1, 3)
        il.addWidget(self.out_scale, 3, 0, 1, 2)
        il.addWidget(self.out_factor, 3, 2)
        il.addWidget(self.batchnorm, 4, 0, 1, 3)
        il.addWidget(QtWidgets.QLabel("norm"), 5, 0)
        il.addWidget(self.norm, 5, 1, 1, 2)
        il.addWidget(QtWidgets.QLabel("residual"), 6, 0)
        il.addWidget(self.res_scaling, 6, 1, 1, 2)
        lay.addWidget(init_box)

        # model
        self.stack = StackEditor()
        self.stack.edited.connect(self._stack_edited)
        self.n_embd, self.block = spins["n_embd"], spins["block"]
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("embedding"))
        row.addWidget(self.n_embd)
        row.addWidget(QtWidgets.QLabel("context"))
        row.addWidget(self.block)
        self.stack.layout().addLayout(row, 8, 0, 1, 4)
        lay.addWidget(self.stack)

        # training
        tr_box = QtWidgets.QGroupBox("Training")
        tl = QtWidgets.QFormLayout(tr_box)
        self.steps, self.batch, self.lr = spins["steps"], spins["batch"], spins["lr"]
        self.decay_step, self.decay_factor = spins["decay_step"], spins["decay_factor"]
        self.seed, self.every = spins["seed"], spins["every"]
        self.device = QtWidgets.QComboBox()
        self.device.addItems(devices)
        self.decay_factor.setPrefix("× ")
        tl.addRow("steps", self.steps)
        tl.addRow("batch size", self.batch)
        tl.addRow("learning rate", self.lr)
        tl.addRow("lr decay", self.decay_factor)  # two rows, not one: the panel stays narrow on a projector
        tl.addRow("decay from step", self.decay_step)
        tl.addRow("seed", self.seed)
        tl.addRow("diagnostics every", self.every)
        self.step_stats = QtWidgets.QCheckBox("(slower)")
        self.step_stats.setToolTip("saturation and update:data at every step (the per-step tier), not only at "
                                   "snapshots: per-step lines in the Overview; training runs about 0.7x as fast")
        tl.addRow("every-step lines", self.step_stats)
        tl.addRow("device", self.device)
        lay.addWidget(tr_box)
        # data
        data_box = QtWidgets.QGroupBox("Data")
        dl = QtWidgets.QVBoxLayout(data_box)
        self.data_label = QtWidgets.QLabel("loading…")
        self.data_label.setWordWrap(True)
        self.open_btn = QtWidgets.QPushButton("Open word list…")
        self.open_btn.clicked.connect(self.openData)
        dl.addWidget(self.data_label)
        dl.addWidget(self.open_btn)
        lay.addWidget(data_box)

        lay.addStretch(1)

        # every widget writes one field of the config
        # activated, not currentTextChanged: picking the preset already shown applies it again (its settings back)
        self.preset.textActivated.connect(self._preset_picked)
        for attr, path, _, _ in BINDINGS:  # one table: widget -> config field
            getattr(self, attr).valueChanged.connect(lambda v, path=path: self._set_path(path, v))
        self.scheme.currentTextChanged.connect(lambda v: self._set("init", scheme=v))
        self.out_scale.toggled.connect(lambda v: self._set("init", output_scaling=v))
        self.batchnorm.toggled.connect(self._bn_toggled)
        self.norm.currentIndexChanged.connect(lambda _: self._norm_picked(self.norm.currentData()))
        self.res_scaling.currentTextChanged.connect(self._res_scaling_picked)
        self.step_stats.toggled.connect(lambda v: self._set("diag", step_stats=v))
        self.device.currentTextChanged.connect(lambda v: self._set("train", device=v))
        self.show_config(cfg)

    # --- config -> widgets ---------------------------------------------------------
    def show_config(self, cfg: Config) -> None:
        self.cfg = cfg
        widgets = self.findChildren(QtWidgets.QWidget)
        for w in widgets:
            w.blockSignals(True)
        try:
            idx = self.preset.findText(cfg.name) if cfg.name in PRESETS else 0
            self.preset.setCurrentIndex(max(idx, 0))
            self.stack.show_layers(cfg.model.layers)
            for attr, path, _, _ in BINDINGS:
                section, name = path.split(".")
                getattr(self, attr).setValue(getattr(getattr(cfg, section), name))
            self.scheme.setCurrentText(cfg.init.scheme)
            self.gain_slider.setValue(round(cfg.init.gain * 100))
            self.out_scale.setChecked(cfg.init.output_scaling)
            self.out_factor.setEnabled(cfg.init.output_scaling)
            self.batchnorm.setChecked(cfg.has_batchnorm)
            self._show_norm(cfg.model.layers)
            self.res_scaling.setCurrentText(cfg.init.residual_scaling)
            self.res_scaling.setEnabled(any(s.kind == "residual" for s in cfg.model.layers))
            t = cfg.train
            self.step_stats.setChecked(cfg.diag.step_stats)
            if self.device.findText(t.device) < 0:
                self.device.addItem(t.device)
            self.device.setCurrentText(t.device)
        finally:
            for w in widgets:
                w.blockSignals(False)

    # --- widgets -> config -------------------------------------------------------------
    def _set_path(self, path: str, value) -> None:
        """A bound widget's new value, into its field. A box shows a rounded value (the gain to 3 decimals): the
        field keeps its exact value while the box still shows it (5/3 stays 5/3, not 1.667)."""
        section, name = path.split(".")
        old = getattr(getattr(self.cfg, section), name)
        w = getattr(self, next(a for a, p, _, _ in BINDINGS if p == path))
        if isinstance(old, float) and isinstance(w, QtWidgets.QDoubleSpinBox) and round(old, w.decimals()) == value:
            return
        self._set(section, **{name: value})

    def _set(self, part: str, **kv) -> None:
        obj = getattr(self.cfg, part)
        for k, v in kv.items():
            setattr(obj, k, v)
        if part in ("model", "init"):
            # the preset it started from, or another one the settings now match again (a toggle undone)
            self.cfg.name = matching_preset(self.cfg) or ""
            if self.cfg.name:
                self.cfg.init.gain = preset(self.cfg.name).init.gain  # exactly 5/3, not the box's 1.667
            self.preset.blockSignals(True)
            self.preset.setCurrentIndex(max(self.preset.findText(self.cfg.name), 0) if self.cfg.name else 0)
            self.preset.blockSignals(False)
        if part == "init":
            self.out_factor.setEnabled(self.cfg.init.output_scaling)
            self.gain_slider.blockSignals(True)
            self.gain_slider.setValue(round(self.cfg.init.gain * 100))
            self.gain_slider.blockSignals(False)
        self.changed.emit(f"{part}.{next(iter(kv))}")  # the config path ("init.gain", "model.layers")

    def _show_norm(self, layers: list[LayerSpec]) -> None:
        """The BatchNorm toggle and the norm choice say what the stack has (signals blocked)."""
        norm = stack_norm(layers)
        for w in (self.batchnorm, self.norm):
            w.blockSignals(True)
        self.batchnorm.setChecked(norm == "batchnorm")
        self.norm.setCurrentIndex(max(self.norm.findData(norm), 0))
        for w in (self.batchnorm, self.norm):
            w.blockSignals(False)
        self.stack.norm = norm

    def _stack_edited(self, layers: list[LayerSpec]) -> None:
        self._show_norm(layers)
        self._fit_residual_scaling(layers)
        self._set("model", layers=layers)

    def _fit_residual_scaling(self, layers: list[LayerSpec]) -> None:
        """Residual scaling applies to residual stacks only: back to none (and disabled) without blocks."""
        has = any(s.kind == "residual" for s in layers)
        self.res_scaling.setEnabled(has)
        if not has and self.cfg.init.residual_scaling != "none":
            self.cfg.init.residual_scaling = "none"
            self.res_scaling.blockSignals(True)
            self.res_scaling.setCurrentText("none")
            self.res_scaling.blockSignals(False)

    def _bn_toggled(self, on: bool) -> None:
        layers = set_batchnorm(self.cfg.model.layers, on)
        for i, s in enumerate(layers):  # the lecture's convention: no bias right before a BatchNorm
            if s.kind == "linear":
                s.bias = not (i + 1 < len(layers) and layers[i + 1].kind == "batchnorm")
        self.stack.show_layers(layers)
        self._show_norm(layers)
        self._set("model", layers=layers)

    def _norm_picked(self, norm: str) -> None:
        layers = set_norm(self.cfg.model.layers, norm)
        self.stack.show_layers(layers)
        self._show_norm(layers)
        self._set("model", layers=layers)

    def _res_scaling_picked(self, value: str) -> None:
        self._set("init", residual_scaling=value)

    def _preset_picked(self, name: str) -> None:
        if name in PRESETS:
            self.changed.emit("preset:" + name)

    def pick_gain(self, gain: float) -> None:
        """A quick pick writes the config, exactly (5/3, not the box's 1.667); the box only shows it."""
        self.gain.blockSignals(True)
        self.gain.setValue(gain)
        self.gain.blockSignals(False)
        self._set("init", gain=gain)

    def pick_preset(self, name: str) -> None:
        """As a user picks it in the list (the one shown included: it is applied again)."""
        self.preset.setCurrentIndex(self.preset.findText(name))
        self._preset_picked(name)

    def in_scroll_area(self) -> QtWidgets.QScrollArea:
        """The panel in a scroll area that scrolls up and down only, as narrow as the panel allows."""
        scroll = QtWidgets.QScrollArea()
        scroll.setWidget(self)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(self.minimumSizeHint().width() + 18)  # the plots get the rest
        return scroll

    def show_data(self, data) -> None:
        import html

        c = data.counts()
        note = data.vocab.note()  # capitals, apostrophes, accents: said, with the uniform guess they change
        self.data_label.setText(
            f"<b>{html.escape(data.path.rsplit('/', 1)[-1])}</b>: {len(data.words):,} words, vocabulary "
            f"{data.vocab.size}<br>{c['train']:,} / {c['val']:,} / {c['test']:,} train / val / test examples"
            + (f"<br><span style='color:#a04800'>⚠ {html.escape(note)}</span>" if note else ""))
        self.data_label.setToolTip(data.path)

    def set_training(self, training: bool) -> None:
        """While a run trains, its settings are frozen (the data flows one way: config -> run)."""
        focused = QtWidgets.QApplication.focusWidget()
        if training and focused is not None and self.isAncestorOf(focused):
            focused.clearFocus()  # else Qt moves focus down the panel and the scroll area jumps to follow it
        for w in (self.stack, self.n_embd, self.block, self.scheme, self.gain, self.gain_slider, self.out_scale,
                  self.out_factor, self.batchnorm, self.norm, self.res_scaling, self.preset, self.open_btn, *self.gain_picks,
                  self.steps, self.batch, self.lr, self.decay_step, self.decay_factor, self.seed, self.every,
                  self.step_stats,
                  self.device):
            w.setEnabled(not training)
        if not training:
            self.out_factor.setEnabled(self.cfg.init.output_scaling)
            self.res_scaling.setEnabled(any(s.kind == "residual" for s in self.cfg.model.layers))
