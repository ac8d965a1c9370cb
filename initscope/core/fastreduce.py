"""A snapshot's reductions on a CPU in one compiled pass pair (numba): what `Recorder._reduce` computes with
torch ops, for float32 tensors on a CPU.

Why: on a CPU the torch path spends a snapshot in a few hundred small ops, each a pass over memory (mean,
centred squares, min, max, position, clamp, index, offset, bincount, ...). Here every value is read twice: once
for the sums, ranges, saturation and dead units, once for the centred squares and the histograms (the lecture's
deep net: ~240k values a step, ~0.25 ms against ~1.5 ms).

The numbers are the torch path's: histogram bins are computed exactly as `(x - lo) / width * bins` in float32
(a multiplication by bins / width decides the bin, and where it lands within 2^-18 of an edge the exact
division decides it); ranges, thresholds and edges are float32 as there; the moments accumulate in float64
(the torch path reduces rows in float32 first: the two agree to ~1e-7). tests/test_watch.py holds the two
paths equal.

numba is imported on first use; where it is missing or fails, `kernel()` is None and the torch path serves.
Compiled code is cached on disk (numba's cache: next to this file, or the user's cache folder), so a new process
pays the ~2 s compile once per machine.
"""

from __future__ import annotations

import os
import warnings

# per segment: how its histogram's range is found
NO_HIST, FIXED, MINMAX, SYMMETRIC = 0, 1, 2, 3
# per row: how a unit counts as saturated (kinds.saturated's families)
SAT_NONE, SAT_TANH, SAT_SIGMOID, SAT_RELU, SAT_TAIL = 0, 1, 2, 3, 4
SAT_CODES = {"tanh": SAT_TANH, "sigmoid": SAT_SIGMOID, "relu": SAT_RELU, "tail": SAT_TAIL}

_kernel = None
_tried = False


def kernel():
    """The compiled (`reduce_rows`, `finish`, `scalar_group`, `scalar_matrices`), or None where numba is not
    there (or INITSCOPE_NO_JIT=1)."""
    global _kernel, _tried
    if not _tried:
        _tried = True
        if os.environ.get("INITSCOPE_NO_JIT", "") not in ("", "0"):
            return None
        try:
            _kernel = _build()
        except Exception as e:  # noqa: BLE001 - any failure to import or compile: the torch path serves
            warnings.warn(f"initscope: the compiled snapshot path is off ({type(e).__name__}: {e}); using torch ops",
                          RuntimeWarning, stacklevel=3)
            _kernel = None
    return _kernel


def _build():
    from initscope.core._fastreduce_kernels import finish, reduce_rows, scalar_group, scalar_matrices

    return reduce_rows, finish, scalar_group, scalar_matrices
