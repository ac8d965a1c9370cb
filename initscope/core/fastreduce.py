"""A watched snapshot's reductions, and the per-step tier's blocks, on a CPU in compiled code (numba): what
`Recorder._reduce` and `_ScalarPlan.run_block` compute with torch ops, for float32 tensors on a CPU.

Why: on a CPU the torch path spends a snapshot in a few hundred small ops, each a pass over memory (mean,
centred squares, min, max, position, clamp, index, offset, bincount, ...). Here every value is read twice: once
for the sums, ranges, saturation and dead units, once for the centred squares and the histograms (the lecture's
deep net: ~240k values a step, ~0.35 ms with the copy of the step's outputs into one buffer, against ~1.5 ms);
a per-step block reads each row once (41 against 125 us a step).

The numbers are the torch path's: histogram bins are computed exactly as `(x - lo) / width * bins` in float32
(a multiplication by bins / width decides the bin, and where it lands within 2^-18 of an edge the exact
division decides it); ranges, thresholds and edges are float32 as there; the moments accumulate in float64
(the torch path reduces rows in float32 first: the two agree to ~1e-7). tests/test_watch.py holds the two
paths equal.

numba is imported on first use, in a background thread that compiles the kernels (see `kernel`); where it is
missing or fails, `kernel()` is None and the torch path serves. Compiled code is cached on disk (numba's cache:
next to this file, or the user's cache folder).
"""

from __future__ import annotations

import atexit
import os
import threading
import warnings

# per segment: how its histogram's range is found
NO_HIST, FIXED, MINMAX, SYMMETRIC = 0, 1, 2, 3
# per row: how a unit counts as saturated (kinds.saturated's families)
SAT_NONE, SAT_TANH, SAT_SIGMOID, SAT_RELU, SAT_TAIL = 0, 1, 2, 3, 4
SAT_CODES = {"tanh": SAT_TANH, "sigmoid": SAT_SIGMOID, "relu": SAT_RELU, "tail": SAT_TAIL}

_kernel = None
_tried = False
_thread: threading.Thread | None = None
_error: str | None = None  # a failed compile, said once by the next caller


def kernel(wait: bool = False):
    """The compiled (`reduce_rows`, `finish`, `scalar_group`, `scalar_matrices`), or None: where numba is not
    there (or INITSCOPE_NO_JIT=1), and until they are compiled. The first call starts the compile in a
    background thread (a first use on a machine compiles for ~8 s; later processes load numba's cache in
    ~0.3 s): a training loop never waits for it, and its snapshots take the torch path meanwhile, with the
    same numbers. `wait`: block until the compile is done (tests, benchmarks)."""
    global _tried, _thread, _error
    if _kernel is not None:
        return _kernel
    if not _tried:
        _tried = True
        if os.environ.get("INITSCOPE_NO_JIT", "") not in ("", "0"):
            return None
        _thread = threading.Thread(target=_compile, name="initscope-compile", daemon=True)
        _thread.start()
        # a script that ends while the compile runs waits for it: LLVM's static destructors run at exit and
        # must not run under a thread still inside LLVM (on a machine with the cache: ~0.3 s at most)
        atexit.register(_thread.join)
    if wait and _thread is not None:
        _thread.join()
    if _error:
        warnings.warn(f"initscope: the compiled snapshot path is off ({_error}); using torch ops", RuntimeWarning,
                      stacklevel=2)
        _error = ""  # said once
    return _kernel


def _compile() -> None:
    global _kernel, _error
    try:
        from initscope.core import _fastreduce_kernels as k

        k.warm()  # compiles (or loads from the cache) every kernel for the types the recorder passes
        _kernel = (k.reduce_rows, k.finish, k.scalar_group, k.scalar_matrices)
    except Exception as e:  # noqa: BLE001 - any failure to import or compile: the torch path serves
        _error = f"{type(e).__name__}: {e}"
