"""The one config schema shared by the CLI, the GUI and saved runs, with its validation and the presets.

A config is a plain dataclass tree. `Config.from_dict` validates field by field and raises a
ConfigError that names the field; `to_dict` / `from_dict` round-trip exactly.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from initscope.core.errors import ConfigError

SCHEMA_VERSION = 1  # the residual kind, norms and schemes are additions: every version-1 file still reads the same
ACTIVATIONS = ("tanh", "relu", "gelu", "silu", "sigmoid")
NORMS = ("batchnorm", "layernorm", "rmsnorm")
LAYER_KINDS = ("linear", *NORMS, *ACTIVATIONS, "residual")
NORM_CHOICES = ("none", *NORMS)  # the side panel's "normalisation after every Linear"
SCHEMES = ("kaiming", "naive", "torch-default", "xavier-normal", "xavier-uniform", "orthogonal", "lsuv")
RESIDUAL_SCALINGS = ("none", "gpt2", "zero")
MAX_WIDTH = 4096
MAX_LAYERS = 4096  # layer entries: per-layer work (theory, previews, plots) is linear in them; 40k took minutes
MAX_BLOCKS = 256  # residual blocks in one stack
GAIN_RANGE = (0.25, 3.0, 24)  # the gain sweep's first and last gain and its points (the app's, the CLI's defaults)
TANH_GAIN = 5 / 3  # tanh squashes; 5/3 restores unit variance on average (torch.nn.init.calculate_gain)
_TITLES = {"linear": "Linear", "batchnorm": "BatchNorm", "layernorm": "LayerNorm", "rmsnorm": "RMSNorm",
           "tanh": "Tanh", "relu": "ReLU", "gelu": "GELU", "silu": "SiLU", "sigmoid": "Sigmoid", "residual": "Residual"}


@dataclass
class LayerSpec:
    """One layer of the stack. For 'linear', width=None means "the vocabulary size" (the output); inside a
    residual branch it means "the stream's width". A 'residual' block adds scale * branch(x) to its input x,
    its branch being `layers` (pre-norm when the branch starts with a norm)."""

    kind: str
    width: int | None = None
    bias: bool = True
    scale: float = 1.0  # residual only
    layers: list[LayerSpec] | None = None  # residual only: the branch

    @property
    def title(self) -> str:
        return _TITLES[self.kind]

    def label(self, in_branch: bool = False) -> str:
        if self.kind == "linear":
            # width None: the vocabulary (the output layer); inside a residual branch, the stream's width
            none = "stream" if in_branch else "vocab"
            return f"Linear({none if self.width is None else self.width}{'' if self.bias else ', no bias'})"
        if self.kind == "residual":
            inner = " -> ".join(s.label(in_branch=True) for s in self.layers or [])
            return f"Residual({'' if self.scale == 1 else f'{self.scale:g} x '}[{inner}])"
        return {"batchnorm": "BatchNorm1d"}.get(self.kind, self.title)

    def to_dict(self) -> dict:
        """The saved form: a plain layer keeps the three keys it always had; a residual block its own."""
        if self.kind == "residual":
            return {"kind": "residual", "scale": self.scale, "layers": [s.to_dict() for s in self.layers or []]}
        return {"kind": self.kind, "width": self.width, "bias": self.bias}


@dataclass(frozen=True)
class ResolvedLayer:
    """One entry of the stack as the net runs it: residual blocks are flattened into their branch's layers
    followed by one entry of kind 'residual' (the stream after the addition). `index` is the position in
    this flat list (the "L3" of names); widths are resolved (vocab, the stream's)."""

    index: int
    kind: str
    fan_in: int  # width of the layer's input
    width: int  # width of its output
    bias: bool = False  # Linear: has a bias (off before a BatchNorm)
    block: int | None = None  # the residual block (0, 1, ...) this entry belongs to, branch and addition
    scale: float = 1.0  # residual: the branch's factor
    block_start: int | None = None  # residual: flat index of the branch's first layer
    branch_last_linear: bool = False  # Linear: the last Linear of a residual branch (gpt2 / zero scaling)
    is_output: bool = False  # Linear: the output layer

    @property
    def title(self) -> str:
        return _TITLES[self.kind]

    @property
    def name(self) -> str:
        return f"L{self.index} {self.title}"


def _spec(default, lo=None, hi=None, *, lo_open: bool = False, factory=None):
    """A field whose default and bounds are declared once, here; the parser, `field_spec` (spin boxes, CLI)
    and the tests read them from the field's metadata."""
    meta = {"lo": lo, "hi": hi, "lo_open": lo_open}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class ModelConfig:
    block_size: int = _spec(3, 1, 32)  # characters of context
    n_embd: int = _spec(10, 1, 1024)  # embedding size per character
    # the default stack is the lecture's deep net with BatchNorm (the app's default); see deep_stack
    layers: list[LayerSpec] = field(default_factory=lambda: deep_stack(5, 100, batchnorm=True))
    bn_momentum: float = _spec(0.1, 0.0, 1.0, lo_open=True)  # torch's default; the lecture's 1-layer net uses 0.001

    def resolve(self, vocab_size: int) -> list[ResolvedLayer]:
        """The flat, width-resolved stack every consumer walks (Net, count_params, theory, diagnostics,
        run files). Validates the stack first (ConfigError naming the layer)."""
        validate_stack(self.layers, vocab_size)
        return resolve_stack(self.layers, self.n_embd * self.block_size, vocab_size)


@dataclass
class InitConfig:
    # "kaiming": randn/sqrt(fan_in)*gain, "naive": randn*gain, "torch-default": what nn.Linear draws by itself,
    # "xavier-normal"/"xavier-uniform"/"orthogonal": torch.nn.init's, "lsuv": orthogonal then unit output variance
    scheme: str = "kaiming"
    residual_scaling: str = "none"  # "gpt2": each branch's last Linear x 1/sqrt(2 n_blocks); "zero": it starts at 0
    # applied to every hidden Linear (not the output); a config that omits it gets its stack's default_gain
    gain: float = _spec(TANH_GAIN, 0.0, 100.0)
    output_scaling: bool = True  # shrink the output layer so the first prediction is near-uniform
    output_factor: float = _spec(0.1, 0.0, 100.0)
    hidden_bias_std: float = _spec(0.0, 0.0, 100.0)  # 0 = zeros; >0 = randn*std (the lecture's early presets)
    output_bias_std: float = _spec(0.0, 0.0, 100.0)


@dataclass
class TrainConfig:
    steps: int = _spec(200_000, 0, 100_000_000)
    batch_size: int = _spec(32, 2, 65536)  # BatchNorm needs two examples
    lr: float = _spec(0.1, 0.0, 1e3)
    lr_decay_step: int = _spec(150_000, 0)  # 0 = never decay
    lr_decay_factor: float = _spec(0.1, 0.0, 1e3)
    seed: int = _spec(2147483647, 0, 2**63 - 1)  # the lecture's torch.Generator seed
    device: str = "cpu"


@dataclass
class DiagConfig:
    snapshot_every: int = _spec(100, 1)  # full diagnostics every K steps; other steps carry none
    saturation_threshold: float = _spec(0.97, 0.0, 1.0, lo_open=True)  # |tanh| above this counts as saturated
    hist_bins: int = _spec(50, 4, 1000)
    # the per-step tier (saturation, std, grad std per layer; update:data per matrix) every step, read back with
    # the loss chunk; off by default: the deep net trains at about 0.7x the default's speed with it (bench_train)
    step_stats: bool = False


SECTIONS: dict[str, type] = {"model": ModelConfig, "init": InitConfig, "train": TrainConfig, "diag": DiagConfig}


def field_spec(section: str, name: str) -> tuple[Any, float | None, float | None]:
    """(default, lo, hi) of a numeric config field, e.g. field_spec("train", "lr") -> (0.1, 0.0, 1000.0).

    lo / hi are None when unbounded. The one source for spin-box ranges and CLI checks. A lower bound
    may be exclusive (bn_momentum, saturation_threshold: > 0); `field_bounds_open` says which."""
    f = _field(section, name)
    default = f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc]
    return default, f.metadata.get("lo"), f.metadata.get("hi")


def field_bounds_open(section: str, name: str) -> bool:
    """True when the field's lower bound is exclusive (value must be > lo)."""
    return bool(_field(section, name).metadata.get("lo_open"))


def _field(section: str, name: str):
    cls = SECTIONS.get(section)
    if cls is None:
        raise KeyError(f"no config section {section!r}")
    for f in fields(cls):
        if f.name == name:
            return f
    raise KeyError(f"no config field {section}.{name}")


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    init: InitConfig = field(default_factory=InitConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    diag: DiagConfig = field(default_factory=DiagConfig)
    name: str = ""

    # --- serialisation -----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model"]["layers"] = [s.to_dict() for s in self.model.layers]
        d["version"] = SCHEMA_VERSION
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: Any) -> Config:
        return _parse_config(d)

    def copy(self) -> Config:
        return Config.from_dict(self.to_dict())

    def save(self, path: str | Path) -> None:
        from initscope.core.files import atomic_write_text

        atomic_write_text(Path(path), self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Config:
        from initscope.core.files import read_json

        d = read_json(path, ConfigError)
        try:
            return cls.from_dict(d)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None

    # --- derived views -----------------------------------------------------
    @property
    def has_batchnorm(self) -> bool:
        return any(s.kind == "batchnorm" for s in self.model.layers)

    def with_batchnorm(self, on: bool) -> Config:
        return replace(self, model=replace(self.model, layers=set_batchnorm(self.model.layers, on)))

    def with_norm(self, norm: str) -> Config:
        return replace(self, model=replace(self.model, layers=set_norm(self.model.layers, norm)))


# --- validation ---------------------------------------------------------------

def _fail(path: str, msg: str) -> ConfigError:
    return ConfigError(f"config field '{path}': {msg}")


def _check_keys(d: Any, cls: type, path: str, extra: tuple[str, ...] = ()) -> dict:
    if not isinstance(d, dict):
        raise _fail(path or "(top level)", f"expected an object, got {type(d).__name__}")
    known = {f.name for f in fields(cls)} | set(extra)
    for k in d:
        if k not in known:
            where = f"{path}.{k}" if path else k
            raise ConfigError(f"config: unknown field {where!r} (known: {', '.join(sorted(known - set(extra)))})")
    return d


def _int(d: dict, key: str, path: str, default: int, lo: int | None = 1, hi: int | None = None) -> int:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise _fail(f"{path}.{key}", f"expected an integer, got {v!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        shown = str(v) if v.bit_length() < 200 else f"an integer of about {int(v.bit_length() * 0.30103)} digits"
        raise _fail(f"{path}.{key}", f"must be {rng}, got {shown}")
    return v


def _float(d: dict, key: str, path: str, default: float, lo: float = 0.0, hi: float | None = None,
           lo_open: bool = False) -> float:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _fail(f"{path}.{key}", f"expected a number, got {v!r}")
    try:
        v = float(v)
    except OverflowError:  # an integer like 10**400 has no float
        raise _fail(f"{path}.{key}", f"must be finite, got an integer of about {int(v.bit_length() * 0.30103)} digits") from None
    if not math.isfinite(v):
        raise _fail(f"{path}.{key}", f"must be finite, got {v}")
    if (v <= lo if lo_open else v < lo) or (hi is not None and v > hi):
        bound = f"> {lo:g}" if lo_open else f">= {lo:g}"
        if hi is not None:
            bound += f" and <= {hi:g}"
        raise _fail(f"{path}.{key}", f"must be {bound}, got {v:g}")
    return v


def _bool(d: dict, key: str, path: str, default: bool) -> bool:
    v = d.get(key, default)
    if not isinstance(v, bool):
        raise _fail(f"{path}.{key}", f"expected true or false, got {v!r}")
    return v


def _choice(d: dict, key: str, path: str, default: str, choices: tuple[str, ...]) -> str:
    v = d.get(key, default)
    if v not in choices:
        raise _fail(f"{path}.{key}", f"must be one of {', '.join(choices)}; got {v!r}")
    return v


def _bounds(cls: type, key: str) -> tuple[Any, Any, Any]:
    f = next(f for f in fields(cls) if f.name == key)
    return f.default, f.metadata.get("lo"), f.metadata.get("hi")


def _int_field(d: dict, cls: type, key: str, path: str) -> int:
    default, lo, hi = _bounds(cls, key)
    return _int(d, key, path, default, lo, hi)


def _float_field(d: dict, cls: type, key: str, path: str, default: float | None = None) -> float:
    f_default, lo, hi = _bounds(cls, key)
    open_ = next(f for f in fields(cls) if f.name == key).metadata.get("lo_open", False)
    return _float(d, key, path, f_default if default is None else default, lo, hi, lo_open=open_)


def _parse_layer(d: Any, i: int | str, in_branch: bool = False) -> LayerSpec:
    path = i if isinstance(i, str) else f"model.layers[{i}]"
    d = _check_keys(d, LayerSpec, path)
    kind = _choice(d, "kind", path, None, LAYER_KINDS)  # type: ignore[arg-type]
    if kind == "residual":
        if in_branch:
            raise _fail(f"{path}.kind", "a residual block inside a residual branch is not supported")
        for k in ("width", "bias"):
            if k in d:
                raise _fail(f"{path}.{k}", "a residual block has no {k}; its branch's layers do".format(k=k))
        branch = d.get("layers")
        if not isinstance(branch, list) or not branch:
            raise _fail(f"{path}.layers", "a residual block needs a non-empty list of branch layers")
        return LayerSpec("residual", scale=_float(d, "scale", path, 1.0, 0.0, 100.0),
                         layers=[_parse_layer(x, f"{path}.layers[{j}]", True) for j, x in enumerate(branch)])
    for k in ("scale", "layers"):
        if k in d:
            raise _fail(f"{path}.{k}", f"only a residual block has '{k}'")
    width = d.get("width")
    if kind == "linear":
        if width is not None:
            width = _int(d, "width", path, 0, 1, MAX_WIDTH)
    elif width is not None:
        raise _fail(f"{path}.width", f"only a linear layer has a width ({kind} takes its input's)")
    return LayerSpec(kind=kind, width=width, bias=_bool(d, "bias", path, True))


def _parse_config(d: Any) -> Config:
    d = _check_keys(d, Config, "", extra=("version",))
    version = d.get("version", SCHEMA_VERSION)
    if isinstance(version, bool) or not isinstance(version, int):
        raise _fail("version", f"expected an integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise ConfigError(f"config: written by a newer initscope (version {version}; this one reads up to {SCHEMA_VERSION})")
    m = _check_keys(d.get("model", {}), ModelConfig, "model")
    layers = m.get("layers", None)
    if layers is None:
        layers_parsed = ModelConfig().layers
    elif not isinstance(layers, list):
        raise _fail("model.layers", "expected a list of layers")
    else:
        if len(layers) > MAX_LAYERS:  # before parsing 300,000 entries
            raise _fail("model.layers", f"at most {MAX_LAYERS} layers, got {len(layers):,}")
        layers_parsed = [_parse_layer(x, i) for i, x in enumerate(layers)]
        n_flat = sum(1 + len(x.layers or ()) for x in layers_parsed)
        if n_flat > MAX_LAYERS:
            raise _fail("model.layers", f"at most {MAX_LAYERS} layers (residual branches' included), got {n_flat:,}")
    model = ModelConfig(
        block_size=_int_field(m, ModelConfig, "block_size", "model"),
        n_embd=_int_field(m, ModelConfig, "n_embd", "model"),
        layers=bias_rule(layers_parsed),
        bn_momentum=_float_field(m, ModelConfig, "bn_momentum", "model"),
    )
    ini = _check_keys(d.get("init", {}), InitConfig, "init")
    init = InitConfig(
        scheme=_choice(ini, "scheme", "init", "kaiming", SCHEMES),
        residual_scaling=_choice(ini, "residual_scaling", "init", "none", RESIDUAL_SCALINGS),
        gain=_float_field(ini, InitConfig, "gain", "init", default_gain(layers_parsed)),  # absent: by the stack
        output_scaling=_bool(ini, "output_scaling", "init", True),
        output_factor=_float_field(ini, InitConfig, "output_factor", "init"),
        hidden_bias_std=_float_field(ini, InitConfig, "hidden_bias_std", "init"),
        output_bias_std=_float_field(ini, InitConfig, "output_bias_std", "init"),
    )
    t = _check_keys(d.get("train", {}), TrainConfig, "train")
    device = t.get("device", "cpu")
    if not isinstance(device, str) or not (device == "cpu" or device == "cuda" or
                                           (device.startswith("cuda:") and device[5:].isascii() and device[5:].isdigit())):
        raise _fail("train.device", f"must be 'cpu', 'cuda' or 'cuda:N'; got {device!r}")
    seed = t.get("seed", TrainConfig.seed)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise _fail("train.seed", f"expected a non-negative integer, got {seed!r}")
    train = TrainConfig(
        steps=_int_field(t, TrainConfig, "steps", "train"),
        batch_size=_int_field(t, TrainConfig, "batch_size", "train"),
        lr=_float_field(t, TrainConfig, "lr", "train"),
        lr_decay_step=_int_field(t, TrainConfig, "lr_decay_step", "train"),
        lr_decay_factor=_float_field(t, TrainConfig, "lr_decay_factor", "train"),
        seed=seed,
        device=device,
    )
    g = _check_keys(d.get("diag", {}), DiagConfig, "diag")
    diag = DiagConfig(
        snapshot_every=_int_field(g, DiagConfig, "snapshot_every", "diag"),
        saturation_threshold=_float_field(g, DiagConfig, "saturation_threshold", "diag"),
        hist_bins=_int_field(g, DiagConfig, "hist_bins", "diag"),
        step_stats=_bool(g, "step_stats", "diag", False),
    )
    name = d.get("name", "")
    if not isinstance(name, str):
        raise _fail("name", f"expected a string, got {name!r}")
    if init.residual_scaling != "none" and not any(s.kind == "residual" for s in model.layers):
        raise _fail("init.residual_scaling", f"{init.residual_scaling!r} scales residual branches, and this stack has "
                    "no residual block; use 'none'")
    return Config(model=model, init=init, train=train, diag=diag, name=name)


def _flatten(layers: list[LayerSpec]) -> list[tuple[LayerSpec, int | None, int | None]]:
    """(spec, residual block or None, the block's first flat index for its 'residual' entry) per flat entry:
    a residual block becomes its branch's layers, then itself (the stream after the addition)."""
    out: list[tuple[LayerSpec, int | None, int | None]] = []
    b = 0
    for s in layers:
        if s.kind == "residual":
            start = len(out)
            out.extend((t, b, None) for t in s.layers or [])
            out.append((s, b, start))
            b += 1
        else:
            out.append((s, None, None))
    return out


def flat_kinds(layers: list[LayerSpec]) -> list[str]:
    """The kind of each entry of the flattened stack (the net's L0, L1, ...): a residual block's branch kinds,
    then 'residual'."""
    return [s.kind for s, _, _ in _flatten(layers)]


def validate_stack(layers: list[LayerSpec], vocab_size: int) -> None:
    """Reject a stack that cannot be built or makes no sense, naming the offending layer (its flat index, as
    the net names it: a residual block's branch layers come first, then the block itself).

    Two activations (or two normalisations) in a row are rejected rather than warned about: tanh(tanh(x))
    is never what a learner means, and it would make the per-layer plots misleading.
    """
    flat = _flatten(layers)
    linears = [i for i, (s, b, _) in enumerate(flat) if s.kind == "linear" and b is None]
    if not linears:
        raise ConfigError("layer stack: needs at least one Linear layer outside residual blocks (the output layer)")
    if sum(s.kind == "residual" for s in layers) > MAX_BLOCKS:
        raise ConfigError(f"layer stack: at most {MAX_BLOCKS} residual blocks")
    last = linears[-1]
    out = flat[last][0]
    if out.width is not None and out.width != vocab_size:
        raise ConfigError(f"L{last} Linear: the output layer must have {vocab_size} outputs (the vocabulary size), not {out.width}")
    for i, (s, b, _) in enumerate(flat):
        name = f"L{i} {s.title}"
        if s.kind not in LAYER_KINDS:
            raise ConfigError(f"{name}: unknown layer kind {s.kind!r}")
        if s.kind == "linear" and b is None and i != last and s.width is None:
            raise ConfigError(f"{name}: a hidden Linear needs a width")
        if s.kind == "linear" and s.width is not None and not 1 <= s.width <= MAX_WIDTH:
            raise ConfigError(f"{name}: width must be between 1 and {MAX_WIDTH}, got {s.width}")
        if i > last and s.kind not in NORMS:
            raise ConfigError(f"{name}: only a normalisation may follow the output Linear (L{last}); the logits must stay unsquashed")
        if s.kind == "residual":
            branch = s.layers or []
            if not branch:
                raise ConfigError(f"{name}: its branch is empty; add layers or remove the block")
            if any(t.kind == "residual" for t in branch):
                raise ConfigError(f"{name}: a residual block inside a residual branch is not supported")
            if not any(t.kind == "linear" for t in branch):
                raise ConfigError(f"{name}: its branch needs a Linear (a branch of only norms and activations is no residual block)")
            if not 0 <= s.scale <= 100 or not math.isfinite(s.scale):
                raise ConfigError(f"{name}: scale must be between 0 and 100, got {s.scale:g}")
        if i > 0:
            prev = flat[i - 1][0]
            if s.kind in ACTIVATIONS and prev.kind in ACTIVATIONS:
                raise ConfigError(f"{name}: follows another activation (L{i - 1} {prev.title}); remove one")
            if s.kind in NORMS and prev.kind in NORMS:
                what = f"{prev.title} (L{i - 1})" if prev.kind == s.kind else f"normalisation (L{i - 1} {prev.title})"
                raise ConfigError(f"{name}: follows another {what}; remove one")
    # widths: a branch must come back to the stream's width (checked here where the stream's width is known)
    width: int | None = None  # None: the embedding's, not known here
    stream: int | None = None
    for i, (s, b, _) in enumerate(flat):
        if s.kind == "linear":
            width = s.width if s.width is not None else (stream if b is not None else vocab_size)
        elif s.kind == "residual" and stream is not None and width != stream:
            raise _width_mismatch(i, width, stream)
        if b is None:
            stream = width


def _width_mismatch(i: int, width: int | None, stream: int | None) -> ConfigError:
    return ConfigError(f"L{i} Residual: its branch ends {width} wide but the stream is {stream} wide; make the "
                       f"branch's last Linear {stream} wide (or give it no width: the stream's)")


def resolve_stack(layers: list[LayerSpec], in_width: int, vocab_size: int) -> list[ResolvedLayer]:
    """The flat stack with every width resolved (see ResolvedLayer). Call validate_stack first."""
    flat = _flatten(layers)
    top = [i for i, (s, b, _) in enumerate(flat) if s.kind == "linear" and b is None]
    out_i = top[-1] if top else -1
    branch_last = {b: i for i, (s, b, _) in enumerate(flat) if s.kind == "linear" and b is not None}
    res: list[ResolvedLayer] = []
    width = stream = in_width
    for i, (s, b, start) in enumerate(flat):
        nxt = flat[i + 1][0] if i + 1 < len(flat) else None
        if s.kind == "linear":
            out = s.width if s.width is not None else (stream if b is not None else vocab_size)
            # BatchNorm subtracts the mean anyway, so a bias before it is dead weight (its beta takes the role)
            res.append(ResolvedLayer(i, "linear", width, out, bias=s.bias and not (nxt is not None and nxt.kind == "batchnorm"),
                                     block=b, branch_last_linear=branch_last.get(b) == i, is_output=i == out_i))
            width = out
        elif s.kind == "residual":
            if width != stream:
                raise _width_mismatch(i, width, stream)
            res.append(ResolvedLayer(i, "residual", stream, stream, block=b, scale=s.scale, block_start=start))
        else:
            if width < 1:
                raise ConfigError(f"L{i} {s.title}: has width 0")
            res.append(ResolvedLayer(i, s.kind, width, width, block=b))
        if b is None:
            stream = width
    return res


def followed_by_batchnorm(layers: list[LayerSpec], i: int) -> bool:
    return i + 1 < len(layers) and layers[i + 1].kind == "batchnorm"


def bias_rule(layers: list[LayerSpec]) -> list[LayerSpec]:
    """The one place of the "no bias before BatchNorm" rule: BatchNorm subtracts the batch mean, so a bias
    before it is dead weight (its beta takes the role). Returns copies with such Linears' bias off
    (inside residual branches too). LayerNorm / RMSNorm normalise per example, so a bias before them stays."""
    out = []
    for i, s in enumerate(layers):
        if s.kind == "linear" and followed_by_batchnorm(layers, i):
            out.append(replace(s, bias=False))
        elif s.kind == "residual":
            out.append(replace(s, layers=bias_rule(s.layers or [])))
        else:
            out.append(replace(s))
    return out


def set_batchnorm(layers: list[LayerSpec], on: bool) -> list[LayerSpec]:
    """Insert a BatchNorm after every Linear (on) or remove every BatchNorm (off)."""
    if any(s.kind == "residual" for s in layers):
        return set_norm(layers, "batchnorm" if on else "none")
    out: list[LayerSpec] = []
    for s in layers:
        if s.kind == "batchnorm":
            continue
        out.append(replace(s))
        if on and s.kind == "linear":
            out.append(LayerSpec("batchnorm"))
    return bias_rule(out)


def stack_norm(layers: list[LayerSpec]) -> str:
    """The stack's normalisation as the side panel's choice shows it: 'none' or the first norm's kind."""
    for s in layers:
        if s.kind in NORMS:
            return s.kind
        if s.kind == "residual":
            k = stack_norm(s.layers or [])
            if k != "none":
                return k
    return "none"


def _restore_bias(layers: list[LayerSpec]) -> list[LayerSpec]:
    """Copies with the bias back on every Linear that the BatchNorm rule had turned off (bias_rule turns it
    off again where a BatchNorm stays)."""
    out = []
    for i, s in enumerate(layers):
        if s.kind == "linear" and followed_by_batchnorm(layers, i):
            out.append(replace(s, bias=True))
        elif s.kind == "residual":
            out.append(replace(s, layers=_restore_bias(s.layers or [])))
        else:
            out.append(replace(s))
    return out


def set_norm(layers: list[LayerSpec], norm: str) -> list[LayerSpec]:
    """The normalisation choice. A plain stack: remove every norm, then put `norm` after every Linear
    (BatchNorm after the output Linear too, as the lecture does; LayerNorm / RMSNorm only after hidden ones,
    so the output's scale stays output_factor's and every norm starts at std 1). A residual stack: every norm
    (pre-norms in branches, the final one) becomes `norm`; 'none' removes them."""
    if norm not in NORM_CHOICES:
        raise ConfigError(f"normalisation must be one of {', '.join(NORM_CHOICES)}; got {norm!r}")
    layers = _restore_bias(layers)
    if any(s.kind == "residual" for s in layers):
        def swap(ls: list[LayerSpec]) -> list[LayerSpec]:
            out = []
            for s in ls:
                if s.kind in NORMS:
                    if norm != "none":
                        out.append(LayerSpec(norm))
                elif s.kind == "residual":
                    out.append(replace(s, layers=swap(s.layers or [])))
                else:
                    out.append(replace(s))
            return out
        return bias_rule(swap(layers))
    plain = [replace(s) for s in layers if s.kind not in NORMS]
    if norm == "batchnorm":
        return set_batchnorm(plain, True)
    last = max((i for i, s in enumerate(plain) if s.kind == "linear"), default=-1)
    out: list[LayerSpec] = []
    for i, s in enumerate(plain):
        out.append(s)
        if norm != "none" and s.kind == "linear" and i != last:
            out.append(LayerSpec(norm))
    return bias_rule(out)


def deep_stack(depth: int, width: int, batchnorm: bool = False, activation: str = "tanh", *,
               norm: str | None = None, residual: bool = False) -> list[LayerSpec]:
    """`depth` hidden Linear(width) + activation blocks, then the output Linear (the lecture's deep net: 5 x 100).

    norm (none/batchnorm/layernorm/rmsnorm) overrides `batchnorm`: after every Linear, see set_norm.
    residual: a stem Linear(width), then `depth` residual blocks [norm] -> Linear -> activation -> Linear
    (pre-norm when there is a norm, as in nanoGPT's MLP), then [norm] -> the output Linear."""
    norm = norm if norm is not None else ("batchnorm" if batchnorm else "none")
    if residual:
        pre = [LayerSpec(norm)] if norm != "none" else []
        branch = lambda: pre + [LayerSpec("linear", None), LayerSpec(activation), LayerSpec("linear", None)]  # noqa: E731
        layers = [LayerSpec("linear", width)]
        layers += [LayerSpec("residual", scale=1.0, layers=[replace(s) for s in branch()]) for _ in range(depth)]
        layers += [replace(s) for s in pre] + [LayerSpec("linear", None)]
        return bias_rule(layers)
    layers: list[LayerSpec] = []
    for _ in range(depth):
        layers.append(LayerSpec("linear", width))
        layers.append(LayerSpec(activation))
    layers.append(LayerSpec("linear", None))
    return set_norm(layers, norm)


def default_gain(layers: list[LayerSpec]) -> float:
    kinds = {s.kind for s, _, _ in _flatten(layers)}
    if "tanh" in kinds:
        return TANH_GAIN
    if kinds & {"relu", "gelu", "silu"}:
        # ReLU zeroes half the inputs; sqrt(2) makes up the lost variance (He et al.); GELU and SiLU pass the
        # positive side like ReLU and are initialised the same way in practice
        return math.sqrt(2.0)
    return 1.0  # sigmoid: torch.nn.init.calculate_gain('sigmoid') is 1


# --- presets: the lecture's loss log -----------------------------------------

def _one_hidden(batchnorm: bool) -> list[LayerSpec]:
    if batchnorm:
        return bias_rule([LayerSpec("linear", 200), LayerSpec("batchnorm"), LayerSpec("tanh"), LayerSpec("linear", None)])
    return [LayerSpec("linear", 200), LayerSpec("tanh"), LayerSpec("linear", None)]


def _lecture(name: str, layers: list[LayerSpec], init: InitConfig, *, decay: int = 100_000,
             bn_momentum: float = 0.1) -> Config:
    return Config(
        model=ModelConfig(block_size=3, n_embd=10, layers=layers, bn_momentum=bn_momentum),
        init=init,
        train=TrainConfig(steps=200_000, batch_size=32, lr=0.1, lr_decay_step=decay, lr_decay_factor=0.1),
        name=name,
    )


PRESET_INFO: dict[str, str] = {
    "original": "1 hidden layer of 200, plain randn init: confidently wrong at init (loss ~27)",
    "fix-softmax": "output weights x0.01, output bias 0: initial loss near ln(27) = 3.30",
    "fix-tanh": "and hidden weights x0.2, hidden bias x0.01: tanh no longer saturated",
    "kaiming": "hidden weights x (5/3)/sqrt(fan_in): the principled version of fix-tanh",
    "batchnorm": "kaiming + BatchNorm after the hidden Linear (no bias), running-stat momentum 0.001",
    "deep-nobn": "6 Linear layers 100 wide with Tanh, gain 5/3, output weight x0.1, no BatchNorm",
    "deep-bn": "the same deep net with BatchNorm after every Linear, output BatchNorm gamma x0.1",
    "deep-ln": "the same deep net with LayerNorm after every hidden Linear: per example, no batch dependence",
    "deep-rms": "the same deep net with RMSNorm after every hidden Linear (no mean subtraction)",
    "resnet-preln": "pre-LN residual MLP: 12 blocks LN -> Linear -> GELU -> Linear, 100 wide, torch-default init",
    "resnet-noln": "the same residual MLP without norms: watch the stream grow block after block",
}


def preset(name: str) -> Config:
    naive = dict(scheme="naive", gain=1.0)
    if name == "original":
        return _lecture(name, _one_hidden(False), InitConfig(**naive, output_scaling=False,
                                                             hidden_bias_std=1.0, output_bias_std=1.0))
    if name == "fix-softmax":
        return _lecture(name, _one_hidden(False), InitConfig(**naive, output_scaling=True, output_factor=0.01,
                                                             hidden_bias_std=1.0, output_bias_std=0.0))
    if name == "fix-tanh":
        return _lecture(name, _one_hidden(False), InitConfig(scheme="naive", gain=0.2, output_scaling=True,
                                                             output_factor=0.01, hidden_bias_std=0.01))
    # The lecture scales the output layer of the kaiming/batchnorm nets by 0.01 on plain randn; with
    # kaiming's 1/sqrt(200) already applied, x0.1 gives a comparably tiny (near-uniform) output.
    if name == "kaiming":
        return _lecture(name, _one_hidden(False), InitConfig(scheme="kaiming", gain=TANH_GAIN, output_scaling=True,
                                                             output_factor=0.1, hidden_bias_std=0.01))
    if name == "batchnorm":
        return _lecture(name, _one_hidden(True), InitConfig(scheme="kaiming", gain=TANH_GAIN, output_scaling=True,
                                                            output_factor=0.1), bn_momentum=0.001)
    if name == "deep-nobn":
        return _lecture(name, deep_stack(5, 100, batchnorm=False), InitConfig(), decay=150_000)
    if name == "deep-bn":
        return _lecture(name, deep_stack(5, 100, batchnorm=True), InitConfig(), decay=150_000)
    if name in ("deep-ln", "deep-rms"):
        return _lecture(name, deep_stack(5, 100, norm=name.replace("deep-", "").replace("ln", "layernorm")
                                         .replace("rms", "rmsnorm")), InitConfig(), decay=150_000)
    if name in ("resnet-preln", "resnet-noln"):
        # what most people get: nn.Linear's own init (gain 1), the output layer's logits kept small
        layers = deep_stack(12, 100, activation="gelu", norm="layernorm" if name == "resnet-preln" else "none",
                            residual=True)
        return _lecture(name, layers, InitConfig(scheme="torch-default", gain=1.0, output_scaling=True,
                                                 output_factor=0.1), decay=150_000)
    raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESET_INFO)}")


PRESETS = tuple(PRESET_INFO)


def default_config() -> Config:
    """What the app opens with: the lecture's deep net with BatchNorm (equal to Config() but for its name)."""
    return preset("deep-bn")


_preset = preset  # config_from_args's argument shadows the function's name


def config_from_args(preset: str | None = None, config_path: str | Path | None = None) -> Config:
    """The config a command starts from: a saved config file, else a preset, else the default.
    Any problem (missing, unreadable, FIFO, deeply nested, invalid file; unknown preset) is a ConfigError."""
    if config_path:
        return Config.load(config_path)
    if preset:
        return _preset(preset)
    return default_config()
