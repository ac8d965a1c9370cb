"""The examples run as the README says, with a few steps, and write run files that open like any run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from initscope.core.runfile import load_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a subprocess or a ray cluster: seconds, not in the quick loop
@pytest.mark.parametrize("name, layers", [
    ("watch_mlp", {"Embedding", "Linear", "BatchNorm1d", "Tanh"}),
    ("watch_char_transformer", {"Embedding", "LayerNorm", "Linear", "GELU"}),
    ("watch_cnn", {"Conv2d", "BatchNorm2d", "ReLU", "AdaptiveAvgPool2d", "Linear"}),
])
def test_each_example_trains_a_few_steps_and_writes_its_run(tmp_path, name, layers):
    if name == "watch_cnn":
        pytest.importorskip("sklearn", reason="the CNN example needs the examples extra (scikit-learn)")
    out = tmp_path / f"{name}.initscope"
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / f"{name}.py"), "--steps", "25", "--every", "10",
                           "--save", str(out)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"initscope gui --follow {out}" in proc.stdout and "25 steps" in proc.stdout
    run = load_run(out)
    assert run.watched and run.status == "finished" and run.steps == 25
    assert [s.step for s in run.snapshots] == [0, 10, 20]
    assert layers <= {kind for _, kind, _ in run.model.layers}
    first = run.snapshots[0]
    assert all(s.width > 0 for s in first.layers)  # every leaf module was seen
    assert any(p.is_matrix and p.grad_hist is not None for p in first.params)
