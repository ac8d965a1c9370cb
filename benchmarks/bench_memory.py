"""Resident memory of a long headless run with the GUI's history buffers.

    python benchmarks/bench_memory.py [--steps N] [--step-stats] [--json FILE]

Trains the lecture's deep net (deep-bn) for --steps with diagnostics at the default cadence (and the per-step
tier with --step-stats), feeding every Progress into a History exactly as the window does, and reports resident
memory after 10,000 steps and at the end. Target: end <= after-10k + 150 MB. The default, 15,000 steps, takes
about 20 s; the long-run figure in the README is --steps 1000000 (about 16 min).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time


def rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: peak RSS is the best portable figure
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=15_000)
    ap.add_argument("--step-stats", action="store_true", help="also the per-step tier (diag.step_stats)")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    import torch

    from initscope.core.config import preset
    from initscope.core.data import load_dataset
    from initscope.core.history import History
    from initscope.core.trainer import Trainer

    torch.set_num_threads(1)
    cfg = preset("deep-bn")
    cfg.train.steps = args.steps
    cfg.diag.step_stats = args.step_stats
    trainer = Trainer(cfg, load_dataset())
    history = History()
    history.set_init(trainer.init_snapshot())
    marks: dict[int, float] = {}
    next_mark = [10_000]
    t0 = time.perf_counter()

    def on_progress(p) -> None:
        history.add_losses(p.first_step, p.losses)
        if p.snapshot is not None:
            history.add_snapshot(p.snapshot)
        history.add_step_scalars(p.scalars)
        if p.step >= next_mark[0]:
            marks[p.step] = rss_mb()
            print(f"step {p.step:>9,}  rss {marks[p.step]:8.1f} MB  history {history.nbytes() / 2**20:6.1f} MB  "
                  f"{p.step / (time.perf_counter() - t0):6.0f} steps/s", flush=True)
            next_mark[0] = next_mark[0] * 10 if next_mark[0] < 100_000 else next_mark[0] + 100_000

    trainer.train(on_progress)
    end = rss_mb()
    first = marks.get(min(marks), end) if marks else end
    res = {"steps": trainer.step, "rss_mb_after_10k": first, "rss_mb_end": end, "growth_mb": end - first,
           "history_mb": history.nbytes() / 2**20, "snapshot_rows": len(history.snap_steps),
           "loss_points": len(history.loss),
           "step_rows": len(history.step_steps), "marks": marks, "seconds": time.perf_counter() - t0}
    print(f"rss after 10k steps {first:.1f} MB, at the end {end:.1f} MB: growth {end - first:+.1f} MB "
          f"({'PASS' if end - first <= 150 else 'MISS'} <= 150 MB)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
