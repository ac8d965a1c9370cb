"""Training-sweep throughput: the local process pool with 1 worker against 2, and Ray against the local pool.

    python benchmarks/bench_sweep.py [--jobs 8] [--steps 2000] [--workers 2] [--no-ray] [--json FILE]

The jobs are the lecture's deep net without BatchNorm at `--jobs` gains, one seed each. Each wall time
includes starting the worker processes (importing torch), as a user waits for it; Ray's own start-up
(ray.init: its scheduler and object store) is excluded from its wall time and reported on its own.
Every backend's results are checked equal, bit for bit, to the 1-worker pool's.
Targets (issue 14): 2 workers >= 1.7x one worker; Ray >= 0.8x the pool's throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from initscope.core.config import preset
from initscope.core.data import load_dataset
from initscope.core.sweep_backends import LocalPool, RayBackend, run_sweep
from initscope.core.train_sweep import SweepSpec


def _same(a, b) -> bool:
    return all((ra.val, ra.train, ra.status) == (b.results[k].val, b.results[k].train, b.results[k].status)
               and np.array_equal(ra.curve, b.results[k].curve) for k, ra in a.results.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()

    data = load_dataset(None, 3)
    gains = [float(g) for g in np.linspace(0.5, 3.0, args.jobs)]
    spec = SweepSpec(preset("deep-nobn"), "gain", gains, seeds=1, steps=args.steps)
    out: dict = {"jobs": args.jobs, "steps": args.steps, "workers": args.workers, "cpu_count": os.cpu_count(),
                 "loadavg_before": os.getloadavg()[0]}

    def timed(backend):
        t0 = time.perf_counter()
        res = run_sweep(spec, data, backend)
        wall = time.perf_counter() - t0
        assert res.done == args.jobs and all(r.status == "finished" for r in res.results.values())
        return res, wall

    one, out["pool_1_s"] = timed(LocalPool(1))
    many, out[f"pool_{args.workers}_s"] = timed(LocalPool(args.workers))
    out["speedup"] = out["pool_1_s"] / out[f"pool_{args.workers}_s"]
    out["pool_identical"] = _same(many, one)
    print(f"{args.jobs} jobs x {args.steps} steps: 1 worker {out['pool_1_s']:.1f} s, {args.workers} workers "
          f"{out[f'pool_{args.workers}_s']:.1f} s: {out['speedup']:.2f}x (target >= 1.7x); identical: {out['pool_identical']}")
    if not args.no_ray:
        ray_backend = RayBackend(args.workers)
        ray_backend.start()
        out["ray_startup_s"] = ray_backend.startup_seconds
        try:
            ray_res, out["ray_s"] = timed(ray_backend)
        finally:
            ray_backend.close()
        out["ray_vs_pool"] = out[f"pool_{args.workers}_s"] / out["ray_s"]
        out["ray_identical"] = _same(ray_res, one)
        print(f"Ray ({args.workers} CPUs): {out['ray_s']:.1f} s, {out['ray_vs_pool']:.2f}x the pool's throughput "
              f"(target >= 0.8x); start-up {out['ray_startup_s']:.1f} s, excluded; identical: {out['ray_identical']}")
    out["loadavg_after"] = os.getloadavg()[0]
    print(f"load average (1 min) before {out['loadavg_before']:.2f}, after {out['loadavg_after']:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
