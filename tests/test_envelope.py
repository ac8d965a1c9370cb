"""The loss of a long run is drawn as a min/max envelope kept incrementally (gui/envelope.py): checked against
plain numpy over the raw steps, and in the loss panel, zoomed out and in."""

from __future__ import annotations

import numpy as np

from initscope.gui.envelope import PeakEnvelope


def _blocks(y: np.ndarray, b: int, k: int):
    return y[: k * b].reshape(k, b).min(1), y[: k * b].reshape(k, b).max(1)


def test_the_envelope_fed_in_chunks_is_the_min_and_max_of_each_block():
    rng = np.random.default_rng(0)
    y = rng.normal(size=50_000).astype(np.float32)
    e = PeakEnvelope(max_blocks=100)
    n = 0
    while n < len(y):  # chunks of uneven sizes, as the training process sends them
        n = min(len(y), n + int(rng.integers(1, 700)))
        e.update(y[:n])
        k = len(e.lo)
        assert k <= 100 and e.block & (e.block - 1) == 0  # bounded; blocks of a power of two steps
        lo, hi = _blocks(y[:n].astype(np.float64), e.block, k)
        np.testing.assert_array_equal(e.lo, lo)
        np.testing.assert_array_equal(e.hi, hi)
        assert n - k * e.block < 2 * e.block  # what is not in a block yet is less than two blocks
    x, v = e.xy(y, first_step=10)
    k, b = len(e.lo), e.block
    assert len(x) == len(v) == 2 * k + (len(y) - k * b)
    np.testing.assert_array_equal(x[: 2 * k: 2], 10 + b * np.arange(k))  # each block at its first step
    np.testing.assert_array_equal(v[2 * k:], y[k * b:])  # the incomplete block as it is
    assert v.min() == y.min() and v.max() == y.max()  # no extreme is lost


def test_a_new_or_shorter_series_starts_a_new_envelope():
    e = PeakEnvelope(max_blocks=4)
    e.update(np.arange(100.0))
    assert e.block == 32
    e.reset()
    y = np.arange(10.0)[::-1]
    e.update(y)
    assert e.block == 4 and len(e.lo) == 2  # built from this series alone
    np.testing.assert_array_equal(e.lo, _blocks(y, 4, 2)[0])


def test_the_loss_panel_draws_a_long_run_as_its_envelope_and_the_steps_when_zoomed_in(qapp):
    from initscope.gui.panels import LossPanel

    p = LossPanel()
    p.resize(480, 300)
    loss = (2 + np.random.default_rng(1).random(30_000)).astype(np.float32)
    loss[12_345] = 9.0  # one spike: the envelope must keep it
    p.show_single("run", loss, 0, 3.3, 3.29, 200_000)
    x, y = p.raw.xData, p.raw.yData
    assert len(x) <= 2 * p.envelope.max_blocks + 2 * p.envelope.block  # what the screen can show, not 30,000
    assert y.max() == 9.0 and y.min() == loss.min()
    p.plot.setXRange(12_000, 12_500, padding=0)  # zoomed in: the steps themselves
    x, y = p.raw.xData, p.raw.yData
    assert x[0] <= 12_000 and x[-1] >= 12_500 and np.array_equal(y, loss[int(x[0]): int(x[-1]) + 1])
    short = loss[:1500]
    p.show_single("short", short, 0, 3.3, 3.29, 200_000)  # a short run: every step, as before
    np.testing.assert_array_equal(p.raw.yData, short)
