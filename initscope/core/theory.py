"""What mean-field signal-propagation theory predicts for a freshly initialised net, layer by layer.

For wide layers at init every pre-activation is Gaussian over units and examples, with a variance `q`
that one recursion carries from layer to layer (Poole et al. 2016, "Exponential expressivity in deep
neural networks through transient chaos"; Schoenholz et al. 2017, "Deep information propagation"):

    q_l = var(W) * fan_in * E[x^2] + bias_std^2        x = the layer's input (the previous activation)

and gradients shrink or grow from layer to layer by chi = var(W) * fan_in * E[phi'(h)^2]. A BatchNorm
resets the variance to gamma^2 (1 at init). Everything here follows the app's own init policy
(`core/model.py:init_weights`): the embedding's N(0, 1) entries, kaiming's 1/fan_in or naive's 1, the
gain on every hidden Linear, the output layer's factor, the hidden and output bias std, a Linear before a
BatchNorm having no bias, and a stack ending in BatchNorm scaling that BatchNorm's gamma instead.

How it is computed: between two Linears every unit is a monotone function of one standard Gaussian z
(Linear output sqrt(q) z, then BatchNorm = an affine map, Tanh, ReLU), so a segment is a short list of
elementwise ops. Expectations over z use Gauss-Legendre panels split where tanh bends and where ReLU
kinks (found by bisection, since every op is nondecreasing). Plain Gauss-Hermite is the textbook choice,
but measured it is off by 5e-3 on E[sech^4] at q = 25 (the naive presets) even with 201 nodes, and by 3e-3
on E[relu] with 101: the kink and the narrow bend are not polynomial-like. The panels agree with a
400,000-point trapezoid rule to 1e-7 (tests/test_theory.py).

Approximations, stated: infinite width, infinite batch, weights and backward signals independent (the
"gradient independence" assumption). Through a BatchNorm the backward pass is taken per feature
(gamma / sigma of the feature over the batch) and its batch-coupling projection is left out; for ReLU +
BatchNorm this per-feature sigma excludes each unit's batch-mean offset, which is what gives the known
pi / (pi - 1) gradient growth per layer (Yang et al. 2019, "A mean field theory of batch normalization").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
from numpy.polynomial.legendre import leggauss

from initscope.core.config import ACTIVATIONS, Config, deep_stack, followed_by_batchnorm

BN_EPS = 1e-5  # torch.nn.BatchNorm1d's default, which Net uses
_ZMAX = 12.0  # |z| beyond 12 carries < 1e-32 of the Gaussian
_GL_X, _GL_W = leggauss(24)
_BENDS = np.array([0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])  # where tanh's input bends it (and ReLU's kink)


@dataclass
class LayerPrediction:
    """The prediction for one activation layer (the same rows as the snapshot's LayerStats)."""

    index: int  # position in the layer stack
    name: str  # "L2 Tanh"
    kind: str  # "tanh" | "relu"
    q: float  # variance of the layer's input (its pre-activation)
    mean: float  # of the layer's output
    std: float
    saturation: float  # fraction: P(|tanh| > threshold) for tanh, P(out == 0) for ReLU
    chi: float  # var(W) * fan_in * E[(d out / d Linear output)^2]: the backward factor of this layer
    grad_ratio: float  # predicted gradient std at this layer's output / at the last activation layer's
    grad_std: float  # predicted gradient std of the batch-mean cross-entropy at this layer's output

    def to_dict(self) -> dict:
        return {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in asdict(self).items()}


# --- one segment: every unit a monotone function of one standard Gaussian z ---------------------------------

class _Segment:
    """A Linear's output sqrt(q) z followed by elementwise ops: ("bn", a_fwd, b, a_bwd), ("tanh",), ("relu",)."""

    def __init__(self, q: float, offset_var: float = 0.0):
        self.q = q
        self.offset_var = offset_var  # variance of each unit's batch mean (bias, inputs' nonzero mean)
        self.ops: list[tuple] = []
        self._nodes: tuple[int, np.ndarray, np.ndarray] | None = None

    def values(self, z: np.ndarray) -> list[np.ndarray]:
        """The value before each op and after the last one: len(ops) + 1 arrays."""
        v = math.sqrt(self.q) * z
        out = [v]
        for op in self.ops:
            v = _apply(op, v)
            out.append(v)
        return out

    def crossing(self, k: int, targets: np.ndarray) -> np.ndarray:
        """z at which the input of op k (k = len(ops): the end) first exceeds each target (bisection; +-ZMAX if never)."""
        if all(op[0] == "bn" for op in self.ops[:k]):  # still affine in z: solve directly
            a, b = math.sqrt(self.q), 0.0
            for op in self.ops[:k]:
                a, b = op[1] * a, op[1] * b + op[2]
            if a > 0:
                return np.clip((targets - b) / a, -_ZMAX, _ZMAX)
        lo = np.full(targets.shape, -_ZMAX)
        hi = np.full(targets.shape, _ZMAX)
        for _ in range(52):  # 24 / 2^52: below double precision
            mid = 0.5 * (lo + hi)
            above = self.values(mid)[k] > targets
            hi = np.where(above, mid, hi)
            lo = np.where(above, lo, mid)
        return hi

    def nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """Quadrature nodes and weights for E over z ~ N(0, 1), with panel edges at every bend of the chain."""
        if self._nodes is not None and self._nodes[0] == len(self.ops):
            return self._nodes[1], self._nodes[2]
        edges = [np.arange(-_ZMAX, _ZMAX + 1e-9, 1.0)]
        for k, op in enumerate(self.ops):
            if op[0] in ("tanh", "relu"):
                edges.append(self.crossing(k, np.concatenate([-_BENDS[::-1], _BENDS[1:]])))
        e = np.unique(np.clip(np.concatenate(edges), -_ZMAX, _ZMAX))
        e = e[np.concatenate([[True], np.diff(e) > 1e-12])]
        a, b = e[:-1, None], e[1:, None]
        z = (0.5 * (b - a) * _GL_X + 0.5 * (a + b)).ravel()
        w = (0.5 * (b - a) * _GL_W).ravel() * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        w = w / w.sum()
        self._nodes = (len(self.ops), z, w)
        return z, w

    def prob_above(self, k: int, ts: list[float]) -> list[float]:
        """P(input of op k > t) for each t: the chain is nondecreasing in z, so it is 1 - Phi(crossing)."""
        t = np.array(ts, float)
        zc = self.crossing(k, t)
        top = self.values(np.full(t.shape, _ZMAX))[k]
        return [0.0 if (c >= _ZMAX and v <= ti) else 0.5 * math.erfc(c / math.sqrt(2)) for c, v, ti in zip(zc, top, t)]


def _apply(op: tuple, v: np.ndarray) -> np.ndarray:
    if op[0] == "bn":
        return op[1] * v + op[2]
    if op[0] == "tanh":
        return np.tanh(v)
    return np.maximum(v, 0.0)


def _deriv(op: tuple, v: np.ndarray) -> np.ndarray:
    """d op / d input at input v, as the backward pass sees it (BatchNorm: per-feature gamma / sigma)."""
    if op[0] == "bn":
        return np.full_like(v, op[3])
    if op[0] == "tanh":
        return 1.0 - np.tanh(v) ** 2
    return (v > 0).astype(float)


def _moments(seg: _Segment) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    z, w = seg.nodes()
    return z, w, seg.values(z)


# --- the whole stack ---------------------------------------------------------------------------------------

def _linear_plan(cfg: Config, vocab_size: int) -> tuple[dict[int, dict], int | None, float]:
    """Per stack position of every Linear: fan_in, fan_out, weight variance and bias std, as init_weights sets
    them; and the stack's closing BatchNorm (if any) with its gamma."""
    m, ini = cfg.model, cfg.init
    layers = m.layers
    lin = [i for i, s in enumerate(layers) if s.kind == "linear"]
    out_i = lin[-1]
    bns = [i for i, s in enumerate(layers) if s.kind == "batchnorm"]
    ends_in_bn = bool(bns) and bns[-1] > out_i
    width = m.n_embd * m.block_size
    plan = {}
    for i, s in enumerate(layers):
        if s.kind != "linear":
            continue
        fan_out = vocab_size if s.width is None else s.width
        var_w = (1.0 / width if ini.scheme == "kaiming" else 1.0)
        if i != out_i:
            var_w *= ini.gain ** 2
        elif ini.output_scaling and not ends_in_bn:
            var_w *= ini.output_factor ** 2
        has_bias = s.bias and not followed_by_batchnorm(layers, i)  # Net drops a bias before BatchNorm
        bias_std = (ini.hidden_bias_std if i != out_i else ini.output_bias_std) if has_bias else 0.0
        plan[i] = {"fan_in": width, "fan_out": fan_out, "var_w": var_w, "bias_std": bias_std}
        width = fan_out
    gamma_last = ini.output_factor if ends_in_bn and ini.output_scaling else 1.0
    return plan, (bns[-1] if ends_in_bn else None), gamma_last


_SAMPLES: dict[int, np.ndarray] = {}


def _normal_sample(n: int) -> np.ndarray:
    if n not in _SAMPLES:  # fixed seed: the same config always gets the same number
        _SAMPLES[n] = np.random.default_rng(0).standard_normal((500, n))
    return _SAMPLES[n]


def _softmax_sq(seg: _Segment, vocab_size: int) -> float:
    """E[sum_c p_c^2] of the softmax of vocab_size iid logits distributed as the segment's end (fixed-seed sample)."""
    z = _normal_sample(vocab_size)
    logits = seg.values(z)[-1]
    logits = logits - logits.max(1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(1, keepdims=True)
    return float((p ** 2).sum(1).mean())


def _forward(cfg: Config, vocab_size: int, plan: dict, last_bn: int | None, gamma_last: float):
    """The forward recursion: segments split at each Linear (segment 0 is the embedding, entries N(0, 1)), and
    where every stack layer's output sits: stack index -> (segment, op position); a Linear's output is its
    segment's start (position 0), a BatchNorm's or activation's the value after its op (position op + 1)."""
    layers = cfg.model.layers
    segs: list[_Segment] = [_Segment(1.0)]
    seg_linear: list[int | None] = [None]
    where: dict[int, tuple[int, int]] = {}  # activation's stack index -> (segment, op position)
    out_at: dict[int, tuple[int, int]] = {}  # every stack index -> (segment, position of its output value)
    for i, s in enumerate(layers):
        seg = segs[-1]
        if s.kind == "linear":
            p = plan[i]
            z, w, vals = _moments(seg)
            x = vals[-1]
            ex, ex2 = float(w @ x), float(w @ (x * x))
            q = p["var_w"] * p["fan_in"] * ex2 + p["bias_std"] ** 2
            # each unit's batch mean: W_j . mean(x) plus its bias; BatchNorm subtracts it per feature
            offset = p["var_w"] * p["fan_in"] * ex * ex + p["bias_std"] ** 2
            segs.append(_Segment(q, min(offset, q)))
            seg_linear.append(i)
            out_at[i] = (len(segs) - 1, 0)
        elif s.kind == "batchnorm":
            gamma = gamma_last if i == last_bn else 1.0
            z, w, vals = _moments(seg)
            x = vals[-1]
            mean = float(w @ x)
            var = float(w @ (x * x)) - mean * mean
            if not seg.ops:  # right after a Linear: per feature it sees the variance around its own mean
                var_feat = max(seg.q - seg.offset_var, 0.0)
                a_fwd = gamma * math.sqrt(var_feat / (var_feat + BN_EPS) / max(seg.q, 1e-300))
                seg.ops.append(("bn", a_fwd, -a_fwd * mean, gamma / math.sqrt(var_feat + BN_EPS)))
            else:
                a = gamma / math.sqrt(max(var, 0.0) + BN_EPS)
                seg.ops.append(("bn", a, -a * mean, a))
            out_at[i] = (len(segs) - 1, len(seg.ops))
        else:
            where[i] = (len(segs) - 1, len(seg.ops))
            seg.ops.append((s.kind,))
            out_at[i] = (len(segs) - 1, len(seg.ops))
    return segs, seg_linear, where, out_at


def mean_abs(cfg: Config, vocab_size: int = 27) -> list[float]:
    """Per stack layer: the predicted mean |output| at init, E|x| over units and examples (the width sweep's
    statistic). Nothing in the recursion depends on the width: only on fan-in x var(W), which the init fixes."""
    plan, last_bn, gamma_last = _linear_plan(cfg, vocab_size)
    segs, _, _, out_at = _forward(cfg, vocab_size, plan, last_bn, gamma_last)
    out = []
    for i in range(len(cfg.model.layers)):
        k, j = out_at[i]
        z, w, vals = _moments(segs[k])
        out.append(float(w @ np.abs(vals[j])))
    return out


def predict(cfg: Config, vocab_size: int = 27) -> list[LayerPrediction]:
    """Per activation layer of cfg's stack: the mean-field prediction at init (see the module docstring).

    vocab_size is the output width (27 for names.txt); the gradient scale also uses cfg.train.batch_size."""
    layers = cfg.model.layers
    plan, last_bn, gamma_last = _linear_plan(cfg, vocab_size)
    thr = cfg.diag.saturation_threshold
    a_sat = math.atanh(thr)
    segs, seg_linear, where, _ = _forward(cfg, vocab_size, plan, last_bn, gamma_last)

    # backward: E[g^2] at each segment's end, from the loss down. The loss is the batch-mean cross-entropy,
    # so the logits' gradient is (softmax - onehot) / B with E|.|^2 = (1 - 2/V + E[sum p^2]) / B^2.
    B = cfg.train.batch_size
    V = vocab_size
    g_end = [0.0] * len(segs)
    g_end[-1] = (1.0 - 2.0 / V + _softmax_sq(segs[-1], V)) / (B * B) / V  # per logit
    d_start = [0.0] * len(segs)  # E[(d segment end / d Linear output)^2]
    derivs: list[list[np.ndarray]] = [[] for _ in segs]  # per segment: d end / d (output of op k), k = -1..
    weights: list[np.ndarray] = [np.empty(0)] * len(segs)
    for k in range(len(segs) - 1, -1, -1):
        seg = segs[k]
        z, w, vals = _moments(seg)
        d = np.ones_like(z)
        ds = [d]  # d end / d (value after op j), for j = last .. first, then the Linear output
        for j in range(len(seg.ops) - 1, -1, -1):
            d = d * _deriv(seg.ops[j], vals[j])
            ds.append(d)
        derivs[k] = ds[::-1]  # derivs[k][j] = d end / d (value before op j); [-1] = d end / d end = 1
        weights[k] = w
        d_start[k] = float(w @ (ds[-1] ** 2))
        if k > 0:
            p = plan[seg_linear[k]]
            g_end[k - 1] = p["var_w"] * p["fan_out"] * d_start[k] * g_end[k]

    preds: list[LayerPrediction] = []
    for i, s in enumerate(layers):
        if s.kind not in ACTIVATIONS:
            continue
        k, j = where[i]
        seg = segs[k]
        z, w, vals = _moments(seg)
        u, y = vals[j], vals[j + 1]
        q = float(w @ (u * u)) - float(w @ u) ** 2
        mean = float(w @ y)
        std = math.sqrt(max(float(w @ (y * y)) - mean * mean, 0.0))
        if s.kind == "tanh":
            above, below = seg.prob_above(j, [a_sat, -a_sat])
            sat = above + 1.0 - below
        else:
            sat = 1.0 - seg.prob_above(j, [0.0])[0]
        wk = weights[k]
        g2 = float(wk @ (derivs[k][j + 1] ** 2)) * g_end[k]
        # d out / d Linear output: the ops from the segment's start up to and including this activation
        d_in = np.ones_like(z)
        for jj in range(j + 1):
            d_in = d_in * _deriv(seg.ops[jj], vals[jj])
        lin = seg_linear[k]
        scale = plan[lin]["var_w"] * plan[lin]["fan_in"] if lin is not None else 1.0
        chi = scale * float(w @ (d_in * d_in))
        preds.append(LayerPrediction(index=i, name=f"L{i} {s.title}", kind=s.kind, q=q, mean=mean, std=std,
                                     saturation=min(max(sat, 0.0), 1.0), chi=chi, grad_ratio=math.nan,
                                     grad_std=math.sqrt(max(g2, 0.0))))
    if preds:
        ref = preds[-1].grad_std
        for p_ in preds:
            p_.grad_ratio = p_.grad_std / ref if ref > 0 else math.nan
    return preds


# --- the order-to-chaos boundary ------------------------------------------------------------------------------

_E = np.arange(-_ZMAX, _ZMAX + 1e-9, 0.25)
_FIXED_Z = (0.5 * 0.25 * _GL_X + 0.5 * (_E[:-1, None] + _E[1:, None])).ravel()
_FIXED_W = (0.5 * 0.25 * np.broadcast_to(_GL_W, (len(_E) - 1, len(_GL_W)))).ravel() * np.exp(-0.5 * _FIXED_Z ** 2)
_FIXED_W = _FIXED_W / _FIXED_W.sum()


def _tanh_chi(g_eff: float, bias_std: float) -> float:
    """chi at the fixed point q* = g^2 E[tanh(sqrt(q*) z)^2] + bias^2 of a repeated Linear + Tanh block."""
    def tanh_mean(q: float, f) -> float:  # q* stays O(1) here: fixed quarter-wide panels are exact enough
        return float(_FIXED_W @ f(np.tanh(math.sqrt(q) * _FIXED_Z)))

    # q* solves q = g^2 E[tanh^2] + b^2; the right side is increasing and concave in q, so one crossing
    lo, hi = bias_std ** 2, g_eff ** 2 + bias_std ** 2
    if hi - lo < 1e-300:
        return g_eff ** 2
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if g_eff ** 2 * tanh_mean(mid, np.square) + bias_std ** 2 > mid:
            lo = mid
        else:
            hi = mid
    q = 0.5 * (lo + hi)
    if q < 1e-12:
        return g_eff ** 2  # the fixed point is q* = 0, where tanh'(0) = 1
    return g_eff ** 2 * tanh_mean(q, lambda t: (1.0 - t * t) ** 2)


def critical_gain(cfg: Config) -> float | None:
    """The gain at which chi = 1 at the fixed point of the variance recursion, for cfg's repeated hidden block.

    Kaiming: 1 for tanh without bias (q* = 0 up to gain 1, where chi = gain^2), higher with a hidden bias;
    sqrt(2) for ReLU (chi = gain^2 / 2 whatever q); 1 for a stack without activations. Naive scheme: those
    divided by sqrt(width of the first hidden Linear). None with BatchNorm (it resets q to 1 every layer, so
    the gain drops out of chi) or with both tanh and ReLU in the stack."""
    layers = cfg.model.layers
    kinds = {s.kind for s in layers}
    if "batchnorm" in kinds or {"tanh", "relu"} <= kinds:
        return None
    hidden = [s for s in layers if s.kind == "linear" and s.width is not None]
    lin = [i for i, s in enumerate(layers) if s.kind == "linear"]
    scale = 1.0
    if cfg.init.scheme == "naive":
        if not hidden:
            return None
        scale = math.sqrt(hidden[0].width)
    if "relu" in kinds:
        return math.sqrt(2.0) / scale
    if "tanh" not in kinds:
        return 1.0 / scale
    has_bias = any(layers[i].bias for i in lin[:-1])
    bias_std = cfg.init.hidden_bias_std if has_bias else 0.0
    if bias_std == 0:
        return 1.0 / scale
    lo, hi = 1e-3, 50.0  # chi rises through 1 once along the gain
    for _ in range(40):  # 5e4 in ratio / 2^40: 1e-8 relative
        mid = math.sqrt(lo * hi)
        if _tanh_chi(mid, bias_std) > 1.0:
            hi = mid
        else:
            lo = mid
    return math.sqrt(lo * hi) / scale


def bn_chi(kind: str) -> float:
    """The per-layer backward factor of a Linear + BatchNorm + activation block (square layers), any gain."""
    seg = _Segment(1.0)
    seg.ops.append((kind,))
    z, w = seg.nodes()
    y = seg.values(z)[1]
    dphi2 = float(w @ _deriv((kind,), z) ** 2)
    mean, ex2 = float(w @ y), float(w @ (y * y))
    return dphi2 / (ex2 - mean * mean)  # BN normalises by the per-feature variance around the mean


def regime(cfg: Config) -> str:
    """One line on order and chaos for cfg's gain, as the gain sweep's caption says it."""
    gc = critical_gain(cfg)
    kinds = {s.kind for s in cfg.model.layers}
    if "batchnorm" in kinds:
        act = next((s.kind for s in cfg.model.layers if s.kind in ACTIVATIONS), None)
        extra = f"; gradients still grow x{math.sqrt(bn_chi(act)):.2f} per layer toward the input" if act else ""
        return f"BatchNorm resets q to 1 after every Linear: the gain drops out, no order-to-chaos boundary{extra}"
    if gc is None:
        return "no single critical gain for this stack"
    side = ("ordered: chi < 1, the signal and gradients fade with depth" if cfg.init.gain < gc * (1 - 1e-9) else
            "chaotic: chi > 1, nearby inputs decorrelate and gradients grow toward the input"
            if cfg.init.gain > gc * (1 + 1e-9) else "critical: chi = 1, gradients keep their size with depth")
    return f"critical gain {gc:.3g} (chi = 1 at the fixed point of q); gain {cfg.init.gain:.3g} is {side}"


def theory_dict(cfg: Config, vocab_size: int = 27) -> dict:
    """The `initscope theory --json-out` document."""
    gc = critical_gain(cfg)
    return {"config": cfg.to_dict(), "layers": [p.to_dict() for p in predict(cfg, vocab_size)],
            "critical_gain": gc, "regime": regime(cfg)}


def sweep_caption(cfg: Config) -> str:
    """The gain sweep's one line on order and chaos (the critical gain is what the vertical line marks)."""
    gc = critical_gain(cfg)
    kinds = {s.kind for s in cfg.model.layers}
    if "batchnorm" in kinds:
        return ("Dashed: wide-net theory. BatchNorm resets q to 1 after every Linear, so the gain drops out: "
                "no order-to-chaos boundary.")
    if gc is None:
        return "Dashed: wide-net theory. No single critical gain for this stack."
    if "relu" in kinds:
        return (f"Dashed: wide-net theory. Critical gain {gc:.3g} (chi = gain²/2 = 1): below it the signal and "
                "gradients shrink layer after layer, above it they grow.")
    return (f"Dashed: wide-net theory. Critical gain {gc:.3g} (chi = 1): below it order, signals and gradients fade "
            "with depth; above it chaos, tanh saturates, gradients grow toward the input.")


def with_gain(cfg: Config, gain: float) -> Config:
    return replace(cfg, init=replace(cfg.init, gain=gain))


def gain_curves(cfg: Config, gains: list[float], vocab_size: int = 27) -> tuple[list[str], np.ndarray]:
    """(layer names, array[gains, layers, 3]) of predicted saturation, std and gradient std: the sweep's columns."""
    rows, names = [], []
    for g in gains:
        preds = predict(with_gain(cfg, g), vocab_size)
        names = [p.name for p in preds]
        rows.append([[p.saturation, p.std, p.grad_std] for p in preds])
    return names, np.array(rows, float).reshape(len(gains), len(names), 3)


def depth_curves(cfg: Config, depths: list[int], width: int, activation: str, batchnorm: bool,
                 vocab_size: int = 27) -> np.ndarray:
    """array[depths, 3]: the deepest layer's predicted std and saturation and the first layer's gradient std,
    for cfg's init on `deep_stack(depth, width, batchnorm, activation)` (what sweeps.depth_sweep measures)."""
    out = []
    for d in depths:
        c = replace(cfg, model=replace(cfg.model, layers=deep_stack(d, width, batchnorm, activation)))
        preds = predict(c, vocab_size)
        out.append([preds[-1].std, preds[-1].saturation, preds[0].grad_std])
    return np.array(out, float)
