"""Resident memory of a long headless run with the GUI's history buffers.

    python benchmarks/bench_memory.py [--steps N] [--step-stats] [--json FILE]
    python benchmarks/bench_memory.py --replayed [--steps N]

Trains the lecture's deep net (deep-bn) for --steps with diagnostics at the default cadence (and the per-step
tier with --step-stats), feeding every Progress into a History exactly as the window does, and reports resident
memory after 10,000 steps and at the end. Target: end <= after-10k + 150 MB. The default, 15,000 steps, takes
about 20 s; the long-run figure in the README is --steps 1000000 (about 16 min).

--replayed measures the history alone over --steps (default here 1,000,000): the snapshots and loss chunks of a
real 2,000-step run of the deep net are fed again and again with their steps advanced, as a run of that length
would feed them (a snapshot every 100 steps, histograms included), in about a minute instead of a quarter of an
hour. Target: growth <= 200 MB.
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


def replayed(steps: int) -> dict:
    """The history's growth over `steps` steps of the deep net, from a real run's snapshots fed again."""
    from dataclasses import replace

    import numpy as np

    from initscope.core.config import preset
    from initscope.core.data import load_dataset
    from initscope.core.history import History
    from initscope.core.trainer import Trainer

    cfg = preset("deep-bn")
    cfg.train.steps = 2_000
    trainer = Trainer(cfg, load_dataset())
    snaps, chunks = [], []
    trainer.train(lambda p: (p.snapshot is not None and snaps.append(p.snapshot), len(p.losses) and chunks.append(p.losses)))
    losses = np.concatenate(chunks)
    every = cfg.diag.snapshot_every
    history = History()
    history.set_init(snaps[0])
    start = rss_mb()
    t0 = time.perf_counter()
    for k in range(0, steps, every):
        history.add_snapshot(replace(snaps[(k // every) % len(snaps)], step=k))
        history.add_losses(k, losses[k % len(losses): k % len(losses) + every])
    history.add_snapshot(replace(snaps[-1], step=steps))
    end = rss_mb()
    seconds = time.perf_counter() - t0
    import io
    import zlib

    from initscope.core.runfile import replay_arrays

    buf = io.BytesIO()
    np.savez(buf, **replay_arrays(history))  # replay.npz as a run file holds it, deflated as the zip does (level 6)
    rows = len(history.replay)
    res = {"steps": steps, "rss_mb_start": start, "rss_mb_end": end, "growth_mb": end - start,
           "history_mb": history.nbytes() / 2**20, "replay_mb_allocated": history.replay.nbytes() / 2**20,
           "snapshot_rows": len(history.snap_steps), "replay_rows": rows,
           "replay_bytes_per_row": sum(a.data.nbytes for a in history.replay.arrays.values()) / max(rows, 1),
           "replay_file_mb": len(zlib.compress(buf.getvalue(), 6)) / 2**20,
           "loss_points": len(history.loss), "seconds": seconds}
    print(f"{steps:,} steps replayed: rss {start:.1f} -> {end:.1f} MB: growth {end - start:+.1f} MB "
          f"({'PASS' if end - start <= 200 else 'MISS'} <= 200 MB); history {res['history_mb']:.1f} MB, of which "
          f"the replay rows {res['replay_mb_allocated']:.1f} MB allocated ({rows} rows, "
          f"{res['replay_bytes_per_row'] / 1024:.2f} KB a row); replay.npz in a run file {res['replay_file_mb']:.1f} MB")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=None, help="default 15,000 (1,000,000 with --replayed)")
    ap.add_argument("--step-stats", action="store_true", help="also the per-step tier (diag.step_stats)")
    ap.add_argument("--replayed", action="store_true", help="the history alone, fed a real run's snapshots again")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    import torch

    if args.replayed:
        torch.set_num_threads(1)
        res = replayed(args.steps or 1_000_000)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(res, f, indent=1)
        return
    args.steps = args.steps or 15_000

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
