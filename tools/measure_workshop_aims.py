"""Measure each step of a scenario at workshop length and write the numbers into it as "workshop_targets".

    python tools/measure_workshop_aims.py resources/scenarios/lecture.json [--steps 20000]

The aims a presenter reads at workshop length are measured, never guessed: each step's config is shortened
with core.scenario.workshop_length (decay moved to the same fraction of the run), trained headless with the
step's own seed, and its initial loss and split losses are written back (4 decimals).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from initscope.core.data import load_dataset  # noqa: E402
from initscope.core.scenario import WORKSHOP_STEPS, load_scenario, workshop_length  # noqa: E402
from initscope.core.trainer import Trainer, set_threads  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario")
    ap.add_argument("--steps", type=int, default=WORKSHOP_STEPS)
    args = ap.parse_args()
    set_threads(1)
    scenario = load_scenario(args.scenario)
    raw = json.loads(Path(args.scenario).read_text())
    data = None
    for i, (step, out) in enumerate(zip(scenario.steps, raw["steps"]), start=1):
        cfg = workshop_length(step.config, args.steps)
        if data is None or data.block_size != cfg.model.block_size:
            data = load_dataset(None, cfg.model.block_size)
        t0 = time.perf_counter()
        t = Trainer(cfg, data)
        init = t.init_snapshot().loss
        status = t.train()
        losses = t.split_losses() if status != "diverged" else {}
        aims = {k: round(losses[k], 4) for k in ("train", "val") if k in losses}
        if "init_loss" in step.targets:  # a step about the first guess aims at it at any length
            aims = {"init_loss": round(init, 4), **aims}
        out["workshop_targets"] = aims
        print(f"step {i}: {status} in {time.perf_counter() - t0:.0f} s: {aims}", flush=True)
    Path(args.scenario).write_text(json.dumps(raw, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
