"""Training-sweep throughput: the local process pool with 1 worker against 2, and Ray against the local pool.

    python benchmarks/bench_sweep.py [--jobs 4] [--steps 300] [--workers 2] [--rounds 3] [--no-ray] [--json FILE]

The default (4 jobs x 300 steps, 3 rounds) takes about 40 s here; `--jobs 8 --steps 2000` is the longer sweep the
README's first measurements used (about 2 minutes).

The jobs are the lecture's deep net without BatchNorm at `--jobs` gains, one seed each. Each wall time
includes starting the worker processes (importing torch), as a user waits for it; Ray's own start-up
(ray.init: its scheduler and object store) is excluded from its wall time and reported on its own.
The pool's time after its first worker began a job is reported too: the speed-up a longer sweep approaches.
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
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="candidates alternate in rounds; the best round counts")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()

    data = load_dataset(None, 3)
    gains = [float(g) for g in np.linspace(0.5, 3.0, args.jobs)]
    spec = SweepSpec(preset("deep-nobn"), "gain", gains, seeds=1, steps=args.steps)
    n = args.workers
    out: dict = {"jobs": args.jobs, "steps": args.steps, "workers": n, "rounds": args.rounds,
                 "cpu_count": os.cpu_count(), "loadavg_before": os.getloadavg()[0]}

    def timed(backend):
        t0 = time.perf_counter()
        res = run_sweep(spec, data, backend)
        end = time.perf_counter()
        assert res.done == args.jobs and all(r.status == "finished" for r in res.results.values())
        # after the first worker's start-up (spawn, import torch): what more jobs per worker would approach
        warm = end - backend.first_start if getattr(backend, "first_start", None) else float("nan")
        return res, end - t0, warm

    ray_backend = None
    if not args.no_ray:
        ray_backend = RayBackend(n)
        ray_backend.start()  # once: its workers then stay up between rounds, as on a cluster
        out["ray_startup_s"] = ray_backend.startup_seconds
    times: dict[str, list[tuple[float, float]]] = {"pool_1": [], f"pool_{n}": [], "ray": []}
    first = None
    identical = True
    try:
        for _ in range(args.rounds):  # alternate, so drift in the machine's load hits every candidate alike
            for key, make in (("pool_1", lambda: LocalPool(1)), (f"pool_{n}", lambda: LocalPool(n)),
                              ("ray", lambda: ray_backend)):
                backend = make()
                if backend is None:
                    continue
                res, wall, warm = timed(backend)
                times[key].append((wall, warm))
                first = first or res
                identical = identical and _same(res, first)
                print(f"  {key}: {wall:.1f} s (after start-up {warm:.1f} s)", flush=True)
    finally:
        if ray_backend is not None:
            ray_backend.close()
    best = {k: min(v) for k, v in times.items() if v}
    out.update({f"{k}_s": b[0] for k, b in best.items()})
    out.update({f"{k}_after_startup_s": b[1] for k, b in best.items() if k != "ray"})
    out["speedup"] = out["pool_1_s"] / out[f"pool_{n}_s"]
    out["speedup_after_startup"] = out["pool_1_after_startup_s"] / out[f"pool_{n}_after_startup_s"]
    out["identical"] = identical
    print(f"{args.jobs} jobs x {args.steps} steps, best of {args.rounds}: 1 worker {out['pool_1_s']:.1f} s, {n} workers "
          f"{out[f'pool_{n}_s']:.1f} s: {out['speedup']:.2f}x (target >= 1.7x); after the workers' start-up "
          f"{out['speedup_after_startup']:.2f}x; all results identical: {identical}")
    if "ray" in best:
        out["ray_first_s"] = times["ray"][0][0]
        out["ray_vs_pool"] = out[f"pool_{n}_s"] / out["ray_s"]
        print(f"Ray ({n} CPUs): {out['ray_s']:.1f} s (first round, cold workers: {out['ray_first_s']:.1f} s), "
              f"{out['ray_vs_pool']:.2f}x the pool's throughput (target >= 0.8x); start-up "
              f"{out['ray_startup_s']:.1f} s, excluded")
    out["loadavg_after"] = os.getloadavg()[0]
    print(f"load average (1 min) before {out['loadavg_before']:.2f}, after {out['loadavg_after']:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
