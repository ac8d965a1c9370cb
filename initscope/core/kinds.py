"""What "saturated" means for each activation, in one place: the app's diagnostics, `initscope.watch` and the
help texts follow these definitions (resources/help/saturation-*.md say them in words).

A unit is *saturated* where its local gradient is (nearly) gone; *dead* where it is saturated for every example
of the batch. `family` maps a layer kind (the app's config kinds, or a torch module's class name as `watch`
sees it) to one of:

- "tanh":    |y| > thr                      (thr = DiagConfig.saturation_threshold, 0.97: the lecture's)
- "sigmoid": y < 1 - thr or y > thr        (within 0.03 of 0 or 1 at thr 0.97)
- "relu":    y <= 0                         (ReLU: the zero fraction; LeakyReLU / PReLU / ELU / SELU / CELU /
                                             ReLU6: the low-slope negative side)
- "tail":    x < -3, x the activation's input (GELU, SiLU, Mish: the flat negative tail, where GELU's slope is
                                             below 0.012; such a unit passes almost no gradient)
None: no saturation is defined (reported as NaN, dead 0).
"""

from __future__ import annotations

TAIL_INPUT = -3.0  # GELU / SiLU / Mish inputs below this sit in the flat tail

_FAMILY = {
    "tanh": "tanh", "hardtanh": "tanh", "softsign": None,
    "sigmoid": "sigmoid", "hardsigmoid": "sigmoid", "logsigmoid": None,
    "relu": "relu", "relu6": "relu", "leakyrelu": "relu", "prelu": "relu", "rrelu": "relu", "elu": "relu",
    "selu": "relu", "celu": "relu",
    "gelu": "tail", "silu": "tail", "mish": "tail", "hardswish": "tail",
}


def family(kind: str) -> str | None:
    """'tanh' | 'sigmoid' | 'relu' | 'tail' | None for a kind ('tanh', 'GELU', 'LeakyReLU', ...)."""
    return _FAMILY.get(kind.lower())


def saturated(fam: str | None, x, y, thr: float):
    """Boolean tensor (shape of y) of saturated units; x is the activation's input (used by 'tail' only).
    Returns None where the family defines no saturation."""
    if fam == "tanh":
        return y.abs() > thr
    if fam == "sigmoid":
        return (y < 1 - thr) | (y > thr)
    if fam == "relu":
        return y <= 0
    if fam == "tail":
        return x < TAIL_INPUT
    return None


def describe(fam: str | None, thr: float = 0.97) -> str:
    """The definition in words, for tables, hints and help."""
    return {
        "tanh": f"|out| > {thr:g}",
        "sigmoid": f"out within {1 - thr:.2g} of 0 or 1",
        "relu": "out <= 0",
        "tail": f"input < {TAIL_INPUT:g} (flat tail)",
    }.get(fam or "", "not defined")


def output_marks(fam: str | None, thr: float = 0.97) -> tuple[float, ...]:
    """Output values where saturation begins, for marking a plot of outputs: ±thr (tanh), 1 - thr and thr
    (sigmoid), 0 (ReLU); none for "tail" (its rule reads the input, not the output) or no family."""
    return {"tanh": (-thr, thr), "sigmoid": (1 - thr, thr), "relu": (0.0,)}.get(fam or "", ())
