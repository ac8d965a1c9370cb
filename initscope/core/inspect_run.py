"""`initscope inspect`: one snapshot of any run file (trained in the app, by the CLI, or watched) as plain
JSON, the snapshot at or before a step: from every kept snapshot (the replay rows of a version-4 file), or from
the step-0 and latest snapshots of an older file."""

from __future__ import annotations

import math
from pathlib import Path

from initscope.core.errors import UserError
from initscope.core.runfile import SavedRun, live_status
from initscope.core.snapshot import Histogram, Snapshot


def snapshot_steps(run: SavedRun) -> list[int]:
    """Every step the run holds a snapshot of: its replay rows and its whole snapshots."""
    steps = {s.step for s in run.snapshots}
    if run.replay:
        steps |= set(run.replay["steps"].tolist())
    return sorted(steps)


def snapshot_at(run: SavedRun, step: int | None = None) -> Snapshot:
    """The latest kept snapshot at or before `step` (None: the last one): a whole snapshot when one is at that
    step (dead-neuron maps and all), else the replay row rebuilt."""
    if step is not None and step < 0:
        raise UserError(f"--step must be 0 or more, got {step}")
    steps = snapshot_steps(run)
    if not steps:
        raise UserError("the run holds no snapshot yet (its script has not finished step 0)")
    at = steps[-1] if step is None else max([s for s in steps if s <= step] or [steps[0]])
    whole = [s for s in run.snapshots if s.step == at]
    if whole:
        return whole[-1]
    from initscope.core.replay import SnapshotStore

    store = SnapshotStore.from_arrays(run.replay, run.snapshots[0])
    return store.snapshot(store.row_at(at))


def run_name(run: SavedRun, path: str | Path) -> str:
    if run.watched:
        return str(run.writer.get("name") or (run.model.cls if run.model else "") or Path(path).stem)
    return (run.config.name if run.config is not None else "") or Path(path).stem


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None  # strict JSON: null, never NaN


def _edges(h: Histogram | None) -> list[float] | None:
    if h is None:
        return None
    n = len(h.counts)
    return [h.lo + (h.hi - h.lo) * i / n for i in range(n + 1)]


def _counts(h: Histogram | None) -> list[int] | None:
    return None if h is None else [int(c) for c in h.counts]


def inspect_dict(run: SavedRun, path: str | Path, step: int | None = None) -> dict:
    snap = snapshot_at(run, step)
    return {
        "name": run_name(run, path), "source": run.source, "status": live_status(run), "steps": run.steps,
        "snapshot_step": snap.step, "loss": _num(snap.loss),
        "snapshot_steps": snapshot_steps(run),
        "layers": [{"name": s.name, "kind": s.kind, "width": s.width, "mean": _num(s.mean), "std": _num(s.std),
                    "saturation": _num(s.saturation), "dead": s.dead, "grad_std": _num(s.grad_std),
                    "hist_edges": _edges(s.hist), "hist_counts": _counts(s.hist),
                    "grad_hist_edges": _edges(s.grad_hist), "grad_hist_counts": _counts(s.grad_hist)}
                   for s in snap.layers],
        "params": [{"name": p.name, "shape": list(p.shape), "grad_data": _num(p.grad_data),
                    "update_data_log10": _num(p.update_data_log10)} for p in snap.params],
    }
