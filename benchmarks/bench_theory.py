"""How long one theory prediction takes (the window redraws it on every settings change).

    python benchmarks/bench_theory.py [--calls N]

Times core.theory.predict on the lecture's deep net without BatchNorm (deep-nobn), after one warm-up call, and
reports the median of --calls (default 20) calls. Target: under 50 ms a call (it was a test's assert; a wall
clock under a loaded machine is a benchmark's to read, not a test's).
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20)
    args = ap.parse_args()
    from initscope.core.config import preset
    from initscope.core.theory import predict

    cfg = preset("deep-nobn")
    predict(cfg)  # the first call pays imports and caches
    times = []
    for _ in range(args.calls):
        t = time.perf_counter()
        predict(cfg)
        times.append(time.perf_counter() - t)
    ms = statistics.median(times) * 1000
    print(f"predict(deep-nobn): {ms:.1f} ms a call (median of {args.calls}); target < 50 ms: "
          f"{'met' if ms < 50 else 'MISSED'}")


if __name__ == "__main__":
    main()
