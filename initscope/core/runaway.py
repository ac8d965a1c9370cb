"""Divergence that is not NaN: a loss that stays far above a uniform guess, or tanh layers pinned at +-1.

lr 1000 on the `batchnorm` preset never produces NaN: the loss sits near 35,000 with every tanh saturated,
and a run that only looked for NaN called it "finished". The trainer asks this check after each chunk of
losses it reads back (no extra host sync: the chunk is already on the host).

Thresholds, measured on the shipped presets (names.txt, vocabulary 27, ln 27 = 3.30):
- `original` (loss 27 at init by design) falls below 3 x ln V within 75 steps, so a loss (the mean of each
  chunk read back) above 3 x ln V for LOSS_STEPS = 200 consecutive steps is a run that is not coming back;
- healthy presets stay under 80 % mean tanh saturation; lr 1000 reaches 100 % by step 100. A snapshot after
  step 0 with mean tanh saturation >= 99 % while the loss is above ln V (not learning) is divergence.
"""

from __future__ import annotations

import numpy as np

LOSS_FACTOR = 3.0  # x ln V (the uniform guess)
LOSS_STEPS = 200  # consecutive steps (whole chunks) above it
SATURATION = 0.99  # mean over tanh layers, at a snapshot after step 0


class RunawayCheck:
    def __init__(self, ref_loss: float):
        self.ref_loss = ref_loss
        self.high_steps = 0

    def check(self, chunk: np.ndarray, snap, chunk_start: int) -> str | None:
        """None while the run looks alive; else the one-line reason it diverged."""
        if len(chunk) == 0:
            return None
        mean = float(np.mean(chunk))
        limit = LOSS_FACTOR * self.ref_loss
        self.high_steps = self.high_steps + len(chunk) if mean > limit else 0
        end = chunk_start + len(chunk)
        if self.high_steps >= LOSS_STEPS:
            return (f"diverged by step {end}: the loss has stayed above {limit:.1f} ({LOSS_FACTOR:g} x a uniform "
                    f"guess's {self.ref_loss:.2f}) for {self.high_steps} steps (now {mean:.4g}); "
                    "lower the learning rate or fix the init")
        if snap is not None and snap.step > 0 and snap.loss > self.ref_loss:
            tanh = [s.saturation for s in snap.layers if s.kind == "tanh"]
            if tanh and float(np.mean(tanh)) >= SATURATION:
                return (f"diverged at step {snap.step}: {np.mean(tanh):.1%} of tanh outputs are saturated and the "
                        f"loss is {snap.loss:.4g}; lower the learning rate or the gain")
        return None
