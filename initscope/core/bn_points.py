"""BatchNorm on one feature across a tiny batch: what the "BatchNorm in five points" panel shows."""

from __future__ import annotations

import numpy as np

EPS = 1e-5  # torch.nn.BatchNorm1d's default


def normalize(values, eps: float = EPS) -> tuple[float, float, np.ndarray]:
    """(batch mean, batch std, outputs) as BatchNorm1d computes them in training mode (gamma 1, beta 0).

    The std is the biased one (divide by n), which is what BatchNorm normalises with; so the outputs have
    mean 0 and biased std 1 (up to eps) wherever the inputs are."""
    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    var = float(((x - mean) ** 2).mean())
    return mean, float(np.sqrt(var)), (x - mean) / np.sqrt(var + eps)
